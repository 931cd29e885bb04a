/**
 * Every check kind end to end: spec → module → real prober → real daemon → outcome.
 * Host-side checks (listeners, sysctl, wireguard) log in to an sshd inside a network namespace,
 * so the listeners seen are only the ones this test starts.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCheck } from "../../src/verify/checks/index.js";
import type {
  CheckContext,
  CheckOutcome,
  CheckParams,
  CheckSpec,
  Prober,
  SshTarget,
} from "../../src/verify/types.js";
import { LocalProber } from "../../src/verify/vantages/local.js";
import { ViaProber } from "../../src/verify/vantages/ssh.js";
import {
  type Daemon,
  freePort,
  type Sshd,
  startHttp,
  startNodeExporter,
  startPrometheus,
  startSshd,
} from "../helpers/daemons.js";
import { type Named, startNamed, tsigKeygen } from "../helpers/named.js";
import { createNetns, type Netns } from "../helpers/netns.js";

const base = (process.pid % 200) + 10;
let keyOnly: Sshd;
let withPassword: Sshd;
let noTools: Sshd;
let nodeExp: Daemon;
let host: Netns; // a "host" with its own sshd, for host-side checks
let dark: Netns; // drops ICMP echo and TCP 9, 22 (filtered)
let hostSshd: Sshd;
let httpInHost: ChildProcess | undefined;
let local: LocalProber;

function ctx(prober: Prober = local, timeoutMs = 3000): CheckContext {
  return { prober, timeoutMs, signal: new AbortController().signal };
}

function spec(params: CheckParams, hostName = "gpu", vantage = "admin"): CheckSpec {
  return { id: `${hostName}/${params.kind}@${vantage}`, kind: params.kind, host: hostName, vantage, params };
}

function loopTarget(d: Sshd, key = d.clientKey): SshTarget {
  return { host: "lo", address: "127.0.0.1", port: d.port, user: "root", identity: key };
}

let hostTarget: SshTarget;

before(async () => {
  host = createNetns("h", base);
  dark = createNetns(
    "d",
    base + 1,
    `table inet kp {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 9, 22 } drop
    udp dport 9 drop
    icmp type echo-request drop
  }
}
`,
  );
  [keyOnly, withPassword, noTools, nodeExp, hostSshd] = await Promise.all([
    startSshd(),
    startSshd({ password: true }),
    startSshd({ env: { PATH: "/nonexistent" } }),
    startNodeExporter(),
    startSshd({ netns: host.name, listen: host.nsAddress, port: 22 }),
  ]);
  hostTarget = { host: "gpu", address: host.nsAddress, port: 22, user: "root", identity: hostSshd.clientKey };
  local = new LocalProber("admin");
});

after(async () => {
  await local?.close();
  httpInHost?.kill();
  await Promise.all([
    keyOnly?.stop(),
    withPassword?.stop(),
    noTools?.stop(),
    nodeExp?.stop(),
    hostSshd?.stop(),
  ]);
  host?.destroy();
  dark?.destroy();
});

describe("reachable, ssh.key-only, ssh.login", () => {
  test("reachable: ping answers", async () => {
    const o = await runCheck(spec({ kind: "reachable", address: host.nsAddress, tcpPorts: [22] }), ctx());
    assert.equal(o.status, "pass", o.message);
    assert.equal(o.message, `${host.nsAddress} answers ping`);
  });

  test("reachable: no echo reply, but a refused TCP port proves the host answers; all filtered fails", async () => {
    const port = await freePort();
    const viaTcp = await runCheck(
      spec({ kind: "reachable", address: dark.nsAddress, tcpPorts: [9, port] }),
      ctx(local, 2000),
    );
    assert.equal(viaTcp.status, "pass", viaTcp.message);
    assert.match(
      viaTcp.message,
      new RegExp(`does not answer ping but ${dark.nsAddress.replace(/\./g, "\\.")}:${port}/tcp is refused`),
    );
    const none = await runCheck(
      spec({ kind: "reachable", address: dark.nsAddress, tcpPorts: [9, 22] }),
      ctx(local, 2000),
    );
    assert.equal(none.status, "fail");
    assert.equal(none.message, `${dark.nsAddress}: ping timed out; 9/tcp filtered, 22/tcp filtered`);
  });

  test("reachable: a vantage without ping still decides by TCP, and errors when TCP cannot decide", async () => {
    const noPing = new LocalProber("admin", { pingCommand: "/nonexistent/ping" });
    try {
      const ok = await runCheck(
        spec({ kind: "reachable", address: "127.0.0.1", tcpPorts: [keyOnly.port] }),
        ctx(noPing),
      );
      assert.equal(ok.status, "pass", ok.message);
      assert.match(ok.message, /ping unavailable \(\/nonexistent\/ping is not installed on vantage admin\)/);
      const e = await runCheck(
        spec({ kind: "reachable", address: dark.nsAddress, tcpPorts: [9] }),
        ctx(noPing, 1000),
      );
      assert.equal(e.status, "error", e.message);
    } finally {
      await noPing.close();
    }
  });

  test("ssh.key-only passes on a key-only sshd and fails naming password on the other", async () => {
    const ok = await runCheck(
      spec({ kind: "ssh.key-only", address: "127.0.0.1", port: keyOnly.port, user: "root" }),
      ctx(),
    );
    assert.equal(ok.status, "pass", ok.message);
    const bad = await runCheck(
      spec({ kind: "ssh.key-only", address: "127.0.0.1", port: withPassword.port, user: "root" }),
      ctx(),
    );
    assert.equal(bad.status, "fail");
    assert.match(bad.message, /offers password besides publickey$/);
    const down = await runCheck(
      spec({ kind: "ssh.key-only", address: "127.0.0.1", port: await freePort(), user: "root" }),
      ctx(),
    );
    assert.equal(down.status, "fail");
    assert.match(down.message, /ECONNREFUSED/);
  });

  test("ssh.login passes with the authorised key and fails with another", async () => {
    const ok = await runCheck(spec({ kind: "ssh.login", target: loopTarget(keyOnly) }), ctx());
    assert.equal(ok.status, "pass", ok.message);
    const bad = await runCheck(
      spec({ kind: "ssh.login", target: loopTarget(keyOnly, keyOnly.wrongKey) }),
      ctx(),
    );
    assert.equal(bad.status, "fail");
    assert.match(
      bad.message,
      new RegExp(`^login as root@127\\.0\\.0\\.1:${keyOnly.port} with ${keyOnly.wrongKey} failed: `),
    );
  });
});

describe("port.open and port.closed", () => {
  test("tcp: open, refused and filtered, judged both ways", async () => {
    const refusedPort = await freePort();
    const open = (address: string, port: number) =>
      runCheck(spec({ kind: "port.open", address, port, protocol: "tcp" }), ctx(local, 800));
    const closed = (address: string, port: number) =>
      runCheck(
        spec({ kind: "port.closed", address, port, protocol: "tcp", allowed: "mon, vpn" }),
        ctx(local, 800),
      );
    assert.equal((await open("127.0.0.1", keyOnly.port)).status, "pass");
    const r = await open("127.0.0.1", refusedPort);
    assert.deepEqual(
      [r.status, r.message],
      ["fail", `127.0.0.1:${refusedPort}/tcp is refused; allow admits this vantage (admin)`],
    );
    assert.equal((await open(dark.nsAddress, 9)).status, "fail");

    const c1 = await closed("127.0.0.1", keyOnly.port);
    assert.deepEqual(
      [c1.status, c1.message],
      ["fail", `127.0.0.1:${keyOnly.port}/tcp is open; allow admits only mon, vpn`],
    );
    const c2 = await closed("127.0.0.1", refusedPort);
    assert.deepEqual([c2.status, c2.observed], ["pass", { state: "refused" }]);
    const c3 = await closed(dark.nsAddress, 9);
    assert.deepEqual([c3.status, c3.observed], ["pass", { state: "filtered" }]);
  });

  test("udp: ICMP port unreachable fails port.open and passes port.closed; silence to an empty datagram is neither (error)", async () => {
    const port = await freePort();
    const o1 = await runCheck(
      spec({ kind: "port.open", address: "127.0.0.1", port, protocol: "udp" }),
      ctx(local, 800),
    );
    assert.equal(o1.status, "fail");
    const c1 = await runCheck(
      spec({ kind: "port.closed", address: "127.0.0.1", port, protocol: "udp", allowed: "lan" }),
      ctx(local, 800),
    );
    assert.deepEqual(
      [c1.status, c1.message, c1.observed],
      ["pass", `127.0.0.1:${port}/udp is refused (ICMP port unreachable)`, { state: "refused" }],
    );
    // dark drops UDP 9: nothing serves it and nothing says so
    const o2 = await runCheck(
      spec({ kind: "port.open", address: dark.nsAddress, port: 9, protocol: "udp" }),
      ctx(local, 500),
    );
    assert.deepEqual(
      [o2.status, o2.message, o2.observed],
      [
        "error",
        `${dark.nsAddress}:9/udp not observed: no answer to an empty datagram and no ICMP error (UDP cannot tell open from filtered without a protocol probe)`,
        { state: "open|filtered" },
      ],
    );
    const c2 = await runCheck(
      spec({ kind: "port.closed", address: dark.nsAddress, port: 9, protocol: "udp", allowed: "lan" }),
      ctx(local, 500),
    );
    assert.equal(c2.status, "error");
    assert.match(c2.message, /not observed/);
  });
});

describe("UDP services by their protocol, ICMP rejects, and errors that are the vantage's", () => {
  const zoneDir = mkdtempSync(join(tmpdir(), "keel-dns-"));
  let named: Named;
  let rej: Netns; // rejects UDP/TCP 5001 with ICMP admin-prohibited, drops UDP 5002
  let via: ViaProber;
  let viaNoRoute: ViaProber; // sshd in a namespace with no route beyond its own /30
  const noRouteAddress = "10.251.77.10";
  before(async () => {
    writeFileSync(
      join(zoneDir, "lab.internal"),
      "$TTL 60\n@ IN SOA ns hostmaster 2026120101 60 60 600 60\n@ IN NS ns\nns IN A 127.0.0.1\ngpu IN A 10.20.0.10\n",
    );
    writeFileSync(join(zoneDir, "broken.internal"), "this is not a zone file\n");
    named = await startNamed(
      [
        { name: "lab.internal", file: join(zoneDir, "lab.internal"), update: false },
        { name: "broken.internal", file: join(zoneDir, "broken.internal"), update: false },
      ],
      tsigKeygen("keel-test"),
      "keel-test",
    );
    rej = createNetns(
      "r",
      base + 2,
      `table inet kp {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 5001 reject with icmp type admin-prohibited
    tcp dport 5001 reject with icmp type admin-prohibited
    udp dport 5002 drop
  }
}
`,
    );
    // one ICMP error per probe, however fast the probes come (icmp(7) icmp_ratelimit)
    rej.exec(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"]);
    via = new ViaProber("lan-probe", { ...loopTarget(keyOnly), host: "svc-1" });
    viaNoRoute = new ViaProber("lan-probe", { ...hostTarget, host: "gpu" });
  });
  after(async () => {
    await via?.close();
    await viaNoRoute?.close();
    await named?.stop();
    rej?.destroy();
    rmSync(zoneDir, { recursive: true, force: true });
  });

  const dnsOpen = (address: string, port: number, zone = "lab.internal") =>
    spec({ kind: "port.open", address, port, protocol: "udp", probe: { kind: "dns", zone } }, "ns1");
  const dnsClosed = (address: string, port: number) =>
    spec(
      {
        kind: "port.closed",
        address,
        port,
        protocol: "udp",
        allowed: "vpn",
        probe: { kind: "dns", zone: "lab.internal" },
      },
      "ns1",
    );

  test("dns: a real BIND answering the query passes port.open (any rcode), from the local and a via vantage", async () => {
    const o = await runCheck(dnsOpen("127.0.0.1", named.port), ctx(local));
    assert.deepEqual(
      [o.status, o.message, o.observed],
      [
        "pass",
        `127.0.0.1:${named.port}/udp is open: it answered a DNS query (NOERROR)`,
        { state: "open", rcode: "NOERROR" },
      ],
    );
    const refused = await runCheck(dnsOpen("127.0.0.1", named.port, "not-served.example"), ctx(local));
    assert.deepEqual([refused.status, refused.observed], ["pass", { state: "open", rcode: "REFUSED" }]);
    const v = await runCheck(dnsOpen("127.0.0.1", named.port), ctx(via, 4000));
    assert.deepEqual([v.status, v.observed], ["pass", { state: "open", rcode: "NOERROR" }], v.message);
    const c = await runCheck(dnsClosed("127.0.0.1", named.port), ctx(local));
    assert.deepEqual(
      [c.status, c.message],
      [
        "fail",
        `127.0.0.1:${named.port}/udp is open: it answered a DNS query (NOERROR); allow admits only vpn`,
      ],
    );
  });

  test("dns: silence after a query is not open (port.open fails, port.closed passes as filtered); a port nothing serves is refused", async () => {
    const o = await runCheck(dnsOpen(rej.nsAddress, 5002), ctx(local, 2000));
    assert.deepEqual(
      [o.status, o.message, o.observed],
      [
        "fail",
        `${rej.nsAddress}:5002/udp is filtered: no answer to a DNS query; allow admits this vantage (admin)`,
        { state: "filtered" },
      ],
    );
    const c = await runCheck(dnsClosed(rej.nsAddress, 5002), ctx(local, 2000));
    assert.deepEqual([c.status, c.observed], ["pass", { state: "filtered" }]);
    const free = await freePort();
    const r = await runCheck(dnsOpen("127.0.0.1", free), ctx(local, 2000));
    assert.deepEqual([r.status, r.observed], ["fail", { state: "refused" }], r.message);
  });

  test("ICMP administratively prohibited (nft reject): port.closed passes and says so, port.open fails; UDP and TCP", async () => {
    const cu = await runCheck(
      spec({ kind: "port.closed", address: rej.nsAddress, port: 5001, protocol: "udp", allowed: "vpn" }),
      ctx(local, 2000),
    );
    assert.deepEqual(
      [cu.status, cu.message, cu.observed],
      [
        "pass",
        `${rej.nsAddress}:5001/udp is rejected (ICMP administratively prohibited)`,
        { state: "prohibited" },
      ],
    );
    const ou = await runCheck(
      spec({ kind: "port.open", address: rej.nsAddress, port: 5001, protocol: "udp" }),
      ctx(local, 2000),
    );
    assert.equal(ou.status, "fail");
    assert.match(ou.message, /rejected \(ICMP administratively prohibited\); allow admits this vantage/);
    const ct = await runCheck(
      spec({ kind: "port.closed", address: rej.nsAddress, port: 5001, protocol: "tcp", allowed: "vpn" }),
      ctx(local, 2000),
    );
    assert.deepEqual(
      [ct.status, ct.message],
      [
        "pass",
        `${rej.nsAddress}:5001/tcp is rejected: no route to host (ICMP host unreachable or administratively prohibited)`,
      ],
    );
  });

  test("a vantage with no route to the network: port.closed and port.open are errors, not verdicts on the target", async () => {
    for (const protocol of ["tcp", "udp"] as const) {
      const c = await runCheck(
        spec(
          { kind: "port.closed", address: noRouteAddress, port: 8080, protocol, allowed: "far" },
          "far-1",
          "lan-probe",
        ),
        ctx(viaNoRoute, 4000),
      );
      assert.equal(c.status, "error", `${protocol}: ${c.message}`);
      assert.match(
        c.message,
        new RegExp(
          `^vantage lan-probe: gpu has no route to ${noRouteAddress.replace(/\./g, "\\.")}:8080 \\(`,
        ),
      );
      const o = await runCheck(
        spec({ kind: "port.open", address: noRouteAddress, port: 8080, protocol }, "far-1", "lan-probe"),
        ctx(viaNoRoute, 4000),
      );
      assert.equal(o.status, "error", `${protocol}: ${o.message}`);
    }
  });

  test("a local vantage with no route (the check run inside a namespace without one): error, not closed", () => {
    const r = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        host.name,
        process.execPath,
        "--import",
        "tsx",
        "-e",
        `import { runCheck } from "./src/verify/checks/index.js";
import { LocalProber } from "./src/verify/vantages/local.js";
const local = new LocalProber("admin");
const out = [];
for (const protocol of ["tcp", "udp"]) {
  const params = { kind: "port.closed", address: "${noRouteAddress}", port: 8080, protocol, allowed: "far" };
  out.push(await runCheck({ id: "x", kind: "port.closed", host: "far-1", vantage: "admin", params }, { prober: local, timeoutMs: 2000, signal: new AbortController().signal }));
}
console.log(JSON.stringify(out));`,
      ],
      { encoding: "utf8", cwd: join(import.meta.dirname, "../.."), timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as CheckOutcome[];
    for (const o of out) {
      assert.deepEqual(
        [o.status, o.message],
        ["error", `vantage admin has no route to ${noRouteAddress} (ENETUNREACH: network is unreachable)`],
      );
    }
  });

  test("dns.records through a via host: SERVFAIL and REFUSED are errors naming the rcode, not empty answers", async () => {
    const records = (zone: string, name: string) =>
      spec(
        {
          kind: "dns.records",
          server: { host: "ns1", address: "127.0.0.1", port: named.port },
          peers: [],
          zones: [zone],
          names: [{ name, a: ["10.20.0.10"], aaaa: [] }],
          ptr: [],
        },
        "ns1",
        "lan-probe",
      );
    const ok = await runCheck(records("lab.internal", "gpu.lab.internal"), ctx(via, 5000));
    assert.equal(ok.status, "pass", ok.message);
    const servfail = await runCheck(records("broken.internal", "gpu.broken.internal"), ctx(via, 5000));
    assert.equal(servfail.status, "error", servfail.message);
    assert.match(
      servfail.message,
      /SOA broken\.internal from 127\.0\.0\.1:\d+: answered with rcode SERVFAIL \(via svc-1\)/,
    );
    const refused = await runCheck(records("not-served.example", "gpu.not-served.example"), ctx(via, 5000));
    assert.equal(refused.status, "error", refused.message);
    assert.match(refused.message, /answered with rcode REFUSED/);
    // the local vantage says the same
    const local1 = await runCheck(records("broken.internal", "gpu.broken.internal"), ctx(local, 5000));
    assert.equal(local1.status, "error");
    assert.match(local1.message, /SERVFAIL/);
  });
});

describe("http, node_exporter, grafana, prometheus.targets", () => {
  const httpSpec = (port: number, path: string, expect = 200, body?: string) =>
    spec({
      kind: "http",
      url: `http://127.0.0.1:${port}${path}`,
      address: "127.0.0.1",
      port,
      path,
      expect,
      ...(body !== undefined ? { body } : {}),
    });

  test("http: status and body regex against node_exporter's landing page", async () => {
    const ok = await runCheck(httpSpec(nodeExp.port, "/", 200, "Node Exporter"), ctx());
    assert.equal(ok.status, "pass", ok.message);
    const wrong = await runCheck(httpSpec(nodeExp.port, "/", 204), ctx());
    assert.equal(wrong.status, "fail");
    assert.match(wrong.message, /got 200, expected 204; body: "/);
    const body = await runCheck(httpSpec(nodeExp.port, "/", 200, "^Grafana"), ctx());
    assert.equal(body.status, "fail");
    assert.match(body.message, /the body does not match/);
    const down = await runCheck(httpSpec(await freePort(), "/", 200), ctx());
    assert.equal(down.status, "fail");
    assert.match(down.message, /connection refused/);
  });

  test("node_exporter passes on the real exporter and fails on a server with other metrics", async () => {
    const ne = (port: number) =>
      runCheck(
        spec({ kind: "node_exporter", baseUrl: `http://127.0.0.1:${port}`, address: "127.0.0.1", port }),
        ctx(),
      );
    const ok = await ne(nodeExp.port);
    assert.equal(ok.status, "pass", ok.message);
    const fake = await startHttp(200, "# TYPE myapp_up gauge\nmyapp_up 1\n");
    try {
      const bad = await ne(fake.port);
      assert.equal(bad.status, "fail");
      assert.match(bad.message, /no node_ metrics/);
    } finally {
      await fake.stop();
    }
  });

  test("grafana: database ok passes, failing fails (a stand-in server; Grafana is not installed here)", async () => {
    const g = async (status: number, body: string) => {
      const s = await startHttp(status, body, "application/json");
      try {
        return await runCheck(
          spec({
            kind: "grafana",
            baseUrl: `http://127.0.0.1:${s.port}`,
            address: "127.0.0.1",
            port: s.port,
          }),
          ctx(),
        );
      } finally {
        await s.stop();
      }
    };
    assert.equal((await g(200, '{"database":"ok","version":"10.4.1"}')).status, "pass");
    const bad = await g(503, '{"database":"failing"}');
    assert.equal(bad.status, "fail");
    assert.match(bad.message, /database is "failing"; expected "ok"/);
  });

  test("prometheus.targets against a real Prometheus scraping a real node_exporter and a dead target", async () => {
    const deadPort = await freePort();
    const prom = await startPrometheus([
      { address: `127.0.0.1:${nodeExp.port}`, labels: { host: "gpu" } },
      { address: `127.0.0.1:${deadPort}`, labels: { host: "ns1" } },
    ]);
    try {
      const check = (monitored: { host: string; addresses: string[]; port?: number }[]) =>
        runCheck(
          spec(
            {
              kind: "prometheus.targets",
              baseUrl: `http://127.0.0.1:${prom.port}`,
              address: "127.0.0.1",
              port: prom.port,
              monitored,
            },
            "mon",
          ),
          ctx(),
        );
      const monitored = [
        { host: "gpu", addresses: ["10.20.0.10"], port: nodeExp.port },
        { host: "ns1", addresses: ["10.20.0.4"], port: deadPort },
        { host: "gw-vpn", addresses: ["10.20.0.2"], port: 9100 },
      ];
      let o: CheckOutcome = await check(monitored);
      // Wait for the first scrapes: gpu up, ns1's dead target down.
      const settled = (x: CheckOutcome) => {
        const ob = x.observed as { up?: number; down?: unknown[] } | undefined;
        return ob?.up === 1 && ob.down?.length === 1;
      };
      for (let i = 0; i < 100 && !settled(o); i++) {
        await new Promise((r) => setTimeout(r, 200));
        o = await check(monitored);
      }
      assert.equal(o.status, "fail");
      assert.match(o.message, /not active targets: gw-vpn/);
      assert.match(o.message, /no target up for ns1 \(down\)/);
      assert.match(
        o.message,
        new RegExp(`127\\.0\\.0\\.1:${deadPort} \\(job node\\) is down: .*connection refused`),
      );
      assert.doesNotMatch(o.message, /gpu/);
      const obs = o.observed as { up: number; active: number };
      assert.deepEqual([obs.active, obs.up], [2, 1]);
      // gpu's node_exporter said to be on another port: its up target there does not count
      const wrongPort = nodeExp.port === 65535 ? 65534 : nodeExp.port + 1;
      const moved = await check([{ host: "gpu", addresses: ["10.20.0.10"], port: wrongPort }]);
      assert.equal(moved.status, "fail");
      assert.match(moved.message, new RegExp(`^not active targets: gpu:${wrongPort}; `));
    } finally {
      await prom.stop();
    }
  });
});

describe("host-side checks over SSH (sshd in a network namespace)", () => {
  const declared = [{ service: "ssh", port: 22, protocol: "tcp" as const }];
  const listenersSpec = (
    d: { service: string; port: number; protocol: "tcp" | "udp" }[],
    target = hostTarget,
  ) => spec({ kind: "listeners", target, declared: d, ignore: ["127.0.0.0/8", "::1"] });

  test("listeners: pass, then an unexpected listener and a missing service fail", async () => {
    const ok = await runCheck(listenersSpec(declared), ctx());
    assert.equal(ok.status, "pass", ok.message);
    const port = 18080;
    httpInHost = spawn(
      "ip",
      ["netns", "exec", host.name, "python3", "-m", "http.server", "--bind", "0.0.0.0", String(port)],
      {
        stdio: "ignore",
      },
    );
    let o: CheckOutcome = ok;
    for (let i = 0; i < 50 && !o.message.includes("(python3)"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      o = await runCheck(
        listenersSpec([...declared, { service: "node_exporter", port: 9100, protocol: "tcp" }]),
        ctx(),
      );
    }
    assert.equal(o.status, "fail", o.message);
    assert.equal(
      o.message,
      `gpu: unexpected listener 0.0.0.0:${port}/tcp (python3); node_exporter (9100/tcp) is not listening`,
    );
    const obs = o.observed as { listeners: string[]; unexpected: unknown[]; notListening: string[] };
    assert.ok(obs.listeners.includes(`${host.nsAddress}:22/tcp`), obs.listeners.join(" "));
    assert.deepEqual(obs.notListening, ["node_exporter (9100/tcp)"]);
  });

  test("listeners: ss missing on the host is an error naming the tool and host", async () => {
    const o = await runCheck(listenersSpec(declared, { ...loopTarget(noTools), host: "gpu" }), ctx());
    assert.deepEqual([o.status, o.message], ["error", "ss is not installed on gpu"]);
  });

  test("listeners: a failed login is an error (undecided), not a fail", async () => {
    const o = await runCheck(listenersSpec(declared, { ...hostTarget, identity: hostSshd.wrongKey }), ctx());
    assert.equal(o.status, "error");
    assert.match(
      o.message,
      new RegExp(`^cannot log in to gpu: login as root@${host.nsAddress.replace(/\./g, "\\.")}:22 with `),
    );
  });

  test("sysctl: matching value passes, another fails, a missing key fails saying so", async () => {
    const actual = host.exec(["sysctl", "-n", "net.ipv4.ip_forward"]).trim();
    const other = actual === "1" ? "0" : "1";
    const s = (key: string, expected: string) => spec({ kind: "sysctl", target: hostTarget, key, expected });
    assert.equal((await runCheck(s("net.ipv4.ip_forward", actual), ctx())).status, "pass");
    const bad = await runCheck(s("net.ipv4.ip_forward", other), ctx());
    assert.deepEqual(
      [bad.status, bad.message],
      ["fail", `net.ipv4.ip_forward is ${actual}; expected ${other}`],
    );
    const missing = await runCheck(s("net.ipv4.no_such_knob", "1"), ctx());
    assert.deepEqual(
      [missing.status, missing.message],
      ["fail", "net.ipv4.no_such_knob does not exist on gpu; expected 1"],
    );
  });

  describe("wireguard.peers with wireguard-go in the namespace", () => {
    const tag = process.pid % 100000;
    const ifA = `kpwa${tag}`;
    const ifB = `kpwb${tag}`;
    const procs: ChildProcess[] = [];
    let dir = "";
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "keel-wg-"));
      for (const ifname of [ifA, ifB]) {
        procs.push(
          spawn("ip", ["netns", "exec", host.name, "wireguard-go", "-f", ifname], { stdio: "ignore" }),
        );
      }
      for (let i = 0; i < 100 && ![ifA, ifB].every((n) => existsSync(`/var/run/wireguard/${n}.sock`)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const key = (name: string) => {
        const priv = execFileSync("wg", ["genkey"]).toString().trim();
        writeFileSync(join(dir, name), `${priv}\n`, { mode: 0o600 });
        return execFileSync("wg", ["pubkey"], { input: priv }).toString().trim();
      };
      const [pubA, pubB, pubC] = [key("a"), key("b"), key("c")];
      host.exec(["wg", "set", ifA, "private-key", join(dir, "a"), "listen-port", "51820"]);
      host.exec(["wg", "set", ifA, "peer", pubB, "allowed-ips", "10.99.0.250/32"]);
      host.exec(["wg", "set", ifA, "peer", pubC, "allowed-ips", "10.99.0.251/32"]);
      host.exec(["wg", "set", ifB, "private-key", join(dir, "b"), "listen-port", "51821"]);
      host.exec([
        "wg",
        "set",
        ifB,
        "peer",
        pubA,
        "allowed-ips",
        "10.99.0.1/32",
        "endpoint",
        "127.0.0.1:51820",
        "persistent-keepalive",
        "1",
      ]);
      host.exec(["ip", "link", "set", ifA, "up"]);
      host.exec(["ip", "link", "set", ifB, "up"]);
      for (let i = 0; i < 100; i++) {
        const hs = host.exec(["wg", "show", ifA, "latest-handshakes"]);
        if (hs.split("\n").some((l) => /\t[1-9]\d*$/.test(l))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    after(() => {
      for (const p of procs) p.kill();
      rmSync(dir, { recursive: true, force: true });
    });

    const wgSpec = (peers: { name: string; addresses: string[] }[], iface = ifA) =>
      spec(
        { kind: "wireguard.peers", target: hostTarget, interface: iface, peers, maxHandshakeAgeSec: 180 },
        "gw-vpn",
      );

    test("a peer with a fresh handshake passes", async () => {
      const o = await runCheck(wgSpec([{ name: "admin", addresses: ["10.99.0.250"] }]), ctx());
      assert.equal(o.status, "pass", o.message);
      assert.equal((o.observed as { unexpected: unknown[] }).unexpected.length, 1);
    });

    test("a silent peer and an absent one fail, each named", async () => {
      const o = await runCheck(
        wgSpec([
          { name: "admin", addresses: ["10.99.0.250"] },
          { name: "mon", addresses: ["10.99.0.251"] },
          { name: "laptop", addresses: ["10.99.0.77"] },
        ]),
        ctx(),
      );
      assert.equal(o.status, "fail");
      assert.equal(
        o.message,
        `peer mon: no handshake yet; peer laptop (10.99.0.77) is not configured on ${ifA}`,
      );
      assert.doesNotMatch(JSON.stringify(o), /PRIVATE|private/i);
    });

    test("port.open on the WireGuard port: observed open by a recent handshake through it; silent and unprobed, an error", async () => {
      const wgOpen = (port: number, iface?: string) =>
        spec(
          {
            kind: "port.open",
            address: host.nsAddress,
            port,
            protocol: "udp",
            ...(iface
              ? {
                  probe: { kind: "wireguard", target: hostTarget, interface: iface, maxHandshakeAgeSec: 180 },
                }
              : {}),
          },
          "gw-vpn",
        );
      const o = await runCheck(wgOpen(51820, ifA), ctx());
      assert.equal(o.status, "pass", o.message);
      assert.match(
        o.message,
        new RegExp(
          `^${host.nsAddress.replace(/\./g, "\\.")}:51820/udp observed open: ${ifA} on gw-vpn had a WireGuard handshake through it \\d+ s ago`,
        ),
      );
      assert.equal((o.observed as { state: string }).state, "open");
      // the interface listening elsewhere proves nothing about this port
      const other = await runCheck(wgOpen(51820, ifB), ctx());
      assert.equal(other.status, "error");
      assert.match(other.message, new RegExp(`${ifB} on gw-vpn listens on 51821, not 51820`));
      // without the host's word, WireGuard's silence to an empty datagram is not a pass
      const bare = await runCheck(wgOpen(51820), ctx());
      assert.equal(bare.status, "error");
      assert.match(bare.message, /not observed/);
    });

    test("a missing interface fails with 'does not exist'; a missing wg is an error", async () => {
      const o = await runCheck(wgSpec([], "kpnowg0"), ctx());
      assert.deepEqual([o.status, o.message], ["fail", "kpnowg0 does not exist on gw-vpn"]);
      const e = await runCheck(
        spec(
          {
            kind: "wireguard.peers",
            target: loopTarget(noTools),
            interface: ifA,
            peers: [],
            maxHandshakeAgeSec: 180,
          },
          "gw-vpn",
        ),
        ctx(),
      );
      assert.deepEqual([e.status, e.message], ["error", "wg is not installed on gw-vpn"]);
    });
  });
});

describe("checks from a via vantage", () => {
  test("ssh.login and listeners through the via host; a dead via host makes checks error", async () => {
    const via = new ViaProber("lan-probe", { ...loopTarget(keyOnly), host: "svc-1" });
    const dead = new ViaProber("lan-probe", {
      host: "svc-1",
      address: "127.0.0.1",
      port: await freePort(),
      user: "root",
      identity: keyOnly.clientKey,
    });
    try {
      const login = await runCheck(
        spec({ kind: "ssh.login", target: hostTarget }, "gpu", "lan-probe"),
        ctx(via),
      );
      assert.equal(login.status, "pass", login.message);
      const l = await runCheck(
        spec({
          kind: "listeners",
          target: hostTarget,
          declared: [{ service: "ssh", port: 22, protocol: "tcp" }],
          ignore: [],
        }),
        ctx(via),
      );
      assert.notEqual(l.status, "error", l.message);
      const e = await runCheck(
        spec({ kind: "ssh.login", target: hostTarget }, "gpu", "lan-probe"),
        ctx(dead),
      );
      assert.equal(e.status, "error");
      assert.match(e.message, /^vantage lan-probe: cannot log in to svc-1 \(127\.0\.0\.1:\d+\) as root: /);
      const p = await runCheck(
        spec({ kind: "port.open", address: "127.0.0.1", port: 22, protocol: "tcp" }, "gpu", "lan-probe"),
        ctx(dead),
      );
      assert.equal(p.status, "error");
    } finally {
      await via.close();
      await dead.close();
    }
  });
});
