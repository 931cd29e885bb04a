/**
 * Time as the engine and the alert dispatcher see it: injectable, so unit tests run schedules
 * of hours in milliseconds and deterministically.
 */

/** A clock and its timers. Times are epoch ms; delays are ms. */
export interface Clock {
  now(): number;
  /** Calls `fn` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock (`Date.now`, node timers). Its timers are unref'd: they never keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
