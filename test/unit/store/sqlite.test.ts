import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { SqliteStore } from "../../../src/store/sqlite.js";
import type { CheckStatus, Report } from "../../../src/verify/types.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(minute: number, statuses: Record<string, CheckStatus>): Report {
  const checks = Object.entries(statuses).map(([id, status]) => ({
    id,
    kind: "port.open" as const,
    host: id.split("/")[0] ?? "",
    status,
    message: `${id} is ${status}`,
    durationMs: 1,
  }));
  const summary = { pass: 0, fail: 0, error: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return {
    inventory: "k.yaml",
    startedAt: new Date(Date.UTC(2026, 10, 23, 10, minute)).toISOString(),
    durationMs: 5,
    summary,
    checks,
  };
}

test("history shows when a check started failing and when it recovered", () => {
  const store = new SqliteStore(path.join(dir, "nested", "keel.db"));
  store.saveRun(run(0, { "a/x": "pass", "b/x": "pass" }));
  store.saveRun(run(1, { "a/x": "fail", "b/x": "pass" }));
  store.saveRun(run(2, { "a/x": "fail", "b/x": "pass" }));
  store.saveRun(run(3, { "a/x": "pass", "b/x": "error" }));
  assert.equal(store.runCount(), 4);
  const a = store.stateChanges({ checkId: "a/x" });
  assert.deepEqual(
    a.map((c) => [c.at.slice(11, 16), c.from, c.to]),
    [
      ["10:00", null, "pass"],
      ["10:01", "pass", "fail"],
      ["10:03", "fail", "pass"],
    ],
  );
  assert.equal(a[1]?.message, "a/x is fail");
  const all = store.stateChanges();
  assert.equal(all.length, 5);
  assert.deepEqual(all.at(-1), {
    checkId: "b/x",
    at: "2026-11-23T10:03:00.000Z",
    runId: 4,
    from: "pass",
    to: "error",
    message: "b/x is error",
  });
  assert.equal(store.stateChanges({ limit: 2 }).length, 2);
  store.close();
});

test("skipped checks are not stored, and reopening keeps the data", () => {
  const file = path.join(dir, "k2.db");
  const s1 = new SqliteStore(file);
  s1.saveRun(run(0, { "a/x": "skip", "b/x": "pass" }));
  s1.close();
  const s2 = new SqliteStore(file);
  assert.deepEqual(
    s2.stateChanges().map((c) => c.checkId),
    ["b/x"],
  );
  s2.close();
});

test("a run that fails half way leaves the database as it was", () => {
  const store = new SqliteStore(path.join(dir, "k3.db"));
  store.saveRun(run(0, { "a/x": "pass" }));
  const bad = run(1, { "a/x": "fail" });
  bad.checks.push({ ...bad.checks[0]!, status: "bogus" as CheckStatus });
  assert.throws(() => store.saveRun(bad));
  assert.equal(store.runCount(), 1);
  assert.equal(store.stateChanges().length, 1);
  store.close();
});
