/**
 * Long-lived probers for `keel serve`: one per vantage, shared by every check run, so a via
 * vantage keeps its SSH connection between runs instead of logging in for each check.
 *
 * The runner (`runChecks`) closes the probers it was given when a run ends; the pool hands it
 * wrappers whose `close` does nothing and closes the real probers itself (`close`). A prober
 * that reported `VantageError` (its SSH connection was lost, a login failed) remembers that
 * failure for its lifetime, so the pool replaces it, at most once per `recycleMs`; a target's
 * refused SSH host key (`HostKeyError`) does not count.
 */
import type { Prober } from "../verify/types.js";
import { VantageError } from "../verify/types.js";
import { forwardingProber } from "../verify/vantages/forward.js";
import { HostKeyError } from "../verify/vantages/hostkeys.js";
import type { Clock } from "./clock.js";

/** Shortest time between two replacements of one vantage's prober, ms. */
export const DEFAULT_RECYCLE_MS = 10_000;

interface Slot {
  prober: Prober;
  createdAt: number;
  broken: boolean;
}

/** A pool of probers by vantage name. */
export class ProberPool {
  private readonly slots = new Map<string, Slot>();
  private readonly retired = new Set<Promise<void>>();
  private closed = false;

  /**
   * @param factory makes the prober of a vantage; may throw (e.g. `VantageError` for a via
   *   vantage whose host has `ssh: false`): the runner turns that into `error` results.
   */
  constructor(
    private readonly factory: (vantage: string) => Prober,
    private readonly clock: Clock,
    private readonly recycleMs = DEFAULT_RECYCLE_MS,
  ) {}

  /** The prober of `vantage` for one run (its `close` is a no-op). */
  get(vantage: string): Prober {
    if (this.closed) throw new VantageError(`vantage ${vantage}: keel serve is stopping`);
    let slot = this.slots.get(vantage);
    const now = this.clock.now();
    if (slot?.broken && now - slot.createdAt >= this.recycleMs) {
      this.retire(slot.prober);
      slot = undefined;
    }
    if (!slot) {
      slot = { prober: this.factory(vantage), createdAt: now, broken: false };
      this.slots.set(vantage, slot);
    }
    return this.wrap(slot);
  }

  private wrap(slot: Slot): Prober {
    const p = slot.prober;
    const watch = <T>(work: Promise<T>): Promise<T> =>
      work.catch((e: unknown) => {
        // A target's refused host key says nothing of the vantage (and a new prober would be
        // refused the same: the verifier outlives it), so it does not recycle the prober.
        if (e instanceof VantageError && !(e instanceof HostKeyError)) slot.broken = true;
        throw e;
      });
    return forwardingProber(p.vantage, {
      probe: (_method, timeoutMs, call) => watch(call(p, timeoutMs)),
      prepare: async (timeoutMs) => await p.prepare?.(timeoutMs),
      close: async () => undefined,
    });
  }

  private retire(p: Prober): void {
    const done: Promise<void> = p
      .close()
      .catch(() => undefined)
      .finally(() => this.retired.delete(done));
    this.retired.add(done);
  }

  /** Closes every prober (checks still running on them fail with the prober's own error). */
  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots.values()) this.retire(slot.prober);
    this.slots.clear();
    await Promise.all([...this.retired]);
  }
}
