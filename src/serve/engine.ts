/**
 * The engine of `keel serve`: runs the derived checks continuously, keeps the latest state of
 * every check in memory (soft/hard states, flapping, topology suppression), writes each result
 * to the store, sends alerts on hard state changes and reloads the inventory.
 *
 * Scheduling (Prometheus' way of spreading scrapes): each check runs every `interval` of its
 * kind, at a fixed phase inside the interval derived from a hash of its id (FNV-1a), so the
 * probes of a site spread evenly over the interval and keep their slots across restarts. The
 * first run after start comes within `min(interval, startupSpreadMs)`, at the same hashed
 * fraction, so the dashboard fills quickly without a burst. A check never overlaps itself: a
 * run that is still going when its slot comes makes it skip that slot. Runs go through the
 * verify runner (per-check timeout `min(timeoutMs, interval)`, errors become `error` results)
 * under one concurrency limit shared by scheduled runs and `runNow`.
 *
 * States (Nagios/Icinga: `max_check_attempts`, soft and hard states; thresholds per kind from
 * `serve.checks`): a failing result (fail or error) of a check that is `ok` makes it `soft`;
 * `failAfter` failing results in a row make it `hard`. A passing result of a soft-failing check
 * makes it `ok` at once (no alert was raised); a hard check needs `recoverAfter` passes in a
 * row (until then it is `soft` again, and its alert stays firing), and one failure on the way
 * makes it `hard` again. `skip` specs (derivation skips) are `skipped` and never run.
 *
 * Flapping (Nagios' flap detection, simplified): a check is flapping while its last `window`
 * results (passing vs failing) changed `changes` times or more.
 *
 * Topology suppression: a host's `reachable` check from vantage V is the parent of every other
 * check of that host run from V (network, content and SSH checks alike). While the parent's
 * latest result is failing (the parent is soft- or hard-failing), the children carry
 * `suppressedBy` = the parent's id and raise no new alerts; an alert that was already firing
 * stays firing until its check recovers. A child that turns hard while its parent passes does
 * not alert at once when the parent has not run since: the parent runs first (Nagios'
 * on-demand host check), since the child may simply have noticed the outage before its
 * parent's next slot; only if the parent still passes does the child alert. When the parent
 * passes again, a child that is still hard raises its alert with its next failing result from
 * a run started after that (not at once: when a host comes back, its services usually come
 * back with it, and must not alert for having been down with it).
 *
 * Alerts follow hard states only: a check that turns hard (and is not suppressed) fires; a
 * firing check that is back to `ok`, or that leaves the inventory on reload, is resolved.
 *
 * Reload: on `reload()`, SIGHUP and (with `watch`) changes of the file. An invalid inventory is
 * rejected: its located problems are kept (`problems()`) and announced as a `reload` event,
 * and the last valid inventory keeps running. A valid one replaces it: checks whose id still
 * exists keep their state and alerts, new ones start `unknown`, removed ones stop (resolving
 * their alerts).
 */

import { type FSWatcher, readFileSync, watch } from "node:fs";
import path from "node:path";
import pLimit, { type LimitFunction } from "p-limit";
import picomatch from "picomatch";
import { formatProblem, type Problem, UserError } from "../errors.js";
import { lockPathFor, readLockText } from "../inventory/ipam/lock.js";
import { parseInventory } from "../inventory/load.js";
import type { CheckSchedule, Inventory } from "../inventory/model.js";
import { checkKinds } from "../verify/checks/index.js";
import { checkId, deriveChecks } from "../verify/derive.js";
import { buildReport, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS, runChecks } from "../verify/runner.js";
import type { CheckKindModule, CheckResult, CheckSpec, Prober, Report } from "../verify/types.js";
import { proberFactory } from "../verify/vantages/index.js";
import { AlertDispatcher, type AlertOptions } from "./alerts.js";
import { type Clock, systemClock } from "./clock.js";
import { ProberPool } from "./probers.js";
import { MinQueue } from "./queue.js";
import type { CheckState, CheckStateView, Engine, EngineEvent, HardState, RunSelector } from "./types.js";

/** Where results go: the store (src/store/types.ts `ResultStore`) fits. */
export interface ResultSink {
  /**
   * Records results that arrived at `at` (skips are never passed). A rejection is logged; the
   * engine's in-memory state is updated regardless.
   */
  saveResults(results: readonly CheckResult[], at: Date): Promise<void>;
  /**
   * Records the results of one `runNow` as a stored run (`GET /api/runs` lists it); resolves with
   * its id. When present, those results go here instead of `saveResults`, so each is stored
   * once. A rejection is logged; `runNow` still resolves with its results.
   */
  saveRun?(report: Report): Promise<number>;
}

/** Default spread of the first runs after start, ms. */
export const DEFAULT_STARTUP_SPREAD_MS = 10_000;
/** Default debounce of file-change events before a reload, ms (editors write in several steps). */
export const DEFAULT_WATCH_DEBOUNCE_MS = 250;

/** Options of `KeelEngine` / `startEngine`. */
export interface EngineOptions {
  /** The inventory file; reloads read it again. */
  file: string;
  /** The inventory already loaded from `file`; when absent the constructor loads it. */
  inventory?: Inventory;
  /** Where results are written (normally the store); none when absent. */
  store?: ResultSink;
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
  /** Options of the alert dispatcher (`site` comes from the inventory); `false`: send no alerts. */
  alerts?: Omit<AlertOptions, "site" | "clock" | "log"> | false;
  /** Reload when the file changes (fs.watch on its directory, debounced). Default false. */
  watch?: boolean;
  /** Debounce of file changes, ms (default 250). */
  watchDebounceMs?: number;
  /** Reload on SIGHUP. Default false. */
  sighup?: boolean;
  /** Log line sink (default: stderr with a `keel serve:` prefix). */
  log?: (line: string) => void;
}

interface Entry {
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
  /**
   * The latest results as failing (1) or passing (0), at most `window`: bits of a number, the
   * newest in bit 0, for windows up to {@link BITS_WINDOW} (a boolean array per check was ~9 MB
   * for 50,000 checks); an array, oldest first, for longer windows.
   */
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

/** The results one `runNow` records as its stored run. */
interface RunClaim {
  results: CheckResult[];
}

/** FNV-1a 32-bit hash of a string: a stable, well-spread phase for a check id. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The parent of a check in the topology: the host's `reachable` check from the same vantage. */
export function parentId(spec: CheckSpec): string | undefined {
  if (spec.kind === "reachable" || !spec.vantage) return undefined;
  return checkId(spec.host, "reachable", undefined, spec.vantage);
}

/**
 * First slot of a check strictly after `after`: slots are `phase + k × interval` (epoch ms).
 */
export function nextSlot(after: number, intervalMs: number, phaseMs: number): number {
  return phaseMs + intervalMs * (Math.floor((after - phaseMs) / intervalMs) + 1);
}

/** Longest flapping window kept as the bits of a number (a small integer: 31 bits at most). */
const BITS_WINDOW = 30;

/** The latest results of `e` as failing (true) or passing (false), oldest first. */
function recentList(e: Entry): boolean[] {
  if (typeof e.recent !== "number") return e.recent.slice();
  const out: boolean[] = [];
  for (let i = e.recentLen - 1; i >= 0; i--) out.push(((e.recent >>> i) & 1) === 1);
  return out;
}

/** Sets the latest results of `e` (oldest first, at most `window`) in the form `window` calls for. */
function setRecent(e: Entry, list: boolean[], window: number): void {
  if (window > BITS_WINDOW) {
    e.recent = list;
    e.recentLen = 0;
    return;
  }
  let bits = 0;
  for (const failing of list) bits = (bits << 1) | (failing ? 1 : 0);
  e.recent = bits;
  e.recentLen = list.length;
}

/**
 * Adds the latest result to `e.recent` (dropping the oldest beyond `window`) and returns how
 * often passing and failing alternate within the window.
 */
function pushRecent(e: Entry, failing: boolean, window: number): number {
  if (typeof e.recent !== "number" || window > BITS_WINDOW) {
    const list = typeof e.recent === "number" ? recentList(e) : e.recent;
    list.push(failing);
    if (list.length > window) list.splice(0, list.length - window);
    if (window > BITS_WINDOW) e.recent = list;
    else setRecent(e, list, window);
    let changes = 0;
    for (let i = 1; i < list.length; i++) if (list[i] !== list[i - 1]) changes++;
    return changes;
  }
  const len = Math.min(e.recentLen + 1, window);
  const bits = ((e.recent << 1) | (failing ? 1 : 0)) & ((1 << window) - 1);
  e.recent = bits;
  e.recentLen = len;
  // bit i and bit i+1 differ, for each pair of neighbours among the `len` latest
  let diff = (bits ^ (bits >>> 1)) & ((1 << (len - 1)) - 1);
  let changes = 0;
  while (diff !== 0) {
    diff &= diff - 1;
    changes++;
  }
  return changes;
}

function isFailing(status: CheckResult["status"] | null): boolean {
  return status === "fail" || status === "error";
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The first of `times` that is a finite number (epoch ms). */
function firstFinite(...times: number[]): number {
  return times.find(Number.isFinite) ?? Number.NaN;
}

/** `ms` as ISO 8601, or null when it is NaN or infinite (not set). */
function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? iso(ms) : null;
}

/** A copy of `e`'s state with its times as ISO 8601: what leaves the engine. */
function publicState(e: Entry): CheckState {
  return {
    ...e.state,
    since: isoOrNull(e.sinceMs),
    lastRunAt: isoOrNull(e.lastRunMs),
    nextRunAt: isoOrNull(e.nextAt),
  };
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
  private readonly limit: LimitFunction;
  private readonly concurrency: number;
  /** Runs handed to `limit` and not settled yet (running or waiting for a slot there). */
  private dispatched = 0;
  private readonly timeoutMs: number;
  private readonly startupSpreadMs: number;
  private readonly kinds: Record<string, CheckKindModule>;
  private readonly makeProbers: (inv: Inventory) => (vantage: string) => Prober;
  private pool: ProberPool;
  private readonly retiredPools = new Set<Promise<void>>();
  private readonly alerts: AlertDispatcher | undefined;
  private readonly log: (line: string) => void;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly storeWrites = new Set<Promise<void>>();
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Checks by next run (`setNext` pushes; stale items are skipped when popped). */
  private readonly queue = new MinQueue<Entry>();
  private running = false;
  private stopped = false;
  private watcher: FSWatcher | undefined;
  private watchTimer: unknown;
  private lastText: string | undefined;
  private reloading: Promise<boolean> | undefined;
  private readonly onSighup = () => {
    this.log("SIGHUP: reloading the inventory");
    void this.reload();
  };
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
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    this.limit = pLimit(this.concurrency);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.startupSpreadMs = opts.startupSpreadMs ?? DEFAULT_STARTUP_SPREAD_MS;
    this.kinds = opts.kinds ?? checkKinds;
    this.makeProbers = opts.probers ?? proberFactory;
    if (opts.inventory) this.inv = opts.inventory;
    else {
      const text = this.read();
      this.inv = this.parse(text);
      this.lastText = text;
    }
    this.reloadedAt = iso(this.clock.now());
    this.pool = new ProberPool(this.makeProbers(this.inv), this.clock);
    this.alerts =
      opts.alerts === false
        ? undefined
        : new AlertDispatcher(this.inv.alerts, {
            ...opts.alerts,
            site: this.inv.site,
            clock: this.clock,
            log: this.log,
          });
    this.install(deriveChecks(this.inv), new Map());
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
    let picked: Entry[];
    let what: string;
    if ("all" in selector) {
      picked = this.order;
      what = "all";
    } else if ("host" in selector) {
      picked = this.order.filter((e) => e.spec.host === selector.host);
      what = `host "${selector.host}"`;
    } else {
      const match = picomatch(selector.glob, { bash: true });
      picked = this.order.filter((e) => match(e.spec.id));
      what = `glob "${selector.glob}"`;
    }
    if (picked.length === 0) throw new UserError(`no check matches ${what}; GET /api/checks lists every id`);
    const started = new Date(this.clock.now());
    const store = this.opts.store;
    const claim: RunClaim | undefined = store?.saveRun ? { results: [] } : undefined;
    const results = await Promise.all(
      picked.map((e) => {
        if (e.spec.skip !== undefined) {
          const r = this.skipResult(e);
          claim?.results.push(r);
          return Promise.resolve(r);
        }
        if (claim && e.claim === undefined) e.claim = claim;
        return e.inflight ?? this.dispatch(e);
      }),
    );
    if (store?.saveRun && claim && claim.results.length > 0 && !this.stopped) {
      const order = new Map(results.map((r, i) => [r.id, i]));
      claim.results.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
      const report = buildReport(this.opts.file, started, claim.results);
      report.durationMs = Math.max(0, this.clock.now() - started.getTime());
      const write: Promise<void> = store
        .saveRun(report)
        .then(
          () => undefined,
          (err: unknown) => {
            this.log(
              `store: the run of ${what} at ${started.toISOString()} was not stored: ${(err as Error).message}`,
            );
          },
        )
        .finally(() => this.storeWrites.delete(write));
      this.storeWrites.add(write);
      await write;
    }
    return results;
  }

  // ---- life cycle ---------------------------------------------------------------------------

  /** Starts scheduling (and, per the options, watching the file and SIGHUP). Idempotent. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const now = this.clock.now();
    this.startedAt = iso(now);
    for (const e of this.order) {
      if (e.spec.skip !== undefined) continue;
      const spread = Math.min(e.sched.intervalMs, this.startupSpreadMs);
      this.setNext(e, now + Math.floor((fnv1a(e.spec.id) / 2 ** 32) * spread));
    }
    if (this.opts.watch) this.startWatch();
    if (this.opts.sighup) process.on("SIGHUP", this.onSighup);
    this.arm();
  }

  /**
   * Stops: no new runs, no more reloads; waits for checks in flight and store writes, then
   * closes the probers and the alert dispatcher (firing alerts are left firing: Alertmanager
   * resolves them by their `endsAt` if nothing else comes). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.watchTimer !== undefined) this.clock.clearTimeout(this.watchTimer);
    this.watcher?.close();
    this.watcher = undefined;
    process.removeListener("SIGHUP", this.onSighup);
    await this.reloading?.catch(() => undefined);
    await this.idle();
    await Promise.all([this.pool.close(), ...this.retiredPools]);
    await this.alerts?.close();
  }

  /** Resolves when no check is in flight and every store write has settled. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0 || this.storeWrites.size > 0)
      await Promise.allSettled([...this.inflight, ...this.storeWrites]);
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

  /**
   * The inventory of `text` with the addresses and MACs of `keel.lock` beside the file (as every
   * command loads it; serve never writes the lock). @throws UserError as `parseInventory`.
   */
  private parse(text: string): Inventory {
    const lockText = readLockText(lockPathFor(this.opts.file));
    return parseInventory(text, this.opts.file, lockText !== undefined ? { lockText } : {});
  }

  /** Never rejects: an unexpected error is reported like an invalid inventory. */
  private async reloadNow(): Promise<boolean> {
    if (this.stopped) return false;
    let text: string;
    let inv: Inventory;
    try {
      text = this.read();
      if (text === this.lastText && this.problemList.length === 0) return true;
      inv = this.parse(text);
      deriveChecks(inv);
    } catch (err) {
      const e =
        err instanceof UserError
          ? err
          : new UserError(`${this.opts.file}: cannot be loaded: ${(err as Error).message ?? String(err)}`);
      this.lastText = undefined;
      this.problemList = e.problems;
      this.log(
        `${this.opts.file} was not reloaded, the last valid inventory keeps running:\n${e.problems.map(formatProblem).join("\n")}`,
      );
      this.emit({ type: "reload", ok: false, problems: e.problems });
      return false;
    }
    this.lastText = text;
    this.problemList = [];
    const old = this.entries;
    this.inv = inv;
    this.reloadedAt = iso(this.clock.now());
    const oldPool = this.pool;
    this.pool = new ProberPool(this.makeProbers(inv), this.clock);
    this.retire(oldPool);
    this.alerts?.update(inv.alerts, inv.site);
    this.install(deriveChecks(inv), old);
    this.log(`${this.opts.file} reloaded: ${this.order.length} checks`);
    this.emit({ type: "reload", ok: true, problems: [] });
    this.arm();
    return true;
  }

  private read(): string {
    try {
      return readFileSync(this.opts.file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message;
      throw new UserError(`${this.opts.file}: cannot read the inventory: ${why}`);
    }
  }

  /** Closes a replaced prober pool once the checks that use it have finished. */
  private retire(pool: ProberPool): void {
    const done: Promise<void> = Promise.allSettled([...this.inflight])
      .then(() => pool.close())
      .finally(() => this.retiredPools.delete(done));
    this.retiredPools.add(done);
  }

  private startWatch(): void {
    const file = path.resolve(this.opts.file);
    const base = path.basename(file);
    try {
      // the directory, not the file: editors replace the file (rename), which ends a file watch
      this.watcher = watch(path.dirname(file), (_event, name) => {
        if (name !== null && name.toString() !== base) return;
        if (this.watchTimer !== undefined) this.clock.clearTimeout(this.watchTimer);
        this.watchTimer = this.clock.setTimeout(() => {
          this.watchTimer = undefined;
          void this.reload();
        }, this.opts.watchDebounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS);
      });
      this.watcher.on("error", (e) => this.log(`watching ${file} failed (${e.message}); reload with SIGHUP`));
    } catch (e) {
      this.log(`cannot watch ${file} (${(e as Error).message}); reload with SIGHUP`);
    }
  }

  // ---- checks and states --------------------------------------------------------------------

  /** Builds the entries of `specs`, carrying over the state of those in `old` with the same id. */
  private install(specs: CheckSpec[], old: Map<string, Entry>): void {
    const now = this.clock.now();
    const entries = new Map<string, Entry>();
    const order: Entry[] = [];
    for (const spec of specs) {
      const sched = this.inv.serve.checks[spec.kind] ?? this.inv.serve.checks.default!;
      const phaseMs = fnv1a(spec.id) % sched.intervalMs;
      const prev = old.get(spec.id);
      let e: Entry;
      if (prev && !prev.removed && (prev.spec.skip === undefined) === (spec.skip === undefined)) {
        e = prev;
        const intervalChanged = e.sched.intervalMs !== sched.intervalMs;
        e.spec = spec;
        e.sched = sched;
        e.phaseMs = phaseMs;
        if (spec.skip !== undefined) e.state.message = spec.skip;
        else if (intervalChanged && this.running && e.inflight === undefined) {
          this.setNext(e, nextSlot(now, sched.intervalMs, phaseMs));
        }
        setRecent(e, recentList(e).slice(-this.inv.serve.flapping.window), this.inv.serve.flapping.window);
      } else {
        e = this.newEntry(spec, sched, phaseMs);
        if (this.running && spec.skip === undefined) {
          this.setNext(
            e,
            now + Math.floor((fnv1a(spec.id) / 2 ** 32) * Math.min(sched.intervalMs, this.startupSpreadMs)),
          );
        }
        if (prev) this.drop(prev);
      }
      entries.set(spec.id, e);
      order.push(e);
    }
    for (const [id, prev] of old) if (!entries.has(id)) this.drop(prev);
    this.entries = entries;
    this.order = order;
    this.children = new Map();
    for (const e of order) {
      const pid = parentId(e.spec);
      const parent = pid !== undefined ? entries.get(pid) : undefined;
      if (!parent || parent.spec.skip !== undefined) continue;
      const list = this.children.get(pid!) ?? [];
      list.push(e);
      this.children.set(pid!, list);
    }
    // suppression may have changed with the topology
    for (const e of order) this.updateSuppression(e, false);
  }

  private newEntry(spec: CheckSpec, sched: CheckSchedule, phaseMs: number): Entry {
    const skipped = spec.skip !== undefined;
    const state: CheckStateView = {
      id: spec.id,
      kind: spec.kind,
      host: spec.host,
      status: skipped ? "skip" : null,
      message: skipped ? spec.skip! : "not run yet",
      durationMs: 0,
      state: skipped ? "skipped" : "unknown",
      consecutive: 0,
      flapping: false,
    };
    if (spec.service !== undefined) state.service = spec.service;
    if (spec.vantage && spec.id.includes("@")) state.vantage = spec.vantage;
    return {
      spec,
      sched,
      state,
      sinceMs: Number.NaN,
      lastRunMs: Number.NaN,
      phaseMs,
      recent: 0,
      recentLen: 0,
      hardFailing: false,
      hardSinceMs: Number.NaN,
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

  /** A check left the inventory: its run is dropped, its alert resolved. */
  private drop(e: Entry): void {
    e.removed = true;
    if (e.alerting) {
      e.alerting = false;
      this.alerts?.resolve({ ...publicState(e), message: `${e.state.id} was removed from the inventory` });
    }
  }

  private skipResult(e: Entry): CheckResult {
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

  /** Sets when `e` runs next and queues it (the queue keeps stale items; `due` skips them). */
  private setNext(e: Entry, at: number): void {
    e.nextAt = at;
    this.queue.push(at, e);
  }

  /** True when a queue item still stands for a run: its entry is idle, current and due then. */
  private static live(at: number, e: Entry): boolean {
    return e.inflight === undefined && !e.removed && e.nextAt === at;
  }

  /** Arms the scheduler's one timer for the earliest due check. */
  private arm(): void {
    if (!this.running) return;
    while (this.queue.size > 0 && !KeelEngine.live(this.queue.peekKey(), this.queue.peek()!))
      this.queue.pop();
    let next = this.queue.size > 0 ? this.queue.peekKey() : Number.POSITIVE_INFINITY;
    // due checks waiting for a free slot are started by the run that frees it (`settled`)
    if (next <= this.clock.now() && this.dispatched >= this.concurrency) next = Number.POSITIVE_INFINITY;
    if (next === this.timerAt && this.timer !== undefined) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.tick();
    }, next - this.clock.now());
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    // Earliest first, from the queue: O(due · log n) per tick, not a scan of every check. Only
    // as many as there are free slots: when the engine falls behind, due checks wait here (an
    // entry already queued) rather than as closures and promises queued in `limit` (~2.5 KB
    // each: tens of thousands of them are hundreds of MB).
    while (this.queue.size > 0 && this.queue.peekKey() <= now && this.dispatched < this.concurrency) {
      const at = this.queue.peekKey();
      const e = this.queue.pop()!;
      if (KeelEngine.live(at, e)) void this.dispatch(e, Math.min(at, now));
    }
    this.arm();
  }

  /** A run settled: its slot is free for the next due check. */
  private settled(): void {
    this.dispatched--;
    if (this.running && this.queue.size > 0 && this.queue.peekKey() <= this.clock.now()) this.tick();
  }

  /**
   * Runs one check (under the shared limit) and applies its result. `started`: when it was due
   * (epoch ms; its next slot is counted from there), now by default.
   */
  private dispatch(e: Entry, started = this.clock.now()): Promise<CheckResult> {
    const pool = this.pool;
    const timeoutMs = Math.min(this.timeoutMs, e.sched.intervalMs);
    this.dispatched++;
    const run = this.limit(async () => {
      e.runStartedAt = this.clock.now();
      const [result] = await runChecks([e.spec], {
        concurrency: 1,
        timeoutMs,
        kinds: this.kinds,
        proberFor: (v) => pool.get(v),
      });
      return result!;
    }).then(
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
    const tracked = run.catch(() => undefined).finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
    return run;
  }

  /** Sets the next run of `e` after a run that started at `started` (epoch ms). */
  private reschedule(e: Entry, started: number): void {
    const after = Math.max(this.clock.now(), started + e.sched.intervalMs / 2);
    this.setNext(e, nextSlot(after, e.sched.intervalMs, e.phaseMs));
    // the timer is armed for the earliest idle check; only an earlier one needs re-arming
    if (this.running && e.nextAt < this.timerAt) this.arm();
  }

  /** Applies a result: state machine, flapping, suppression, events, store, alerts. */
  private apply(e: Entry, r: CheckResult): void {
    const now = this.clock.now();
    const s = e.state;
    const from = s.state;
    const wasFlapping = s.flapping;
    const prevStatus = s.status;
    const failing = isFailing(r.status);

    // consecutive results with the same status (fail and error together)
    const same = prevStatus !== null && prevStatus !== "skip" && isFailing(prevStatus) === failing;
    s.consecutive = same ? s.consecutive + 1 : 1;
    s.status = r.status;
    s.message = r.message;
    s.durationMs = r.durationMs;
    if (r.observed !== undefined) s.observed = r.observed;
    else delete s.observed;
    e.lastRunMs = now;

    let next: HardState;
    if (r.status === "skip") next = "skipped";
    else if (failing) {
      if (e.hardFailing || s.consecutive >= e.sched.failAfter) next = "hard";
      else next = "soft";
    } else if (e.hardFailing) next = s.consecutive >= e.sched.recoverAfter ? "ok" : "soft";
    else next = "ok";
    if (next === "hard" && !e.hardFailing) {
      e.hardFailing = true;
      e.hardSinceMs = now;
    }
    if (next === "ok") e.hardFailing = false;
    if (next !== from || Number.isNaN(e.sinceMs)) e.sinceMs = now;
    s.state = next;

    if (r.status !== "skip") {
      const changes = pushRecent(e, failing, this.inv.serve.flapping.window);
      s.flapping = changes >= this.inv.serve.flapping.changes;
    }

    const wasSuppressed = s.suppressedBy;
    this.setSuppressed(e);

    if (this.listeners.size > 0) {
      const copy = publicState(e);
      this.emit({ type: "result", result: r, state: copy });
      if (from !== next || wasFlapping !== s.flapping || wasSuppressed !== s.suppressedBy)
        this.emit({ type: "state", state: { ...copy }, from });
    }
    const claim = e.claim;
    e.claim = undefined;
    if (claim) claim.results.push(r);
    else if (this.opts.store && r.status !== "skip") this.save(r, now);
    this.reconcileAlert(e, this.freshFailure(e));

    // a parent whose failing changed re-decides its children
    if (e.spec.kind === "reachable" && (prevStatus === null || isFailing(prevStatus) !== failing)) {
      for (const child of this.children.get(e.spec.id) ?? []) {
        if (!failing && prevStatus !== null) child.parentRecoveredAt = now;
        this.updateSuppression(child, true);
      }
    }
  }

  /**
   * The check's latest result is failing and was observed after its parent last recovered: a
   * run that started while the host was still down says nothing new.
   */
  private freshFailure(e: Entry): boolean {
    return isFailing(e.state.status) && e.runStartedAt >= e.parentRecoveredAt;
  }

  /** Sets `suppressedBy` from the parent's latest result; true when it changed. */
  private setSuppressed(e: Entry): boolean {
    const pid = parentId(e.spec);
    const parent = pid !== undefined ? this.entries.get(pid) : undefined;
    const suppress = parent !== undefined && parent.spec.skip === undefined && isFailing(parent.state.status);
    const before = e.state.suppressedBy;
    if (suppress) e.state.suppressedBy = pid!;
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
      const pid = parentId(e.spec);
      const parent = pid !== undefined ? this.entries.get(pid) : undefined;
      const parentStale =
        parent !== undefined && (Number.isNaN(parent.lastRunMs) || parent.lastRunMs < e.hardSinceMs);
      if (
        parent &&
        parent.spec.skip === undefined &&
        parentStale &&
        !Object.is(e.parentAskedFor, e.hardSinceMs)
      ) {
        e.parentAskedFor = e.hardSinceMs;
        const asked = (parent.inflight ?? this.dispatch(parent)).then(
          () => this.reconcileAlert(e, this.freshFailure(e)),
          () => this.reconcileAlert(e, this.freshFailure(e)),
        );
        this.inflight.add(asked);
        void asked.finally(() => this.inflight.delete(asked));
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

  private save(r: CheckResult, now: number): void {
    const write: Promise<void> = this.opts
      .store!.saveResults([r], new Date(now))
      .catch((err: unknown) => {
        this.log(`store: the result of ${r.id} at ${iso(now)} was not stored: ${(err as Error).message}`);
      })
      .finally(() => this.storeWrites.delete(write));
    this.storeWrites.add(write);
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
