/**
 * A via vantage's prober whose implementation (`ViaProber` in `ssh.ts`, with ssh2 and undici)
 * loads on first use, so that commands and runs that never probe through a via host do not pay
 * for loading those libraries at start-up.
 */
import type { Prober, SshTarget } from "../types.js";

/**
 * Returns a `Prober` for vantage `vantage` whose probes run on `via` over SSH; behaves exactly as
 * `new ViaProber(vantage, via)` (see `ssh.ts` for every method's results and errors).
 */
export function lazyViaProber(vantage: string, via: SshTarget): Prober {
  let real: Promise<Prober> | undefined;
  const get = (): Promise<Prober> => {
    real ??= import("./ssh.js").then((m) => new m.ViaProber(vantage, via));
    return real;
  };
  return {
    vantage,
    tcpConnect: (address, port, timeoutMs, signal) =>
      get().then((p) => p.tcpConnect(address, port, timeoutMs, signal)),
    udpProbe: (address, port, timeoutMs, signal) =>
      get().then((p) => p.udpProbe(address, port, timeoutMs, signal)),
    ping: (address, timeoutMs, signal) => get().then((p) => p.ping(address, timeoutMs, signal)),
    httpGet: (address, port, path, timeoutMs, signal, options) =>
      get().then((p) => p.httpGet(address, port, path, timeoutMs, signal, options)),
    sshAuthMethods: (address, port, user, timeoutMs, signal) =>
      get().then((p) => p.sshAuthMethods(address, port, user, timeoutMs, signal)),
    sshExec: (target, command, timeoutMs, signal) =>
      get().then((p) => p.sshExec(target, command, timeoutMs, signal)),
    close: async () => {
      if (real) await (await real).close();
    },
  };
}
