/**
 * Test doubles for the engine's unit tests: a manual clock, scripted check kinds (each check's
 * outcome is set by the test) and a prober that must never be used by them.
 */
import type { Clock } from "../../../src/serve/clock.js";
import {
  CHECK_KINDS,
  type CheckKindModule,
  type CheckStatus,
  type Prober,
} from "../../../src/verify/types.js";

/** A clock whose time moves only when the test says so; timers fire in time order. */
export class FakeClock implements Clock {
  private seq = 0;
  private timers: { at: number; id: number; fn: () => void }[] = [];

  constructor(public t = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + Math.max(0, ms), id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that comes due in order; after each,
   * awaits `settle` (e.g. the engine's `idle`) so the work it started finishes at that time.
   */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/**
 * Check kinds whose outcome the test scripts: `outcomes.get(id)` (default pass). Each run is
 * recorded in `runs` as `[id, time]`.
 */
export function scriptedKinds(
  clock: Clock,
  outcomes: Map<string, CheckStatus>,
  runs: [string, number][] = [],
): Record<string, CheckKindModule> {
  const kinds: Record<string, CheckKindModule> = {};
  for (const kind of CHECK_KINDS) {
    kinds[kind] = {
      kind,
      run: async (spec) => {
        runs.push([spec.id, clock.now()]);
        const status = outcomes.get(spec.id) ?? "pass";
        return { status, message: `${spec.id} scripted ${status}` };
      },
    };
  }
  return kinds;
}

/** A prober for scripted kinds: they never call it. */
export const unusedProber: Prober = {
  vantage: "test",
  tcpConnect: () => Promise.reject(new Error("unused")),
  udpProbe: () => Promise.reject(new Error("unused")),
  ping: () => Promise.reject(new Error("unused")),
  httpGet: () => Promise.reject(new Error("unused")),
  sshAuthMethods: () => Promise.reject(new Error("unused")),
  sshHostKey: () => Promise.reject(new Error("unused")),
  sshExec: () => Promise.reject(new Error("unused")),
  dnsQuery: () => Promise.reject(new Error("unused")),
  close: async () => undefined,
};
