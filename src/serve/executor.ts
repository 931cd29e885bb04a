/**
 * How the engine of `keel serve` runs one check: through the verify runner (`runChecks`: the
 * kind's module, a per-check timeout, exceptions turned into `error` results) under one
 * concurrency limit (p-limit) shared by scheduled runs and `runNow`, with the probers of the
 * inventory being served (`ProberPool`). A pool replaced by a reload is closed once the runs
 * that use it have finished.
 */
import pLimit, { type LimitFunction } from "p-limit";
import { runChecks } from "../verify/runner.js";
import type { CheckKindModule, CheckResult, CheckSpec, Prober } from "../verify/types.js";
import type { Clock } from "./clock.js";
import { ProberPool } from "./probers.js";

/** Options of `CheckExecutor`. */
export interface ExecutorOptions {
  clock: Clock;
  /** Runs at once. */
  concurrency: number;
  /** Per-check timeout, ms (a run never gets longer than its check's interval either). */
  timeoutMs: number;
  kinds: Record<string, CheckKindModule>;
  /** The probers of the inventory being served, by vantage. */
  probers: (vantage: string) => Prober;
}

/** Runs checks under the shared limit and keeps track of what is in flight. */
export class CheckExecutor {
  private readonly limit: LimitFunction;
  /** Runs handed to `limit` and not settled yet (running or waiting for a slot there). */
  private dispatched = 0;
  private pool: ProberPool;
  private readonly retiredPools = new Set<Promise<void>>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly opts: ExecutorOptions) {
    this.limit = pLimit(opts.concurrency);
    this.pool = new ProberPool(opts.probers, opts.clock);
  }

  /** True when a run may start now without waiting in the limit. */
  free(): boolean {
    return this.dispatched < this.opts.concurrency;
  }

  /**
   * Runs `spec` with at most `intervalMs` (and the configured timeout) under the limit;
   * `started` is called when it gets its slot. The caller must call `settled()` once it has
   * handled the outcome. Rejects only on a bug (the runner turns check failures into results).
   */
  run(spec: CheckSpec, intervalMs: number, started: () => void): Promise<CheckResult> {
    const pool = this.pool;
    // a check with its own deadline (a restore rehearsal) gets it; others at most their interval
    const timeoutMs = spec.timeoutMs ?? Math.min(this.opts.timeoutMs, intervalMs);
    this.dispatched++;
    return this.limit(async () => {
      started();
      const [result] = await runChecks([spec], {
        concurrency: 1,
        timeoutMs,
        kinds: this.opts.kinds,
        proberFor: (v) => pool.get(v),
      });
      return result!;
    });
  }

  /** A run's outcome was handled: its slot is free. */
  settled(): void {
    this.dispatched--;
  }

  /** Counts `p` as work in flight until it settles (`idle`, and pools retired after it). */
  track(p: Promise<unknown>): void {
    const tracked = p.catch(() => undefined).finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  /** The work in flight. */
  pending(): Promise<unknown>[] {
    return [...this.inflight];
  }

  /** Uses the probers of a new inventory; the old pool closes once the runs in flight are done. */
  swapProbers(probers: (vantage: string) => Prober): void {
    const old = this.pool;
    this.pool = new ProberPool(probers, this.opts.clock);
    const done: Promise<void> = Promise.allSettled([...this.inflight])
      .then(() => old.close())
      .finally(() => this.retiredPools.delete(done));
    this.retiredPools.add(done);
  }

  /** Closes every prober pool (call once nothing is in flight). */
  async close(): Promise<void> {
    await Promise.all([this.pool.close(), ...this.retiredPools]);
  }
}
