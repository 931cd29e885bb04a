/**
 * What the engine of `keel serve` keeps per check (`Entry`), and the pure helpers around it: a
 * new entry, its state machine's fields in and out (`state.ts`), the copy that leaves the engine
 * (`publicState`), the result of a derivation skip and the checks a `runNow` selects.
 */
import picomatch from "picomatch";
import { UserError } from "../errors.js";
import type { CheckSchedule, Inventory } from "../inventory/model.js";
import type { CheckResult, CheckSpec } from "../verify/types.js";
import { phaseOf, scheduleOf } from "./scheduler.js";
import { historyOf, initialState, type MachineState, recentList } from "./state.js";
import type { CheckState, CheckStateView, RunSelector } from "./types.js";

/** The results one `runNow` records as its stored run. */
export interface RunClaim {
  results: CheckResult[];
}

/** One check in the engine: its spec, schedule, state and run bookkeeping. */
export interface Entry {
  spec: CheckSpec;
  sched: CheckSchedule;
  /** The state without its times (kept below as epoch ms; `publicState` writes them out). */
  state: CheckStateView;
  /** When `state.state` last changed, epoch ms; NaN before the first result. */
  sinceMs: number;
  /** When the latest result arrived, epoch ms; NaN before the first result. */
  lastRunMs: number;
  /** Offset of the check's slots inside its interval, ms. */
  phaseMs: number;
  /** The flapping history (`MachineState.recent`). */
  recent: number | boolean[];
  /** How many results `recent` holds when it is a number. */
  recentLen: number;
  /** Turned hard and not yet back to ok. */
  hardFailing: boolean;
  /** When the state last turned hard, epoch ms; NaN when it never did. */
  hardSinceMs: number;
  /** Its alert is firing. */
  alerting: boolean;
  /** The `hardSinceMs` for which the parent was asked before alerting (Nagios' on-demand host check); NaN: none. */
  parentAskedFor: number;
  /** When the latest run started (epoch ms; after waiting for a concurrency slot). */
  runStartedAt: number;
  /** When the parent last passed after failing (epoch ms): runs started before saw the outage. */
  parentRecoveredAt: number;
  /** Next scheduled run, epoch ms (Infinity: never). */
  nextAt: number;
  inflight: Promise<CheckResult> | undefined;
  /** Set when a reload removed the check: a result still coming is dropped. */
  removed: boolean;
  /** The `runNow` run that records this check's next result (instead of `saveResults`). */
  claim: RunClaim | undefined;
}

/** A new entry for `spec`: `unknown` (or `skipped` for a derivation skip), not scheduled. */
function newEntry(spec: CheckSpec, sched: CheckSchedule, phaseMs: number): Entry {
  const skipped = spec.skip !== undefined;
  const m = initialState(skipped);
  const state: CheckStateView = {
    id: spec.id,
    kind: spec.kind,
    host: spec.host,
    status: m.status,
    message: skipped ? spec.skip! : "not run yet",
    durationMs: 0,
    state: m.state,
    consecutive: m.consecutive,
    flapping: m.flapping,
  };
  if (spec.service !== undefined) state.service = spec.service;
  if (spec.vantage && spec.id.includes("@")) state.vantage = spec.vantage;
  return {
    spec,
    sched,
    state,
    sinceMs: m.sinceMs,
    lastRunMs: Number.NaN,
    phaseMs,
    recent: m.recent,
    recentLen: m.recentLen,
    hardFailing: m.hardFailing,
    hardSinceMs: m.hardSinceMs,
    alerting: false,
    parentAskedFor: Number.NaN,
    runStartedAt: 0,
    parentRecoveredAt: Number.NEGATIVE_INFINITY,
    nextAt: Number.POSITIVE_INFINITY,
    inflight: undefined,
    removed: false,
    claim: undefined,
  };
}

/** The state machine's view of `e` (a copy). */
export function machineOf(e: Entry): MachineState {
  const s = e.state;
  return {
    state: s.state,
    status: s.status,
    consecutive: s.consecutive,
    flapping: s.flapping,
    sinceMs: e.sinceMs,
    hardFailing: e.hardFailing,
    hardSinceMs: e.hardSinceMs,
    recent: e.recent,
    recentLen: e.recentLen,
  };
}

/** Writes the state machine's fields `m` into `e`. */
export function setMachine(e: Entry, m: MachineState): void {
  const s = e.state;
  s.state = m.state;
  s.status = m.status;
  s.consecutive = m.consecutive;
  s.flapping = m.flapping;
  e.sinceMs = m.sinceMs;
  e.hardFailing = m.hardFailing;
  e.hardSinceMs = m.hardSinceMs;
  e.recent = m.recent;
  e.recentLen = m.recentLen;
}

/** `ms` (epoch) as ISO 8601. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The first of `times` that is a finite number (epoch ms). */
export function firstFinite(...times: number[]): number {
  return times.find(Number.isFinite) ?? Number.NaN;
}

/** `ms` as ISO 8601, or null when it is NaN or infinite (not set). */
function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? iso(ms) : null;
}

/** A copy of `e`'s state with its times as ISO 8601: what leaves the engine. */
export function publicState(e: Entry): CheckState {
  return {
    ...e.state,
    since: isoOrNull(e.sinceMs),
    lastRunAt: isoOrNull(e.lastRunMs),
    nextRunAt: isoOrNull(e.nextAt),
  };
}

/** The result a derivation skip gives in a `runNow`. */
export function skipResult(e: Entry): CheckResult {
  const r: CheckResult = {
    id: e.spec.id,
    kind: e.spec.kind,
    host: e.spec.host,
    status: "skip",
    message: e.spec.skip ?? "",
    durationMs: 0,
  };
  if (e.spec.service !== undefined) r.service = e.spec.service;
  if (e.state.vantage !== undefined) r.vantage = e.state.vantage;
  return r;
}

/**
 * The entries `selector` picks from `order` (in its order) and how to name the selection in
 * messages. @throws UserError when it picks none.
 */
export function select(
  order: readonly Entry[],
  selector: RunSelector,
): { picked: readonly Entry[]; what: string } {
  let picked: readonly Entry[];
  let what: string;
  if ("all" in selector) {
    picked = order;
    what = "all";
  } else if ("host" in selector) {
    picked = order.filter((e) => e.spec.host === selector.host);
    what = `host "${selector.host}"`;
  } else {
    const match = picomatch(selector.glob, { bash: true });
    picked = order.filter((e) => match(e.spec.id));
    what = `glob "${selector.glob}"`;
  }
  if (picked.length === 0) throw new UserError(`no check matches ${what}; GET /api/checks lists every id`);
  return { picked, what };
}

/**
 * The schedule of one check: its kind's (`kindSchedule`), with the interval and `failAfter` the
 * check declares for itself (`spec.intervalMs`, `spec.failAfter`) in their place.
 */
export function specSchedule(spec: CheckSpec, kindSchedule: CheckSchedule): CheckSchedule {
  if (spec.intervalMs === undefined && spec.failAfter === undefined) return kindSchedule;
  return {
    ...kindSchedule,
    ...(spec.intervalMs !== undefined ? { intervalMs: spec.intervalMs } : {}),
    ...(spec.failAfter !== undefined ? { failAfter: spec.failAfter } : {}),
  };
}

/** The entries of a (re)load (see `rebuild`). */
export interface Rebuilt {
  /** By check id, and in derivation order. */
  entries: Map<string, Entry>;
  order: Entry[];
  /** Entries to (re)schedule, with when (epoch ms). */
  schedule: [Entry, number][];
  /** Entries of `old` that are gone (or changed between skipped and run): to drop. */
  dropped: Entry[];
}

/**
 * The entries of `specs` for inventory `inv`: an entry of `old` with the same id (and the same
 * skipped-or-not) is kept with its state, taking the new spec, schedule, phase and flapping
 * window; others are new. `when(spec, sched, phaseMs, prev)` says when to run a check next
 * (epoch ms; undefined: leave it as it is); `prev` is the kept entry before it takes the new
 * schedule, undefined for a new one.
 */
export function rebuild(
  specs: readonly CheckSpec[],
  old: ReadonlyMap<string, Entry>,
  inv: Inventory,
  when: (
    spec: CheckSpec,
    sched: CheckSchedule,
    phaseMs: number,
    prev: Entry | undefined,
  ) => number | undefined,
): Rebuilt {
  const window = inv.serve.flapping.window;
  const out: Rebuilt = { entries: new Map(), order: [], schedule: [], dropped: [] };
  for (const spec of specs) {
    const sched = specSchedule(spec, scheduleOf(inv, spec.kind));
    const phaseMs = phaseOf(spec.id, sched.intervalMs);
    const prev = old.get(spec.id);
    let e: Entry;
    let at: number | undefined;
    if (prev && !prev.removed && (prev.spec.skip === undefined) === (spec.skip === undefined)) {
      e = prev;
      at = when(spec, sched, phaseMs, prev);
      e.spec = spec;
      e.sched = sched;
      e.phaseMs = phaseMs;
      if (spec.skip !== undefined) e.state.message = spec.skip;
      Object.assign(e, historyOf(recentList(e), window));
    } else {
      e = newEntry(spec, sched, phaseMs);
      at = when(spec, sched, phaseMs, undefined);
      if (prev) out.dropped.push(prev);
    }
    if (at !== undefined) out.schedule.push([e, at]);
    out.entries.set(spec.id, e);
    out.order.push(e);
  }
  for (const [id, prev] of old) if (!out.entries.has(id)) out.dropped.push(prev);
  return out;
}
