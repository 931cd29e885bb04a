/**
 * The state machine of one check in `keel serve`, as a pure function of the previous state and
 * a new result: what the engine computes each time a result arrives.
 *
 * States (Nagios/Icinga: `max_check_attempts`, soft and hard states; thresholds per kind from
 * `serve.checks`): a failing result (fail or error) of a check that is `ok` makes it `soft`;
 * `failAfter` failing results in a row make it `hard`. A passing result of a soft-failing check
 * makes it `ok` at once (no alert was raised); a hard check needs `recoverAfter` passes in a
 * row (until then it is `soft` again, and its alert stays firing), and one failure on the way
 * makes it `hard` again. A `skip` result makes it `skipped`.
 *
 * Flapping (Nagios' flap detection, simplified): a check is flapping while its last `window`
 * results (passing vs failing) changed `changes` times or more.
 */
import type { CheckStatus } from "../verify/types.js";
import type { HardState } from "./types.js";

/** Per-kind thresholds of `serve.checks` (`CheckSchedule` of the inventory fits). */
export interface Thresholds {
  /** Failing results in a row that make a check hard. */
  failAfter: number;
  /** Passing results in a row that bring a hard check back to ok. */
  recoverAfter: number;
}

/** `serve.flapping` of the inventory: flapping while the last `window` results changed `changes` times or more. */
export interface FlapSettings {
  window: number;
  changes: number;
}

/**
 * What the state machine knows of one check. The engine keeps these fields flat on each check
 * (and lends `state`, `status`, `consecutive` and `flapping` to the API as they are).
 */
export interface MachineState {
  state: HardState;
  /** Latest result's status; null before the first result. */
  status: CheckStatus | null;
  /** Results in a row with the current status (fail and error count together). */
  consecutive: number;
  flapping: boolean;
  /** When `state` last changed, epoch ms; NaN before the first result. */
  sinceMs: number;
  /** Turned hard and not yet back to ok. */
  hardFailing: boolean;
  /** When the state last turned hard, epoch ms; NaN when it never did. */
  hardSinceMs: number;
  /**
   * The latest results as failing (1) or passing (0), at most `window`: bits of a number, the
   * newest in bit 0, for windows up to {@link BITS_WINDOW} (a boolean array per check was ~9 MB
   * for 50,000 checks); an array, oldest first, for longer windows.
   */
  recent: number | boolean[];
  /** How many results `recent` holds when it is a number. */
  recentLen: number;
}

/** What changed with one result; none when the result changed neither state nor flapping. */
export type TransitionEvent =
  | { type: "state"; from: HardState; to: HardState }
  | { type: "flapping"; flapping: boolean };

/** Longest flapping window kept as the bits of a number (a small integer: 31 bits at most). */
const BITS_WINDOW = 30;

/** True for the statuses that count as failing: `fail` and `error`. */
export function isFailing(status: CheckStatus | null): boolean {
  return status === "fail" || status === "error";
}

/** The state of a check before its first result: `unknown`, or `skipped` for a derivation skip. */
export function initialState(skipped: boolean): MachineState {
  return {
    state: skipped ? "skipped" : "unknown",
    status: skipped ? "skip" : null,
    consecutive: 0,
    flapping: false,
    sinceMs: Number.NaN,
    hardFailing: false,
    hardSinceMs: Number.NaN,
    recent: 0,
    recentLen: 0,
  };
}

/** The latest results of a history as failing (true) or passing (false), oldest first. */
export function recentList(h: Pick<MachineState, "recent" | "recentLen">): boolean[] {
  if (typeof h.recent !== "number") return h.recent.slice();
  const out: boolean[] = [];
  for (let i = h.recentLen - 1; i >= 0; i--) out.push(((h.recent >>> i) & 1) === 1);
  return out;
}

/**
 * A history holding `list` (oldest first) in the form `window` calls for: the last `window`
 * of them (used when a reload changes the window).
 */
export function historyOf(
  list: readonly boolean[],
  window: number,
): Pick<MachineState, "recent" | "recentLen"> {
  const kept = list.slice(Math.max(0, list.length - window));
  if (window > BITS_WINDOW) return { recent: kept, recentLen: 0 };
  let bits = 0;
  for (const failing of kept) bits = (bits << 1) | (failing ? 1 : 0);
  return { recent: bits, recentLen: kept.length };
}

/**
 * The history with the latest result added (the oldest dropped beyond `window`) and how often
 * passing and failing alternate within it.
 */
function pushHistory(
  h: Pick<MachineState, "recent" | "recentLen">,
  failing: boolean,
  window: number,
): { recent: number | boolean[]; recentLen: number; changes: number } {
  if (typeof h.recent !== "number" || window > BITS_WINDOW) {
    const list = recentList(h);
    list.push(failing);
    if (list.length > window) list.splice(0, list.length - window);
    let changes = 0;
    for (let i = 1; i < list.length; i++) if (list[i] !== list[i - 1]) changes++;
    return { ...historyOf(list, window), changes };
  }
  const len = Math.min(h.recentLen + 1, window);
  const bits = ((h.recent << 1) | (failing ? 1 : 0)) & ((1 << window) - 1);
  // bit i and bit i+1 differ, for each pair of neighbours among the `len` latest
  let diff = (bits ^ (bits >>> 1)) & ((1 << (len - 1)) - 1);
  let changes = 0;
  while (diff !== 0) {
    diff &= diff - 1;
    changes++;
  }
  return { recent: bits, recentLen: len, changes };
}

/**
 * The next state of a check after a result with `status` arrived at `now` (epoch ms), and what
 * changed (see the module doc). Pure: `prev` is not modified.
 */
export function nextState(
  prev: Readonly<MachineState>,
  status: CheckStatus,
  thresholds: Thresholds,
  flap: FlapSettings,
  now: number,
): { next: MachineState; events: TransitionEvent[] } {
  const failing = isFailing(status);
  const from = prev.state;
  // consecutive results with the same status (fail and error together)
  const same = prev.status !== null && prev.status !== "skip" && isFailing(prev.status) === failing;
  const consecutive = same ? prev.consecutive + 1 : 1;

  let to: HardState;
  if (status === "skip") to = "skipped";
  else if (failing) to = prev.hardFailing || consecutive >= thresholds.failAfter ? "hard" : "soft";
  else if (prev.hardFailing) to = consecutive >= thresholds.recoverAfter ? "ok" : "soft";
  else to = "ok";

  const next: MachineState = { ...prev, state: to, status, consecutive };
  if (to === "hard" && !prev.hardFailing) {
    next.hardFailing = true;
    next.hardSinceMs = now;
  }
  if (to === "ok") next.hardFailing = false;
  if (to !== from || Number.isNaN(prev.sinceMs)) next.sinceMs = now;

  if (status !== "skip") {
    const h = pushHistory(prev, failing, flap.window);
    next.recent = h.recent;
    next.recentLen = h.recentLen;
    next.flapping = h.changes >= flap.changes;
  }

  const events: TransitionEvent[] = [];
  if (to !== from) events.push({ type: "state", from, to });
  if (next.flapping !== prev.flapping) events.push({ type: "flapping", flapping: next.flapping });
  return { next, events };
}
