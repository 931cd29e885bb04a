/**
 * `reachable`: the host answers: an ICMP echo reply, or else a TCP connect to one of its
 * declared ports that is `open` or `refused` (a RST proves the host is up).
 */
import { type CheckKindDefinition, type CheckOutcome, type PortState, VantageError } from "../kind.js";
import { admits } from "../reach.js";
import { endpoint, outcomeOfError } from "./common.js";

/** The params of a `reachable` check: derived from every vantage that may reach the host. */
export interface ReachableParams {
  kind: "reachable";
  address: string;
  /** Declared TCP ports to fall back to. */
  tcpPorts: number[];
}

/** What the reachable check observed: the ping answer and, when it failed, each port's state. */
export interface ReachableObservation {
  /** true: echo reply; false: none within the timeout; null: the vantage could not ping. */
  ping: boolean | null;
  /** Why the vantage could not ping (e.g. `ping is not installed on vantage admin`), when `ping` is null. */
  pingError?: string;
  ports: { port: number; state: PortState }[];
}

/**
 * Judges reachability. Pass on a ping reply, or on any port `open`/`refused`; fail otherwise,
 * naming the ports that were filtered or unreachable. When the vantage could not ping at all
 * and no port answered, the check is undecided (`error`).
 */
export function judgeReachable(address: string, obs: ReachableObservation): CheckOutcome {
  const observed = { ping: obs.ping, ports: obs.ports };
  if (obs.ping) return { status: "pass", message: `${address} answers ping`, observed };
  const noPing = obs.ping === null ? `ping unavailable (${obs.pingError ?? "?"})` : "ping timed out";
  const answered = obs.ports.find((p) => p.state === "open" || p.state === "refused");
  if (answered) {
    const why = obs.ping === null ? noPing : "does not answer ping";
    return {
      status: "pass",
      message: `${address} ${obs.ping === null ? `answers TCP; ${why}:` : `${why} but`} ${endpoint(address, answered.port, "tcp")} is ${answered.state}`,
      observed,
    };
  }
  const silent = obs.ports.map((p) => `${p.port}/tcp ${p.state}`).join(", ");
  const tail = obs.ports.length === 0 ? "no TCP port is declared to fall back to" : silent;
  if (obs.ping === null) return { status: "error", message: `${address}: ${noPing}; ${tail}`, observed };
  if (obs.ports.length === 0) {
    return { status: "fail", message: `${address}: ping timed out and ${tail}`, observed };
  }
  return { status: "fail", message: `${address}: ping timed out; ${tail}`, observed };
}

/**
 * Pings with half the timeout; without a reply (or when the vantage cannot ping, e.g. `ping`
 * is missing), connects to every `tcpPorts` entry in parallel with what is left of the timeout
 * (the ping may overrun its half: fping batches requests and takes time to start), so the check
 * settles by its timeout instead of being aborted by the runner.
 */
export const reachable: CheckKindDefinition<"reachable", ReachableParams> = {
  kind: "reachable",
  transport: "network",
  scope: "path",
  derive({ host: h, vantage: v, address }) {
    const admitted = h.services.filter((s) => admits(s.allow, v));
    // Any declared TCP port: a refusal from one the vantage is not admitted to also proves the
    // host is up. Admitted ports first, since they are the likeliest to answer.
    const tcpPorts = [
      ...new Set([...admitted, ...h.services].filter((s) => s.protocol === "tcp").map((s) => s.port)),
    ];
    return [{ params: { kind: "reachable", address, tcpPorts } }];
  },
  async run(spec, ctx) {
    const { address, tcpPorts } = spec.params;
    const share = tcpPorts.length > 0 ? Math.max(1, Math.floor(ctx.timeoutMs / 2)) : ctx.timeoutMs;
    const deadline = Date.now() + ctx.timeoutMs;
    try {
      const obs: ReachableObservation = { ping: false, ports: [] };
      try {
        obs.ping = await ctx.prober.ping(address, share, ctx.signal);
      } catch (e) {
        if (!(e instanceof VantageError)) throw e;
        obs.ping = null;
        obs.pingError = e.message;
      }
      if (obs.ping) return judgeReachable(address, obs);
      const left = Math.max(1, Math.min(share, deadline - Date.now()));
      obs.ports = await Promise.all(
        tcpPorts.map(async (port) => ({
          port,
          state: await ctx.prober.tcpConnect(address, port, left, ctx.signal),
        })),
      );
      return judgeReachable(address, obs);
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};
