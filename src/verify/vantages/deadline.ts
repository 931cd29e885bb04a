/**
 * Small helpers every prober uses so that each probe settles by its timeout and honours its
 * AbortSignal, whatever the library underneath does.
 */

import type { SshTarget } from "../kind.js";

/** The error a probe rejects with when its AbortSignal fires: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted: ${String(r)}`);
}

/**
 * The reason a check's AbortSignal carries when the runner stops the check because its timeout
 * has passed. A probe that sees it settles as at its own deadline (`filtered`, "no answer"),
 * since that is what happened: on a busy machine the runner's abort can come before the probe's
 * own timer, and the verdict must not depend on which timer fired first.
 */
export class CheckTimeout extends Error {
  /** @param timeoutMs the check's timeout, in ms. */
  constructor(readonly timeoutMs: number) {
    super(`no answer within the ${timeoutMs} ms timeout`);
    this.name = "CheckTimeout";
  }
}

/**
 * Settles with `work`, or with `onTimeout()` after `timeoutMs` ms or when `signal` fires with a
 * `CheckTimeout` reason, or rejects with the abort reason when `signal` fires otherwise
 * (an interrupted run), whichever comes first. `cleanup` runs exactly once when the race
 * is decided (close sockets, kill children). A late rejection of `work` is swallowed.
 *
 * @param timeoutMs deadline in ms, measured from the call.
 * @param onTimeout value (or thrown error) to settle with at the deadline.
 */
export function raceDeadline<T>(
  work: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onTimeout: () => T,
  cleanup?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      try {
        cleanup?.();
      } catch {
        // cleanup is best effort
      }
      f();
    };
    const timedOut = (): void =>
      finish(() => {
        try {
          resolve(onTimeout());
        } catch (e) {
          reject(e);
        }
      });
    const onAbort = (): void => {
      if (signal!.reason instanceof CheckTimeout) timedOut();
      else finish(() => reject(abortReason(signal!)));
    };
    const timer = setTimeout(timedOut, Math.max(0, timeoutMs));
    // Handlers first, so a late rejection of `work` is swallowed even when already aborted.
    work.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Quotes one word for a POSIX shell (single quotes; `'` becomes `'\''`). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** Human description of how we log in: the key path or the agent. */
export function describeIdentity(target: SshTarget): string {
  return target.identity ?? "the SSH agent";
}
