/**
 * `port.closed`: a service port is not reachable (refused, rejected or filtered; the report
 * says which) from every vantage its `allow` does not admit.
 */
import type { Protocol } from "../../inventory/model.js";
import type { CheckKindDefinition, CheckOutcome, UdpServiceProbe } from "../kind.js";
import { admits, allowSummary } from "../reach.js";
import {
  endpoint,
  notObserved,
  observePort,
  outcomeOfError,
  type PortObservation,
  stateText,
} from "./common.js";
import { udpServiceProbe } from "./port-open.js";

/** The params of a `port.closed` check: derived for each service, from every vantage that may reach the host and the service does not admit. */
export interface PortClosedParams {
  kind: "port.closed";
  address: string;
  port: number;
  protocol: Protocol;
  /** Human summary of the allow list, for messages: e.g. `mon, vpn`. */
  allowed: string;
  /** How a UDP port is observed beyond an empty datagram (absent: no protocol probe). */
  probe?: UdpServiceProbe;
}

/**
 * Judges a port that must not be reachable. `refused` (RST, ICMP port unreachable),
 * `prohibited`/`unreachable` (an ICMP reject) and `filtered` (silence to a TCP SYN or to the
 * service's DNS query) pass, the message and `observed.state` saying which; `open` fails.
 * UDP `open|filtered` (silence to an empty datagram) is `error`: it proves nothing.
 *
 * @param obs the observation, or a bare state (no protocol probe).
 * @param allowed human summary of the allow list, e.g. `mon, vpn`.
 */
export function judgePortClosed(
  address: string,
  port: number,
  protocol: Protocol,
  obs: PortObservation | PortObservation["state"],
  allowed: string,
): CheckOutcome {
  const o = typeof obs === "string" ? { state: obs } : obs;
  const ep = endpoint(address, port, protocol);
  const observed: Record<string, unknown> = { state: o.state, ...(o.rcode ? { rcode: o.rcode } : {}) };
  if (o.state === "open") {
    return {
      status: "fail",
      message: `${ep} ${stateText(o, protocol)}; allow admits only ${allowed}`,
      observed,
    };
  }
  if (o.state === "open|filtered") return notObserved(address, port);
  return { status: "pass", message: `${ep} ${stateText(o, protocol)}`, observed };
}

/** TCP connect, or for UDP the DNS probe or an empty datagram, judged by `judgePortClosed`. */
export const portClosed: CheckKindDefinition<"port.closed", PortClosedParams> = {
  kind: "port.closed",
  transport: "network",
  scope: "port",
  derive({ host: h, vantage: v, address, service: s }, ctx) {
    if (!s || admits(s.allow, v)) return [];
    const params: PortClosedParams = {
      kind: "port.closed",
      address,
      port: s.port,
      protocol: s.protocol,
      allowed: allowSummary(s.allow),
    };
    // Only a DNS query tells closed from silent here; WireGuard's handshakes prove open only.
    const probe = udpServiceProbe(h, s, v, ctx);
    if (probe?.kind === "dns") params.probe = probe;
    return [{ params, service: s.name }];
  },
  async run(spec, ctx) {
    const { address, port, protocol, allowed, probe } = spec.params;
    try {
      // A WireGuard handshake says nothing about a vantage the port must stay closed to.
      const p = probe?.kind === "dns" ? probe : undefined;
      return judgePortClosed(
        address,
        port,
        protocol,
        await observePort(ctx, address, port, protocol, p),
        allowed,
      );
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};
