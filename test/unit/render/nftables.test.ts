/**
 * The nftables renderer: `nft -c -f` accepts every rendered ruleset (IPv4, IPv6, named sets),
 * and a ruleset loaded in a throwaway network namespace admits exactly what the allow lists say.
 * Sources are probed from a second namespace over a veth pair, each from its own address
 * (networks 10.41.1.0/24 `lan` and 10.41.2.0/24 `vpn`; no other test uses 10.41).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Inventory } from "../../../src/inventory/model.js";
import { allowPrefixes, hostRuleset, nftablesRenderer } from "../../../src/render/nftables.js";
import { contractExample, host, svc, vantage } from "../../helpers/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "keel-render-nft-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { now: new Date(0), previous: () => undefined };

function nftCheck(text: string): { ok: boolean; out: string } {
  const f = join(dir, `check-${Math.random().toString(36).slice(2)}.nft`);
  writeFileSync(f, text);
  try {
    execFileSync("nft", ["-c", "-f", f], { stdio: ["ignore", "pipe", "pipe"] });
    return { ok: true, out: "" };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: Buffer }).stderr ?? e) };
  }
}

/** The contract example plus an IPv6 network and a service whose allow list needs named sets. */
function bigInventory(): Inventory {
  const inv = contractExample();
  const pos = inv.hosts[0]!.pos;
  inv.networks.push({ name: "v6", cidr: "fd00:41::/64", family: 6, dns: [], ranges: [], reserved: [], pos });
  inv.hosts[1]!.addresses.push({ network: "v6", address: "fd00:41::3" });
  for (let i = 0; i < 6; i++) {
    const name = `edge-${i}`;
    inv.networks.push({
      name,
      cidr: `10.41.${100 + i}.0/24`,
      family: 4,
      dns: [],
      ranges: [],
      reserved: [],
      pos,
    });
    inv.networks.push({
      name: `${name}-v6`,
      cidr: `fd00:41:${i}::/64`,
      family: 6,
      dns: [],
      ranges: [],
      reserved: [],
      pos,
    });
  }
  inv.hosts[0]!.services.push(
    svc("edge-api", 8443, Array.from({ length: 6 }, (_, i) => [`edge-${i}`, `edge-${i}-v6`]).flat()),
    { ...svc("v6-only", 8444, ["v6", "mon"]), protocol: "udp" },
  );
  return inv;
}

describe("nftables renderer: nft -c", () => {
  test("nft -c -f accepts every host's ruleset of the contract example", async () => {
    const files = await nftablesRenderer.render(contractExample(), ctx);
    assert.deepEqual(
      files.map((f) => f.path),
      ["nftables/gw-vpn.nft", "nftables/mon.nft", "nftables/ns1.nft", "nftables/gpu.nft"],
    );
    for (const f of files) {
      const r = nftCheck(String(f.content));
      assert.ok(r.ok, `${f.path}: ${r.out}`);
    }
  });

  test("long source lists become named interval sets; IPv6 sources get ip6 rules; nft -c accepts them", () => {
    const inv = bigInventory();
    const text = hostRuleset(inv, inv.hosts[0]!);
    assert.match(text, /set allow_edge_api_v4 \{\n {4}type ipv4_addr\n {4}flags interval/);
    assert.match(text, /set allow_edge_api_v6 \{\n {4}type ipv6_addr/);
    assert.match(text, /ip saddr @allow_edge_api_v4 tcp dport 8443 accept/);
    assert.match(text, /ip6 saddr fd00:41::\/64 udp dport 8444 accept comment "v6-only"/);
    const r = nftCheck(text);
    assert.ok(r.ok, r.out);
  });

  test("a service of kind dns is opened on its port over UDP and TCP (RFC 7766); nft -c accepts it", () => {
    const inv = contractExample();
    const ns1 = inv.hosts.find((h) => h.name === "ns1")!;
    const text = hostRuleset(inv, ns1);
    assert.match(
      text,
      /ip saddr \{ 10\.20\.0\.0\/24, 10\.99\.0\.0\/24 \} meta l4proto \{ udp, tcp \} th dport 53 accept comment "dns"/,
    );
    assert.doesNotMatch(text, /udp dport 53/);
    const r = nftCheck(text);
    assert.ok(r.ok, r.out);
  });

  test("nft -c rejects a broken ruleset (the check is real)", () => {
    const inv = contractExample();
    const text = hostRuleset(inv, inv.hosts[0]!).replace("policy drop", "policy maybe");
    assert.equal(nftCheck(text).ok, false);
  });

  test("allow sources: networks, hosts, vantages (own addresses, via host, networks), any; nested ones merged", () => {
    const inv = contractExample();
    assert.deepEqual(allowPrefixes(inv, ["mon", "vpn"]), ["10.20.0.3/32", "10.99.0.0/24"]);
    assert.deepEqual(allowPrefixes(inv, ["admin"]), ["10.99.0.0/24"]);
    assert.deepEqual(allowPrefixes(inv, ["lan-probe"]), ["10.20.0.10/32"]);
    assert.deepEqual(allowPrefixes(inv, ["lan", "gpu"]), ["10.20.0.0/24"]);
    assert.equal(allowPrefixes(inv, ["lan", "any"]), null);
    inv.vantages.push(
      vantage("laptop", { networks: ["vpn"], addresses: [{ network: "vpn", address: "10.99.0.250" }] }),
    );
    assert.deepEqual(allowPrefixes(inv, ["laptop"]), ["10.99.0.250/32"]);
  });
});

// --- semantic test: the ruleset in a namespace, probed from another -------------------------

const TARGET_LAN = "10.41.1.1";
const TARGET_VPN = "10.41.2.1";
const PLAIN = "10.41.1.2"; // a lan address with no other rights
const OPS = "10.41.1.3"; // host `ops`, also the via host of vantage `probe`
const VPN_CLIENT = "10.41.2.2"; // an address in `vpn`, where vantage `admin` sits

function labInventory(): Inventory {
  const inv = contractExample();
  const pos = inv.hosts[0]!.pos;
  inv.networks = [
    { name: "lan", cidr: "10.41.1.0/24", family: 4, dns: [], ranges: [], reserved: [], pos },
    { name: "vpn", cidr: "10.41.2.0/24", family: 4, dns: [], ranges: [], reserved: [], pos },
  ];
  const web = host(
    "web",
    { lan: TARGET_LAN, vpn: TARGET_VPN },
    {
      ssh: { user: "root", port: 22, allow: ["vpn"] },
      services: [
        svc("http", 8080, ["lan"]),
        svc("ops-only", 8081, ["ops"]),
        svc("admin-api", 8082, ["admin"]),
        svc("probe-me", 8083, ["probe"]),
        svc("public", 8084),
        { ...svc("dns", 5353, ["vpn"]), protocol: "udp" },
      ],
    },
  );
  inv.hosts = [web, host("ops", { lan: OPS }), host("plain", { lan: PLAIN })];
  inv.vantages = [
    vantage("admin", { networks: ["vpn"] }),
    vantage("probe", {
      type: "via",
      via: "ops",
      networks: ["lan"],
      addresses: [{ network: "lan", address: OPS }],
    }),
  ];
  return inv;
}

const tag = `${process.pid % 100000}`;
const NS_T = `kr-${tag}-t`;
const NS_C = `kr-${tag}-c`;
const VETH_T = `kr${tag}t`;
const VETH_C = `kr${tag}c`;

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    stdio: ["pipe", "pipe", "pipe"],
    ...(input !== undefined ? { input } : {}),
  }).toString();
}
const inNs = (ns: string, argv: string[], input?: string) => sh(["ip", "netns", "exec", ns, ...argv], input);

/** Listens on the TCP ports and echoes on the UDP ports given in argv, then prints "ready". */
const LISTENER = `
const net = require("node:net"), dgram = require("node:dgram");
const [tcp, udp] = JSON.parse(process.argv[1]);
let pending = tcp.length + udp.length;
const up = () => { if (--pending === 0) console.log("ready"); };
for (const p of tcp) net.createServer((s) => s.end()).listen(p, "0.0.0.0", up);
for (const p of udp) { const s = dgram.createSocket("udp4"); s.on("message", (m, r) => s.send(m, r.port, r.address)); s.bind(p, "0.0.0.0", up); }
`;

/** Probes [source, target, port, proto] quadruples; prints a JSON list of "open"/"filtered". */
const PROBER = `
const net = require("node:net"), dgram = require("node:dgram");
const probes = JSON.parse(process.argv[1]);
const one = ([src, dst, port, proto]) => new Promise((resolve) => {
  if (proto === "tcp") {
    const s = net.connect({ host: dst, port, localAddress: src });
    const t = setTimeout(() => { s.destroy(); resolve("filtered"); }, 700);
    s.on("connect", () => { clearTimeout(t); s.destroy(); resolve("open"); });
    s.on("error", (e) => { clearTimeout(t); resolve(e.code === "ECONNREFUSED" ? "refused" : "error:" + e.code); });
  } else {
    const s = dgram.createSocket("udp4");
    const t = setTimeout(() => { s.close(); resolve("filtered"); }, 700);
    s.on("message", () => { clearTimeout(t); s.close(); resolve("open"); });
    s.bind(0, src, () => s.send("ping", port, dst));
  }
});
Promise.all(probes.map(one)).then((r) => console.log(JSON.stringify(r)));
`;

describe("nftables renderer: the ruleset admits what allow says, in a namespace", () => {
  let listener: ChildProcess | undefined;
  before(async () => {
    const cleanup = () => {
      for (const ns of [NS_T, NS_C]) {
        try {
          sh(["ip", "netns", "del", ns]);
        } catch {
          // not there
        }
      }
    };
    cleanup();
    sh(["ip", "netns", "add", NS_T]);
    sh(["ip", "netns", "add", NS_C]);
    sh(["ip", "link", "add", VETH_T, "netns", NS_T, "type", "veth", "peer", "name", VETH_C, "netns", NS_C]);
    for (const a of [`${TARGET_LAN}/24`, `${TARGET_VPN}/24`])
      inNs(NS_T, ["ip", "addr", "add", a, "dev", VETH_T]);
    for (const a of [`${PLAIN}/24`, `${OPS}/24`, `${VPN_CLIENT}/24`])
      inNs(NS_C, ["ip", "addr", "add", a, "dev", VETH_C]);
    for (const [ns, dev] of [
      [NS_T, VETH_T],
      [NS_C, VETH_C],
    ] as const) {
      inNs(ns, ["ip", "link", "set", dev, "up"]);
      inNs(ns, ["ip", "link", "set", "lo", "up"]);
    }
    const inv = labInventory();
    const [file] = (await nftablesRenderer.render(inv, ctx)).filter((f) => f.path === "nftables/web.nft");
    const path = join(dir, "web.nft");
    writeFileSync(path, file!.content);
    inNs(NS_T, ["nft", "-f", path]);
    listener = spawn(
      "ip",
      [
        "netns",
        "exec",
        NS_T,
        process.execPath,
        "-e",
        LISTENER,
        "[[22,8080,8081,8082,8083,8084,8085],[5353]]",
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      listener!.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      listener!.on("exit", (code) => reject(new Error(`listener exited ${code}`)));
    });
  });
  after(() => {
    listener?.kill();
    for (const ns of [NS_T, NS_C]) {
      try {
        sh(["ip", "netns", "del", ns]);
      } catch {
        // gone
      }
    }
  });

  test("each source reaches exactly the services whose allow admits it; the rest is dropped", () => {
    // port → [allow, sources expected open]
    const expected: [number, "tcp" | "udp", string, string[]][] = [
      [22, "tcp", "ssh: [vpn]", [VPN_CLIENT]],
      [8080, "tcp", "http: [lan]", [PLAIN, OPS]],
      [8081, "tcp", "ops-only: [ops] (a host)", [OPS]],
      [8082, "tcp", "admin-api: [admin] (a local vantage in vpn)", [VPN_CLIENT]],
      [8083, "tcp", "probe-me: [probe] (a via vantage on ops)", [OPS]],
      [8084, "tcp", "public: [any]", [PLAIN, OPS, VPN_CLIENT]],
      [8085, "tcp", "an undeclared port", []],
      [5353, "udp", "dns: [vpn]", [VPN_CLIENT]],
    ];
    const sources = [PLAIN, OPS, VPN_CLIENT];
    const probes = expected.flatMap(([port, proto]) =>
      sources.map((src) => [src, src === VPN_CLIENT ? TARGET_VPN : TARGET_LAN, port, proto]),
    );
    const got: string[] = JSON.parse(inNs(NS_C, [process.execPath, "-e", PROBER, JSON.stringify(probes)]));
    const table = expected.flatMap(([port, proto, what, open]) =>
      sources.map(
        (src) => `${what} ${port}/${proto} from ${src}: ${open.includes(src) ? "open" : "filtered"}`,
      ),
    );
    const seen = probes.map(
      ([src, , port, proto], i) =>
        `${expected.find((e) => e[0] === port)![2]} ${port}/${proto} from ${src}: ${got[i]}`,
    );
    assert.deepEqual(seen, table);
  });

  test("ICMP echo is admitted from any source", () => {
    const out = inNs(NS_C, ["ping", "-c", "1", "-W", "2", "-I", PLAIN, TARGET_LAN]);
    assert.match(out, /1 received/);
  });
});
