/**
 * `reachable`: the host answers: an ICMP echo reply, or else a TCP connect to one of its
 * declared ports that is `open` or `refused` (a RST proves the host is up).
 */
import type { CheckKindModule, CheckOutcome, PortState } from "../types.js";
import { endpoint, outcomeOfError } from "./common.js";

/** What the reachable check observed: the ping answer and, when it failed, each port's state. */
export interface ReachableObservation {
  ping: boolean;
  ports: { port: number; state: PortState }[];
}

/**
 * Judges reachability. Pass on a ping reply, or on any port `open`/`refused`; fail otherwise,
 * naming the ports that were filtered or unreachable.
 */
export function judgeReachable(address: string, obs: ReachableObservation): CheckOutcome {
  const observed = { ping: obs.ping, ports: obs.ports };
  if (obs.ping) return { status: "pass", message: `${address} answers ping`, observed };
  const answered = obs.ports.find((p) => p.state === "open" || p.state === "refused");
  if (answered) {
    return {
      status: "pass",
      message: `${address} does not answer ping but ${endpoint(address, answered.port, "tcp")} is ${answered.state}`,
      observed,
    };
  }
  if (obs.ports.length === 0) {
    return {
      status: "fail",
      message: `${address}: ping timed out and no TCP port is declared to fall back to`,
      observed,
    };
  }
  const silent = obs.ports.map((p) => `${p.port}/tcp ${p.state}`).join(", ");
  return { status: "fail", message: `${address}: ping timed out; ${silent}`, observed };
}

/**
 * Pings with half the timeout; without a reply, connects to every `tcpPorts` entry in parallel
 * with the other half.
 */
export const reachable: CheckKindModule<"reachable"> = {
  kind: "reachable",
  async run(spec, ctx) {
    const { address, tcpPorts } = spec.params;
    const share = tcpPorts.length > 0 ? Math.max(1, Math.floor(ctx.timeoutMs / 2)) : ctx.timeoutMs;
    try {
      const ping = await ctx.prober.ping(address, share, ctx.signal);
      if (ping) return judgeReachable(address, { ping, ports: [] });
      const ports = await Promise.all(
        tcpPorts.map(async (port) => ({
          port,
          state: await ctx.prober.tcpConnect(address, port, share, ctx.signal),
        })),
      );
      return judgeReachable(address, { ping, ports });
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};
