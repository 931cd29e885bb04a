import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runKeel } from "./built.js";

const keel = runKeel;

const SITE = [
  "keel: 1",
  "site: lab",
  "networks:",
  "  lan:",
  "    cidr: 10.20.0.0/24",
  "    gateway: 10.20.0.1",
  "    ranges: { infra: 10.20.0.0/28, vms: 10.20.0.128/25 }",
  "    reserved: [10.20.0.250, 10.20.0.240/29]",
  '  v6: { cidr: "fd00:20::/64" }',
  "hosts:",
  "  ns1: { address: 10.20.0.4 }",
  "  web-1: { address: { lan: auto@vms, v6: auto }, vm: {} }",
  "  db-1: { address: { lan: auto } }",
];

function withSite(fn: (dir: string, file: string) => Promise<void>, lines = SITE): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-ipam-"));
    try {
      const file = join(dir, "keel.yaml");
      writeFileSync(file, `${lines.join("\n")}\n`);
      await fn(dir, file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  "keel ipam prints usage per network and range, the allocations, writes keel.lock once, exit 0",
  withSite(async (dir, file) => {
    const r = await keel("ipam", file);
    assert.equal(r.code, 0, r.stderr);
    const lock = join(dir, "keel.lock");
    assert.equal(
      r.stdout,
      [
        "NETWORK    PREFIX                          SIZE  USED  RESERVED                  FREE  NEXT FREE",
        "lan        10.20.0.0/24                     256     4        11                   241  10.20.0.17",
        "lan/infra  10.20.0.0/28                      16     2         1                    13  10.20.0.2",
        "lan/vms    10.20.0.128/25                   128     1        10                   117  10.20.0.129",
        "v6         fd00:20::/64    18446744073709551616     1         1  18446744073709551614  fd00:20::2",
        "",
        "allocations:",
        "  web-1 lan 10.20.0.128 (new)",
        "  web-1 v6 fd00:20::1 (new)",
        "  db-1 lan 10.20.0.16 (new)",
        "  web-1 mac 02:01:0d:74:f5:46 (new)",
        `${lock}: written`,
        "",
      ].join("\n"),
    );
    const bytes = readFileSync(lock, "utf8");
    assert.match(bytes, /^# Written by keel/);
    // second run: same bytes, nothing to change
    const again = await keel("ipam", file, "--json");
    assert.equal(again.code, 0, again.stderr);
    const j = JSON.parse(again.stdout);
    assert.equal(j.lock, "unchanged");
    assert.deepEqual(j.changes, []);
    assert.deepEqual(j.networks[0].ranges[1], {
      name: "vms",
      cidr: "10.20.0.128/25",
      size: 128,
      used: 1,
      reserved: 10,
      free: 117,
      nextFree: "10.20.0.129",
    });
    assert.equal(j.networks[1].size, "18446744073709551616");
    assert.equal(readFileSync(lock, "utf8"), bytes);
    // validate and verify-style loads see the locked addresses without writing
    const v = await keel("validate", file);
    assert.equal(v.code, 0, v.stderr);
  }),
);

test(
  "--frozen-lock: a needed change is exit 2 naming the lock file, and nothing is written",
  withSite(async (dir, file) => {
    const r = await keel("ipam", file, "--frozen-lock");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^--frozen-lock: .*keel\.lock is out of date and would change \(web-1 lan address: - -> 10\.20\.0\.128 \(new\);.*run keel ipam without --frozen-lock and commit keel\.lock\n$/,
    );
    assert.doesNotMatch(r.stderr, /^ {4}at /m);
    assert.equal(existsSync(join(dir, "keel.lock")), false);
    assert.equal((await keel("ipam", file)).code, 0);
    const ok = await keel("ipam", file, "--frozen-lock");
    assert.equal(ok.code, 0, ok.stderr);
    // a host added since: frozen refuses, the lock keeps its bytes
    const before = readFileSync(join(dir, "keel.lock"), "utf8");
    writeFileSync(file, `${[...SITE, "  db-2: { address: { lan: auto } }"].join("\n")}\n`);
    const refused = await keel("ipam", file, "--frozen-lock");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /db-2 lan address: - -> 10\.20\.0\.17 \(new\)/);
    assert.equal(readFileSync(join(dir, "keel.lock"), "utf8"), before);
  }),
);

test(
  "keel render --frozen-lock refuses before writing anything; keel render writes the lock after rendering",
  withSite(async (dir, file) => {
    const out = join(dir, "out");
    const refused = await keel("render", file, "--out", out, "--frozen-lock");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^--frozen-lock: .*keel\.lock is out of date/);
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(join(dir, "keel.lock")), false);
    const r = await keel("render", file, "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /; wrote .*keel\.lock\n$/);
    assert.match(readFileSync(join(dir, "keel.lock"), "utf8"), /web-1: \{ lan: 10\.20\.0\.128/);
    const again = await keel("render", file, "--out", out, "--frozen-lock");
    assert.equal(again.code, 0, again.stderr);
  }),
);

test(
  "keel ipam: an exhausted range and a malformed keel.lock are located errors, exit 2",
  withSite(async (dir, file) => {
    writeFileSync(
      file,
      `${[
        ...SITE.slice(0, 10),
        "  a: { address: { lan: auto@tiny } }",
        "  b: { address: { lan: auto@tiny } }",
      ]
        .join("\n")
        .replace("vms: 10.20.0.128/25", "tiny: 10.20.0.128/31")}\n`,
    );
    const ok = await keel("ipam", file);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /lan\/tiny +10\.20\.0\.128\/31 +2 +2 +0 +0 +none \(exhausted\)/);
    writeFileSync(file, `${readFileSync(file, "utf8")}  c: { address: { lan: auto@tiny } }\n`);
    const r = await keel("ipam", file);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `${file}:13:24: address auto@tiny of host "c" cannot be allocated: range "tiny" of network "lan" (10.20.0.128/31) is exhausted (all 2 addresses are used, reserved or excluded); widen it, free an address, or allocate from another range\n`,
    );
    writeFileSync(join(dir, "keel.lock"), "keel-lock: 1\naddresses:\n  a: { lan: nope }\n");
    const bad = await keel("ipam", file);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /keel\.lock:3:13: address of host "a" on network "lan" in keel\.lock is not an IP address/,
    );
  }),
);

test("keel ipam: a bad flag exits 2", async () => {
  const r = await keel("ipam", "test/fixtures/contract-example.yaml", "--frozen");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--frozen'/);
});
