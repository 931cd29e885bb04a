/**
 * The results store, the same suite against both backends: SQLite (a file in a temp dir) and
 * PostgreSQL (a real server started for this file, test/helpers/postgres.ts). Each test gets its
 * own database. Faults are injected with real database triggers that abort a write half way.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { openStore, type ResultStore, type StoreOptions } from "../../../src/store/index.js";
import type { CheckResult, CheckStatus, Report } from "../../../src/verify/types.js";
import { type Postgres, startPostgres } from "../../helpers/postgres.js";
import { CLI, ensureBuilt } from "../cli/built.js";
import { HOUR, MIN, result, T0 } from "./results.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-store-"));
let server: Postgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function report(at: number, results: CheckResult[]): Report {
  const summary = { pass: 0, fail: 0, error: 0, skip: 0 };
  for (const c of results) summary[c.status]++;
  return {
    inventory: "k.yaml",
    startedAt: new Date(at).toISOString(),
    durationMs: 5,
    summary,
    checks: results,
  };
}

/** A fresh database of one backend: its spec, an opener, and a fault injector. */
interface Fixture {
  spec: string;
  open(opts?: StoreOptions): Promise<ResultStore>;
  /** Makes every bucket write of a check whose id starts with `boom` fail (a trigger); returns the undo. */
  injectFault(): Promise<() => Promise<void>>;
}

/** Errors of background work (automatic retention, timer flushes): every test ends with none. */
const backgroundErrors: Error[] = [];
afterEach(() => assert.deepEqual(backgroundErrors.splice(0), []));
const withErrors = (opts: StoreOptions = {}): StoreOptions => ({
  onError: (err) => backgroundErrors.push(err),
  ...opts,
});

let seq = 0;
const backends: Record<string, () => Promise<Fixture>> = {
  sqlite: async () => {
    const spec = path.join(dir, `t${++seq}`, "keel.db");
    return {
      spec,
      open: (opts = {}) => openStore(spec, withErrors(opts)),
      async injectFault() {
        const db = new Database(spec);
        db.exec(`CREATE TRIGGER boom BEFORE INSERT ON buckets
          WHEN EXISTS (SELECT 1 FROM checks WHERE key = NEW.check_key AND check_id LIKE 'boom%')
          BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
        db.close();
        return async () => {
          const d = new Database(spec);
          d.exec("DROP TRIGGER boom");
          d.close();
        };
      },
    };
  },
  postgres: async () => {
    const spec = await server.createDatabase(`t${++seq}`);
    const sql = async (text: string) => {
      const c = new pg.Client({ connectionString: spec });
      await c.connect();
      try {
        await c.query(text);
      } finally {
        await c.end();
      }
    };
    return {
      spec,
      open: (opts = {}) => openStore(spec, withErrors(opts)),
      async injectFault() {
        await sql(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF EXISTS (SELECT 1 FROM keel_checks WHERE key = NEW.check_key AND check_id LIKE 'boom%') THEN
              RAISE EXCEPTION 'injected fault';
            END IF;
            RETURN NEW;
          END $$;
          CREATE TRIGGER boom BEFORE INSERT ON keel_buckets FOR EACH ROW EXECUTE FUNCTION boom();`);
        return () => sql("DROP TRIGGER boom ON keel_buckets; DROP FUNCTION boom();");
      },
    };
  },
};

/** Everything a second reader sees: what is on disk. */
async function onDisk(f: Fixture, checkId: string) {
  const s = await f.open();
  try {
    const { sizeBytes: _, ...stats } = await s.stats();
    return {
      runs: await s.runs(100),
      changes: await s.stateChanges({ limit: 1000 }),
      history: await s.history(checkId),
      stats,
    };
  } finally {
    await s.close();
  }
}

for (const [name, fresh] of Object.entries(backends)) {
  describe(name, () => {
    test("state changes: first seen, started failing, recovered; run ids; limit", async () => {
      const f = await fresh();
      const store = await f.open();
      const run = (m: number, a: CheckStatus, b: CheckStatus) =>
        store.saveRun(report(T0 + m * MIN, [result("a/x", a), result("b/x", b)]));
      assert.equal(await run(0, "pass", "pass"), 1);
      await run(1, "fail", "pass");
      await run(2, "fail", "pass");
      assert.equal(await run(3, "pass", "error"), 4);
      const a = await store.stateChanges({ checkId: "a/x" });
      assert.deepEqual(
        a.map((c) => [c.at.slice(11, 16), c.from, c.to, c.runId]),
        [
          ["00:00", null, "pass", 1],
          ["00:01", "pass", "fail", 2],
          ["00:03", "fail", "pass", 4],
        ],
      );
      assert.equal(a[1]?.message, "a/x is fail");
      const all = await store.stateChanges();
      assert.equal(all.length, 5);
      assert.deepEqual(all.at(-1), {
        checkId: "b/x",
        at: new Date(T0 + 3 * MIN).toISOString(),
        runId: 4,
        from: "pass",
        to: "error",
        message: "b/x is error",
      });
      assert.deepEqual(
        (await store.stateChanges({ limit: 2 })).map((c) => c.checkId),
        ["a/x", "b/x"],
      );
      const runs = await store.runs(2);
      assert.deepEqual(
        runs.map((r) => [r.id, r.startedAt.slice(11, 16), r.summary]),
        [
          [4, "00:03", { pass: 1, fail: 0, error: 1, skip: 0 }],
          [3, "00:02", { pass: 1, fail: 1, error: 0, skip: 0 }],
        ],
      );
      await store.close();
    });

    test("identical results are one span, also across separate processes; skips are not stored", async () => {
      const f = await fresh();
      for (let m = 0; m < 3; m++) {
        const s = await f.open();
        await s.saveRun(report(T0 + m * MIN, [result("a/x", "pass", 10 + m), result("s/x", "skip")]));
        await s.close();
      }
      const s = await f.open();
      const h = await s.history("a/x");
      assert.deepEqual(h.points, [
        {
          at: new Date(T0).toISOString(),
          until: new Date(T0 + 2 * MIN).toISOString(),
          status: "pass",
          message: "a/x is pass",
          count: 3,
          durationMs: 11,
          minMs: 10,
          maxMs: 12,
          runId: 1,
        },
      ]);
      assert.deepEqual(h.buckets, [
        {
          start: new Date(T0).toISOString(),
          end: new Date(T0 + HOUR).toISOString(),
          pass: 3,
          fail: 0,
          error: 0,
          minMs: 10,
          avgMs: 11,
          maxMs: 12,
        },
      ]);
      assert.equal(h.changes.length, 1);
      assert.deepEqual((await s.history("s/x")).points, []);
      const stats = await s.stats();
      assert.equal(stats.spans, 1);
      assert.equal(stats.checks, 1);
      assert.equal(stats.runs, 3);
      await s.close();
    });

    test("a write that fails half way leaves the store as it was, and loses nothing buffered", async () => {
      const f = await fresh();
      const store = await f.open({ flushMs: HOUR });
      await store.saveRun(report(T0, [result("a/x", "pass"), result("b/x", "pass")]));
      const before = await onDisk(f, "a/x");
      const undo = await f.injectFault();

      // The run row, the check rows and the spans are written before the buckets, whose
      // trigger aborts the transaction.
      const bad = report(T0 + MIN, [result("a/x", "fail"), result("boom/x", "pass"), result("b/x", "error")]);
      await assert.rejects(store.saveRun(bad), /injected fault/);
      assert.deepEqual(await onDisk(f, "a/x"), before);
      // Nor does the store's memory keep any of the failed run.
      assert.deepEqual(await store.stateChanges({ limit: 1000 }), before.changes);
      assert.deepEqual(await store.history("a/x"), before.history);

      // Buffered results: the write fails, the disk is unchanged, the results stay buffered.
      await store.saveResults([result("a/x", "error"), result("boom/y", "fail")], new Date(T0 + 2 * MIN));
      await assert.rejects(store.flush(), /injected fault/);
      assert.deepEqual(await onDisk(f, "a/x"), before);
      assert.equal((await store.history("a/x")).points.at(-1)?.status, "error");

      await undo();
      await store.flush();
      // (PostgreSQL does not roll back identity sequences, so the id may skip the failed one.)
      const id = await store.saveRun(bad);
      assert.ok(id > 1);
      await store.close();
      const after = await onDisk(f, "a/x");
      assert.deepEqual(
        after.changes.filter((c) => c.checkId === "a/x").map((c) => [c.from, c.to, c.runId]),
        [
          [null, "pass", 1],
          ["pass", "error", null],
          ["error", "fail", id],
        ],
      );
      assert.deepEqual(
        after.runs.map((r) => r.id),
        [id, 1],
      );
      assert.equal(after.stats.checks, 4);
    });

    test("results that arrive while a run is stored wait for it, in order", async () => {
      const f = await fresh();
      const store = await f.open({ flushMs: 0 });
      const run = store.saveRun(report(T0, [result("a/x", "pass"), result("b/x", "pass")]));
      const later = store.saveResults([result("a/x", "fail")], new Date(T0 + MIN));
      assert.equal(await run, 1);
      await later;
      assert.deepEqual(
        (await store.stateChanges({ checkId: "a/x" })).map((c) => [c.from, c.to, c.runId]),
        [
          [null, "pass", 1],
          ["pass", "fail", null],
        ],
      );
      await store.close();
    });

    test("malformed results are refused before anything is recorded", async () => {
      const f = await fresh();
      const store = await f.open();
      await store.saveResults([result("a/x", "pass")], new Date(T0));
      const bogus = { ...result("a/x", "fail"), status: "bogus" as CheckStatus };
      await assert.rejects(store.saveResults([result("a/x", "fail"), bogus], new Date(T0 + MIN)), {
        name: "TypeError",
        message: /result a\/x: status must be pass, fail, error or skip, not bogus/,
      });
      await assert.rejects(
        store.saveResults([{ ...result("a/x", "pass"), durationMs: Number.NaN }], new Date()),
        {
          name: "TypeError",
        },
      );
      await assert.rejects(store.saveResults([result("a/x", "pass")], new Date("nope")), {
        name: "TypeError",
      });
      await assert.rejects(store.saveRun({ ...report(T0, [bogus]) }), { name: "TypeError" });
      const h = await store.history("a/x");
      assert.deepEqual(
        h.points.map((p) => [p.status, p.count]),
        [["pass", 1]],
      );
      assert.deepEqual(await store.runs(), []);
      await store.close();
    });

    test("buffered results are written within flushMs of result time; close writes the rest", async () => {
      const f = await fresh();
      const store = await f.open({ flushMs: 5 * MIN });
      // What a second reader finds on disk once the writes queued so far are done (a later call
      // on the store runs after them).
      const count = async () => {
        await store.runs(1);
        return (await onDisk(f, "a/x")).stats.rawResults;
      };
      // The first result is written at once (nothing written yet); the next four wait.
      await store.saveResults([result("a/x", "pass")], new Date(T0));
      assert.equal(await count(), 1);
      for (let m = 1; m <= 4; m++) await store.saveResults([result("a/x", "pass")], new Date(T0 + m * MIN));
      assert.equal(await count(), 1);
      assert.equal((await store.history("a/x")).points[0]?.count, 5);
      await store.saveResults([result("a/x", "pass")], new Date(T0 + 5 * MIN));
      assert.equal(await count(), 6);
      await store.saveResults([result("a/x", "fail")], new Date(T0 + 6 * MIN));
      assert.equal(await count(), 6);
      await store.close();
      assert.equal((await onDisk(f, "a/x")).stats.rawResults, 7);
      await assert.rejects(store.flush(), /is closed/);
      await assert.rejects(store.saveResults([result("a/x", "pass")], new Date(T0 + 7 * MIN)), /is closed/);
    });

    test("a background write that fails is reported and its results are written with the next", async () => {
      const f = await fresh();
      const errors: Error[] = [];
      const store = await f.open({ flushMs: MIN, onError: (err) => errors.push(err) });
      await store.saveResults([result("a/x", "pass")], new Date(T0));
      await store.runs(1);
      const undo = await f.injectFault();
      await store.saveResults([result("a/x", "fail"), result("boom/x", "pass")], new Date(T0 + MIN));
      await store.runs(1);
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.message ?? "", /injected fault/);
      assert.equal((await onDisk(f, "a/x")).stats.rawResults, 1);
      await undo();
      await store.saveResults([result("a/x", "fail")], new Date(T0 + 2 * MIN));
      await store.runs(1);
      assert.equal(errors.length, 1);
      const disk = await onDisk(f, "a/x");
      assert.equal(disk.stats.rawResults, 4);
      assert.deepEqual(
        disk.history.points.map((p) => [p.status, p.count]),
        [
          ["pass", 1],
          ["fail", 2],
        ],
      );
      await store.close();
    });

    test("results out of order never make spans overlap", async () => {
      const f = await fresh();
      const store = await f.open();
      await store.saveResults([result("a/x", "pass")], new Date(T0 + 5 * MIN));
      await store.saveResults([result("a/x", "fail")], new Date(T0 + MIN));
      await store.saveResults([result("a/x", "fail"), result("a/x", "pass")], new Date(T0 + 5 * MIN));
      const h = await store.history("a/x");
      assert.deepEqual(
        h.points.map((p) => [Date.parse(p.at) - T0, Date.parse(p.until) - T0, p.status, p.count]),
        [
          [5 * MIN, 5 * MIN, "pass", 1],
          [5 * MIN + 1, 5 * MIN + 1, "fail", 2],
          [5 * MIN + 2, 5 * MIN + 2, "pass", 1],
        ],
      );
      await store.close();
    });

    test("retention: raw by age and by count per check, buckets and runs by age, empty checks go", async () => {
      const f = await fresh();
      const retention = { rawMs: 3 * HOUR, bucketMs: HOUR, maxAgeMs: 6 * HOUR, perCheck: 10 };
      const store = await f.open({ retention, flushMs: 0, retentionEveryMs: 100 * HOUR });
      await store.saveRun(report(T0, [result("c/x", "pass")]));
      // a/x: every 10 min for 10 h, failing 02:00-02:20 and 08:00-08:10, duration = index.
      // b/x: alternating pass/fail every 10 min (one span per result).
      for (let i = 0; i < 60; i++) {
        const m = i * 10;
        const aFails = (m >= 120 && m < 150) || (m >= 480 && m < 500);
        await store.saveResults(
          [result("a/x", aFails ? "fail" : "pass", i), result("b/x", i % 2 ? "fail" : "pass")],
          new Date(T0 + m * MIN),
        );
      }
      const span = (p: { at: string; until: string; status: string; count: number }) => [
        (Date.parse(p.at) - T0) / MIN,
        (Date.parse(p.until) - T0) / MIN,
        p.status,
        p.count,
      ];
      assert.deepEqual((await store.history("a/x")).points.map(span), [
        [0, 110, "pass", 12],
        [120, 140, "fail", 3],
        [150, 470, "pass", 33],
        [480, 490, "fail", 2],
        [500, 590, "pass", 10],
      ]);

      const now = new Date(T0 + 10 * HOUR);
      // Raw cut 07:00: a/x's first two spans, b/x's 42 spans and c/x's one before 07:00 go by
      // age; the 02:30-07:50 span is kept by age (it ended after the cut), then a/x holds 45 > 10
      // raw results: its two older spans go, the newest (10) stays; b/x keeps its newest 10.
      // Max age 6 h: buckets that ended by 04:00 go (4 of a/x, 4 of b/x, 1 of c/x), and the run.
      assert.deepEqual(await store.applyRetention(now), {
        spansDroppedByAge: 2 + 42 + 1,
        spansDroppedByCount: 2 + 8,
        bucketsDropped: 4 + 4 + 1,
        runsDropped: 1,
        checksDropped: 1,
      });
      const h = await store.history("a/x");
      assert.deepEqual(h.points.map(span), [[500, 590, "pass", 10]]);
      assert.deepEqual(
        h.changes.map((c) => [c.from, c.to, c.at]),
        [["fail", "pass", new Date(T0 + 500 * MIN).toISOString()]],
      );
      // Old periods still answer through buckets: 04:00-10:00, hour by hour.
      assert.deepEqual(
        h.buckets.map((b) => [(Date.parse(b.start) - T0) / HOUR, b.pass, b.fail, b.minMs, b.avgMs, b.maxMs]),
        [
          [4, 6, 0, 24, 27, 29],
          [5, 6, 0, 30, 33, 35],
          [6, 6, 0, 36, 39, 41],
          [7, 6, 0, 42, 45, 47],
          [8, 4, 2, 48, 51, 53],
          [9, 6, 0, 54, 57, 59],
        ],
      );
      const stats = await store.stats();
      assert.deepEqual(
        [stats.runs, stats.checks, stats.spans, stats.rawResults, stats.buckets],
        [0, 2, 11, 20, 12],
      );
      assert.equal(stats.maxRawResultsPerCheck, 10);
      assert.deepEqual(await store.history("c/x"), { checkId: "c/x", points: [], buckets: [], changes: [] });

      // The store carries on: the open span grows, a dropped check comes back as new.
      await store.saveResults([result("a/x", "pass", 60), result("c/x", "fail")], now);
      assert.deepEqual((await store.history("a/x")).points.map(span), [[500, 600, "pass", 11]]);
      assert.deepEqual(
        (await store.stateChanges({ checkId: "c/x" })).map((c) => [c.from, c.to]),
        [[null, "fail"]],
      );
      await store.close();
      // A second pass right away finds nothing more to drop.
      const again = await f.open({ retention });
      assert.deepEqual(await again.applyRetention(now), {
        spansDroppedByAge: 0,
        spansDroppedByCount: 0,
        bucketsDropped: 0,
        runsDropped: 0,
        checksDropped: 0,
      });
      await again.close();
    });

    test("retention runs by itself every retentionEveryMs of result time", async () => {
      const f = await fresh();
      const retention = { rawMs: HOUR, bucketMs: HOUR, maxAgeMs: 2 * HOUR, perCheck: 100 };
      const store = await f.open({ retention, flushMs: 0, retentionEveryMs: HOUR });
      for (let m = 0; m <= 5 * 60; m += 5) {
        await store.saveResults([result("a/x", m % 60 === 0 ? "fail" : "pass")], new Date(T0 + m * MIN));
      }
      // Passes ran at 00:00 (the first result), 01:00, ... 05:00: the last one dropped spans that
      // ended before 04:00 and buckets that ended by 03:00.
      const stats = await store.stats();
      assert.equal(stats.buckets, 3);
      assert.equal(stats.rawResults, 1 + 11 + 1);
      assert.equal(stats.spans, 3);
      await store.close();
    });

    test("a bucket width change keeps every result counted", async () => {
      const f = await fresh();
      const store = await f.open({ flushMs: 24 * HOUR });
      for (let m = 0; m < 180; m += 10)
        await store.saveResults([result("a/x", "pass")], new Date(T0 + m * MIN));
      store.setRetention({
        rawMs: 7 * 24 * HOUR,
        bucketMs: 6 * HOUR,
        maxAgeMs: 365 * 24 * HOUR,
        perCheck: 100,
      });
      for (let m = 180; m < 480; m += 10)
        await store.saveResults([result("a/x", "fail")], new Date(T0 + m * MIN));
      await store.close();
      const again = await f.open();
      const h = await again.history("a/x");
      assert.equal(
        h.buckets.reduce((n, b) => n + b.pass + b.fail + b.error, 0),
        48,
      );
      assert.equal(
        h.buckets.reduce((n, b) => n + b.fail, 0),
        30,
      );
      await again.close();
    });
  });
}

test("sqlite: a database written by an earlier keel verify (schema 1) is migrated", async () => {
  const file = path.join(dir, "v1.db");
  const db = new Database(file);
  db.exec(`
    CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, duration_ms INTEGER NOT NULL,
      inventory TEXT NOT NULL, pass INTEGER NOT NULL, fail INTEGER NOT NULL, error INTEGER NOT NULL, skip INTEGER NOT NULL);
    CREATE TABLE results (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, check_id TEXT NOT NULL,
      kind TEXT NOT NULL, host TEXT NOT NULL, service TEXT, vantage TEXT,
      status TEXT NOT NULL CHECK (status IN ('pass','fail','error','skip')), message TEXT NOT NULL, observed TEXT,
      duration_ms INTEGER NOT NULL, PRIMARY KEY (check_id, run_id)) WITHOUT ROWID;
    PRAGMA user_version = 1;`);
  const ins = db.prepare("INSERT INTO runs VALUES (?, ?, 5, 'k.yaml', ?, ?, 0, 0)");
  const res = db.prepare("INSERT INTO results VALUES (?, ?, 'port.open', 'a', NULL, 'here', ?, ?, NULL, ?)");
  for (const [id, status] of (["pass", "pass", "fail", "pass"] as const).entries()) {
    ins.run(
      id + 1,
      new Date(T0 + id * MIN).toISOString(),
      status === "pass" ? 1 : 0,
      status === "fail" ? 1 : 0,
    );
    res.run(id + 1, "a/x", status, `a/x is ${status}`, 7);
  }
  db.close();
  const store = await openStore(file);
  assert.deepEqual(
    (await store.stateChanges()).map((c) => [c.at.slice(11, 16), c.from, c.to, c.runId]),
    [
      ["00:00", null, "pass", 1],
      ["00:02", "pass", "fail", 3],
      ["00:03", "fail", "pass", 4],
    ],
  );
  assert.deepEqual(
    (await store.history("a/x")).points.map((p) => [p.count, p.durationMs]),
    [
      [2, 7],
      [1, 7],
      [1, 7],
    ],
  );
  assert.deepEqual(
    (await store.runs()).map((r) => [r.id, r.startedAt]),
    [4, 3, 2, 1].map((id) => [id, new Date(T0 + (id - 1) * MIN).toISOString()]),
  );
  await store.close();
  const check = new Database(file);
  assert.equal(check.pragma("user_version", { simple: true }), 2);
  const left = check.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v1'").all();
  assert.deepEqual(left, []);
  check.close();
});

test("sqlite: a database from a newer Keel is refused", async () => {
  const file = path.join(dir, "v9.db");
  const db = new Database(file);
  db.pragma("user_version = 9");
  db.close();
  await assert.rejects(openStore(file), /written by a newer Keel \(schema 9; this one knows 2\)/);
});

test("postgres: an unreachable server is a clear error that never shows the password", async () => {
  await assert.rejects(openStore("postgres://keel:s3cret@127.0.0.1:1/keel"), (err: Error) => {
    assert.match(err.message, /^cannot use PostgreSQL at postgres:\/\/keel:\*\*\*@127\.0\.0\.1:1\/keel: /);
    assert.ok(!err.message.includes("s3cret"));
    return true;
  });
});

test("keel verify --db postgres://… stores the run and keel history --db postgres://… reads it", async () => {
  ensureBuilt();
  const url = await server.createDatabase("cli");
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
  const keel = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  const v = keel("verify", inv, "--only", "*/port.open/*", "--db", url);
  assert.equal(v.status, 1, v.stderr);
  assert.equal(v.stderr, "");
  const h = keel("history", "--db", url, "--json");
  assert.equal(h.status, 0, h.stderr);
  const changes = JSON.parse(h.stdout) as { checkId: string; from: null; to: string; runId: number }[];
  assert.deepEqual(
    changes.map((c) => [c.checkId, c.from, c.to, c.runId]),
    [["box/port.open/app@here", null, "fail", 1]],
  );
  const bad = keel("history", "--db", "postgres://keel:pw@127.0.0.1:1/none");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^--db: cannot use PostgreSQL at postgres:\/\/keel:\*\*\*@127\.0\.0\.1:1\/none: /);
  assert.ok(!bad.stderr.includes("    at "), bad.stderr);
});
