/**
 * `keel verify` and `keel history` flag mistakes: each exits 2 with one line naming the flag and
 * what is expected, and no stack trace. None of these runs reaches a probe: no traffic is sent.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { openStore } from "../../../src/store/index.js";
import { CLI, ensureBuilt } from "./built.js";

const example = "examples/lab/keel.yaml";
const dir = mkdtempSync(path.join(tmpdir(), "keel-cli-"));
before(() => ensureBuilt());
after(() => rmSync(dir, { recursive: true, force: true }));

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  assert.ok(!r.stderr.includes("    at "), `no stack trace: ${r.stderr}`);
  return r;
}

for (const [args, expected] of [
  [
    ["--concurrency", "0"],
    /option '--concurrency <n>' argument '0' is invalid\. expected a whole number from 1 to 10000/,
  ],
  [
    ["--timeout", "soon"],
    /option '--timeout <ms>' argument 'soon' is invalid\. expected a whole number from 10 to 600000/,
  ],
  [["--vantage", "nope"], /^--vantage: no vantage named "nope"; the inventory declares admin, lan-probe$/m],
  [["--only", "zzz*"], /^--only: no check id matches zzz\*/m],
  [["--bogus"], /unknown option '--bogus'/],
] as const) {
  test(`keel verify ${args.join(" ")} exits 2 naming the flag`, () => {
    const r = keel("verify", example, ...args, "--no-history");
    assert.equal(r.status, 2);
    assert.match(r.stderr, expected);
    assert.equal(r.stdout, "");
  });
}

test("keel verify on an invalid inventory exits 2 with located problems", () => {
  const r = keel("verify", "test/fixtures/does-not-exist.yaml");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^test\/fixtures\/does-not-exist\.yaml: cannot read the inventory: no such file/m);
});

test("keel history: a --db that does not exist is exit 2; a missing default database is not an error", () => {
  const bad = keel("history", example, "--db", path.join(dir, "none.db"));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^--db: .*none\.db does not exist; expected a database written by keel verify$/m);
  const none = keel("history", path.join(dir, "keel.yaml"));
  assert.equal(none.status, 0);
  assert.match(none.stdout, /^no runs recorded yet/);
});

test("keel history prints state changes, text and JSON, filtered by --check", async () => {
  const db = path.join(dir, "h.db");
  const store = await openStore(db);
  const base = { kind: "listeners" as const, host: "gpu", durationMs: 1 };
  for (const [i, status] of (["pass", "fail", "pass"] as const).entries()) {
    await store.saveRun({
      inventory: "keel.yaml",
      startedAt: `2026-11-23T10:0${i}:00.000Z`,
      durationMs: 1,
      summary: { pass: status === "pass" ? 1 : 0, fail: status === "fail" ? 1 : 0, error: 0, skip: 0 },
      checks: [
        { ...base, id: "gpu/listeners", status, message: `listeners ${status}` },
        { ...base, id: "mon/listeners", host: "mon", status: "pass", message: "ok" },
      ],
    });
  }
  await store.close();
  const text = keel("history", "--db", db, "--check", "gpu/listeners");
  assert.equal(text.status, 0);
  assert.deepEqual(text.stdout.trimEnd().split("\n"), [
    "2026-11-23T10:00:00.000Z  gpu/listeners  first seen pass  listeners pass",
    "2026-11-23T10:01:00.000Z  gpu/listeners  pass -> fail  listeners fail",
    "2026-11-23T10:02:00.000Z  gpu/listeners  fail -> pass  listeners pass",
  ]);
  const json = JSON.parse(keel("history", "--db", db, "--json").stdout) as { checkId: string }[];
  assert.deepEqual(
    json.map((c) => c.checkId),
    ["gpu/listeners", "mon/listeners", "gpu/listeners", "gpu/listeners"],
  );
});

test("a history database that cannot be written is a warning: the report is printed and its exit status kept", () => {
  // One host on loopback with one TCP service on a port nothing listens on: port.open fails
  // (refused). Only 127.0.0.1 is probed.
  const inv = path.join(dir, "lo.yaml");
  writeFileSync(
    inv,
    [
      "keel: 1",
      "site: lo",
      "networks: { lo: { cidr: 127.0.0.0/8 } }",
      "vantages: { here: { local: true, networks: [lo] } }",
      "hosts:",
      "  box: { address: 127.0.0.1, ssh: false, services: [{ name: app, port: 1 }] }",
      "",
    ].join("\n"),
  );
  const notADir = path.join(dir, "not-a-dir");
  writeFileSync(notADir, "a file where the database's folder should be\n");
  const r = keel(
    "verify",
    inv,
    "--json",
    "--only",
    "*/port.*",
    "--db",
    path.join(notADir, "keel.db"),
    "--junit",
    path.join(dir, "j.xml"),
  );
  assert.equal(r.status, 1, r.stderr);
  const report = JSON.parse(r.stdout) as {
    summary: { fail: number };
    checks: { id: string; message: string }[];
  };
  assert.equal(report.summary.fail, 1);
  assert.match(
    report.checks.find((c) => c.id === "box/port.open/app@here")?.message ?? "",
    /127\.0\.0\.1:1\/tcp is refused/,
  );
  assert.match(r.stderr, /^keel: warning: --db: this run was not stored in .*not-a-dir\/keel\.db: /m);
  assert.match(readFileSync(path.join(dir, "j.xml"), "utf8"), /<testsuites /);
});
