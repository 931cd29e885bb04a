/**
 * The check state machine of `keel serve` as a pure function: soft → hard after `failAfter`
 * failures, recovery after `recoverAfter` passes, flapping entering and leaving with the
 * configured window and changes, and no transition on repeated identical results.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type FlapSettings,
  historyOf,
  initialState,
  type MachineState,
  nextState,
  recentList,
  type Thresholds,
  type TransitionEvent,
} from "../../../src/serve/state.js";
import type { CheckStatus } from "../../../src/verify/types.js";

const T: Thresholds = { failAfter: 3, recoverAfter: 2 };
const FLAP: FlapSettings = { window: 6, changes: 3 };

/** Feeds `statuses` one per second from t=1000 ms; returns the state and events after each. */
function run(
  statuses: CheckStatus[],
  from: MachineState = initialState(false),
  thresholds = T,
  flap = FLAP,
): { next: MachineState; events: TransitionEvent[] }[] {
  const out: { next: MachineState; events: TransitionEvent[] }[] = [];
  let m = from;
  statuses.forEach((status, i) => {
    const step = nextState(m, status, thresholds, flap, 1000 * (i + 1));
    out.push(step);
    m = step.next;
  });
  return out;
}

test("a new check is unknown (or skipped), with no history", () => {
  assert.deepEqual(initialState(false), {
    state: "unknown",
    status: null,
    consecutive: 0,
    flapping: false,
    sinceMs: Number.NaN,
    hardFailing: false,
    hardSinceMs: Number.NaN,
    recent: 0,
    recentLen: 0,
  });
  assert.equal(initialState(true).state, "skipped");
  assert.equal(initialState(true).status, "skip");
});

test("soft → hard after failAfter failures in a row (fail and error count together)", () => {
  const steps = run(["fail", "error", "fail"]);
  assert.deepEqual(
    steps.map((s) => [s.next.state, s.next.consecutive, s.next.sinceMs]),
    [
      ["soft", 1, 1000],
      ["soft", 2, 1000],
      ["hard", 3, 3000],
    ],
  );
  assert.deepEqual(steps[0]!.events, [{ type: "state", from: "unknown", to: "soft" }]);
  assert.deepEqual(steps[1]!.events, []);
  assert.deepEqual(steps[2]!.events, [{ type: "state", from: "soft", to: "hard" }]);
  assert.equal(steps[2]!.next.hardFailing, true);
  assert.equal(steps[2]!.next.hardSinceMs, 3000);
  // a fourth failure stays hard, from the same time
  const [fourth] = run(["fail"], steps[2]!.next);
  assert.equal(fourth!.next.state, "hard");
  assert.equal(fourth!.next.consecutive, 4);
  assert.equal(fourth!.next.hardSinceMs, 3000);
  assert.deepEqual(fourth!.events, []);
});

test("a soft failure that passes is ok at once; failAfter 1 is hard at the first failure", () => {
  const steps = run(["pass", "fail", "fail", "pass"]);
  assert.deepEqual(
    steps.map((s) => s.next.state),
    ["ok", "soft", "soft", "ok"],
  );
  assert.equal(steps[3]!.next.hardFailing, false);
  assert.equal(steps[3]!.next.hardSinceMs, Number.NaN, "never hard");
  const [first] = run(["error"], initialState(false), { failAfter: 1, recoverAfter: 1 });
  assert.equal(first!.next.state, "hard");
  assert.deepEqual(first!.events, [{ type: "state", from: "unknown", to: "hard" }]);
});

test("a hard check recovers after recoverAfter passes in a row; a failure on the way is hard again", () => {
  const hard = run(["fail", "fail", "fail"]).at(-1)!.next;
  const steps = run(["pass", "fail", "pass", "pass"], hard, T, { window: 6, changes: 99 });
  assert.deepEqual(
    steps.map((s) => [s.next.state, s.next.consecutive, s.next.hardFailing]),
    [
      ["soft", 1, true],
      ["hard", 1, true],
      ["soft", 1, true],
      ["ok", 2, false],
    ],
  );
  assert.equal(steps[1]!.next.hardSinceMs, 3000, "hard again without having recovered: same hard time");
  assert.deepEqual(steps[3]!.events, [{ type: "state", from: "soft", to: "ok" }]);
  assert.equal(steps[3]!.next.sinceMs, 4000);
  // recoverAfter 1: the first pass is ok
  const [one] = run(["pass"], hard, { failAfter: 3, recoverAfter: 1 });
  assert.equal(one!.next.state, "ok");
});

test("repeated identical results change nothing but the count", () => {
  const steps = run(["pass", "pass", "pass", "pass"]);
  assert.deepEqual(steps[0]!.events, [{ type: "state", from: "unknown", to: "ok" }]);
  for (const s of steps.slice(1)) assert.deepEqual(s.events, []);
  assert.deepEqual(
    steps.map((s) => [s.next.state, s.next.consecutive, s.next.sinceMs, s.next.flapping]),
    [
      ["ok", 1, 1000, false],
      ["ok", 2, 1000, false],
      ["ok", 3, 1000, false],
      ["ok", 4, 1000, false],
    ],
  );
});

test("flapping: entered at `changes` alternations within the last `window` results, left when they age out", () => {
  // pass fail pass fail: three changes within six results
  const steps = run(["pass", "fail", "pass", "fail", "pass", "pass", "pass", "pass", "pass"]);
  assert.deepEqual(
    steps.map((s) => s.next.flapping),
    [false, false, false, true, true, true, true, false, false],
  );
  assert.deepEqual(steps[3]!.events, [
    { type: "state", from: "ok", to: "soft" },
    { type: "flapping", flapping: true },
  ]);
  // window [f p f p p p] still has 3 changes at the 7th result; [p f p p p p] has 2 at the 8th
  assert.deepEqual(steps[6]!.events, []);
  assert.deepEqual(steps[7]!.events, [{ type: "flapping", flapping: false }]);
  assert.deepEqual(recentList(steps[7]!.next), [false, true, false, false, false, false]);
});

test("flapping windows longer than 30 results are kept as a list, with the same rule", () => {
  const flap = { window: 40, changes: 3 };
  const steps = run(["pass", "fail", "pass", "fail"], initialState(false), T, flap);
  assert.deepEqual(
    steps.map((s) => s.next.flapping),
    [false, false, false, true],
  );
  assert.deepEqual(steps[3]!.next.recent, [false, true, false, true]);
  const long = run(Array<CheckStatus>(45).fill("pass"), steps[3]!.next, T, flap).at(-1)!.next;
  assert.equal((long.recent as boolean[]).length, 40);
  assert.equal(long.flapping, false);
});

test("skip results make a check skipped without touching its flapping history", () => {
  const [first, second] = run(["fail", "skip"]);
  assert.deepEqual(second!.events, [{ type: "state", from: "soft", to: "skipped" }]);
  assert.equal(second!.next.recent, first!.next.recent);
  assert.equal(second!.next.recentLen, 1);
});

test("nextState leaves the previous state as it was", () => {
  const prev = run(["pass", "fail", "pass"], initialState(false), T, { window: 40, changes: 3 }).at(-1)!.next;
  const copy = structuredClone(prev);
  nextState(prev, "fail", T, { window: 40, changes: 3 }, 9000);
  assert.deepEqual(prev, copy);
});

test("historyOf keeps the newest results of a list within a (new) window", () => {
  const list = [true, false, true, true, false];
  assert.deepEqual(historyOf(list, 3), { recent: 0b110, recentLen: 3 });
  assert.deepEqual(recentList(historyOf(list, 3)), [true, true, false]);
  assert.deepEqual(historyOf(list, 31), { recent: list, recentLen: 0 });
});
