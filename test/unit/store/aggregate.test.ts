/**
 * The in-memory aggregator alone (no database): what `batch`/`detach` hand out, `commit`'s run id
 * patch, `begin`/`rollback`, and forgetting checks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Aggregator, type CheckRow, PENDING_RUN, type SpanRow } from "../../../src/store/aggregate.js";
import { HOUR, MIN, result, T0 } from "./results.js";

const sortById = <T extends { checkId: string }>(rows: T[]) =>
  [...rows].sort((a, b) => (a.checkId < b.checkId ? -1 : a.checkId > b.checkId ? 1 : 0));

test("batch and detach: check rows, span and bucket deltas of what was applied", () => {
  const agg = new Aggregator(HOUR);
  assert.equal(agg.pending(), false);
  agg.apply([result("a/x", "pass", 4), result("s/x", "skip")], T0, null);
  agg.apply([result("a/x", "pass", 2.4)], T0 + MIN, null);
  assert.equal(agg.pending(), true);
  const expected = {
    checks: [{ id: "a/x", kind: "port.open", host: "a", service: null, vantage: null, lastStatus: "pass" }],
    spans: [
      {
        checkId: "a/x",
        firstAt: T0,
        lastAt: T0 + MIN,
        status: "pass",
        message: "a/x is pass",
        count: 2,
        sumMs: 6,
        minMs: 2,
        maxMs: 4,
        prevStatus: null,
        runId: null,
      },
    ],
    buckets: [
      { checkId: "a/x", start: T0, widthMs: HOUR, pass: 2, fail: 0, error: 0, sumMs: 6, minMs: 2, maxMs: 4 },
    ],
  };
  assert.deepEqual(agg.batch(), expected);
  assert.deepEqual(agg.pendingSpansOf("a/x"), expected.spans);
  assert.deepEqual(agg.pendingSpansOf(), expected.spans);
  assert.deepEqual(agg.pendingBucketsOf("a/x"), expected.buckets);
  assert.deepEqual(agg.detach(), expected);
  assert.equal(agg.pending(), false);
  assert.deepEqual(agg.batch(), { checks: [], spans: [], buckets: [] });
  assert.deepEqual(agg.pendingSpansOf("a/x"), []);
  assert.deepEqual(agg.pendingBucketsOf("a/x"), []);

  // The same status continues the span (a delta with the same firstAt); the check row is not
  // written again. A new status closes the span: both deltas are handed out.
  agg.apply([result("a/x", "pass", 3)], T0 + 2 * MIN, 9);
  agg.apply([result("a/x", "fail", 5)], T0 + HOUR, 9);
  const b = agg.detach();
  assert.deepEqual(b.checks, [{ ...expected.checks[0], lastStatus: "fail" }]);
  assert.deepEqual(
    b.spans.map((s) => [s.firstAt, s.lastAt, s.status, s.count, s.prevStatus, s.runId]),
    [
      [T0, T0 + 2 * MIN, "pass", 1, null, null],
      [T0 + HOUR, T0 + HOUR, "fail", 1, "pass", 9],
    ],
  );
  assert.deepEqual(
    b.buckets.map((x) => [x.start, x.pass, x.fail]),
    [
      [T0, 1, 0],
      [T0 + HOUR, 0, 1],
    ],
  );
});

test("commit(runId) gives the run id to spans the pending run opened", () => {
  const agg = new Aggregator(HOUR);
  agg.apply([result("a/x", "pass")], T0, null);
  agg.commit();
  agg.apply([result("a/x", "pass"), result("b/x", "fail")], T0 + MIN, PENDING_RUN);
  const batch = agg.batch();
  assert.deepEqual(
    batch.spans.map((s) => [s.checkId, s.runId]),
    [
      ["a/x", null],
      ["b/x", PENDING_RUN],
    ],
  );
  agg.commit(7);
  assert.equal(agg.pending(), false);
  // The open spans continue with their run id, the one the run got for b/x.
  agg.apply([result("a/x", "pass"), result("b/x", "fail")], T0 + 2 * MIN, null);
  assert.deepEqual(
    agg.batch().spans.map((s) => [s.checkId, s.firstAt, s.count, s.runId]),
    [
      ["a/x", T0, 1, null],
      ["b/x", T0 + MIN, 1, 7],
    ],
  );
});

test("rollback restores the checks a failed write touched and forgets the ones it created", () => {
  const agg = new Aggregator(HOUR);
  const stored: CheckRow = {
    id: "c/x",
    kind: "port.open",
    host: "c",
    service: "ssh",
    vantage: "v",
    lastStatus: "pass",
  };
  const newest: SpanRow = {
    checkId: "c/x",
    firstAt: T0 - HOUR,
    lastAt: T0 - MIN,
    status: "pass",
    message: "c/x is pass",
    count: 30,
    sumMs: 300,
    minMs: 5,
    maxMs: 20,
    prevStatus: null,
    runId: 3,
  };
  agg.load(stored, newest);
  agg.apply([result("a/x", "pass", 10), result("b/x", "error", 1)], T0, null);
  agg.apply([result("a/x", "pass", 20)], T0 + MIN, null);
  agg.commit();
  // Unwritten deltas of a/x (same span, same bucket) and b/x (a span closed, a new one open).
  agg.apply([result("a/x", "pass", 30), result("b/x", "fail", 2)], T0 + 2 * MIN, null);
  // (Copies: the test must not depend on whether rows handed out change with a later `apply`.)
  const before = structuredClone(agg.batch());
  const beforeSpansB = structuredClone(agg.pendingSpansOf("b/x"));

  agg.begin();
  agg.apply(
    [
      result("a/x", "fail", 40), // a new span
      result("b/x", "fail", 3), // the same span, a new bucket
      result("n/x", "pass", 50), // a new check
      result("c/x", "pass", 60), // the loaded span continues
    ],
    T0 + HOUR,
    PENDING_RUN,
  );
  agg.apply([result("b/x", "pass", 4)], T0 + HOUR + MIN, PENDING_RUN);
  assert.notDeepEqual(agg.batch(), before);
  agg.rollback();
  assert.deepEqual(agg.batch(), before);
  assert.deepEqual(agg.pendingSpansOf("b/x"), beforeSpansB);
  assert.deepEqual(agg.pendingSpansOf("n/x"), []);
  assert.deepEqual(agg.pendingBucketsOf("n/x"), []);

  // Applying again after the rollback is as if the failed apply never happened: n/x is new
  // again (its check row is written), b/x's status changed since the last write, a/x's and
  // c/x's did not (c/x continues its loaded span).
  agg.begin();
  agg.apply(
    [result("n/x", "pass", 50), result("c/x", "pass", 60), result("a/x", "pass", 1)],
    T0 + 3 * MIN,
    null,
  );
  agg.end();
  agg.rollback(); // nothing to undo after end
  const b = agg.detach();
  assert.deepEqual(
    b.checks.map((c) => [c.id, c.lastStatus]),
    [
      ["b/x", "fail"],
      ["n/x", "pass"],
    ],
  );
  assert.deepEqual(
    sortById(b.spans).map((s) => [
      s.checkId,
      s.firstAt,
      s.lastAt,
      s.status,
      s.count,
      s.sumMs,
      s.minMs,
      s.maxMs,
      s.runId,
    ]),
    [
      ["a/x", T0, T0 + 3 * MIN, "pass", 2, 31, 1, 30, null],
      ["b/x", T0 + 2 * MIN, T0 + 2 * MIN, "fail", 1, 2, 2, 2, null],
      ["c/x", T0 - HOUR, T0 + 3 * MIN, "pass", 1, 60, 60, 60, 3],
      ["n/x", T0 + 3 * MIN, T0 + 3 * MIN, "pass", 1, 50, 50, 50, null],
    ],
  );
  assert.deepEqual(
    sortById(b.buckets).map((x) => [x.checkId, x.start, x.pass, x.fail, x.error, x.sumMs, x.minMs, x.maxMs]),
    [
      ["a/x", T0, 2, 0, 0, 31, 1, 30],
      ["b/x", T0, 0, 1, 0, 2, 2, 2],
      ["c/x", T0, 1, 0, 0, 60, 60, 60],
      ["n/x", T0, 1, 0, 0, 50, 50, 50],
    ],
  );
  // The loaded check row was not changed by the aggregator.
  assert.equal(stored.lastStatus, "pass");
});

test("rollback of a check created before begin but not yet written keeps it", () => {
  const agg = new Aggregator(HOUR);
  agg.apply([result("a/x", "pass")], T0, null);
  agg.begin();
  agg.apply([result("a/x", "fail"), result("b/x", "pass")], T0 + MIN, PENDING_RUN);
  agg.rollback();
  const b = agg.detach();
  assert.deepEqual(
    b.checks.map((c) => [c.id, c.lastStatus]),
    [["a/x", "pass"]],
  );
  assert.deepEqual(
    b.spans.map((s) => [s.checkId, s.status, s.count]),
    [["a/x", "pass", 1]],
  );
});

test("forgetBefore and forgetChecks: a forgotten check starts afresh", () => {
  const agg = new Aggregator(HOUR);
  agg.apply([result("a/x", "pass"), result("b/x", "pass")], T0, null);
  agg.commit();
  agg.forgetBefore(T0 + MIN, T0 + HOUR);
  agg.forgetChecks(["a/x", "nope"]);
  agg.apply([result("a/x", "pass"), result("b/x", "pass"), result("c/x", "fail")], T0 + 2 * HOUR, null);
  const b = agg.detach();
  // a/x was forgotten: new again (its row written, a first span); b/x was not: its span and
  // bucket were forgotten (their rows dropped) but its row and last status are known.
  assert.deepEqual(
    b.checks.map((c) => c.id),
    ["a/x", "c/x"],
  );
  assert.deepEqual(
    b.spans.map((s) => [s.checkId, s.firstAt, s.prevStatus]),
    [
      ["a/x", T0 + 2 * HOUR, null],
      ["b/x", T0 + 2 * HOUR, "pass"],
      ["c/x", T0 + 2 * HOUR, null],
    ],
  );
});

test("a width change merges two deltas of one bucket start", () => {
  const agg = new Aggregator(MIN);
  agg.apply([result("a/x", "pass", 1)], T0, null);
  agg.apply([result("a/x", "pass", 2)], T0 + MIN, null);
  agg.setBucketMs(HOUR);
  agg.apply([result("a/x", "pass", 3)], T0 + 2 * MIN, null);
  const expected = [
    { checkId: "a/x", start: T0, widthMs: HOUR, pass: 2, fail: 0, error: 0, sumMs: 4, minMs: 1, maxMs: 3 },
    {
      checkId: "a/x",
      start: T0 + MIN,
      widthMs: MIN,
      pass: 1,
      fail: 0,
      error: 0,
      sumMs: 2,
      minMs: 2,
      maxMs: 2,
    },
  ];
  assert.deepEqual(agg.batch().buckets, expected);
  assert.deepEqual(agg.detach().buckets, expected);
});

test("a check that takes the place of a forgotten one starts with nothing of it", () => {
  const agg = new Aggregator(HOUR);
  agg.apply([result("a/x", "fail", 9, "refused")], T0, 5);
  agg.commit();
  agg.forgetBefore(T0 + MIN, T0 + HOUR);
  agg.forgetChecks(["a/x"]);
  agg.begin();
  agg.apply([result("r/x", "error", 7)], T0 + HOUR, PENDING_RUN);
  agg.rollback();
  const z = { ...result("z/x", "pass", 2), service: "s", vantage: "v" };
  agg.apply([z], T0 + 2 * HOUR, null);
  assert.deepEqual(agg.detach(), {
    checks: [{ id: "z/x", kind: "port.open", host: "z", service: "s", vantage: "v", lastStatus: "pass" }],
    spans: [
      {
        checkId: "z/x",
        firstAt: T0 + 2 * HOUR,
        lastAt: T0 + 2 * HOUR,
        status: "pass",
        message: "z/x is pass",
        count: 1,
        sumMs: 2,
        minMs: 2,
        maxMs: 2,
        prevStatus: null,
        runId: null,
      },
    ],
    buckets: [
      {
        checkId: "z/x",
        start: T0 + 2 * HOUR,
        widthMs: HOUR,
        pass: 1,
        fail: 0,
        error: 0,
        sumMs: 2,
        minMs: 2,
        maxMs: 2,
      },
    ],
  });
  assert.deepEqual(agg.pendingSpansOf("a/x"), []);
  assert.deepEqual(agg.pendingSpansOf("r/x"), []);
});
