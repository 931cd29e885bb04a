/**
 * The lab twin end to end (root only): up on a copy of the example site with its own site name
 * and prefixes, the healthy twin behaves as the inventory says, each fault breaks exactly its
 * promise and its undo restores it, down removes everything and is safe to repeat.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { labDown, labUp } from "../../src/lab/lab.js";
import { runAt } from "../../src/lab/run.js";
import { labStatus } from "../../src/lab/status.js";
import { hostPlace, type Lab } from "../../src/lab/twin.js";
import {
  addUndeclaredListener,
  blackhole,
  enablePasswordAuth,
  hostKeyChanged,
  openPort,
  removePrometheusTarget,
  removeWireguardPeer,
  serveWrongRecord,
  setSysctl,
  staleZone,
  stopService,
} from "../lab/faults.js";
import { labInventory } from "../lab/fixture.js";

const octet = 100 + (process.pid % 70) * 2;
const site = `t${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "keel-lab-test-"));
const inv = labInventory({ site, dir, octet });
// gw-vpn serves the site's zones (BIND) on its dns service
inv.domain = "lab.internal";
inv.dns = { ttl: 3600, servers: ["gw-vpn"], contact: "hostmaster", records: [] };
const gw = inv.hosts.find((h) => h.name === "gw-vpn")!;
gw.services.unshift({
  ...gw.services[0]!,
  name: "dns",
  kind: "dns",
  port: 53,
  protocol: "udp",
  allow: ["lan", "vpn"],
});
const lan = (n: number) => `10.${octet}.0.${n}`;
const GPU = lan(10);
const SVC1 = lan(20);
const MON = lan(3);
const GW = lan(2);
let lab: Lab;

type Reach = "open" | "refused" | "filtered";

/** TCP connect from the root namespace (the admin vantage). */
function reach(address: string, port: number, timeoutMs = 1000): Promise<Reach> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: timeoutMs });
    s.on("connect", () => {
      s.destroy();
      resolve("open");
    });
    s.on("timeout", () => {
      s.destroy();
      resolve("filtered");
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED" ? "refused" : "filtered"));
  });
}

/** TCP connect from inside a lab host (e.g. the lan-probe vantage on svc-1). */
async function reachFrom(host: string, address: string, port: number): Promise<Reach> {
  const code = `const s=require("net").connect({host:${JSON.stringify(address)},port:${port},timeout:1000});
s.on("connect",()=>{console.log("open");process.exit(0)});
s.on("timeout",()=>{console.log("filtered");process.exit(0)});
s.on("error",(e)=>{console.log(e.code==="ECONNREFUSED"?"refused":"filtered");process.exit(0)});`;
  const r = await runAt(hostPlace(lab, host), process.execPath, ["-e", code]);
  return r.stdout.trim() as Reach;
}

const sshBase = [
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "ConnectTimeout=3",
];

/** Runs a command on a lab host over SSH from the root namespace with the lab's identity. */
function ssh(address: string, command: string): { code: number; stdout: string } {
  const r = spawnSync(
    "ssh",
    [...sshBase, "-o", "BatchMode=yes", "-i", join(dir, ".keel/lab/id_ed25519"), `root@${address}`, command],
    { encoding: "utf8", timeout: 10_000 },
  );
  return { code: r.status ?? 1, stdout: r.stdout };
}

/** Authentication methods sshd offers (asked with `none`). */
function sshMethods(address: string): string {
  const r = spawnSync(
    "ssh",
    [...sshBase, "-o", "BatchMode=yes", "-o", "PreferredAuthentications=none", `root@${address}`, "true"],
    { encoding: "utf8", timeout: 10_000 },
  );
  return /Permission denied \(([^)]*)\)/.exec(r.stderr)?.[1] ?? "";
}

async function promTargets(): Promise<{ host: string; health: string }[]> {
  const res = await fetch(`http://${MON}:9090/api/v1/targets?state=active`);
  const body = (await res.json()) as {
    data: { activeTargets: { labels: { host: string }; health: string }[] };
  };
  return body.data.activeTargets.map((t) => ({ host: t.labels.host, health: t.health }));
}

before(async () => {
  lab = await labUp(inv, { timeoutMs: 40_000 });
});

after(async () => {
  await labDown(join(dir, ".keel", "lab"));
  rmSync(dir, { recursive: true, force: true });
});

test("namespaces exist for the switch and every host", () => {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  for (const h of ["sw", "gw-vpn", "mon", "gpu", "svc-1"])
    assert.match(list, new RegExp(`^keel-${site}-${h}\\b`, "m"));
});

test("sshd is key-only and a login with the lab identity works, through gw-vpn", () => {
  assert.equal(sshMethods(GPU), "publickey");
  const r = ssh(GPU, "hostname; ip -br addr show eth0");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^gpu\n/);
  // the operator's dotfiles are covered by Debian's defaults inside the twin
  if (existsSync("/root/.bashrc") && existsSync("/etc/skel/.bashrc")) {
    assert.equal(ssh(GPU, "cat ~/.bashrc").stdout, readFileSync("/etc/skel/.bashrc", "utf8"));
  }
  assert.match(r.stdout, new RegExp(GPU.replaceAll(".", "\\.")));
});

test("node_exporter answers /metrics at a lab address from the root namespace (admin vantage)", async () => {
  const res = await fetch(`http://${GPU}:9100/metrics`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^node_/m);
});

test("stand-ins answer their probes: grafana health and the web service", async () => {
  assert.deepEqual(await (await fetch(`http://${MON}:3000/api/health`)).json(), {
    database: "ok",
    version: "lab",
  });
  assert.equal((await fetch(`http://${SVC1}:8080/`)).status, 200);
});

test("Prometheus has every monitored host as an active target that is up", async () => {
  const targets = await promTargets();
  assert.deepEqual(targets.map((t) => t.host).sort(), ["gpu", "gw-vpn", "mon", "svc-1"]);
  assert.ok(
    targets.every((t) => t.health === "up"),
    JSON.stringify(targets),
  );
});

test("WireGuard: gw-vpn has recent handshakes with admin and gpu, seen over SSH on the host", () => {
  const r = ssh(GW, "wg show wg0 latest-handshakes");
  assert.equal(r.code, 0);
  const stamps = r.stdout.trim().split("\n");
  assert.equal(stamps.length, 2, r.stdout);
  for (const line of stamps) assert.ok(Date.now() / 1000 - Number(line.split(/\s+/)[1]) < 180, r.stdout);
  const allowed = ssh(GW, "wg show wg0 allowed-ips").stdout;
  assert.match(allowed, new RegExp(`\\s10\\.${octet + 1}\\.0\\.250/32`));
  assert.match(allowed, new RegExp(`\\s${GPU.replaceAll(".", "\\.")}/32`));
  // each host sees only its own WireGuard interfaces (private /run/wireguard)
  assert.equal(ssh(GW, "wg show interfaces").stdout.trim(), "wg0");
  assert.equal(ssh(GPU, "wg show interfaces").stdout.trim(), "wgp0p1");
});

test("the rendered firewall follows allow: lan-probe (svc-1) is dropped at gpu:9100, mon is admitted", async () => {
  // the lab loads exactly `keel render`'s ruleset: table inet keel, policy drop, nothing else
  const ruleset = await runAt(hostPlace(lab, "gpu"), "nft", ["list", "ruleset"]);
  assert.deepEqual(ruleset.stdout.match(/^table .*$/gm), ["table inet keel {"]);
  assert.match(ruleset.stdout, /policy drop;/);
  assert.equal(await reachFrom("svc-1", GPU, 9100), "filtered");
  assert.equal(await reachFrom("mon", GPU, 9100), "open");
  assert.equal(await reachFrom("svc-1", MON, 3000), "filtered"); // grafana: vpn only
  assert.equal(await reach(MON, 3000), "open");
});

/** `dig +short` from the root namespace (the admin vantage) against a lab server. */
function dig(server: string, ...question: string[]): string {
  return spawnSync("dig", ["+short", "+time=2", "+tries=1", `@${server}`, ...question], {
    encoding: "utf8",
  }).stdout.trim();
}

test("BIND on gw-vpn serves the rendered zones on its addresses, UDP and TCP", async () => {
  assert.equal(dig(GW, "gpu.lab.internal", "A"), GPU);
  assert.equal(dig(`10.${octet + 1}.0.1`, "+tcp", "svc-1.lab.internal", "A"), SVC1);
  assert.equal(dig(GW, "-x", MON), "mon.lab.internal.");
  assert.match(
    dig(GW, "lab.internal", "SOA"),
    /^gw-vpn\.lab\.internal\. hostmaster\.lab\.internal\. \d{10} /,
  );
  // only on the host's own addresses: not on loopback inside the namespace, no rndc port
  const socks = (await runAt(hostPlace(lab, "gw-vpn"), "ss", ["-Hlntu"])).stdout;
  assert.match(socks, new RegExp(`${GW.replaceAll(".", "\\.")}:53\\s`));
  assert.doesNotMatch(socks, /127\.0\.0\.1:53\s|:953\s/);
});

test("faults serveWrongRecord and staleZone change what BIND answers until undone", async () => {
  const undo = await serveWrongRecord(lab, "gw-vpn", "svc-1", lan(9));
  assert.equal(dig(GW, "svc-1.lab.internal", "A"), lan(9));
  await undo();
  assert.equal(dig(GW, "svc-1.lab.internal", "A"), SVC1);
  const serial = Number(dig(GW, "lab.internal", "SOA").split(" ")[2]);
  const undoStale = await staleZone(lab, "gw-vpn");
  assert.equal(Number(dig(GW, "lab.internal", "SOA").split(" ")[2]), serial - 1);
  await undoStale();
  assert.equal(Number(dig(GW, "lab.internal", "SOA").split(" ")[2]), serial);
});

test("status reports every daemon running (CLI exit 0)", async () => {
  const s = await labStatus(lab.dir);
  assert.ok(s?.healthy);
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "lab", "status", inv.file], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /grafana +standin +stand-in .* running/);
  assert.match(r.stdout, /prometheus +prometheus +real .* running/);
  assert.match(r.stdout, /dns +named +real .* running/);
  const j = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "lab", "status", "--json", inv.file],
    {
      encoding: "utf8",
    },
  );
  assert.equal(j.status, 0, j.stderr);
  const parsed = JSON.parse(j.stdout) as { up: boolean; healthy: boolean; daemons: { real: boolean }[] };
  assert.ok(parsed.up && parsed.healthy);
  assert.equal(parsed.daemons.filter((d) => !d.real).length, 2); // grafana and web are stand-ins
});

test("fault enablePasswordAuth: sshd offers passwords until undone", async () => {
  const undo = await enablePasswordAuth(lab, "gpu");
  assert.equal(sshMethods(GPU), "publickey,password");
  await undo();
  assert.equal(sshMethods(GPU), "publickey");
});

/** OpenSSH's ssh with the inventory's known_hosts and strict checking: exit code and stderr. */
function strictSsh(address: string): { code: number; stderr: string } {
  const r = spawnSync(
    "ssh",
    [
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${join(dir, ".keel/known_hosts")}`,
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=3",
      "-i",
      join(dir, ".keel/lab/id_ed25519"),
      `root@${address}`,
      "true",
    ],
    { encoding: "utf8", timeout: 10_000 },
  );
  return { code: r.status ?? 1, stderr: r.stderr };
}

test("lab up pins every host's SSH key in .keel/known_hosts, which OpenSSH accepts under strict checking", () => {
  for (const address of [GPU, SVC1, MON, GW]) {
    const r = strictSsh(address);
    assert.equal(r.code, 0, `${address}: ${r.stderr}`);
  }
});

test("fault hostKeyChanged: sshd serves another key (OpenSSH refuses it) until undone", async () => {
  const undo = await hostKeyChanged(lab, "gpu");
  const r = strictSsh(GPU);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  await undo();
  assert.equal(strictSsh(GPU).code, 0);
});

test("fault stopService: the port is refused until undone", async () => {
  const undo = await stopService(lab, "gpu", "node_exporter");
  assert.equal(await reach(GPU, 9100), "refused");
  assert.equal((await labStatus(lab.dir))?.healthy, false);
  await undo();
  assert.equal((await fetch(`http://${GPU}:9100/metrics`)).status, 200);
  assert.equal((await labStatus(lab.dir))?.healthy, true);
});

test("fault stopService on the WireGuard gateway: wg0 is gone, and back with handshakes after undo", async () => {
  const undo = await stopService(lab, "gw-vpn", "wireguard");
  assert.notEqual(ssh(GW, "wg show wg0").code, 0);
  await undo();
  const hs = ssh(GW, "wg show wg0 latest-handshakes").stdout.trim().split("\n");
  assert.equal(hs.length, 2);
  assert.ok(hs.every((l) => Number(l.split(/\s+/)[1]) > 0));
});

test("fault addUndeclaredListener: a listener on the host's address, gone after undo", async () => {
  const undo = await addUndeclaredListener(lab, "gpu", 7777, GPU);
  assert.match(ssh(GPU, "ss -Hltn").stdout, new RegExp(`${GPU.replaceAll(".", "\\.")}:7777`));
  await undo();
  assert.doesNotMatch(ssh(GPU, "ss -Hltn").stdout, /:7777\b/);
});

test("fault openPort: a source outside allow gets in until undone", async () => {
  const undo = await openPort(lab, "gpu", 9100, `${SVC1}/32`);
  assert.equal(await reachFrom("svc-1", GPU, 9100), "open");
  await undo();
  assert.equal(await reachFrom("svc-1", GPU, 9100), "filtered");
});

test("fault setSysctl: the value changes inside the host only, and is restored", async () => {
  const undo = await setSysctl(lab, "gpu", "net.ipv4.ip_forward", "1");
  assert.equal(ssh(GPU, "sysctl -n net.ipv4.ip_forward").stdout.trim(), "1");
  assert.equal(ssh(GW, "sysctl -n net.ipv4.ip_forward").stdout.trim(), "1");
  await undo();
  assert.equal(ssh(GPU, "sysctl -n net.ipv4.ip_forward").stdout.trim(), "0");
});

test("fault removeWireguardPeer: the peer is gone from wg0, and back with a handshake after undo", async () => {
  const admin = lab.state.wireguard[0]!.peers.find((p) => p.name === "admin")!.publicKey;
  assert.match(ssh(GW, "wg show wg0 peers").stdout, new RegExp(admin.replace(/[+/]/g, "\\$&")));
  const undo = await removeWireguardPeer(lab, "gw-vpn", "admin");
  assert.doesNotMatch(ssh(GW, "wg show wg0 peers").stdout, new RegExp(admin.replace(/[+/]/g, "\\$&")));
  await undo();
  const hs = ssh(GW, "wg show wg0 latest-handshakes").stdout;
  const line = hs.split("\n").find((l) => l.startsWith(admin));
  assert.ok(line && Number(line.split(/\s+/)[1]) > 0, hs);
});

test("fault removePrometheusTarget: the host is no longer scraped until undone", async () => {
  const undo = await removePrometheusTarget(lab, "mon", "gpu");
  assert.ok(!(await promTargets()).some((t) => t.host === "gpu"));
  await undo();
  assert.ok((await promTargets()).some((t) => t.host === "gpu"));
});

test("fault blackhole: packets to the host are dropped (filtered, not refused) until undone", async () => {
  const undo = await blackhole(lab, "gpu");
  assert.equal(await reach(GPU, 22, 700), "filtered");
  assert.equal(await reach(GPU, 9999, 700), "filtered");
  await undo();
  assert.equal(await reach(GPU, 22), "open");
  assert.equal(await reach(GPU, 9100), "open");
});

test("down removes namespaces, root-namespace veths, routes and WireGuard interfaces; twice is fine", async () => {
  assert.equal(await labDown(lab.dir), true);
  assert.doesNotMatch(
    spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout,
    new RegExp(`keel-${site}-`),
  );
  const links = spawnSync("ip", ["-br", "link"], { encoding: "utf8" }).stdout;
  for (const l of lab.state.rootLinks) assert.doesNotMatch(links, new RegExp(`^${l.ifname}\\b`, "m"));
  for (const w of lab.state.rootWg) assert.doesNotMatch(links, new RegExp(`^${w}\\b`, "m"));
  const routes = spawnSync("ip", ["route"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(routes, new RegExp(`10\\.${octet}\\.0\\.0/24`));
  assert.ok(lab.state.processes.every((p) => spawnSync("kill", ["-0", String(p.pid)]).status !== 0));
  const named = lab.state.processes.filter((p) => p.daemon === "named");
  assert.equal(named.length, 1, "BIND was recorded, and down stopped it");
  assert.equal(existsSync(join(dir, ".keel/lab/hosts/gw-vpn/named")), false);
  assert.equal(await labDown(lab.dir), false);
});
