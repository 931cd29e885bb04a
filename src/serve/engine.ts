/**
 * The engine of `keel serve`: runs the derived checks continuously, keeps the latest state of
 * every check in memory, writes each result to the store, sends alerts on hard state changes
 * and reloads the inventory. It wires the parts, each in its own module:
 *
 * - `scheduler.ts`: when each check runs (every interval of its kind at a hashed phase, first
 *   runs spread after start). A check never overlaps itself: a run that is still going when its
 *   slot comes makes it skip that slot. Runs go through the verify runner (per-check timeout
 *   `min(timeoutMs, interval)`, errors become `error` results) under one concurrency limit
 *   shared by scheduled runs and `runNow`.
 * - `state.ts`: soft/hard states and flapping, a pure function of the previous state and a result.
 * - `topology.ts`: suppression of the checks of a host whose `reachable` check fails.
 * - `alerts/`: delivery to Alertmanager and webhooks; `source.ts`: loading and reload triggers;
 *   `sink.ts`: store writes; `entry.ts`: what is kept per check; `executor.ts`: running one check.
 *
 * Alerts follow hard states only: a check that turns hard (and is not suppressed) fires; a
 * firing check that is back to `ok`, or that leaves the inventory on reload, is resolved. An
 * alert that was already firing stays firing while its check is suppressed, until it recovers.
 * A child that turns hard while its parent passes does not alert at once when the parent has
 * not run since: the parent runs first (Nagios' on-demand host check), since the child may
 * simply have noticed the outage before its parent's next slot; only if the parent still
 * passes does the child alert. When the parent passes again, a child that is still hard raises
 * its alert with its next failing result from a run started after that (not at once: when a
 * host comes back, its services usually come back with it, and must not alert for having been
 * down with it).
 *
 * Reload: on `reload()`, SIGHUP and (with `watch`) changes of the file. An invalid inventory is
 * rejected: its located problems are kept (`problems()`) and announced as a `reload` event,
 * and the last valid inventory keeps running. A valid one replaces it: checks whose id still
 * exists keep their state and alerts, new ones start `unknown`, removed ones stop (resolving
 * their alerts). The checks are derived once per load.
 */

import { formatProblem, type Problem, UserError } from "../errors.js";
import type { Inventory } from "../inventory/model.js";
import { checkKinds } from "../verify/checks/index.js";
import { deriveChecks } from "../verify/derive.js";
import { buildReport, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS } from "../verify/runner.js";
import type { CheckKindModule, CheckResult, CheckSpec, CheckStatus, Prober } from "../verify/types.js";
import { proberFactory } from "../verify/vantages/index.js";
import { AlertDispatcher, type AlertOptions } from "./alerts/index.js";
import { type Clock, systemClock } from "./clock.js";
import {
  type Entry,
  firstFinite,
  iso,
  machineOf,
  publicState,
  type RunClaim,
  rebuild,
  select,
  setMachine,
  skipResult,
} from "./entry.js";
import { CheckExecutor } from "./executor.js";
import { DEFAULT_STARTUP_SPREAD_MS, firstRun, nextSlot, Scheduler, slotAfterRun } from "./scheduler.js";
import { type ResultSink, StoreWrites } from "./sink.js";
import { InventorySource, type TriggerOptions } from "./source.js";
import { isFailing, nextState } from "./state.js";
import { childrenOf, freshFailure, mustAskParent, parentId, suppressedBy } from "./topology.js";
import type { CheckState, CheckStateView, Engine, EngineEvent, RunSelector } from "./types.js";

export { fnv1a, nextSlot } from "./scheduler.js";
export { parentId } from "./topology.js";

/** A check's latest result as the history store keeps it: when, status and message. */
export interface StoredResult {
  /** When it arrived, epoch ms. */
  atMs: number;
  status: CheckStatus;
  message: string;
}

/** Options of `KeelEngine` / `startEngine`. */
export interface EngineOptions extends TriggerOptions {
  /** The inventory file; reloads read it again. */
  file: string;
  /** The inventory already loaded from `file`; when absent the constructor loads it. */
  inventory?: Inventory;
  /** Where results are written (normally the store); none when absent. */
  store?: ResultSink;
  /**
   * The latest stored result of a check (from the history store): read at start for the checks
   * with their own interval (a weekly restore rehearsal), which then wait for their slot, so the
   * last one is shown after a restart instead of nothing for days. None: not read.
   */
  lastStored?: (checkId: string) => Promise<StoredResult | undefined>;
  clock?: Clock;
  /** Checks in flight at once, scheduled and `runNow` together (default 64). */
  concurrency?: number;
  /** Per-check timeout in ms (default 10,000); a check also never gets longer than its interval. */
  timeoutMs?: number;
  /** First runs after start spread over `min(interval, this)` ms (default 10,000). */
  startupSpreadMs?: number;
  /** Check kind modules (default: every kind of `keel verify`). */
  kinds?: Record<string, CheckKindModule>;
  /** Makes the prober factory of an inventory (default: local and via probers, as `keel verify`). */
  probers?: (inv: Inventory) => (vantage: string) => Prober;
  /** Derives the checks of an inventory, once per load (default `deriveChecks`). */
  derive?: (inv: Inventory) => CheckSpec[];
  /** Options of the alert dispatcher (`site` comes from the inventory); `false`: send no alerts. */
  alerts?: Omit<AlertOptions, "site" | "clock" | "log"> | false;
  /** Log line sink (default: stderr with a `keel serve:` prefix). */
  log?: (line: string) => void;
}

/**
 * The engine (see the module doc). Construct it, then `start()`; `stop()` ends it.
 * `startEngine` does both the way `keel serve` wants.
 */
export class KeelEngine implements Engine {
  private inv: Inventory;
  private problemList: Problem[] = [];
  private entries = new Map<string, Entry>();
  private order: Entry[] = [];
  private children = new Map<string, Entry[]>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly clock: Clock;
  private readonly exec: CheckExecutor;
  private readonly startupSpreadMs: number;
  private readonly makeProbers: (inv: Inventory) => (vantage: string) => Prober;
  private readonly derive: (inv: Inventory) => CheckSpec[];
  private readonly alerts: AlertDispatcher | undefined;
  private readonly log: (line: string) => void;
  private readonly writes: StoreWrites | undefined;
  private readonly scheduler: Scheduler<Entry>;
  private readonly source: InventorySource;
  private stopped = false;
  private reloading: Promise<boolean> | undefined;
  /** When the engine started (ISO 8601). */
  startedAt: string | null = null;
  /** When the inventory was last loaded successfully (ISO 8601). */
  reloadedAt: string;

  /**
   * @throws UserError (located problems) when `opts.inventory` is absent and the file is not a
   *   valid inventory: at start there is no last valid inventory to fall back to.
   */
  constructor(private readonly opts: EngineOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? ((line) => process.stderr.write(`keel serve: ${line}\n`));
    this.startupSpreadMs = opts.startupSpreadMs ?? DEFAULT_STARTUP_SPREAD_MS;
    this.makeProbers = opts.probers ?? proberFactory;
    // serve also runs the on-demand kinds (restore rehearsals), each on its own interval
    this.derive = opts.derive ?? ((inv) => deriveChecks(inv, { onDemand: true }));
    this.writes = opts.store ? new StoreWrites(opts.store, this.log) : undefined;
    this.scheduler = new Scheduler<Entry>({
      clock: this.clock,
      live: (at, e) => e.inflight === undefined && !e.removed && e.nextAt === at,
      free: () => this.exec.free(),
      run: (e, at) => void this.dispatch(e, at),
    });
    this.source = new InventorySource(opts.file, this.clock, this.log);
    this.inv = opts.inventory ?? this.source.load();
    this.reloadedAt = iso(this.clock.now());
    this.exec = new CheckExecutor({
      clock: this.clock,
      concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      kinds: opts.kinds ?? checkKinds,
      probers: this.makeProbers(this.inv),
    });
    this.alerts =
      opts.alerts === false
        ? undefined
        : new AlertDispatcher(this.inv.alerts, {
            ...opts.alerts,
            site: this.inv.site,
            clock: this.clock,
            log: this.log,
          });
    this.install(this.derive(this.inv), new Map());
  }

  // ---- Engine -------------------------------------------------------------------------------

  inventory(): Inventory {
    return this.inv;
  }

  problems(): Problem[] {
    return this.problemList;
  }

  /** Snapshots: later results do not change the objects returned. */
  states(): CheckState[] {
    return this.order.map(publicState);
  }

  forEachState(fn: (state: Readonly<CheckStateView>) => void): void {
    for (const e of this.order) fn(e.state);
  }

  state(id: string): CheckState | undefined {
    const e = this.entries.get(id);
    return e ? publicState(e) : undefined;
  }

  subscribe(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs the selected checks now (a check already running is not started twice: its run's
   * result is returned). Their schedule is unchanged. Resolves with one result per selected
   * check, in derivation order (skipped checks give their `skip` result), once they are applied
   * and, when the store records runs (`ResultSink.saveRun`), stored as one run (`keel verify`'s
   * report shape, `startedAt` = when `runNow` was called). Each result is stored once: those of
   * this run go into the run, not to `saveResults`; a result that a concurrent `runNow` already
   * claimed is returned but recorded in that run. A failed store write is logged.
   * @throws UserError when the selection matches no check.
   */
  async runNow(selector: RunSelector): Promise<CheckResult[]> {
    const { picked, what } = select(this.order, selector);
    const started = new Date(this.clock.now());
    const claim: RunClaim | undefined = this.opts.store?.saveRun ? { results: [] } : undefined;
    const results = await Promise.all(
      picked.map((e) => {
        if (e.spec.skip !== undefined) {
          const r = skipResult(e);
          claim?.results.push(r);
          return Promise.resolve(r);
        }
        if (claim && e.claim === undefined) e.claim = claim;
        return e.inflight ?? this.dispatch(e);
      }),
    );
    if (this.writes && claim && claim.results.length > 0 && !this.stopped) {
      const order = new Map(results.map((r, i) => [r.id, i]));
      claim.results.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
      const report = buildReport(this.opts.file, started, claim.results);
      report.durationMs = Math.max(0, this.clock.now() - started.getTime());
      await this.writes.saveRun(report, what);
    }
    return results;
  }

  // ---- life cycle ---------------------------------------------------------------------------

  /** Starts scheduling (and, per the options, watching the file and SIGHUP). Idempotent. */
  start(): void {
    if (this.scheduler.running || this.stopped) return;
    const now = this.clock.now();
    this.startedAt = iso(now);
    for (const e of this.order) {
      if (e.spec.skip !== undefined) continue;
      this.setNext(e, this.firstSlot(e.spec, now, e.sched.intervalMs, e.phaseMs));
    }
    if (this.opts.lastStored) this.exec.track(this.seedFromStore(this.opts.lastStored));
    this.source.start(this.opts, () => void this.reload());
    this.scheduler.start();
  }

  /**
   * Stops: no new runs, no more reloads; waits for checks in flight and store writes, then
   * closes the probers and the alert dispatcher (firing alerts are left firing: Alertmanager
   * resolves them by their `endsAt` if nothing else comes). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.scheduler.stop();
    this.source.stop();
    await this.reloading?.catch(() => undefined);
    await this.idle();
    await this.exec.close();
    await this.alerts?.close();
  }

  /** Resolves when no check is in flight and every store write has settled. */
  async idle(): Promise<void> {
    for (;;) {
      const writes = this.writes?.pending() ?? [];
      const runs = this.exec.pending();
      if (runs.length === 0 && writes.length === 0) return;
      await Promise.allSettled([...runs, ...writes]);
    }
  }

  /**
   * Shows, for each check with its own interval that has no result yet, its latest stored result
   * (status, message, time) as its last run: the state machine, alerts and the store are left
   * alone (the result is history, not news). A read that fails is logged and skipped.
   */
  private async seedFromStore(read: (checkId: string) => Promise<StoredResult | undefined>): Promise<void> {
    for (const e of this.order) {
      if (e.spec.intervalMs === undefined || e.spec.skip !== undefined) continue;
      let last: StoredResult | undefined;
      try {
        last = await read(e.spec.id);
      } catch (err) {
        this.log(
          `cannot read the last stored result of ${e.spec.id}: ${err instanceof Error ? err.message : String(err)}`,
        );
        continue;
      }
      // a result that came in meanwhile is newer
      if (!last || !Number.isNaN(e.lastRunMs) || e.removed) continue;
      e.state.status = last.status;
      e.state.message = last.message;
      e.lastRunMs = last.atMs;
    }
  }

  /** The alert dispatcher (for tests and `/metrics`), if alerts are on. */
  alertDispatcher(): AlertDispatcher | undefined {
    return this.alerts;
  }

  // ---- reload -------------------------------------------------------------------------------

  /**
   * Reads the file again. Valid: the new inventory replaces the old one (see the module doc)
   * and `problems()` empties. Invalid: the old one keeps running and `problems()` holds the
   * located problems. Emits a `reload` event either way; an unchanged file is a no-op.
   * @returns true when the file on disk is now the inventory being served.
   */
  reload(): Promise<boolean> {
    const run = (this.reloading ?? Promise.resolve(true)).then(() => this.reloadNow());
    this.reloading = run;
    void run.finally(() => {
      if (this.reloading === run) this.reloading = undefined;
    });
    return run;
  }

  /** Never rejects: an unexpected error is reported like an invalid inventory. */
  private async reloadNow(): Promise<boolean> {
    if (this.stopped) return false;
    let inv: Inventory;
    let specs: CheckSpec[];
    try {
      if (this.problemList.length === 0 && this.source.unchanged()) return true;
      inv = this.source.load();
      specs = this.derive(inv);
    } catch (err) {
      const e =
        err instanceof UserError
          ? err
          : new UserError(`${this.opts.file}: cannot be loaded: ${(err as Error).message ?? String(err)}`);
      this.source.forget();
      this.problemList = e.problems;
      this.log(
        `${this.opts.file} was not reloaded, the last valid inventory keeps running:\n${e.problems.map(formatProblem).join("\n")}`,
      );
      this.emit({ type: "reload", ok: false, problems: e.problems });
      return false;
    }
    this.problemList = [];
    const old = this.entries;
    this.inv = inv;
    this.reloadedAt = iso(this.clock.now());
    this.exec.swapProbers(this.makeProbers(inv));
    this.alerts?.update(inv.alerts, inv.site);
    this.install(specs, old);
    this.log(`${this.opts.file} reloaded: ${this.order.length} checks`);
    this.emit({ type: "reload", ok: true, problems: [] });
    this.scheduler.arm();
    return true;
  }

  // ---- checks and states --------------------------------------------------------------------

  /**
   * When a check first runs after start (or after it appears in a reload): within the startup
   * spread, so states fill in quickly; but a check with its own interval (a stanza's
   * `pgbackrest check`, a weekly restore rehearsal) waits for its slot, like a Prometheus scrape
   * at its offset or a cron job, so restarting serve never restores a backup again.
   */
  private firstSlot(spec: CheckSpec, now: number, intervalMs: number, phaseMs: number): number {
    if (spec.intervalMs !== undefined) return nextSlot(now, intervalMs, phaseMs);
    return firstRun(spec.id, now, intervalMs, this.startupSpreadMs);
  }

  /** Builds the entries of `specs`, carrying over the state of those in `old` with the same id. */
  private install(specs: CheckSpec[], old: Map<string, Entry>): void {
    const now = this.clock.now();
    const running = this.scheduler.running;
    const next = rebuild(specs, old, this.inv, (spec, sched, phaseMs, prev) => {
      if (prev === undefined) {
        if (running && spec.skip === undefined) return this.firstSlot(spec, now, sched.intervalMs, phaseMs);
      } else if (spec.skip === undefined && prev.sched.intervalMs !== sched.intervalMs) {
        if (running && prev.inflight === undefined) return nextSlot(now, sched.intervalMs, phaseMs);
      }
      return undefined;
    });
    for (const [e, at] of next.schedule) this.setNext(e, at);
    for (const e of next.dropped) this.drop(e);
    this.entries = next.entries;
    this.order = next.order;
    this.children = childrenOf(next.order, next.entries);
    // suppression may have changed with the topology
    for (const e of next.order) this.updateSuppression(e, false);
  }

  /** A check left the inventory: its run is dropped, its alert resolved. */
  private drop(e: Entry): void {
    e.removed = true;
    if (e.alerting) {
      e.alerting = false;
      this.alerts?.resolve({ ...publicState(e), message: `${e.state.id} was removed from the inventory` });
    }
  }

  /** Sets when `e` runs next and queues it (the queue keeps stale items; the scheduler skips them). */
  private setNext(e: Entry, at: number): void {
    e.nextAt = at;
    this.scheduler.push(at, e);
  }

  /**
   * Runs one check (under the shared limit) and applies its result. `started`: when it was due
   * (epoch ms; its next slot is counted from there), now by default.
   */
  private dispatch(e: Entry, started = this.clock.now()): Promise<CheckResult> {
    const run = this.exec
      .run(e.spec, e.sched.intervalMs, () => {
        e.runStartedAt = this.clock.now();
      })
      .then(
        (result) => {
          e.inflight = undefined;
          if (!e.removed && !this.stopped) {
            this.reschedule(e, started); // first, so the events carry the next run
            this.apply(e, result);
          } else e.claim = undefined;
          this.settled();
          return result;
        },
        (err: unknown) => {
          // the runner turns check failures into results; this is a bug, not a check outcome
          e.inflight = undefined;
          e.claim = undefined;
          this.log(`running ${e.spec.id} failed unexpectedly: ${(err as Error).message}`);
          if (!e.removed && !this.stopped) this.reschedule(e, started);
          this.settled();
          throw err;
        },
      );
    e.inflight = run;
    this.exec.track(run);
    return run;
  }

  /** A run settled: its slot is free for the next due check. */
  private settled(): void {
    this.exec.settled();
    this.scheduler.slotFreed();
  }

  /** Sets the next run of `e` after a run that started at `started` (epoch ms). */
  private reschedule(e: Entry, started: number): void {
    this.setNext(e, slotAfterRun(started, this.clock.now(), e.sched.intervalMs, e.phaseMs));
    // the timer is armed for the earliest idle check; only an earlier one needs re-arming
    this.scheduler.armIfEarlier(e.nextAt);
  }

  /** Applies a result: state machine, flapping, suppression, events, store, alerts. */
  private apply(e: Entry, r: CheckResult): void {
    const now = this.clock.now();
    const s = e.state;
    const prevStatus = s.status;
    const { next, events } = nextState(machineOf(e), r.status, e.sched, this.inv.serve.flapping, now);
    const from = s.state;
    setMachine(e, next);
    s.message = r.message;
    s.durationMs = r.durationMs;
    if (r.observed !== undefined) s.observed = r.observed;
    else delete s.observed;
    e.lastRunMs = now;

    const wasSuppressed = s.suppressedBy;
    this.setSuppressed(e);

    if (this.listeners.size > 0) {
      const copy = publicState(e);
      this.emit({ type: "result", result: r, state: copy });
      if (events.length > 0 || wasSuppressed !== s.suppressedBy)
        this.emit({ type: "state", state: { ...copy }, from });
    }
    const claim = e.claim;
    e.claim = undefined;
    if (claim) claim.results.push(r);
    else if (this.writes && r.status !== "skip") this.writes.saveResult(r, now);
    this.reconcileAlert(e, freshFailure(s.status, e.runStartedAt, e.parentRecoveredAt));

    // a parent whose failing changed re-decides its children
    const failing = isFailing(r.status);
    if (e.spec.kind === "reachable" && (prevStatus === null || isFailing(prevStatus) !== failing)) {
      for (const child of this.children.get(e.spec.id) ?? []) {
        if (!failing && prevStatus !== null) child.parentRecoveredAt = now;
        this.updateSuppression(child, true);
      }
    }
  }

  /** The parent entry of `e` in the topology, if it is in the inventory. */
  private parentOf(e: Entry): Entry | undefined {
    const pid = parentId(e.spec);
    return pid !== undefined ? this.entries.get(pid) : undefined;
  }

  /** Sets `suppressedBy` from the parent's latest result; true when it changed. */
  private setSuppressed(e: Entry): boolean {
    const parent = this.parentOf(e);
    const by = suppressedBy(parentId(e.spec), parent && { spec: parent.spec, status: parent.state.status });
    const before = e.state.suppressedBy;
    if (by !== undefined) e.state.suppressedBy = by;
    else delete e.state.suppressedBy;
    return before !== e.state.suppressedBy;
  }

  /** Re-decides `suppressedBy` after the parent's result; alerts wait for the child's own next result. */
  private updateSuppression(e: Entry, announce: boolean): void {
    if (!this.setSuppressed(e)) return;
    if (announce && this.listeners.size > 0)
      this.emit({ type: "state", state: publicState(e), from: e.state.state });
  }

  /**
   * Fires or resolves the check's alert to match its state (see the module doc). Only a
   * failing result of the check itself (`failed`) may fire: a child whose parent recovered
   * alerts when it fails again, not because the parent came back.
   */
  private reconcileAlert(e: Entry, failed: boolean): void {
    const s = e.state;
    if (!e.alerting) {
      if (!failed || s.state !== "hard" || s.suppressedBy !== undefined || e.removed || this.stopped) return;
      // Before a child alerts, its parent runs once more (Nagios' on-demand host check): the
      // child may have noticed the outage first, its parent's latest result being older.
      const parent = this.parentOf(e);
      if (parent && mustAskParent(parent, e.hardSinceMs, e.parentAskedFor)) {
        e.parentAskedFor = e.hardSinceMs;
        const again = () =>
          this.reconcileAlert(e, freshFailure(e.state.status, e.runStartedAt, e.parentRecoveredAt));
        const asked = (parent.inflight ?? this.dispatch(parent)).then(again, again);
        this.exec.track(asked);
        return;
      }
      e.alerting = true;
      this.alerts?.fire(publicState(e), iso(firstFinite(e.hardSinceMs, e.sinceMs, this.clock.now())));
      return;
    }
    if (s.state === "ok") {
      e.alerting = false;
      this.alerts?.resolve(publicState(e));
    } else this.alerts?.fire(publicState(e), iso(firstFinite(e.hardSinceMs, this.clock.now())));
  }

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log(`an event listener failed: ${(err as Error).message}`);
      }
    }
  }
}
