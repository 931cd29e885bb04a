/**
 * One way to build a `Prober` that forwards to another: the lazily loaded via prober
 * (`via-lazy.ts`) and `keel serve`'s pooled probers (`serve/probers.ts`) wrap every probe the
 * same way, so the probe methods are listed once, here, derived from the `Prober` interface.
 */
import type { Prober } from "../types.js";

/** The probe methods of `Prober`: every member but `vantage`, `prepare` and `close`. */
export type ProbeMethod = Exclude<keyof Prober, "vantage" | "prepare" | "close">;

/**
 * Position of each probe method's `timeoutMs` argument (0-based). Keyed by `ProbeMethod`, so a
 * method added to `Prober` is a compile error here until it is listed; the wrappers need no edit.
 */
export const PROBE_TIMEOUT_ARG = {
  tcpConnect: 2,
  udpProbe: 2,
  ping: 1,
  httpGet: 3,
  sshAuthMethods: 3,
  sshHostKey: 2,
  dnsQuery: 3,
  sshExec: 2,
} as const satisfies { readonly [M in ProbeMethod]: number };

/** `true` when each position `PROBE_TIMEOUT_ARG` lists holds a number in `Prober`, else `never`. */
type TimeoutArgsAreNumbers = {
  [M in ProbeMethod]: Parameters<Prober[M]>[(typeof PROBE_TIMEOUT_ARG)[M]];
} extends { [M in ProbeMethod]: number }
  ? true
  : never;
// Fails to compile when a listed position is not the timeout's (a number).
export const PROBE_TIMEOUT_ARG_CHECKED: TimeoutArgsAreNumbers = true;

/** The probe methods, in `PROBE_TIMEOUT_ARG`'s order. */
export const PROBE_METHODS = Object.keys(PROBE_TIMEOUT_ARG) as ProbeMethod[];

/** What a forwarding prober does around each call (see `forwardingProber`). */
export interface ForwardHooks {
  /**
   * Runs one probe call: `call(p, timeoutMs)` runs `method` with the caller's arguments on
   * prober `p`, its timeout replaced by `timeoutMs`; `timeoutMs` is the caller's timeout.
   * Returns (or rejects with) what the probe should.
   */
  probe<T>(
    method: ProbeMethod,
    timeoutMs: number,
    call: (p: Prober, timeoutMs: number) => Promise<T>,
  ): Promise<T>;
  /** `Prober.prepare` of the wrapper. */
  prepare(timeoutMs: number): Promise<void>;
  /** `Prober.close` of the wrapper. */
  close(): Promise<void>;
}

/**
 * A `Prober` named `vantage` whose every probe method goes through `hooks.probe`, which picks
 * the prober that runs it (loaded on demand, pooled, …) and may change its timeout or watch its
 * result. `prepare` and `close` are the hooks' own.
 */
export function forwardingProber(vantage: string, hooks: ForwardHooks): Prober {
  const out: Record<string, unknown> = {
    vantage,
    prepare: (timeoutMs: number) => hooks.prepare(timeoutMs),
    close: () => hooks.close(),
  };
  for (const method of PROBE_METHODS) {
    const at = PROBE_TIMEOUT_ARG[method];
    out[method] = (...args: unknown[]) =>
      hooks.probe(method, args[at] as number, (p, timeoutMs) => {
        const forwarded = [...args];
        forwarded[at] = timeoutMs;
        return (p[method] as (...a: unknown[]) => Promise<unknown>).apply(p, forwarded);
      });
  }
  return out as unknown as Prober;
}
