/**
 * A simulated year of `keel serve`: 1,000 checks, one result each per minute (525.6 million
 * results), every one fed through the store's public write path (`saveResults`), against SQLite
 * and against a real PostgreSQL server. The store must stay bounded: after the retention horizon
 * its size stays within a small factor, raw history never holds more than `perCheck` results per
 * check after a pass, buckets never more than `maxAge / bucket + 1` per check; and old periods
 * still answer, hour by hour, with every result counted.
 *
 * Retention: raw 1 day, 1-hour buckets, 30 days max age, 2,000 raw results per check, so the
 * horizon is reached after 31 days and eleven months run past it. Each check fails 3 minutes a
 * day (at its own time); every 100th also flaps (alternates each minute) for an hour a day.
 * The store writes every simulated day (`flushMs`) and runs retention every simulated day: the
 * default (10 s) would rewrite each check's open bucket every minute, the same rows 60 times.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { openStore, type ResultStore } from "../../../src/store/index.js";
import type { CheckResult } from "../../../src/verify/types.js";
import { type Postgres, startPostgres } from "../../helpers/postgres.js";

const CHECKS = 1000;
const DAYS = 365;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const PER_DAY = 1440;
const T0 = Date.UTC(2025, 0, 1);
const retention = { rawMs: DAY, bucketMs: HOUR, maxAgeMs: 30 * DAY, perCheck: 2000 };
const HORIZON_DAYS = 31;

const dir = mkdtempSync(path.join(tmpdir(), "keel-year-"));
let server: Postgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Whether check `i` fails at minute `m` of a day: 3 minutes from its own offset; flappers also fail odd minutes 10:00-10:59. */
function failsAt(i: number, m: number): boolean {
  const fromOutage = (m - ((i * 37) % PER_DAY) + PER_DAY) % PER_DAY;
  return fromOutage < 3 || (i % 100 === 0 && m >= 600 && m < 660 && m % 2 === 1);
}

const pass: CheckResult[] = [];
const fail: CheckResult[] = [];
// Built like the runner's results (src/verify/runner.ts resultOf: one object literal shape).
// Objects made by spreading in a loop get a hidden class each, which makes every property read
// in the store megamorphic and the simulation several times slower; the real results do not.
for (let i = 0; i < CHECKS; i++) {
  const id = `h${i}/port.open/svc@here`;
  const host = `h${i}`;
  pass.push({
    id,
    kind: "port.open",
    host,
    status: "pass",
    message: `${host}:22/tcp is open`,
    durationMs: 1 + (i % 50),
  });
  fail.push({
    id,
    kind: "port.open",
    host,
    status: "fail",
    message: `${host}:22/tcp is refused`,
    durationMs: 100 + (i % 7),
  });
}

/** The days are alike: per minute of the day, the checks whose result changes then. */
const changesAt: [number, CheckResult][][] = Array.from({ length: PER_DAY }, (_, m) => {
  const out: [number, CheckResult][] = [];
  for (let i = 0; i < CHECKS; i++) {
    const f = failsAt(i, m);
    if (f !== failsAt(i, (m + PER_DAY - 1) % PER_DAY))
      out.push([i, f ? (fail[i] as CheckResult) : (pass[i] as CheckResult)]);
  }
  return out;
});

async function simulateYear(store: ResultStore, label: string): Promise<void> {
  const started = performance.now();
  const current = pass.map((p, i) => (failsAt(i, PER_DAY - 1) ? (fail[i] as CheckResult) : p));
  const sizes: { day: number; bytes: number }[] = [];
  let fed = 0;
  for (let day = 0; day < DAYS; day++) {
    for (let m = 0; m < PER_DAY; m++) {
      for (const [i, r] of changesAt[m] as [number, CheckResult][]) current[i] = r;
      await store.saveResults(current, new Date(T0 + (day * PER_DAY + m) * MIN));
      fed += CHECKS;
      // A retention pass ran within the minute-0 call of each day; look right after some.
      if (m === 0 && day >= HORIZON_DAYS && (day === HORIZON_DAYS || day % 30 === 0 || day === DAYS - 1)) {
        const s = await store.stats();
        assert.ok(
          s.maxRawResultsPerCheck <= retention.perCheck,
          `day ${day}: raw ${s.maxRawResultsPerCheck}`,
        );
        assert.ok(s.maxSpansPerCheck <= retention.perCheck, `day ${day}: spans ${s.maxSpansPerCheck}`);
        assert.ok(
          s.buckets <= CHECKS * (retention.maxAgeMs / retention.bucketMs + 1),
          `day ${day}: buckets ${s.buckets}`,
        );
        sizes.push({ day, bytes: s.sizeBytes });
      }
    }
  }
  assert.equal(fed, 525_600_000);
  const end = T0 + DAYS * DAY;
  await store.applyRetention(new Date(end));
  const seconds = (performance.now() - started) / 1000;
  const first = sizes[0]?.bytes ?? 0;
  const largest = Math.max(...sizes.map((s) => s.bytes));
  process.stdout.write(
    `# ${label}: ${seconds.toFixed(0)} s; size after ${HORIZON_DAYS} days ${(first / 1e6).toFixed(1)} MB, ` +
      `largest after ${(largest / 1e6).toFixed(1)} MB (${sizes.map((s) => `d${s.day} ${(s.bytes / 1e6).toFixed(1)}`).join(", ")})\n`,
  );
  // Bounded: eleven months past the horizon, never more than 1.5 times the size at the horizon.
  assert.ok(largest <= 1.5 * first, `size grew from ${first} to ${largest} bytes`);

  // Old periods answer through buckets, hour by hour, every result counted: for a sample of
  // checks (flappers included), every retained hour holds its 60 results, failures as scheduled.
  for (const i of [0, 1, 37, 100, 499, 999]) {
    const id = (pass[i] as CheckResult).id;
    const h = await store.history(id, { sinceMs: end - retention.maxAgeMs, limit: 10_000 });
    assert.equal(h.buckets.length, 30 * 24, `${id}: ${h.buckets.length} buckets`);
    for (const b of h.buckets) {
      const start = Date.parse(b.start);
      const m0 = ((start - T0) / MIN) % PER_DAY;
      let fails = 0;
      for (let m = m0; m < m0 + 60; m++) if (failsAt(i, m)) fails++;
      assert.deepEqual([b.pass, b.fail, b.error], [60 - fails, fails, 0], `${id} ${b.start}`);
      assert.equal(
        b.minMs,
        fails === 60 ? (fail[i] as CheckResult).durationMs : (pass[i] as CheckResult).durationMs,
      );
      assert.equal(
        b.maxMs,
        fails > 0 ? (fail[i] as CheckResult).durationMs : (pass[i] as CheckResult).durationMs,
      );
    }
    // Nothing older than max age is left.
    const old = await store.history(id, { untilMs: end - retention.maxAgeMs - HOUR });
    assert.deepEqual([old.points, old.buckets, old.changes], [[], [], []]);
    // Raw history: the spans of the last day, newest until the last minute, at most perCheck results.
    const raw = await store.history(id, { sinceMs: end - retention.rawMs });
    assert.equal(raw.points.at(-1)?.until, new Date(end - MIN).toISOString());
    assert.ok(raw.points.reduce((n, p) => n + p.count, 0) <= retention.perCheck);
    let expected = 0;
    for (let m = 0; m < PER_DAY; m++)
      if (failsAt(i, m) !== failsAt(i, (m + PER_DAY - 1) % PER_DAY)) expected++;
    assert.equal(expected, i % 100 === 0 ? 2 + 60 : 2);
    const lastDay = raw.changes.filter((c) => Date.parse(c.at) >= end - DAY);
    assert.equal(lastDay.length, expected, `${id}: ${lastDay.length} changes in the last day`);
  }
}

test("a year of one-minute results for 1,000 checks stays bounded (SQLite)", {
  timeout: 900_000,
}, async () => {
  const store = await openStore(path.join(dir, "year.db"), {
    retention,
    flushMs: DAY,
    retentionEveryMs: DAY,
  });
  try {
    await simulateYear(store, "sqlite");
  } finally {
    await store.close();
  }
});

test("a year of one-minute results for 1,000 checks stays bounded (PostgreSQL)", {
  timeout: 900_000,
}, async () => {
  const url = await server.createDatabase("year");
  const store = await openStore(url, { retention, flushMs: DAY, retentionEveryMs: DAY });
  try {
    await simulateYear(store, "postgres");
  } finally {
    await store.close();
  }
});
