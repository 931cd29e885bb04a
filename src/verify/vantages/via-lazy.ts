/**
 * A via vantage's prober whose implementation (`ViaProber` in `ssh.ts`, with ssh2 and undici)
 * loads on first use, so that commands and runs that never probe through a via host do not pay
 * for loading those libraries at start-up.
 */
import type { Prober, SshTarget } from "../types.js";
import { forwardingProber } from "./forward.js";
import type { HostKeyVerifier } from "./hostkeys.js";

/**
 * Returns a `Prober` for vantage `vantage` whose probes run on `via` over SSH; behaves exactly as
 * `new ViaProber(vantage, via, { hostKeys })` (see `ssh.ts` for every method's results and errors).
 */
export function lazyViaProber(vantage: string, via: SshTarget, hostKeys?: HostKeyVerifier): Prober {
  let real: Promise<Prober> | undefined;
  const get = (): Promise<Prober> => {
    real ??= import("./ssh.js").then((m) => new m.ViaProber(vantage, via, hostKeys ? { hostKeys } : {}));
    return real;
  };
  /**
   * Runs `f` on the loaded prober with what is left of `timeoutMs` once it is loaded: the first
   * probe of a run also pays for loading ssh2 and undici (~150 ms), and a probe that settles at
   * its own deadline (a filtered port) must still settle before the runner aborts the check.
   */
  const within = <T>(timeoutMs: number, f: (p: Prober, left: number) => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    return get().then((p) => f(p, Math.max(1, timeoutMs - (Date.now() - t0))));
  };
  return forwardingProber(vantage, {
    probe: (_method, timeoutMs, call) => within(timeoutMs, call),
    prepare: (timeoutMs) =>
      within(timeoutMs, (p, left) => p.prepare?.(left) ?? Promise.resolve()).catch(() => undefined),
    close: async () => {
      if (real) await (await real).close();
    },
  });
}
