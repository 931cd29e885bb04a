/**
 * A via vantage's prober whose implementation (`ViaProber` in `ssh.ts`, with ssh2 and undici)
 * loads on first use, so that commands and runs that never probe through a via host do not pay
 * for loading those libraries at start-up.
 */
import type { Prober, SshTarget } from "../types.js";
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
  return {
    vantage,
    tcpConnect: (address, port, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.tcpConnect(address, port, left, signal)),
    udpProbe: (address, port, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.udpProbe(address, port, left, signal)),
    ping: (address, timeoutMs, signal) => within(timeoutMs, (p, left) => p.ping(address, left, signal)),
    httpGet: (address, port, path, timeoutMs, signal, options) =>
      within(timeoutMs, (p, left) => p.httpGet(address, port, path, left, signal, options)),
    sshAuthMethods: (address, port, user, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.sshAuthMethods(address, port, user, left, signal)),
    sshHostKey: (address, port, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.sshHostKey(address, port, left, signal)),
    sshExec: (target, command, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.sshExec(target, command, left, signal)),
    dnsQuery: (server, port, questions, timeoutMs, signal) =>
      within(timeoutMs, (p, left) => p.dnsQuery(server, port, questions, left, signal)),
    prepare: (timeoutMs) =>
      within(timeoutMs, (p, left) => p.prepare?.(left) ?? Promise.resolve()).catch(() => undefined),
    close: async () => {
      if (real) await (await real).close();
    },
  };
}
