/**
 * known_hosts parsing and matching, checked against OpenSSH's own ssh-keygen: fingerprints as
 * `ssh-keygen -lf` prints them, hashed names as `ssh-keygen -H` writes them, lookups as
 * `ssh-keygen -F` finds them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { judgeHostKeyVerdict } from "../../../src/verify/checks/ssh-hostkey.js";
import {
  fingerprint,
  hashHostName,
  hostsMatch,
  judgeHostKey,
  type KnownHostEntry,
  knownHostName,
  parseKnownHosts,
  replaceKnownHosts,
} from "../../../src/verify/vantages/hostkeys.js";

const dir = mkdtempSync(join(tmpdir(), "keel-hostkeys-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh key pair made by ssh-keygen: its public line and the key blob. */
function keyPair(name: string, type = "ed25519"): { line: string; blob: Buffer; file: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", name, "-f", file]);
  const line = readFileSync(`${file}.pub`, "utf8").trim();
  return { line, blob: Buffer.from(line.split(" ")[1]!, "base64"), file };
}

const a = keyPair("a");
const b = keyPair("b");
const rsa = keyPair("r", "rsa");
const typeAndKey = (l: string) => l.split(" ").slice(0, 2).join(" ");

test("fingerprints are what ssh-keygen -lf prints (SHA256, base64 without padding)", () => {
  for (const k of [a, b, rsa]) {
    const printed = execFileSync("ssh-keygen", ["-lf", `${k.file}.pub`], { encoding: "utf8" }).split(" ")[1];
    assert.equal(fingerprint(k.blob), printed);
    assert.doesNotMatch(fingerprint(k.blob), /=/);
  }
});

test("names: ADDR on port 22, [ADDR]:PORT otherwise", () => {
  assert.equal(knownHostName("10.20.0.10", 22), "10.20.0.10");
  assert.equal(knownHostName("10.20.0.10", 2222), "[10.20.0.10]:2222");
  assert.equal(knownHostName("FD00::A", 22), "fd00::a");
});

test("parse: markers, comments, comma lists, bad lines skipped, line numbers kept", () => {
  const text = [
    "# a comment",
    "",
    `10.0.0.1,gpu ${typeAndKey(a.line)} a comment`,
    `@revoked 10.0.0.2 ${typeAndKey(b.line)}`,
    `@cert-authority *.lab ${typeAndKey(b.line)}`,
    "10.0.0.3 ssh-ed25519 not-base64!",
    `10.0.0.4 ssh-rsa ${a.line.split(" ")[1]}`, // blob says ssh-ed25519: skipped
    `[10.0.0.5]:2222 ${typeAndKey(rsa.line)}`,
  ].join("\n");
  const entries = parseKnownHosts(text);
  assert.deepEqual(
    entries.map((e) => [e.line, e.marker, e.hosts, e.type]),
    [
      [3, undefined, "10.0.0.1,gpu", "ssh-ed25519"],
      [4, "revoked", "10.0.0.2", "ssh-ed25519"],
      [8, undefined, "[10.0.0.5]:2222", "ssh-rsa"],
    ],
  );
  assert.ok(entries[0]!.key.equals(a.blob));
});

test("matching agrees with ssh-keygen -F: plain, ports, wildcards, negation, hashed (ssh-keygen -H)", () => {
  const file = join(dir, "known_hosts_match");
  const patterns = ["10.0.0.1", "[10.0.0.2]:2222", "10.1.0.*", "10.2.0.?,!10.2.0.5", "fd00::1"];
  writeFileSync(file, `${patterns.map((p) => `${p} ${typeAndKey(a.line)}`).join("\n")}\n`);
  const names = [
    "10.0.0.1",
    "[10.0.0.1]:2222",
    "10.0.0.2",
    "[10.0.0.2]:2222",
    "10.1.0.77",
    "10.2.0.4",
    "10.2.0.5",
    "10.2.0.44",
    "fd00::1",
  ];
  const keygenFinds = (n: string, f: string) => {
    try {
      execFileSync("ssh-keygen", ["-F", n, "-f", f], { stdio: "pipe" });
      return true;
    } catch {
      return false;
    }
  };
  const plain = parseKnownHosts(readFileSync(file, "utf8"));
  for (const n of names) {
    assert.equal(
      plain.some((e) => hostsMatch(e.hosts, n)),
      keygenFinds(n, file),
      `plain pattern match of ${n}`,
    );
  }
  // hash the exact names (ssh-keygen -H leaves wildcard patterns as they are)
  const exact = join(dir, "known_hosts_hashed");
  writeFileSync(exact, `10.0.0.1 ${typeAndKey(a.line)}\n[10.0.0.2]:2222 ${typeAndKey(b.line)}\n`);
  execFileSync("ssh-keygen", ["-H", "-f", exact], { stdio: "pipe" });
  const hashed = parseKnownHosts(readFileSync(exact, "utf8"));
  assert.ok(hashed.every((e) => e.hosts.startsWith("|1|")));
  for (const n of names) {
    assert.equal(
      hashed.some((e) => hostsMatch(e.hosts, n)),
      keygenFinds(n, exact),
      `hashed match of ${n}`,
    );
  }
  assert.ok(hashed.find((e) => hostsMatch(e.hosts, "[10.0.0.2]:2222"))!.key.equals(b.blob));
  // our own hashing is what ssh-keygen reads back
  const ours = join(dir, "known_hosts_ours");
  writeFileSync(ours, `${hashHostName("10.9.9.9", Buffer.alloc(20, 7))} ${typeAndKey(a.line)}\n`);
  assert.equal(keygenFinds("10.9.9.9", ours), true);
  assert.equal(keygenFinds("10.9.9.8", ours), false);
});

test("judge: known, changed (with every expected key), several keys per host, revoked, unknown", () => {
  const entries: KnownHostEntry[] = parseKnownHosts(
    [
      `10.0.0.1 ${typeAndKey(a.line)}`,
      `10.0.0.1 ${typeAndKey(rsa.line)}`,
      `@revoked * ${typeAndKey(b.line)}`,
      `[10.0.0.1]:2222 ${typeAndKey(b.line)}`,
    ].join("\n"),
  );
  const f = "/kh";
  assert.equal(judgeHostKey(entries, "10.0.0.1", a.blob, f).status, "known");
  assert.equal(judgeHostKey(entries, "10.0.0.1", rsa.blob, f).status, "known");
  assert.equal(judgeHostKey(entries, "10.0.0.1", a.blob, f).offered.line, 1);
  // b is revoked everywhere, even where a plain line lists it
  const rev = judgeHostKey(entries, "[10.0.0.1]:2222", b.blob, f);
  assert.equal(rev.status, "revoked");
  const other = keyPair("c");
  const changed = judgeHostKey(entries, "10.0.0.1", other.blob, f);
  assert.equal(changed.status, "changed");
  assert.deepEqual(
    changed.expected.map((k) => k.fingerprint),
    [fingerprint(a.blob), fingerprint(rsa.blob)],
  );
  assert.equal(changed.offered.fingerprint, fingerprint(other.blob));
  assert.equal(judgeHostKey(entries, "10.0.0.9", other.blob, f).status, "unknown");
  // a key of another type than the known ones is a changed key, not a new one
  const ecdsa = keyPair("e", "ecdsa");
  assert.equal(judgeHostKey(entries, "[10.0.0.1]:2222", ecdsa.blob, f).status, "changed");
});

test("ssh.hostkey judgement: changed fails with both fingerprints; strict unknown says how to record", () => {
  const entries = parseKnownHosts(`10.0.0.1 ${typeAndKey(a.line)}`);
  const v = { ...judgeHostKey(entries, "10.0.0.1", b.blob, "/site/.keel/known_hosts"), host: "gpu" };
  const o = judgeHostKeyVerdict("10.0.0.1", 22, v);
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    `host key of 10.0.0.1:22 changed: /site/.keel/known_hosts has ${fingerprint(a.blob)} (ssh-ed25519, line 1), the server offers ${fingerprint(b.blob)} (ssh-ed25519); Keel does not log in to gpu for the rest of the run`,
  );
  assert.deepEqual(o.observed, {
    verdict: "changed",
    offered: fingerprint(b.blob),
    type: "ssh-ed25519",
    expected: [fingerprint(a.blob)],
    knownHosts: "/site/.keel/known_hosts",
  });
  const u = judgeHostKeyVerdict("10.0.0.2", 2222, judgeHostKey(entries, "[10.0.0.2]:2222", b.blob, "/kh"));
  assert.equal(u.status, "fail");
  assert.match(
    u.message,
    /strict: check the fingerprint and record it \(ssh-keyscan -p 2222 10\.0\.0\.2 >> \/kh\)/,
  );
  assert.equal(
    judgeHostKeyVerdict("10.0.0.1", 22, judgeHostKey(entries, "10.0.0.1", a.blob, "/kh")).status,
    "pass",
  );
});

test("replaceKnownHosts drops the names' old lines (plain or hashed) and keeps the rest", async () => {
  const file = join(dir, "sub", "known_hosts");
  await replaceKnownHosts(file, ["10.0.0.1", "10.1.0.1"], [a.line]);
  const keep = `10.0.0.2 ${typeAndKey(b.line)}`;
  writeFileSync(
    file,
    `${readFileSync(file, "utf8")}${keep}\n${hashHostName("10.1.0.1", Buffer.alloc(20, 1))} ${typeAndKey(b.line)}\n`,
  );
  await replaceKnownHosts(file, ["10.0.0.1", "10.1.0.1"], [rsa.line]);
  const entries = parseKnownHosts(readFileSync(file, "utf8"));
  assert.deepEqual(
    entries.map((e) => [e.hosts, e.type]),
    [
      ["10.0.0.2", "ssh-ed25519"],
      ["10.0.0.1,10.1.0.1", "ssh-rsa"],
    ],
  );
});
