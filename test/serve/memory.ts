/**
 * Test fixtures for the API: a small in-memory Engine (checks derived from the inventory, states
 * updated by the results it is fed, Nagios-style soft/hard with `failAfter`/`recoverAfter`) and an
 * in-memory ApiStore. Not product code: the real engine is src/serve/engine.ts.
 */

import picomatch from "picomatch";
import type { Problem } from "../../src/errors.js";
import { UserError } from "../../src/errors.js";
import type { Inventory } from "../../src/inventory/model.js";
import type { ApiStore } from "../../src/serve/api.js";
import type { CheckState, Engine, EngineEvent, HardState, RunSelector } from "../../src/serve/types.js";
import type { HistoryPoint, Run, StateChange } from "../../src/store/types.js";
import { deriveChecks } from "../../src/verify/derive.js";
import type { CheckOutcome, CheckResult, CheckSpec } from "../../src/verify/types.js";

export type Outcome = (spec: CheckSpec) => CheckOutcome & { durationMs?: number };

export class MemoryEngine implements Engine {
  private inv: Inventory;
  private specs: CheckSpec[] = [];
  private byId = new Map<string, CheckState>();
  private list: CheckState[] = [];
  private listeners = new Set<(e: EngineEvent) => void>();
  private probs: Problem[] = [];
  /** What `runNow` answers for each spec (default: pass). */
  outcome: Outcome = () => ({ status: "pass", message: "ok" });
  readonly store = new MemoryStore();

  constructor(inv: Inventory, specs?: CheckSpec[]) {
    this.inv = inv;
    this.load(specs ?? deriveChecks(inv));
  }

  private load(specs: CheckSpec[]): void {
    this.specs = specs;
    this.list = specs.map((s) => ({
      id: s.id,
      kind: s.kind,
      host: s.host,
      ...(s.service ? { service: s.service } : {}),
      vantage: s.vantage,
      status: null,
      message: "",
      durationMs: 0,
      state: s.skip ? "skipped" : "unknown",
      consecutive: 0,
      since: null,
      lastRunAt: null,
      nextRunAt: null,
      flapping: false,
    }));
    this.byId = new Map(this.list.map((s) => [s.id, s]));
  }

  inventory(): Inventory {
    return this.inv;
  }
  problems(): Problem[] {
    return this.probs;
  }
  states(): CheckState[] {
    return this.list;
  }
  forEachState(fn: (state: Readonly<CheckState>) => void): void {
    for (const s of this.list) fn(s);
  }
  state(id: string): CheckState | undefined {
    return this.byId.get(id);
  }
  subscribe(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
  private emit(e: EngineEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** Replaces the inventory (a successful reload) or records problems (a rejected one). */
  reload(next: Inventory | Problem[]): void {
    if (Array.isArray(next)) {
      this.probs = next;
      this.emit({ type: "reload", ok: false, problems: next });
      return;
    }
    this.inv = next;
    this.probs = [];
    this.load(deriveChecks(next));
    this.emit({ type: "reload", ok: true, problems: [] });
  }

  /** Feeds one result and updates the check's state (soft until failAfter, recovered after recoverAfter). */
  feed(result: CheckResult, at = new Date()): CheckState {
    const s = this.byId.get(result.id);
    if (!s) throw new Error(`no check ${result.id}`);
    const bad = (x: string | null) => x === "fail" || x === "error";
    s.consecutive = s.status !== null && bad(s.status) === bad(result.status) ? s.consecutive + 1 : 1;
    const sched = this.inv.serve.checks[s.kind] ?? { failAfter: 3, recoverAfter: 2 };
    const from = s.state;
    let to: HardState;
    if (result.status === "skip") to = "skipped";
    else if (bad(result.status)) to = s.consecutive >= sched.failAfter ? "hard" : "soft";
    else if (from === "hard" || (from === "soft" && !bad(s.status)))
      to = s.consecutive >= sched.recoverAfter ? "ok" : "soft"; // recovering from hard
    else to = "ok";
    s.status = result.status;
    s.message = result.message;
    if (result.observed) s.observed = result.observed;
    else delete s.observed;
    s.durationMs = result.durationMs;
    s.lastRunAt = at.toISOString();
    if (to !== from) s.since = at.toISOString();
    s.state = to;
    this.store.add(result, at);
    this.emit({ type: "result", result, state: s });
    if (to !== from) this.emit({ type: "state", state: s, from });
    return s;
  }

  async runNow(selector: RunSelector): Promise<CheckResult[]> {
    let chosen: CheckSpec[];
    if ("all" in selector) chosen = this.specs;
    else if ("host" in selector) chosen = this.specs.filter((s) => s.host === selector.host);
    else {
      const m = picomatch(selector.glob, { bash: true });
      chosen = this.specs.filter((s) => m(s.id));
    }
    if (chosen.length === 0) throw new UserError(`no check matches ${JSON.stringify(selector)}`);
    const started = new Date();
    const results = chosen.map((spec) => {
      const o = spec.skip ? { status: "skip" as const, message: spec.skip } : this.outcome(spec);
      const r: CheckResult = {
        id: spec.id,
        kind: spec.kind,
        host: spec.host,
        ...(spec.service ? { service: spec.service } : {}),
        vantage: spec.vantage,
        status: o.status,
        message: o.message,
        ...(o.observed ? { observed: o.observed } : {}),
        durationMs: ("durationMs" in o ? o.durationMs : undefined) ?? 5,
      };
      this.feed(r);
      return r;
    });
    this.store.addRun(started, results);
    return results;
  }
}

type Point = HistoryPoint;
type Change = StateChange;
type StoredRun = Run;

/** The store's shapes (src/store/types.ts) with one span per result; skips are not stored. */
export class MemoryStore implements ApiStore {
  private points = new Map<string, Point[]>();
  private changes = new Map<string, Change[]>();
  private runList: StoredRun[] = [];

  add(r: CheckResult, at: Date): void {
    if (r.status === "skip") return;
    const list = this.points.get(r.id) ?? [];
    const prev = list.at(-1);
    const iso = at.toISOString();
    list.push({
      at: iso,
      until: iso,
      status: r.status,
      message: r.message,
      count: 1,
      durationMs: r.durationMs,
      minMs: r.durationMs,
      maxMs: r.durationMs,
      runId: null,
    });
    this.points.set(r.id, list);
    if (prev?.status !== r.status) {
      const c = this.changes.get(r.id) ?? [];
      c.push({
        checkId: r.id,
        at: iso,
        runId: null,
        from: prev?.status ?? null,
        to: r.status,
        message: r.message,
      });
      this.changes.set(r.id, c);
    }
  }

  addRun(started: Date, results: CheckResult[]): void {
    const summary = { pass: 0, fail: 0, error: 0, skip: 0 };
    for (const r of results) summary[r.status]++;
    this.runList.unshift({
      id: this.runList.length + 1,
      startedAt: started.toISOString(),
      durationMs: Date.now() - started.getTime(),
      inventory: "keel.yaml",
      summary,
    });
  }

  async history(id: string, q: { sinceMs?: number; untilMs?: number; limit?: number } = {}) {
    const limit = q.limit ?? 1000;
    const within = (at: string) =>
      (q.sinceMs === undefined || Date.parse(at) >= q.sinceMs) &&
      (q.untilMs === undefined || Date.parse(at) <= q.untilMs);
    return {
      checkId: id,
      points: (this.points.get(id) ?? []).filter((p) => within(p.at)).slice(-limit),
      buckets: [],
      changes: (this.changes.get(id) ?? []).filter((c) => within(c.at)).slice(-limit),
    };
  }

  async runs(limit = 50): Promise<StoredRun[]> {
    return this.runList.slice(0, limit);
  }
}
