/**
 * SSH host key verification against real OpenSSH servers on 127.0.0.1 (sshd logging at VERBOSE,
 * so its log shows every authentication attempt): accept-new records the first key once,
 * strict refuses an unknown host, a changed key fails `ssh.hostkey` with both fingerprints and
 * no authentication is attempted on that host afterwards, from any vantage (local or via).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runCheck } from "../../src/verify/checks/index.js";
import type { CheckSpec, Report, SshTarget } from "../../src/verify/types.js";
import { HostKeyError, HostKeyVerifier, parseKnownHosts } from "../../src/verify/vantages/hostkeys.js";
import { LocalProber } from "../../src/verify/vantages/local.js";
import { ViaProber } from "../../src/verify/vantages/ssh.js";
import { type Sshd, startSshd, tempDir } from "../helpers/daemons.js";
import { runKeel } from "../unit/cli/built.js";

let target: Sshd;
let via: Sshd;
const dir = tempDir("hostkeys-it");

before(async () => {
  [target, via] = await Promise.all([startSshd({ log: true }), startSshd({ log: true })]);
});

after(async () => {
  await Promise.all([target?.stop(), via?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const login = (d: Sshd, host = "target"): SshTarget => ({
  host,
  address: "127.0.0.1",
  port: d.port,
  user: "root",
  identity: d.clientKey,
});

/** `ssh-keygen -lf FILE` → the SHA256 fingerprint it prints. */
function keygenFingerprint(pub: string): string {
  return execFileSync("ssh-keygen", ["-lf", pub], { encoding: "utf8" }).split(" ")[1]!;
}

/** What sshd logged from `from` (a length read earlier) on. */
function logSince(d: Sshd, from: number): string {
  return readFileSync(d.logFile, "utf8").slice(from);
}

/** sshd lines that say a client tried to authenticate (sshd at LogLevel VERBOSE). */
const AUTH_LINE = /Accepted|Failed|Postponed|authenticating user|Invalid user|userauth|Starting session/;

const hostkeySpec = (d: Sshd, vantage: string): CheckSpec => ({
  id: `target/ssh.hostkey@${vantage}`,
  kind: "ssh.hostkey",
  host: "target",
  vantage,
  params: { kind: "ssh.hostkey", address: "127.0.0.1", port: d.port },
});

const loginSpec = (d: Sshd, vantage: string): CheckSpec => ({
  id: `target/ssh.login@${vantage}`,
  kind: "ssh.login",
  host: "target",
  vantage,
  params: { kind: "ssh.login", target: login(d) },
});

const ctx = (prober: LocalProber | ViaProber) => ({
  prober,
  timeoutMs: 5000,
  signal: new AbortController().signal,
});

test("accept-new: the first key is recorded once, even by concurrent connections; the next run knows it", async () => {
  const file = join(dir, "accept", "known_hosts");
  const verifier = new HostKeyVerifier({ file, checking: "accept-new" });
  const a = new LocalProber("admin", { hostKeys: verifier });
  const b = new LocalProber("ops", { hostKeys: verifier });
  const from = readFileSync(target.logFile, "utf8").length;
  try {
    const [hk, methods, ra, rb] = await Promise.all([
      runCheck(hostkeySpec(target, "admin"), ctx(a)),
      a.sshAuthMethods("127.0.0.1", target.port, "root", 5000),
      a.sshExec(login(target), "true", 5000),
      b.sshExec(login(target), "true", 5000),
    ]);
    assert.equal(hk.status, "pass", hk.message);
    assert.deepEqual(methods, ["publickey"]);
    assert.equal(ra.code, 0);
    assert.equal(rb.code, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  await verifier.flush();
  const entries = parseKnownHosts(readFileSync(file, "utf8"));
  assert.equal(entries.length, 1, readFileSync(file, "utf8"));
  assert.equal(entries[0]!.hosts, `[127.0.0.1]:${target.port}`);
  assert.equal(
    readFileSync(file, "utf8"),
    `[127.0.0.1]:${target.port} ${readFileSync(`${target.hostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`,
  );
  // the log shows logins when they happen (what the refusal tests below rely on)
  assert.match(logSince(target, from), /Accepted publickey for root/);

  // a later run in strict mode finds the key pinned
  const strict = new HostKeyVerifier({ file, checking: "strict" });
  const c = new LocalProber("admin", { hostKeys: strict });
  try {
    const hk = await runCheck(hostkeySpec(target, "admin"), ctx(c));
    assert.equal(hk.status, "pass");
    assert.equal(
      hk.message,
      `127.0.0.1:${target.port} offers ${keygenFingerprint(`${target.hostKey}.pub`)} (ssh-ed25519, line 1) as pinned in ${file}`,
    );
    assert.equal((await runCheck(loginSpec(target, "admin"), ctx(c))).status, "pass");
  } finally {
    await c.close();
  }
});

test("strict: an unknown host is refused before any authentication, saying how to record its key", async () => {
  const file = join(dir, "strict", "known_hosts");
  const verifier = new HostKeyVerifier({ file, checking: "strict" });
  const p = new LocalProber("admin", { hostKeys: verifier });
  const from = readFileSync(target.logFile, "utf8").length;
  try {
    const hk = await runCheck(hostkeySpec(target, "admin"), ctx(p));
    assert.equal(hk.status, "fail");
    assert.match(hk.message, new RegExp(`ssh-keyscan -p ${target.port} 127\\.0\\.0\\.1 >> ${file}`));
    const lg = await runCheck(loginSpec(target, "admin"), ctx(p));
    assert.equal(lg.status, "error");
    assert.match(lg.message, /host key checking is strict/);
    await assert.rejects(p.sshAuthMethods("127.0.0.1", target.port, "root", 5000), HostKeyError);
  } finally {
    await p.close();
  }
  await new Promise((r) => setTimeout(r, 200)); // sshd writes its log after the disconnect
  const log = logSince(target, from);
  assert.match(log, /Connection from 127\.0\.0\.1/);
  assert.doesNotMatch(log, AUTH_LINE);
  assert.throws(() => readFileSync(file), /ENOENT/, "strict mode writes nothing");
});

test("a changed key: ssh.hostkey fails with both fingerprints; no authentication, no command, from any vantage, for the run", async () => {
  const file = join(dir, "changed", "known_hosts");
  // known_hosts pins another key for the target, and the via host's real key
  execFileSync("mkdir", ["-p", join(dir, "changed")]);
  const pub = (f: string) => readFileSync(`${f}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  writeFileSync(
    file,
    `[127.0.0.1]:${target.port} ${pub(target.wrongKey)}\n[127.0.0.1]:${via.port} ${pub(via.hostKey)}\n`,
  );
  const verifier = new HostKeyVerifier({
    file,
    checking: "accept-new",
    hostOf: (_a, port) => (port === target.port ? "target" : port === via.port ? "via" : undefined),
  });
  const local = new LocalProber("admin", { hostKeys: verifier });
  const tunnel = new ViaProber("lan-probe", login(via, "via"), { hostKeys: verifier });
  const from = readFileSync(target.logFile, "utf8").length;
  try {
    const hk = await runCheck(hostkeySpec(target, "admin"), ctx(local));
    assert.equal(hk.status, "fail");
    const expected = keygenFingerprint(`${target.wrongKey}.pub`);
    const offered = keygenFingerprint(`${target.hostKey}.pub`);
    assert.equal(
      hk.message,
      `host key of 127.0.0.1:${target.port} changed: ${file} has ${expected} (ssh-ed25519, line 1), the server offers ${offered} (ssh-ed25519); Keel does not log in to target for the rest of the run`,
    );
    // every other SSH check of that host, from this vantage and through the via host: error
    for (const [spec, p] of [
      [loginSpec(target, "admin"), local],
      [loginSpec(target, "lan-probe"), tunnel],
    ] as const) {
      const o = await runCheck(spec, ctx(p));
      assert.equal(o.status, "error", `${spec.id}: ${o.message}`);
      assert.match(o.message, /SSH host key of target changed .*see ssh\.hostkey/);
    }
    await assert.rejects(local.sshAuthMethods("127.0.0.1", target.port, "root", 5000), HostKeyError);
    // the via vantage's own verdict on the target, through its tunnel
    const viaHk = await runCheck(hostkeySpec(target, "lan-probe"), ctx(tunnel));
    assert.equal(viaHk.status, "fail");
    assert.match(viaHk.message, new RegExp(`has ${expected.replace(/[+/]/g, "\\$&")}`));
    // the via host itself is fine: commands still run on it
    assert.equal((await tunnel.sshExec(login(via, "via"), "true", 5000)).code, 0);
  } finally {
    await Promise.all([local.close(), tunnel.close()]);
  }
  await new Promise((r) => setTimeout(r, 200));
  const log = logSince(target, from);
  assert.match(log, /Connection from 127\.0\.0\.1/, "Keel did reach the target's sshd");
  assert.doesNotMatch(log, AUTH_LINE);
  // nothing was recorded over the pinned key
  assert.equal(parseKnownHosts(readFileSync(file, "utf8")).length, 2);
});

test("a changed key seen by one connection while others are under way: each of them reports it", async () => {
  const file = join(dir, "race", "known_hosts");
  execFileSync("mkdir", ["-p", join(dir, "race")]);
  writeFileSync(file, `[127.0.0.1]:${target.port} ${readFileSync(`${target.wrongKey}.pub`, "utf8")}`);
  for (let i = 0; i < 5; i++) {
    const p = new LocalProber("admin", { hostKeys: new HostKeyVerifier({ file, checking: "accept-new" }) });
    try {
      const [exec, methods, hk] = await Promise.all([
        p.sshExec(login(target), "true", 5000).catch((e: unknown) => e),
        p.sshAuthMethods("127.0.0.1", target.port, "root", 5000).catch((e: unknown) => e),
        p.sshHostKey("127.0.0.1", target.port, 5000),
      ]);
      assert.ok(exec instanceof HostKeyError, String(exec));
      assert.ok(methods instanceof HostKeyError, String(methods));
      assert.equal(hk.status, "changed");
    } finally {
      await p.close();
    }
  }
});

test("a revoked key (@revoked) is refused like a changed one, before any authentication", async () => {
  const file = join(dir, "revoked", "known_hosts");
  execFileSync("mkdir", ["-p", join(dir, "revoked")]);
  writeFileSync(file, `@revoked * ${readFileSync(`${target.hostKey}.pub`, "utf8")}`);
  const p = new LocalProber("admin", { hostKeys: new HostKeyVerifier({ file, checking: "accept-new" }) });
  const from = readFileSync(target.logFile, "utf8").length;
  try {
    const hk = await runCheck(hostkeySpec(target, "admin"), ctx(p));
    assert.equal(hk.status, "fail");
    assert.match(hk.message, /a key revoked in .*; Keel does not log in to it$/);
    const lg = await runCheck(loginSpec(target, "admin"), ctx(p));
    assert.equal(lg.status, "error");
    assert.match(lg.message, /is revoked in /);
  } finally {
    await p.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.doesNotMatch(logSince(target, from), AUTH_LINE);
  assert.equal(readFileSync(file, "utf8").split("\n").filter(Boolean).length, 1, "nothing recorded");
});

test("a via host whose key changed: every probe of that vantage is an error naming it, no login", async () => {
  const file = join(dir, "via", "known_hosts");
  execFileSync("mkdir", ["-p", join(dir, "via")]);
  writeFileSync(file, `[127.0.0.1]:${via.port} ${readFileSync(`${via.wrongKey}.pub`, "utf8")}`);
  const verifier = new HostKeyVerifier({ file, checking: "accept-new" });
  const tunnel = new ViaProber("lan-probe", login(via, "via"), { hostKeys: verifier });
  const from = readFileSync(via.logFile, "utf8").length;
  try {
    const o = await runCheck(loginSpec(target, "lan-probe"), ctx(tunnel));
    assert.equal(o.status, "error");
    assert.match(
      o.message,
      /^vantage lan-probe: cannot log in to via \(127\.0\.0\.1:\d+\) as root: SSH host key of .* changed/,
    );
    await assert.rejects(tunnel.tcpConnect("127.0.0.1", target.port, 3000), /SSH host key of .* changed/);
  } finally {
    await tunnel.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.doesNotMatch(logSince(via, from), AUTH_LINE);
});

test("keel verify: records the key in .keel/known_hosts beside the inventory, then pins it (--strict-host-keys); a changed key fails ssh.hostkey and stops the host's logins", async () => {
  const site = join(dir, "site");
  execFileSync("mkdir", ["-p", site]);
  const file = join(site, "keel.yaml");
  writeFileSync(
    file,
    [
      "keel: 1",
      "site: hk",
      "networks:",
      "  lo: { cidr: 127.0.0.0/8 }",
      "hosts:",
      `  target: { address: 127.0.0.1, ssh: { port: ${target.port}, identity: ${target.clientKey} } }`,
      "vantages:",
      "  admin: { local: true, networks: [lo] }",
      "",
    ].join("\n"),
  );
  const known = join(site, ".keel", "known_hosts");
  const run = async (...flags: string[]) => {
    const r = await runKeel(
      "verify",
      file,
      "--json",
      "--no-history",
      "--only",
      "target/ssh.*,target/listeners",
      ...flags,
    );
    const report = JSON.parse(r.stdout) as Report;
    const by = (id: string) => report.checks.find((c) => c.id === id)!;
    return { code: r.code, by };
  };
  // strict before anything is pinned: refused, nothing written
  const refused = await run("--strict-host-keys");
  assert.equal(refused.code, 1);
  assert.equal(refused.by("target/ssh.hostkey@admin").status, "fail");
  assert.equal(refused.by("target/ssh.login@admin").status, "error");
  assert.throws(() => readFileSync(known), /ENOENT/);
  // accept-new (the default): recorded
  const first = await run();
  // (listeners judges this machine's own sockets: only its status under a changed key matters)
  for (const id of ["target/ssh.hostkey@admin", "target/ssh.key-only@admin", "target/ssh.login@admin"])
    assert.equal(first.by(id).status, "pass", JSON.stringify(first.by(id)));
  assert.match(
    first.by("target/ssh.hostkey@admin").message,
    /first seen, recorded in .*known_hosts \(accept-new\)/,
  );
  const pub = readFileSync(`${target.hostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  assert.equal(readFileSync(known, "utf8"), `[127.0.0.1]:${target.port} ${pub}\n`);
  // pinned
  const again = await run("--strict-host-keys");
  assert.equal(again.by("target/ssh.login@admin").status, "pass");
  assert.match(again.by("target/ssh.hostkey@admin").message, /as pinned in /);
  // another key pinned: the server's key is now a changed one
  writeFileSync(known, `[127.0.0.1]:${target.port} ${readFileSync(`${target.wrongKey}.pub`, "utf8")}`);
  const from = readFileSync(target.logFile, "utf8").length;
  const changed = await run();
  assert.equal(changed.code, 1);
  const hk = changed.by("target/ssh.hostkey@admin");
  assert.equal(hk.status, "fail");
  assert.ok(
    hk.message.includes(`has ${keygenFingerprint(`${target.wrongKey}.pub`)} (ssh-ed25519, line 1)`),
    hk.message,
  );
  assert.ok(
    hk.message.includes(`offers ${keygenFingerprint(`${target.hostKey}.pub`)} (ssh-ed25519)`),
    hk.message,
  );
  for (const id of ["target/ssh.login@admin", "target/ssh.key-only@admin", "target/listeners"]) {
    assert.equal(changed.by(id).status, "error", id);
    assert.match(changed.by(id).message, /SSH host key of target .*changed/);
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.doesNotMatch(logSince(target, from), AUTH_LINE);
});
