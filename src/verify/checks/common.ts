/**
 * Helpers shared by the check kinds: endpoint formatting, address matching (ipaddr.js) and the
 * mapping of probe errors to outcomes.
 */
import ipaddr from "ipaddr.js";
import type { Protocol } from "../../inventory/model.js";
import { hostPort } from "../../net/hostport.js";
import {
  type CheckContext,
  type CheckOutcome,
  DnsRcodeError,
  type ExecResult,
  type PortState,
  ProbeError,
  type UdpServiceProbe,
  VantageError,
} from "../kind.js";
import { errorMessage } from "../vantages/deadline.js";

/** `10.20.0.10:9100/tcp`, `[fd00::1]:53/udp`: the form every port message uses. */
export function endpoint(address: string, port: number, protocol: Protocol): string {
  return `${hostPort(address, port)}/${protocol}`;
}

/** An `error` outcome: the check could not decide (vantage broken, tool missing, aborted). */
export function undecided(message: string, observed?: Record<string, unknown>): CheckOutcome {
  return observed ? { status: "error", message, observed } : { status: "error", message };
}

/**
 * Outcome for an error thrown by a probe: VantageError and anything unexpected → `error`;
 * ProbeError → `onProbeError(e)` when given (the kind decides whether it breaks the promise),
 * else `error`.
 */
export function outcomeOfError(e: unknown, onProbeError?: (e: ProbeError) => CheckOutcome): CheckOutcome {
  if (e instanceof ProbeError && onProbeError) return onProbeError(e);
  if (e instanceof VantageError || e instanceof ProbeError) return undecided(e.message);
  return undecided(`check aborted or crashed: ${errorMessage(e)}`);
}

/**
 * For host-side checks (listeners, sysctl, wireguard): a ProbeError while logging in means the
 * promise is undecided → `error` "cannot log in to HOST: …".
 */
export function hostSideError(host: string, e: unknown): CheckOutcome {
  return outcomeOfError(e, (pe) => undecided(`cannot log in to ${host}: ${pe.message}`));
}

/**
 * True when an exec result says `tool` is not installed (exit 127 or the shell's
 * "not found"), per POSIX sh "Command Search and Execution".
 */
export function toolMissing(r: ExecResult, tool: string): boolean {
  return (
    r.code === 127 ||
    new RegExp(`\\b${tool.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (command )?not found`).test(r.stderr)
  );
}

/** Collapses whitespace and cuts `text` to `max` characters (with `…`), for messages. */
export function excerpt(text: string, max = 80): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** Parses an address (IPv4-mapped IPv6 becomes IPv4); undefined when it is not an address. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    return ipaddr.process(text);
  } catch {
    return undefined;
  }
}

/**
 * True when `address` equals `pattern` (an address) or lies inside it (a CIDR prefix).
 * Families must agree after unmapping `::ffff:a.b.c.d`; anything unparsable never matches.
 */
export function addressMatches(address: string, pattern: string): boolean {
  const a = parseAddress(address);
  if (!a) return false;
  if (pattern.includes("/")) {
    let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      range = ipaddr.parseCIDR(pattern);
    } catch {
      return false;
    }
    if (range[0].kind() !== a.kind()) return false;
    return a.match(range);
  }
  const p = parseAddress(pattern);
  return !!p && p.kind() === a.kind() && p.toNormalizedString() === a.toNormalizedString();
}

/** Splits `host:port` / `[v6]:port` and returns the host part without brackets. */
export function hostOfHostPort(text: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (m) return m[1]!;
  const colons = text.split(":").length - 1;
  if (colons === 1) return text.slice(0, text.indexOf(":"));
  return text;
}

/** A service that does not answer (ProbeError) breaks its promise → `fail`; other errors → `error`. */
export function failOnProbeError(e: unknown): CheckOutcome {
  return outcomeOfError(e, (pe) => ({ status: "fail", message: pe.message }));
}

/** Said whenever an empty UDP datagram got no answer. */
export const UDP_NOTE = "UDP cannot tell open from filtered without a protocol probe";

/** What a port probe saw: the state and, for a DNS probe, how the server answered. */
export interface PortObservation {
  state: PortState;
  /** `dns` when a DNS query decided the state (see `UdpServiceProbe`), else absent. */
  probe?: "dns";
  /** The rcode of the DNS answer (`NOERROR`, `REFUSED`, …) when a DNS query was answered. */
  rcode?: string;
}

/**
 * A DNS query to `address:port` (SOA of `zone`), for a UDP port whose service speaks DNS: an
 * answer of any rcode → `open`; otherwise an empty datagram classifies the silence or the
 * ICMP error (`refused`, `prohibited`), and silence after the query is `filtered`. The query
 * gets half of the check's timeout, the datagram the rest.
 *
 * @throws VantageError when the vantage cannot probe (no route, tool missing).
 */
export async function probeDns(
  ctx: CheckContext,
  address: string,
  port: number,
  zone: string,
): Promise<PortObservation> {
  const deadline = Date.now() + ctx.timeoutMs;
  const share = Math.max(1, Math.floor(ctx.timeoutMs / 2));
  try {
    await ctx.prober.dnsQuery(address, port, [{ name: zone, type: "SOA" }], share, ctx.signal);
    return { state: "open", probe: "dns", rcode: "NOERROR" };
  } catch (e) {
    if (e instanceof DnsRcodeError) return { state: "open", probe: "dns", rcode: e.rcode };
    if (!(e instanceof ProbeError)) throw e;
  }
  const left = Math.max(1, deadline - Date.now());
  const state = await ctx.prober.udpProbe(address, port, left, ctx.signal);
  return { state: state === "open|filtered" ? "filtered" : state, probe: "dns" };
}

/**
 * Observes a port from the context's vantage: TCP connect; for UDP, the service's DNS probe
 * when it has one, else an empty datagram (`Prober.udpProbe`).
 */
export async function observePort(
  ctx: CheckContext,
  address: string,
  port: number,
  protocol: Protocol,
  probe?: UdpServiceProbe,
): Promise<PortObservation> {
  if (protocol === "tcp")
    return { state: await ctx.prober.tcpConnect(address, port, ctx.timeoutMs, ctx.signal) };
  if (probe?.kind === "dns") return probeDns(ctx, address, port, probe.zone);
  return { state: await ctx.prober.udpProbe(address, port, ctx.timeoutMs, ctx.signal) };
}

/**
 * How a port state reads in messages: `is refused`, `is rejected (administratively
 * prohibited)`, `answered a DNS query (REFUSED)`, `is filtered: no answer to a DNS query`, ….
 */
export function stateText(obs: PortObservation, protocol: Protocol): string {
  switch (obs.state) {
    case "open":
      return obs.probe === "dns" ? `is open: it answered a DNS query (${obs.rcode ?? "NOERROR"})` : "is open";
    case "refused":
      return protocol === "udp" ? "is refused (ICMP port unreachable)" : "is refused";
    case "prohibited":
      return "is rejected (ICMP administratively prohibited)";
    case "unreachable":
      return "is rejected: no route to host (ICMP host unreachable or administratively prohibited)";
    case "filtered":
      return obs.probe === "dns" ? "is filtered: no answer to a DNS query" : "is filtered";
    case "open|filtered":
      return "is open|filtered";
  }
}

/**
 * The `error` of a UDP port that stayed silent to an empty datagram: nothing was observed, so
 * neither open nor closed is proven.
 */
export function notObserved(address: string, port: number): CheckOutcome {
  return undecided(
    `${endpoint(address, port, "udp")} not observed: no answer to an empty datagram and no ICMP error (${UDP_NOTE})`,
    { state: "open|filtered" },
  );
}

/** The base URL `http://ADDRESS:PORT` of an HTTP service (IPv6 addresses bracketed). */
export function baseUrl(address: string, port: number): string {
  return `http://${hostPort(address, port)}`;
}
