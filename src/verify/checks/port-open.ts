/**
 * `port.open`: a service port is open from every vantage its `allow` admits.
 */
import type { Protocol } from "../../inventory/model.js";
import type { CheckKindModule, CheckOutcome, PortState } from "../types.js";
import { endpoint, outcomeOfError, probePort, UDP_NOTE } from "./common.js";

/**
 * Judges a port that must be open. TCP: only `open` passes. UDP: `refused` (ICMP port
 * unreachable) fails, `open|filtered` and `open` pass.
 */
export function judgePortOpen(
  address: string,
  port: number,
  protocol: Protocol,
  state: PortState,
  vantage: string,
): CheckOutcome {
  const ep = endpoint(address, port, protocol);
  const observed = { state };
  if (state === "open") return { status: "pass", message: `${ep} is open`, observed };
  if (protocol === "udp" && state === "open|filtered") {
    return { status: "pass", message: `${ep} is open|filtered (${UDP_NOTE})`, observed };
  }
  return {
    status: "fail",
    message: `${ep} is ${state}; allow admits this vantage (${vantage})`,
    observed,
  };
}

/** TCP connect or UDP probe from the vantage, judged by `judgePortOpen`. */
export const portOpen: CheckKindModule<"port.open"> = {
  kind: "port.open",
  async run(spec, ctx) {
    const { address, port, protocol } = spec.params;
    try {
      return judgePortOpen(
        address,
        port,
        protocol,
        await probePort(ctx, address, port, protocol),
        spec.vantage,
      );
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};
