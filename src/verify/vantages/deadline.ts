/**
 * Small helpers every prober uses so that each probe settles by its timeout and honours its
 * AbortSignal, whatever the library underneath does.
 */

import type { SshTarget } from "../types.js";

/** The error a probe rejects with when its AbortSignal fires: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted: ${String(r)}`);
}

/**
 * Settles with `work`, or with `onTimeout()` after `timeoutMs` ms, or rejects with the abort
 * reason when `signal` fires, whichever comes first. `cleanup` runs exactly once when the race
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
    const onAbort = (): void => finish(() => reject(abortReason(signal!)));
    const timer = setTimeout(
      () =>
        finish(() => {
          try {
            resolve(onTimeout());
          } catch (e) {
            reject(e);
          }
        }),
      Math.max(0, timeoutMs),
    );
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

/** `host:port` with IPv6 addresses in brackets (RFC 3986 §3.2.2). */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
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
