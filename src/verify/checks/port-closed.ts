/**
 * `port.closed`: a service port is not reachable (refused or filtered; the report says which)
 * from every vantage its `allow` does not admit.
 */
import type { Protocol } from "../../inventory/model.js";
import type { CheckKindModule, CheckOutcome, PortState } from "../types.js";
import { endpoint, outcomeOfError, probePort, UDP_NOTE } from "./common.js";

/**
 * Judges a port that must not be reachable. `refused`, `filtered` and `unreachable` pass (the
 * message and `observed.state` say which); `open` fails. UDP `open|filtered` passes with a note.
 *
 * @param allowed human summary of the allow list, e.g. `mon, vpn`.
 */
export function judgePortClosed(
  address: string,
  port: number,
  protocol: Protocol,
  state: PortState,
  allowed: string,
): CheckOutcome {
  const ep = endpoint(address, port, protocol);
  const observed = { state };
  if (state === "open") {
    return { status: "fail", message: `${ep} is open; allow admits only ${allowed}`, observed };
  }
  if (state === "open|filtered") {
    return {
      status: "pass",
      message: `${ep} is open|filtered: no ICMP port unreachable came back (${UDP_NOTE})`,
      observed,
    };
  }
  return { status: "pass", message: `${ep} is ${state}`, observed };
}

/** TCP connect or UDP probe from the vantage, judged by `judgePortClosed`. */
export const portClosed: CheckKindModule<"port.closed"> = {
  kind: "port.closed",
  async run(spec, ctx) {
    const { address, port, protocol, allowed } = spec.params;
    try {
      return judgePortClosed(address, port, protocol, await probePort(ctx, address, port, protocol), allowed);
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};
