/**
 * The probers against real daemons: sshd (key-only and with passwords), node_exporter, and a
 * network namespace whose nftables drop some traffic (a "filtered" target).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ProbeError, type SshTarget, VantageError } from "../../src/verify/types.js";
import { CheckTimeout } from "../../src/verify/vantages/deadline.js";
import { LocalProber } from "../../src/verify/vantages/local.js";
import { ViaProber } from "../../src/verify/vantages/ssh.js";
import {
  type Daemon,
  freePort,
  type Sshd,
  startHttp,
  startNodeExporter,
  startSshd,
} from "../helpers/daemons.js";
import { createNetns, type Netns } from "../helpers/netns.js";

const DROP_RULES = `
table inet kp {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 9, 22 } drop
    udp dport 9 drop
    icmp type echo-request drop
  }
}
`;

let keyOnly: Sshd;
let withPassword: Sshd;
let nodeExp: Daemon;
let ns: Netns;
let local: LocalProber;

function target(d: Sshd, key = d.clientKey): SshTarget {
  return { host: "lo", address: "127.0.0.1", port: d.port, user: "root", identity: key };
}

async function elapsed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = Date.now();
  const v = await f();
  return [v, Date.now() - t];
}

before(async () => {
  [keyOnly, withPassword, nodeExp] = await Promise.all([
    startSshd(),
    startSshd({ password: true }),
    startNodeExporter(),
  ]);
  ns = createNetns("p", (process.pid % 200) + 10, DROP_RULES);
  local = new LocalProber("admin");
});

after(async () => {
  await local?.close();
  await Promise.all([keyOnly?.stop(), withPassword?.stop(), nodeExp?.stop()]);
  ns?.destroy();
});

describe("LocalProber", () => {
  test("tcpConnect: open, refused, and filtered by an nft drop rule within the timeout", async () => {
    assert.equal(await local.tcpConnect("127.0.0.1", keyOnly.port, 2000), "open");
    assert.equal(await local.tcpConnect("127.0.0.1", await freePort(), 2000), "refused");
    const [state, ms] = await elapsed(() => local.tcpConnect(ns.nsAddress, 9, 700));
    assert.equal(state, "filtered");
    assert.ok(ms >= 650 && ms < 1500, `took ${ms} ms`);
  });

  test("tcpConnect rejects with the abort reason when the signal fires", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("run cancelled")), 100);
    const [err, ms] = await elapsed(() =>
      local.tcpConnect(ns.nsAddress, 9, 5000, ac.signal).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.match(String(err), /run cancelled/);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  test("udpProbe: ICMP port unreachable is refused, silence is open|filtered", async () => {
    const closed = dgram.createSocket("udp4");
    await new Promise<void>((r) => closed.bind(0, "127.0.0.1", () => r()));
    const freeUdp = closed.address().port;
    closed.close();
    assert.equal(await local.udpProbe("127.0.0.1", freeUdp, 1000), "refused");
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    try {
      assert.equal(await local.udpProbe("127.0.0.1", silent.address().port, 500), "open|filtered");
    } finally {
      silent.close();
    }
    assert.equal(await local.udpProbe(ns.nsAddress, 9, 500), "open|filtered");
  });

  test("ping: loopback answers, a namespace dropping echo requests does not (within the timeout)", async () => {
    assert.equal(await local.ping("127.0.0.1", 2000), true);
    const [ok, ms] = await elapsed(() => local.ping(ns.nsAddress, 1000));
    assert.equal(ok, false);
    assert.ok(ms < 1600, `took ${ms} ms`);
  });

  test("ping: concurrent requests share one fping process, each gets its own answer", async () => {
    // a wrapper that logs each invocation, then runs the real fping
    const dir = mkdtempSync(join(tmpdir(), "keel-fping-"));
    try {
      const log = join(dir, "calls");
      const wrapper = join(dir, "fping");
      writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${log}\nexec fping "$@"\n`, { mode: 0o755 });
      const p = new LocalProber("admin", { pingCommand: wrapper });
      const answers = await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => p.ping(`127.0.0.${i + 1}`, 1000)),
        p.ping(ns.nsAddress, 1000),
        p.ping("127.0.0.1", 1000), // the same address twice in one batch
      ]);
      assert.deepEqual(answers.slice(0, 40), Array(40).fill(true));
      assert.equal(answers[40], false, "the namespace drops echo requests");
      assert.equal(answers[41], true);
      const calls = readFileSync(log, "utf8").trim().split("\n");
      assert.equal(calls.length, 1, `one fping for 42 requests, not ${calls.length}: ${calls.join(" | ")}`);
      assert.match(calls[0]!, /^-a -r 0 -i 0 -t 1000 127\.0\.0\.1 /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("ping: a missing ping binary is a VantageError", async () => {
    const p = new LocalProber("admin", { pingCommand: "/nonexistent/ping" });
    await assert.rejects(p.ping("127.0.0.1", 1000), (e: unknown) => {
      assert.ok(e instanceof VantageError);
      assert.match(e.message, /not installed on vantage admin/);
      return true;
    });
  });

  test("httpGet: node_exporter metrics, cut at 64 KiB; refused port → ProbeError", async () => {
    const r = await local.httpGet("127.0.0.1", nodeExp.port, "/metrics", 3000);
    assert.equal(r.status, 200);
    assert.match(r.body, /^node_/m);
    assert.ok(Buffer.byteLength(r.body) <= 64 * 1024);
    const port = await freePort();
    await assert.rejects(local.httpGet("127.0.0.1", port, "/", 2000), (e: unknown) => {
      assert.ok(e instanceof ProbeError);
      assert.match(e.message, new RegExp(`GET http://127.0.0.1:${port}/: connection refused`));
      return true;
    });
    const [err, ms] = await elapsed(() =>
      local.httpGet(ns.nsAddress, 9, "/", 600).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.ok(err instanceof ProbeError);
    assert.match(err.message, /no response within 600 ms/);
    assert.ok(ms < 1200, `took ${ms} ms`);
  });

  test("httpGet cuts bodies at 64 KiB unless asked for more, and honours its timeout on a silent server", async () => {
    const big = await startHttp(200, "x".repeat(200 * 1024));
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    try {
      const cut = await local.httpGet("127.0.0.1", big.port, "/", 3000);
      assert.equal(cut.body.length, 64 * 1024);
      assert.equal(cut.truncated, true);
      const full = await local.httpGet("127.0.0.1", big.port, "/", 3000, undefined, {
        maxBodyBytes: 1024 * 1024,
      });
      assert.equal(full.body.length, 200 * 1024);
      assert.equal(full.truncated, undefined);
      const port = (silent.address() as AddressInfo).port;
      const [err, ms] = await elapsed(() =>
        local.httpGet("127.0.0.1", port, "/", 500).then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      assert.ok(err instanceof ProbeError);
      assert.ok(ms < 1000, `took ${ms} ms`);
    } finally {
      silent.closeAllConnections();
      silent.close();
      await big.stop();
    }
  });

  test("sshExec: a command outliving its timeout is cut off; the connection stays usable", async () => {
    const t = target(keyOnly);
    const [err, ms] = await elapsed(() => local.sshExec(t, "sleep 5", 500).catch((e: unknown) => e));
    assert.ok(err instanceof ProbeError);
    assert.match(err.message, /did not finish within 500 ms/);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.equal((await local.sshExec(t, "echo still", 3000)).stdout, "still\n");
  });

  test("sshAuthMethods: key-only sshd offers publickey; the other offers password too", async () => {
    assert.deepEqual(await local.sshAuthMethods("127.0.0.1", keyOnly.port, "root", 3000), ["publickey"]);
    const m = await local.sshAuthMethods("127.0.0.1", withPassword.port, "root", 3000);
    assert.ok(m.includes("password"), `got ${m.join(",")}`);
    await assert.rejects(local.sshAuthMethods("127.0.0.1", await freePort(), "root", 2000), ProbeError);
  });

  test("sshExec runs commands with the identity; a wrong key is a ProbeError naming user, address and key", async () => {
    const t = target(keyOnly);
    const r = await local.sshExec(t, "sysctl -n net.ipv4.ip_forward; ss -Hlnt", 5000);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^[01]\n/);
    assert.match(r.stdout, new RegExp(`127\\.0\\.0\\.1:${keyOnly.port}`));
    assert.equal((await local.sshExec(t, "exit 3", 5000)).code, 3);
    await assert.rejects(local.sshExec(target(keyOnly, keyOnly.wrongKey), "true", 5000), (e: unknown) => {
      assert.ok(e instanceof ProbeError);
      assert.equal(
        e.message.startsWith(`login as root@127.0.0.1:${keyOnly.port} with ${keyOnly.wrongKey} failed: `),
        true,
        e.message,
      );
      return true;
    });
  });

  test("sshExec without an identity logs in with the key held by ssh-agent (SSH_AUTH_SOCK)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-agent-"));
    const sock = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    const saved = process.env.SSH_AUTH_SOCK;
    const p = new LocalProber("admin");
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync("ssh-add", ["-q", keyOnly.clientKey], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
        stdio: "ignore",
      });
      process.env.SSH_AUTH_SOCK = sock;
      const { identity: _unused, ...viaAgent } = target(keyOnly);
      const r = await p.sshExec(viaAgent, "echo agent", 5000);
      assert.equal(r.stdout, "agent\n");
      const other = { ...viaAgent, port: withPassword.port };
      execFileSync("ssh-add", ["-q", "-D"], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
        stdio: "ignore",
      });
      await assert.rejects(p.sshExec(other, "true", 5000), /with the SSH agent failed: /);
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      await p.close();
      agent.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("sshExec bounds concurrent channels per connection below sshd's MaxSessions (10)", async () => {
    const p = new LocalProber("admin");
    try {
      const t = target(keyOnly);
      const runs = await Promise.all(
        Array.from({ length: 24 }, (_, i) => p.sshExec(t, `sleep 0.2; echo ${i}`, 10_000)),
      );
      assert.deepEqual(
        runs.map((r) => r.stdout.trim()),
        Array.from({ length: 24 }, (_, i) => String(i)),
      );
    } finally {
      await p.close();
    }
  });

  test("sshExec: a command whose time ran out while it waited for a channel never runs", async () => {
    const p = new LocalProber("admin", { maxChannelsPerConnection: 1 });
    const marker = join(tmpdir(), `keel-queued-${process.pid}`);
    rmSync(marker, { force: true });
    try {
      const t = target(keyOnly);
      const first = p.sshExec(t, "sleep 1", 5000);
      await assert.rejects(p.sshExec(t, `touch ${marker}`, 300), ProbeError);
      assert.equal((await first).code, 0);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(existsSync(marker), false, "the queued command ran after its deadline");
    } finally {
      rmSync(marker, { force: true });
      await p.close();
    }
  });

  test("sshExec to a black-holed target costs one timeout, then fails at once", async () => {
    const p = new LocalProber("admin");
    try {
      const t: SshTarget = {
        host: "ns",
        address: ns.nsAddress,
        port: 22,
        user: "root",
        identity: keyOnly.clientKey,
      };
      const [e1, ms1] = await elapsed(() => p.sshExec(t, "true", 800).catch((e: unknown) => e));
      assert.ok(e1 instanceof ProbeError, String(e1));
      assert.ok(ms1 < 1500, `took ${ms1} ms`);
      const [e2, ms2] = await elapsed(() => p.sshExec(t, "true", 800).catch((e: unknown) => e));
      assert.ok(e2 instanceof ProbeError);
      assert.ok(ms2 < 100, `second call took ${ms2} ms`);
    } finally {
      await p.close();
    }
  });
});

describe("ViaProber (loopback sshd as the via host)", () => {
  let via: ViaProber;
  before(() => {
    via = new ViaProber("lan-probe", { ...target(keyOnly), host: "svc-1" });
  });
  after(async () => {
    await via?.close();
  });

  test("tcpConnect through direct-tcpip: open, refused, filtered", async () => {
    assert.equal(await via.tcpConnect("127.0.0.1", nodeExp.port, 3000), "open");
    assert.equal(await via.tcpConnect("127.0.0.1", await freePort(), 3000), "refused");
    const [state, ms] = await elapsed(() => via.tcpConnect(ns.nsAddress, 9, 700));
    assert.equal(state, "filtered");
    assert.ok(ms < 1500, `took ${ms} ms`);
  });

  test("httpGet through the via host", async () => {
    const r = await via.httpGet("127.0.0.1", nodeExp.port, "/metrics", 3000);
    assert.equal(r.status, 200);
    assert.match(r.body, /^node_/m);
    const again = await via.httpGet("127.0.0.1", nodeExp.port, "/", 3000);
    assert.equal(again.status, 200);
  });

  test("ping and udpProbe run on the via host", async () => {
    assert.equal(await via.ping("127.0.0.1", 3000), true);
    const closed = dgram.createSocket("udp4");
    await new Promise<void>((r) => closed.bind(0, "127.0.0.1", () => r()));
    const port = closed.address().port;
    closed.close();
    assert.equal(await via.udpProbe("127.0.0.1", port, 3000), "refused");
  });

  test("a via host whose sshd allows one session: a ping waiting on a silent target holds up no other probe", async () => {
    const one = await startSshd({ extraConfig: ["MaxSessions 1"] });
    const v = new ViaProber("lan-probe", { ...target(one), host: "svc-1" });
    try {
      assert.equal(await v.ping("127.0.0.1", 3000), true); // logged in, the helper holds the only session
      // the namespace never answers this ping: it waits 8 s on the via host
      let hogDone = false;
      const hog = v.ping(ns.nsAddress, 10_000).finally(() => {
        hogDone = true;
      });
      const closed = dgram.createSocket("udp4");
      await new Promise<void>((r) => closed.bind(0, "127.0.0.1", () => r()));
      const port = closed.address().port;
      closed.close();
      const answers = await Promise.all([
        v.udpProbe("127.0.0.1", port, 3000),
        ...Array.from({ length: 40 }, () => v.ping("127.0.0.1", 3000)),
        v.tcpConnect("127.0.0.1", nodeExp.port, 3000),
      ]);
      assert.deepEqual(answers, ["refused", ...Array<boolean>(40).fill(true), "open"]);
      assert.equal(hogDone, false, "the probes were answered while the silent ping still waited");
      hog.catch(() => undefined); // ends with the prober
    } finally {
      await v.close();
      await one.stop();
    }
  });

  test("a via host that grants no session (MaxSessions 0): its commands are VantageErrors, TCP probes still run", async () => {
    const none = await startSshd({ extraConfig: ["MaxSessions 0"] });
    const v = new ViaProber("lan-probe", { ...target(none), host: "svc-1" });
    try {
      for (const probe of [() => v.ping("127.0.0.1", 2000), () => v.udpProbe("127.0.0.1", 9, 2000)]) {
        await assert.rejects(probe(), (e: Error) => {
          assert.ok(e instanceof VantageError, `${e.name}: ${e.message}`);
          assert.match(
            e.message,
            /^vantage lan-probe: the probe helper on svc-1: cannot open an SSH session: .*open failed/,
          );
          return true;
        });
      }
      assert.equal(await v.tcpConnect("127.0.0.1", nodeExp.port, 2000), "open");
    } finally {
      await v.close();
      await none.stop();
    }
  });

  test("a probe the check's deadline stops before its own time ran out on the via host is a VantageError, not silence", async () => {
    await via.ping("127.0.0.1", 3000); // the helper is up
    const ac = new AbortController();
    const silent = via.ping(ns.nsAddress, 3000, ac.signal);
    setTimeout(() => ac.abort(new CheckTimeout(3000)), 300);
    await assert.rejects(silent, (e: Error) => {
      assert.ok(e instanceof VantageError, `${e.name}: ${e.message}`);
      assert.match(
        e.message,
        /^vantage lan-probe: svc-1 is saturated: "ping -n -c 1 -W 2 .*" started \d+ ms late and was stopped after \d+ of its 3000 ms; no result$/,
      );
      return true;
    });
    // a probe that had its whole time on the via host and heard nothing is silence
    assert.equal(await via.ping(ns.nsAddress, 1000), false);
  });

  test("sshAuthMethods and sshExec to a target through the via host (ProxyJump)", async () => {
    const m = await via.sshAuthMethods("127.0.0.1", withPassword.port, "root", 3000);
    assert.ok(m.includes("password"));
    const r = await via.sshExec(target(withPassword), "echo via-ok", 5000);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "via-ok\n");
    await assert.rejects(via.sshExec(target(withPassword, withPassword.wrongKey), "true", 5000), ProbeError);
  });

  test("ping and nc missing on the via host are VantageErrors naming the tool and the host", async () => {
    // the probe helper's own tools only
    const bin = mkdtempSync(join(tmpdir(), "keel-bin-"));
    for (const tool of ["sh", "mktemp", "mkfifo", "cat", "rm"])
      symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    const bare = await startSshd({ env: { PATH: bin } });
    const v = new ViaProber("lan-probe", { ...target(bare), host: "svc-1" });
    try {
      await assert.rejects(v.ping("127.0.0.1", 3000), (e: unknown) => {
        assert.ok(e instanceof VantageError);
        assert.equal(e.message, "vantage lan-probe: ping is not installed on svc-1");
        return true;
      });
      await assert.rejects(
        v.udpProbe("127.0.0.1", 53, 3000),
        /vantage lan-probe: nc is not installed on svc-1/,
      );
    } finally {
      await v.close();
      await bare.stop();
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test("a via host without the probe helper's tools: a VantageError naming the missing tool", async () => {
    const bare = await startSshd({ env: { PATH: "/nonexistent" } });
    const v = new ViaProber("lan-probe", { ...target(bare), host: "svc-1" });
    try {
      await assert.rejects(v.ping("127.0.0.1", 3000), (e: unknown) => {
        assert.ok(e instanceof VantageError);
        assert.match(
          e.message,
          /^vantage lan-probe: the probe helper on svc-1 did not start: .*mktemp: not found$/,
        );
        return true;
      });
    } finally {
      await v.close();
      await bare.stop();
    }
  });

  test("a via host still connecting when a probe's time is up is a VantageError, not filtered", async () => {
    const v = new ViaProber(
      "lan-probe",
      { host: "svc-1", address: ns.nsAddress, port: 22, user: "root", identity: keyOnly.clientKey },
      { connectTimeoutMs: 5000 },
    );
    try {
      const [e, ms] = await elapsed(() => v.tcpConnect("127.0.0.1", 22, 300).catch((x: unknown) => x));
      assert.ok(e instanceof VantageError, String(e));
      assert.match(e.message, /still connecting after 300 ms/);
      assert.ok(ms < 800, `took ${ms} ms`);
    } finally {
      await v.close();
    }
  });

  test("a via host that refuses: every method rejects with VantageError at once, and stays failed", async () => {
    const port = await freePort();
    const bad = new ViaProber("lan-probe", {
      host: "svc-1",
      address: "127.0.0.1",
      port,
      user: "root",
      identity: keyOnly.clientKey,
    });
    try {
      const [e, ms] = await elapsed(() => bad.tcpConnect("127.0.0.1", 22, 5000).catch((x: unknown) => x));
      assert.ok(e instanceof VantageError);
      assert.match(
        e.message,
        new RegExp(`^vantage lan-probe: cannot log in to svc-1 \\(127\\.0\\.0\\.1:${port}\\) as root: `),
      );
      assert.ok(ms < 1000, `took ${ms} ms`);
      for (const p of [
        bad.ping("127.0.0.1", 5000),
        bad.httpGet("127.0.0.1", 80, "/", 5000),
        bad.sshExec(target(keyOnly), "true", 5000),
        bad.sshAuthMethods("127.0.0.1", 22, "root", 5000),
        bad.udpProbe("127.0.0.1", 53, 5000),
      ]) {
        const [e2, ms2] = await elapsed(() => p.catch((x: unknown) => x));
        assert.ok(e2 instanceof VantageError, String(e2));
        assert.ok(ms2 < 100, `took ${ms2} ms`);
      }
    } finally {
      await bad.close();
    }
  });

  test("a check stopped while its black-holed via host is still logging in is a VantageError, not 'aborted'", async () => {
    // The runner aborts a check's signal at its timeout; on a busy machine that can come before
    // the prober's own deadline. The verdict must still say the vantage is unusable (error).
    const bad = new ViaProber(
      "lan-probe",
      { host: "svc-1", address: ns.nsAddress, port: 22, user: "root", identity: keyOnly.clientKey },
      { connectTimeoutMs: 10_000 },
    );
    try {
      for (const probe of [
        (s: AbortSignal) => bad.tcpConnect("127.0.0.1", 22, 5000, s),
        (s: AbortSignal) => bad.ping("127.0.0.1", 5000, s),
        (s: AbortSignal) => bad.sshAuthMethods("127.0.0.1", 22, "root", 5000, s),
      ]) {
        // the runner's timeout (CheckTimeout), and an interrupted run
        for (const [reason, tail] of [
          [new CheckTimeout(5000), ""],
          [new Error("interrupted"), " when the check was stopped \\(interrupted\\)"],
        ] as const) {
          const ac = new AbortController();
          setTimeout(() => ac.abort(reason), 300);
          const [e, ms] = await elapsed(() => probe(ac.signal).catch((x: unknown) => x));
          assert.ok(e instanceof VantageError, String(e));
          assert.match(
            e.message,
            new RegExp(
              `^vantage lan-probe: cannot log in to svc-1 \\(.+:22\\) as root: still connecting after \\d+ ms${tail}$`,
            ),
          );
          assert.ok(ms < 1000, `took ${ms} ms`);
        }
      }
    } finally {
      await bad.close();
    }
  });

  test("a black-holed via host fails once after its connect timeout", async () => {
    const bad = new ViaProber(
      "lan-probe",
      { host: "svc-1", address: ns.nsAddress, port: 22, user: "root", identity: keyOnly.clientKey },
      { connectTimeoutMs: 700 },
    );
    try {
      const [e, ms] = await elapsed(() => bad.tcpConnect("127.0.0.1", 22, 5000).catch((x: unknown) => x));
      assert.ok(e instanceof VantageError, String(e));
      assert.ok(ms < 1500, `took ${ms} ms`);
      const [e2, ms2] = await elapsed(() => bad.ping("127.0.0.1", 5000).catch((x: unknown) => x));
      assert.ok(e2 instanceof VantageError);
      assert.ok(ms2 < 100);
    } finally {
      await bad.close();
    }
  });
});
