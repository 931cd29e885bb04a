/**
 * When the checks of `keel serve` run (Prometheus' way of spreading scrapes): each check runs
 * every `interval` of its kind, at a fixed phase inside the interval derived from a hash of its
 * id (FNV-1a), so the probes of a site spread evenly over the interval and keep their slots
 * across restarts. The first run after start comes within `min(interval, startupSpreadMs)`, at
 * the same hashed fraction, so the dashboard fills quickly without a burst.
 *
 * `Scheduler` holds the checks by next run in a `MinQueue` (`queue.ts`) and keeps one timer for
 * the earliest; the engine decides what a run is and when a check may run (`SchedulerHooks`).
 */
import type { CheckSchedule, Inventory } from "../inventory/model.js";
import type { Clock } from "./clock.js";
import { MinQueue } from "./queue.js";

/** Default spread of the first runs after start, ms. */
export const DEFAULT_STARTUP_SPREAD_MS = 10_000;

/**
 * The interval and thresholds of a check of `kind`: `serve.checks.KIND` of the inventory, else
 * `serve.checks.default` (the inventory's loader fills in the per-kind defaults). The one place
 * the engine reads them.
 */
export function scheduleOf(inv: Inventory, kind: string): CheckSchedule {
  return inv.serve.checks[kind] ?? inv.serve.checks.default!;
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

/** Offset of a check's slots inside its interval, ms. */
export function phaseOf(id: string, intervalMs: number): number {
  return fnv1a(id) % intervalMs;
}

/** When a check first runs after `now` (epoch ms): within `min(interval, spread)`, at its hashed fraction. */
export function firstRun(id: string, now: number, intervalMs: number, startupSpreadMs: number): number {
  return now + Math.floor((fnv1a(id) / 2 ** 32) * Math.min(intervalMs, startupSpreadMs));
}

/**
 * First slot of a check strictly after `after`: slots are `phase + k × interval` (epoch ms).
 */
export function nextSlot(after: number, intervalMs: number, phaseMs: number): number {
  return phaseMs + intervalMs * (Math.floor((after - phaseMs) / intervalMs) + 1);
}

/**
 * The slot after a run that was due at `started` (epoch ms), at `now` or later: never sooner
 * than half an interval after `started`, so a late run does not run again at once.
 */
export function slotAfterRun(started: number, now: number, intervalMs: number, phaseMs: number): number {
  return nextSlot(Math.max(now, started + intervalMs / 2), intervalMs, phaseMs);
}

/** What the scheduler asks of its owner. */
export interface SchedulerHooks<T> {
  clock: Clock;
  /** True when a queue item still stands for a run (stale items are skipped: lazy deletion). */
  live(at: number, item: T): boolean;
  /** True when a run may start now (a concurrency slot is free). */
  free(): boolean;
  /** Starts the run of `item`, due at `at` (epoch ms, not after now). */
  run(item: T, at: number): void;
}

/** The checks by next run and the one timer for the earliest of them. */
export class Scheduler<T> {
  private readonly queue = new MinQueue<T>();
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  /** True between `start` and `stop`: only then does the timer run. */
  running = false;

  constructor(private readonly hooks: SchedulerHooks<T>) {}

  /** Queues `item` to run at `at` (epoch ms); an earlier item for the same check goes stale. */
  push(at: number, item: T): void {
    this.queue.push(at, item);
  }

  /** Starts the timer. */
  start(): void {
    this.running = true;
    this.arm();
  }

  /** Stops the timer; queued items stay. */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.hooks.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Re-arms the timer when `at` (epoch ms) is earlier than the one it is set for. */
  armIfEarlier(at: number): void {
    if (this.running && at < this.timerAt) this.arm();
  }

  /** A run settled and freed its slot: starts what is due. */
  slotFreed(): void {
    if (this.running && this.queue.size > 0 && this.queue.peekKey() <= this.hooks.clock.now()) this.tick();
  }

  /** Arms the one timer for the earliest due item. */
  arm(): void {
    if (!this.running) return;
    const { clock, live } = this.hooks;
    while (this.queue.size > 0 && !live(this.queue.peekKey(), this.queue.peek()!)) this.queue.pop();
    let next = this.queue.size > 0 ? this.queue.peekKey() : Number.POSITIVE_INFINITY;
    // due items waiting for a free slot are started by the run that frees it (`slotFreed`)
    if (next <= clock.now() && !this.hooks.free()) next = Number.POSITIVE_INFINITY;
    if (next === this.timerAt && this.timer !== undefined) return;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.tick();
    }, next - clock.now());
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.hooks.clock.now();
    // Earliest first, from the queue: O(due · log n) per tick, not a scan of every check. Only
    // as many as there are free slots: when the engine falls behind, due checks wait here (an
    // entry already queued) rather than as closures and promises queued in the concurrency
    // limit (~2.5 KB each: tens of thousands of them are hundreds of MB).
    while (this.queue.size > 0 && this.queue.peekKey() <= now && this.hooks.free()) {
      const at = this.queue.peekKey();
      const item = this.queue.pop()!;
      if (this.hooks.live(at, item)) this.hooks.run(item, Math.min(at, now));
    }
    this.arm();
  }
}
