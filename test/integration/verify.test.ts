/**
 * `keel verify` end to end on the lab twin of examples/lab/keel.yaml (root only): real sshd,
 * node_exporter, Prometheus and wireguard-go in network namespaces. On the healthy twin every
 * check passes; then one fault at a time, the matching checks fail with a precise message and
 * only the checks that should. The inventory is the shipped example, with its own site name
 * and prefixes so it can run beside a demo twin.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client as SshClient } from "ssh2";
import YAML from "yaml";
import { loadInventory } from "../../src/inventory/load.js";
import { labDown, labUp } from "../../src/lab/lab.js";
import { sshdConfig } from "../../src/lab/sshd.js";
import type { Lab } from "../../src/lab/twin.js";
import { CHECK_KINDS, type Report } from "../../src/verify/types.js";
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
  type Undo,
} from "../lab/faults.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "keel-verify-it-"));
const file = path.join(dir, "keel.yaml");
const LAN = "10.44.0";
const VPN = "10.45.0";
let lab: Lab;

function verify(...args: string[]): { code: number | null; report: Report; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [cli, "verify", file, "--json", "--db", path.join(dir, "keel.db"), ...args],
    {
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  assert.equal(r.stderr.includes("    at "), false, `no stack trace expected: ${r.stderr}`);
  return { code: r.status, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

/** Ids of checks that did not pass or skip, sorted. */
function broken(report: Report): string[] {
  return report.checks
    .filter((c) => c.status === "fail" || c.status === "error")
    .map((c) => c.id)
    .sort();
}

function check(report: Report, id: string) {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in the report`);
  return c;
}

/** Runs `body` with a fault in place and always undoes it. */
async function withFault(apply: () => Promise<Undo>, body: () => void | Promise<void>): Promise<void> {
  const undo = await apply();
  try {
    await body();
  } finally {
    await undo();
  }
}

before(async () => {
  const example = readFileSync(path.join(root, "examples/lab/keel.yaml"), "utf8");
  writeFileSync(
    file,
    example
      .replace(/^site: lab$/m, `site: v${process.pid}`)
      .replaceAll("10.20.0.", `${LAN}.`)
      .replaceAll("10.99.0.", `${VPN}.`),
  );
  lab = await labUp(loadInventory(file));
});

after(async () => {
  await labDown(lab.dir);
  rmSync(dir, { recursive: true, force: true });
});

describe("keel verify on the example lab twin", { concurrency: false }, () => {
  test("healthy twin: every check passes (the via vantage's own host is skip), exit 0", () => {
    const junit = path.join(dir, "junit.xml");
    // strict: the lab pinned every twin host's key in .keel/known_hosts when it made them
    const { code, report } = verify("--junit", junit, "--strict-host-keys");
    const xml = readFileSync(junit, "utf8");
    assert.match(xml, new RegExp(`<testsuites [^>]*tests="${report.checks.length}" failures="0" errors="0"`));
    assert.match(xml, /<testcase classname="gpu" name="gpu\/listeners" time="[\d.]+"\/>/);
    assert.deepEqual(broken(report), []);
    assert.equal(code, 0);
    assert.equal(report.summary.fail + report.summary.error, 0);
    assert.ok(
      report.summary.pass >= 50,
      `expected the full checklist, got ${JSON.stringify(report.summary)}`,
    );
    for (const c of report.checks.filter((x) => x.status === "skip")) {
      assert.equal(c.host, "svc-1");
      assert.equal(c.message, "vantage lan-probe runs on svc-1 itself");
    }
    // WAL-G is neither a Debian nor an npm package, so the twin runs none: its check is tested
    // against WAL-G's documented output (test/unit/checks/backup-walg.test.ts). The pgBackRest
    // kinds run on the backups twin (examples/backups, test/integration/backups.test.ts), where a
    // real PostgreSQL archives to a real pgBackRest repository. A restore rehearsal is on demand,
    // run by keel serve and keel backup rehearse (test/integration/backup-rehearse.test.ts), never
    // by keel verify. The twin has no Proxmox VE cluster: its checks run against the API's
    // stand-in (test/unit/checks/proxmox-standin.test.ts).
    const elsewhere = new Set([
      "backup.walg",
      "backup.pgbackrest",
      "backup.pgbackrest-check",
      "backup.wal-archive",
      "backup.rehearsal",
      "proxmox.cluster",
      "proxmox.ceph",
    ]);
    for (const kind of CHECK_KINDS.filter((k) => !elsewhere.has(k))) {
      assert.ok(
        report.checks.some((c) => c.kind === kind && c.status === "pass"),
        `a passing ${kind} check on the healthy twin`,
      );
    }
    // both DNS servers answer as the inventory says, from both vantages (Resolver and dig)
    for (const id of [
      "gw-vpn/dns.records/dns@admin",
      "gw-vpn/dns.records/dns@lan-probe",
      "mon/dns.records/dns@admin",
      "mon/dns.records/dns@lan-probe",
    ]) {
      assert.equal(check(report, id).status, "pass", `${id}: ${check(report, id).message}`);
    }
    assert.match(
      check(report, "mon/dns.records/dns@lan-probe").message,
      new RegExp(`^mon \\(${LAN}\\.3:53\\): 13 answers match the inventory; SOA serials not behind gw-vpn$`),
    );
    // UDP ports pass on what came back: BIND answered a DNS query; WireGuard is observed open
    // by the gateway's handshake (from both vantages: both may log in to gw-vpn)
    for (const v of ["admin", "lan-probe"]) {
      const dns = check(report, `gw-vpn/port.open/dns@${v}`);
      assert.deepEqual(
        [dns.status, dns.observed],
        ["pass", { state: "open", rcode: "NOERROR" }],
        dns.message,
      );
      const wg = check(report, `gw-vpn/port.open/wireguard@${v}`);
      assert.equal(wg.status, "pass", wg.message);
      assert.match(
        wg.message,
        /:51820\/udp observed open: wg0 on gw-vpn had a WireGuard handshake through it \d+ s ago/,
      );
    }
    // the twin runs the rendered ruleset (policy drop): a port allow does not admit is filtered
    const closed = check(report, "gpu/port.closed/node_exporter@lan-probe");
    assert.equal(closed.status, "pass");
    assert.deepEqual(closed.observed, { state: "filtered" });
  });

  test("password authentication enabled in sshd: only ssh.key-only of that host fails", async () => {
    await withFault(
      () => enablePasswordAuth(lab, "gpu"),
      () => {
        const { code, report } = verify();
        assert.equal(code, 1);
        assert.deepEqual(broken(report), ["gpu/ssh.key-only@admin", "gpu/ssh.key-only@lan-probe"]);
        assert.match(check(report, "gpu/ssh.key-only@admin").message, /password/);
      },
    );
  });

  test("node_exporter stopped: its port, metrics, listener and Prometheus target fail", async () => {
    await withFault(
      () => stopService(lab, "gpu", "node_exporter"),
      async () => {
        // Prometheus notices at its next scrape (2 s interval in the twin).
        await new Promise((r) => setTimeout(r, 4500));
        const { report } = verify();
        assert.deepEqual(broken(report), [
          "gpu/listeners",
          "gpu/node_exporter/node_exporter@admin",
          "gpu/port.open/node_exporter@admin",
          "mon/prometheus.targets/prometheus@admin",
        ]);
        assert.match(check(report, "gpu/port.open/node_exporter@admin").message, /9100\/tcp is refused/);
        assert.match(check(report, "gpu/listeners").message, /node_exporter \(9100\/tcp\) is not listening/);
        assert.equal(check(report, "gpu/port.closed/node_exporter@lan-probe").status, "pass");
      },
    );
  });

  test("an undeclared listener on a non-loopback address fails listeners only", async () => {
    await withFault(
      () => addUndeclaredListener(lab, "svc-1", 8081, `${LAN}.20`),
      () => {
        const { report } = verify();
        assert.deepEqual(broken(report), ["svc-1/listeners"]);
        assert.match(
          check(report, "svc-1/listeners").message,
          new RegExp(`unexpected listener ${LAN}\\.20:8081/tcp`),
        );
      },
    );
  });

  test("port 9100 opened to a network outside its allow: port.closed from that network fails", async () => {
    await withFault(
      () => openPort(lab, "gpu", 9100, `${LAN}.0/24`),
      () => {
        const { report } = verify();
        assert.deepEqual(broken(report), ["gpu/port.closed/node_exporter@lan-probe"]);
        const c = check(report, "gpu/port.closed/node_exporter@lan-probe");
        assert.equal(c.message, `${LAN}.10:9100/tcp is open; allow admits only mon, vpn`);
        assert.deepEqual(c.observed, { state: "open" });
      },
    );
  });

  test("ip_forward set to 0 on the gateway: the sysctl check fails, and only admin's routed checks with it", async () => {
    await withFault(
      () => setSysctl(lab, "gw-vpn", "net.ipv4.ip_forward", "0"),
      () => {
        const { report } = verify("--timeout", "3000");
        const sysctl = check(report, "gw-vpn/sysctl/net.ipv4.ip_forward");
        assert.equal(sysctl.status, "fail");
        assert.equal(sysctl.message, "net.ipv4.ip_forward is 0; expected 1");
        // admin sits in vpn and reaches lan-only hosts through gw-vpn: those checks break too,
        // as on a real site. lan-probe runs on svc-1, which this machine also reaches through
        // gw-vpn: the vantage itself is unreachable, so its checks are error (not fail) and say why.
        const lanOnly = new Set(["mon", "gpu", "svc-1"]);
        for (const id of broken(report)) {
          if (id === "gw-vpn/sysctl/net.ipv4.ip_forward") continue;
          const c = check(report, id);
          if (id.endsWith("@lan-probe")) {
            assert.equal(c.status, "error", `${id}: ${c.message}`);
            assert.match(c.message, /^vantage lan-probe: cannot log in to svc-1/);
            continue;
          }
          assert.ok(lanOnly.has(c.host), `${id} should not break: ${c.message}`);
        }
        assert.equal(check(report, "gpu/reachable@lan-probe").status, "error");
        assert.equal(check(report, "gpu/reachable@admin").status, "fail");
        for (const c of report.checks.filter((x) => x.host === "gw-vpn" && x.vantage === "admin")) {
          assert.equal(c.status, "pass", `${c.id} (gw-vpn shares vpn with admin): ${c.message}`);
        }
      },
    );
  });

  test("a WireGuard peer removed: wireguard.peers fails naming the peer", async () => {
    await withFault(
      () => removeWireguardPeer(lab, "gw-vpn", "admin"),
      () => {
        const { report } = verify();
        // with its only peer gone, nothing handshakes through the WireGuard port any more: the
        // port checks have no observation left (error), and only wireguard.peers fails
        assert.deepEqual(broken(report), [
          "gw-vpn/port.open/wireguard@admin",
          "gw-vpn/port.open/wireguard@lan-probe",
          "gw-vpn/wireguard.peers/wg0",
        ]);
        assert.equal(check(report, "gw-vpn/wireguard.peers/wg0").status, "fail");
        assert.match(
          check(report, "gw-vpn/wireguard.peers/wg0").message,
          /peer admin \(10\.45\.0\.250\) is not configured on wg0/,
        );
        for (const id of ["gw-vpn/port.open/wireguard@admin", "gw-vpn/port.open/wireguard@lan-probe"]) {
          assert.equal(check(report, id).status, "error", id);
          assert.match(check(report, id).message, /not observed/, id);
        }
      },
    );
  });

  test("a monitored host missing from Prometheus' targets: prometheus.targets fails naming it", async () => {
    await withFault(
      () => removePrometheusTarget(lab, "mon", "gpu"),
      () => {
        const { report } = verify();
        assert.deepEqual(broken(report), ["mon/prometheus.targets/prometheus@admin"]);
        assert.match(check(report, "mon/prometheus.targets/prometheus@admin").message, /gpu/);
      },
    );
  });

  test("a black-holed host: its checks report filtered/timeout and the run does not stall", async () => {
    await withFault(
      () => blackhole(lab, "gpu"),
      async () => {
        await new Promise((r) => setTimeout(r, 4500)); // Prometheus' scrape of gpu times out too
        const timeout = 3000;
        const { report } = verify("--timeout", String(timeout));
        for (const id of broken(report)) {
          assert.ok(
            id.startsWith("gpu/") || id === "mon/prometheus.targets/prometheus@admin",
            `${id} should not break: ${check(report, id).message}`,
          );
        }
        const open = check(report, "gpu/port.open/ssh@admin");
        assert.equal(open.status, "fail");
        assert.deepEqual(open.observed, { state: "filtered" });
        assert.match(check(report, "gpu/reachable@lan-probe").message, /ping timed out; 22\/tcp filtered/);
        const closed = check(report, "gpu/port.closed/node_exporter@lan-probe");
        assert.equal(closed.status, "pass", "filtered is closed");
        assert.deepEqual(closed.observed, { state: "filtered" });
        // One timeout per check, in parallel: the whole run takes a few timeouts, not one per check.
        const gpuChecks = report.checks.filter((c) => c.host === "gpu" && c.status !== "skip").length;
        assert.ok(gpuChecks > 10);
        assert.ok(
          report.durationMs < 4 * (timeout + 1000),
          `run took ${report.durationMs} ms for ${gpuChecks} black-holed checks`,
        );
        for (const c of report.checks.filter((x) => x.host === "gpu")) {
          assert.ok(c.durationMs <= timeout + 1500, `${c.id} took ${c.durationMs} ms`);
        }
      },
    );
  });

  test("a DNS server serving a wrong A record: only its dns.records checks fail, naming host and record", async () => {
    await withFault(
      () => serveWrongRecord(lab, "gw-vpn", "svc-1", `${LAN}.9`),
      () => {
        const { code, report } = verify();
        assert.equal(code, 1);
        assert.deepEqual(broken(report), [
          "gw-vpn/dns.records/dns@admin",
          "gw-vpn/dns.records/dns@lan-probe",
        ]);
        assert.equal(
          check(report, "gw-vpn/dns.records/dns@admin").message,
          `gw-vpn (${VPN}.1:53) disagrees with the inventory: svc-1.lab.internal A: got ${LAN}.9, expected ${LAN}.20`,
        );
        assert.equal(
          check(report, "gw-vpn/dns.records/dns@lan-probe").message,
          `gw-vpn (${LAN}.2:53) disagrees with the inventory: svc-1.lab.internal A: got ${LAN}.9, expected ${LAN}.20`,
        );
      },
    );
  });

  test("a stale DNS server (SOA serial behind its peer's): it is reported as disagreeing with its peer", async () => {
    await withFault(
      () => staleZone(lab, "mon"),
      () => {
        const { report } = verify();
        assert.deepEqual(broken(report), ["mon/dns.records/dns@admin", "mon/dns.records/dns@lan-probe"]);
        assert.match(
          check(report, "mon/dns.records/dns@admin").message,
          new RegExp(
            `^mon \\(${LAN}\\.3:53\\) disagrees with its peers: SOA serial of lab\\.internal is (\\d+), behind gw-vpn's (\\d+)$`,
          ),
        );
      },
    );
  });

  test("history records when checks started failing and recovered", () => {
    const r = spawnSync(
      process.execPath,
      [
        cli,
        "history",
        file,
        "--db",
        path.join(dir, "keel.db"),
        "--check",
        "gpu/ssh.key-only@admin",
        "--json",
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    const changes = JSON.parse(r.stdout) as { from: string | null; to: string }[];
    assert.deepEqual(
      changes.slice(0, 3).map((c) => [c.from, c.to]),
      [
        [null, "pass"],
        ["pass", "fail"],
        ["fail", "pass"],
      ],
    );
  });

  // last: its errors would show in the history test's record of gpu/ssh.key-only@admin
  test("host key replaced: ssh.hostkey fails with both fingerprints, and Keel attempts no login on that host", async () => {
    const sshd = lab.state.processes.find((p) => p.host === "gpu" && p.daemon === "sshd")!;
    const known = readFileSync(path.join(dir, ".keel", "known_hosts"), "utf8");
    const keyFile = path.join(lab.dir, "hosts", "gpu", "ssh_host_ed25519_key.pub");
    const fp = () => spawnSync("ssh-keygen", ["-lf", keyFile], { encoding: "utf8" }).stdout.split(" ")[1]!;
    const pinned = fp();
    await withFault(
      () => hostKeyChanged(lab, "gpu"),
      () => {
        const offered = fp();
        assert.notEqual(offered, pinned);
        const from = readFileSync(sshd.log, "utf8").length;
        const { code, report } = verify();
        assert.equal(code, 1);
        assert.deepEqual(broken(report), [
          "gpu/listeners",
          "gpu/ssh.hostkey@admin",
          "gpu/ssh.hostkey@lan-probe",
          "gpu/ssh.key-only@admin",
          "gpu/ssh.key-only@lan-probe",
          "gpu/ssh.login@admin",
          "gpu/ssh.login@lan-probe",
        ]);
        for (const id of ["gpu/ssh.hostkey@admin", "gpu/ssh.hostkey@lan-probe"]) {
          const c = check(report, id);
          assert.equal(c.status, "fail");
          assert.ok(c.message.includes(`has ${pinned} (ssh-ed25519, line `), c.message);
          assert.ok(c.message.includes(`offers ${offered} (ssh-ed25519)`), c.message);
        }
        for (const id of ["gpu/listeners", "gpu/ssh.login@admin", "gpu/ssh.key-only@lan-probe"]) {
          const c = check(report, id);
          assert.equal(c.status, "error");
          assert.match(c.message, /SSH host key of gpu .*changed.*see ssh\.hostkey/);
        }
        // sshd on gpu saw Keel connect and never authenticate
        const log = readFileSync(sshd.log, "utf8").slice(from);
        assert.match(log, /Connection from /);
        assert.doesNotMatch(
          log,
          /Accepted|Failed|Postponed|authenticating user|Invalid user|Starting session/,
        );
        // the pinned key stays pinned: nothing was recorded over it
        assert.equal(readFileSync(path.join(dir, ".keel", "known_hosts"), "utf8"), known);
      },
    );
    // restored: the pinned key is served again and everything passes
    assert.deepEqual(broken(verify("--strict-host-keys").report), []);
  });
});

/**
 * Opens one SSH connection to the via host (svc-1) and tries `n` sessions on it at once: the
 * number sshd granted (MaxSessions in sshd_config(5)); a refused one fails with "open failed".
 */
async function sessionsGranted(n: number): Promise<number> {
  const c = new SshClient();
  await new Promise<void>((resolve, reject) => {
    c.on("ready", () => resolve()).on("error", reject);
    c.connect({
      host: `${LAN}.20`,
      port: 22,
      username: "root",
      privateKey: readFileSync(path.join(dir, ".keel/lab/id_ed25519")),
      readyTimeout: 10_000,
    });
  });
  try {
    const opened = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<boolean>((resolve) =>
            c.exec("sleep 1", (err, ch) => {
              if (err) resolve(false);
              else ch.on("close", () => resolve(true)).resume();
            }),
          ),
      ),
    );
    return opened.filter(Boolean).length;
  } finally {
    c.end();
  }
}

/** Rewrites svc-1's sshd_config (`extra` lines appended) and has sshd re-read it (SIGHUP). */
async function setViaSshd(extra: string[], sessions: number): Promise<void> {
  const p = lab.state.processes.find((x) => x.host === "svc-1" && x.daemon === "sshd" && !x.fault);
  assert.ok(p, "the lab runs sshd on svc-1");
  writeFileSync(
    path.join(lab.dir, "hosts", "svc-1", "sshd_config"),
    sshdConfig(lab, "svc-1", p.port ?? 22) + extra.map((l) => `${l}\n`).join(""),
  );
  process.kill(p.pid, "SIGHUP");
  // sshd re-executes itself on SIGHUP: wait until a new connection gets the intended limit
  const until = Date.now() + 15_000;
  for (;;) {
    const got = await sessionsGranted(3).catch(() => -1);
    if (got === sessions) return;
    assert.ok(Date.now() < until, `sshd on svc-1 grants ${got} sessions, expected ${sessions}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("a busy via vantage never produces a false failure", { concurrency: false }, () => {
  const busy = path.join(dir, "busy.yaml");
  before(() => {
    // The twin's inventory plus, on each of the three hosts lan-probe may probe, 10 DNS (UDP)
    // and 90 TCP services admitted only from vpn (30 DNS queries held at once are three times
    // sshd's MaxSessions; more would only load the two-core machine the twin shares): from lan-probe each must be closed, which the
    // twin's ruleset (policy drop, rendered from the twin's own inventory) makes it: filtered,
    // so every one of these probes holds its DNS query (a command on the via host) or its TCP
    // channel for the whole timeout. (A UDP service without a protocol probe would be `error`
    // on silence: UDP cannot tell filtered from open without an answer.)
    // Only the checks of lan-probe are run (the twin does not listen on the added ports).
    const doc = YAML.parse(readFileSync(file, "utf8")) as {
      hosts: Record<string, { services?: { name: string; port: string; kind?: string; allow: string[] }[] }>;
    };
    for (const host of ["gw-vpn", "mon", "gpu"]) {
      const h = doc.hosts[host]!;
      h.services ??= [];
      for (let i = 0; i < 10; i++)
        h.services.push({ name: `u${i}`, port: `${30000 + i}/udp`, kind: "dns", allow: ["vpn"] });
      for (let i = 0; i < 90; i++)
        h.services.push({ name: `t${i}`, port: `${31000 + i}/tcp`, allow: ["vpn"] });
    }
    writeFileSync(busy, YAML.stringify(doc));
  });
  after(() => rmSync(busy, { force: true }));

  test("300 checks through one via vantage at --timeout 2000, five runs in a row: every one passes", () => {
    for (let run = 1; run <= 5; run++) {
      const r = spawnSync(
        process.execPath,
        [
          cli,
          "verify",
          busy,
          "--json",
          "--no-history",
          "--vantage",
          "lan-probe",
          "--only",
          "*@lan-probe",
          "--timeout",
          "2000",
        ],
        { encoding: "utf8", timeout: 120_000 },
      );
      assert.equal(r.stderr.includes("    at "), false, `no stack trace expected: ${r.stderr}`);
      const report = JSON.parse(r.stdout) as Report;
      const ran = report.checks.filter((c) => c.status !== "skip");
      assert.ok(
        ran.length >= 300,
        `run ${run}: ${ran.length} checks ran through lan-probe, expected 300 or more`,
      );
      assert.ok(ran.every((c) => c.vantage === "lan-probe"));
      const notPass = ran.filter((c) => c.status !== "pass").map((c) => `${c.id} ${c.status}: ${c.message}`);
      assert.deepEqual(notPass, [], `run ${run}: every check through lan-probe passes`);
      assert.ok(ran.some((c) => c.kind === "reachable" && c.status === "pass"));
      assert.equal(r.status, 0);
    }
  });

  test("a via host whose sshd allows one session: every check through it still passes on the healthy twin", async () => {
    await setViaSshd(["MaxSessions 1"], 1);
    try {
      // lan-probe's checks, and the host-side checks of the other hosts tunnelled through svc-1
      const { code, report } = verify("--no-history", "--timeout", "2000", "--vantage", "lan-probe");
      const broken = report.checks.filter((c) => c.status === "fail" || c.status === "error");
      assert.deepEqual(
        broken.map((c) => `${c.id}: ${c.message}`),
        [],
      );
      assert.ok(report.checks.filter((c) => c.vantage === "lan-probe" && c.status === "pass").length >= 15);
      assert.ok(report.checks.some((c) => c.id === "gpu/reachable@lan-probe" && c.status === "pass"));
      assert.ok(report.checks.some((c) => c.id === "mon/dns.records/dns@lan-probe" && c.status === "pass"));
      assert.equal(code, 0);
    } finally {
      await setViaSshd([], 3);
    }
  });
});
