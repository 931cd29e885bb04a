/**
 * `port.open`: a service port is open from every vantage its `allow` admits.
 */
import type { Host, Protocol, Service, Vantage } from "../../inventory/model.js";
import type {
  CheckContext,
  CheckKindDefinition,
  CheckOutcome,
  DeriveContext,
  SshTarget,
  UdpServiceProbe,
} from "../kind.js";
import { admits, sshAllow } from "../reach.js";
import { shellQuote } from "../vantages/deadline.js";
import {
  endpoint,
  excerpt,
  hostSideError,
  notObserved,
  observePort,
  outcomeOfError,
  type PortObservation,
  stateText,
  toolMissing,
  undecided,
} from "./common.js";
import { WIREGUARD_MAX_HANDSHAKE_AGE_SEC } from "./wireguard-peers.js";

/** The params of a `port.open` check: derived for each service, from every vantage that may reach the host and the service admits. */
export interface PortOpenParams {
  kind: "port.open";
  address: string;
  port: number;
  protocol: Protocol;
  /** How a UDP port is observed beyond an empty datagram (absent: no protocol probe). */
  probe?: UdpServiceProbe;
}

/**
 * Judges a port that must be open. Only `open` passes: a TCP handshake, a UDP reply, or an
 * answer of any rcode to the service's DNS query. UDP `open|filtered` (silence to an empty
 * datagram) is `error`: nothing was observed. Everything else fails, saying what came back.
 *
 * @param obs the observation, or a bare state (no protocol probe).
 */
export function judgePortOpen(
  address: string,
  port: number,
  protocol: Protocol,
  obs: PortObservation | PortObservation["state"],
  vantage: string,
): CheckOutcome {
  const o = typeof obs === "string" ? { state: obs } : obs;
  const ep = endpoint(address, port, protocol);
  const observed: Record<string, unknown> = { state: o.state, ...(o.rcode ? { rcode: o.rcode } : {}) };
  if (o.state === "open") return { status: "pass", message: `${ep} ${stateText(o, protocol)}`, observed };
  if (o.state === "open|filtered") return notObserved(address, port);
  return {
    status: "fail",
    message: `${ep} ${stateText(o, protocol)}; allow admits this vantage (${vantage})`,
    observed,
  };
}

/** What `wg show IFACE listen-port` and `latest-handshakes` said, with the host's clock. */
export interface WgHandshakes {
  /** The interface's UDP listen port. */
  listenPort: number;
  /** Unix seconds of each peer's latest handshake (0: never). */
  handshakes: number[];
  /** The host's clock, unix seconds. */
  nowSec: number;
}

/**
 * Parses the output of {@link wgHandshakeCommand}: the listen port, one `PUBKEY\tUNIX` line per
 * peer (`wg(8)` `latest-handshakes`), the host's `date +%s`. Undefined when it does not parse.
 */
export function parseWgHandshakes(stdout: string): WgHandshakes | undefined {
  const lines = stdout.trim().split("\n");
  if (lines.length < 2) return undefined;
  const listenPort = Number(lines[0]);
  const nowSec = Number(lines.at(-1));
  if (!Number.isInteger(listenPort) || !Number.isFinite(nowSec) || nowSec <= 0) return undefined;
  const handshakes = lines.slice(1, -1).map((l) => Number(l.split("\t")[1]) || 0);
  return { listenPort, handshakes, nowSec };
}

/** POSIX sh: `wg show IFACE listen-port`, `wg show IFACE latest-handshakes`, `date +%s` (no keys but public ones). */
export function wgHandshakeCommand(iface: string): string {
  const q = shellQuote(iface);
  return `PATH="$PATH:/usr/sbin:/sbin"; wg show ${q} listen-port || exit $?; wg show ${q} latest-handshakes || exit $?; date +%s`;
}

/**
 * Judges a WireGuard port that stayed silent to an empty datagram (WireGuard answers only keyed
 * handshakes) by what the host saw: a handshake younger than `maxAgeSec` on the interface that
 * listens on `port` passes ("observed open"); otherwise the port is not observed (`error`).
 */
export function judgeWgHandshake(
  address: string,
  port: number,
  iface: string,
  host: string,
  wg: WgHandshakes,
  maxAgeSec: number,
): CheckOutcome {
  const ep = endpoint(address, port, "udp");
  const newest = Math.max(0, ...wg.handshakes);
  const ageSec = newest === 0 ? null : Math.max(0, wg.nowSec - newest);
  const observed = { state: "open|filtered", handshakeAgeSec: ageSec, listenPort: wg.listenPort };
  if (wg.listenPort !== port)
    return undecided(
      `${ep} not observed: silent to an empty datagram, and ${iface} on ${host} listens on ${wg.listenPort}, not ${port}`,
      observed,
    );
  if (ageSec !== null && ageSec < maxAgeSec)
    return {
      status: "pass",
      message: `${ep} observed open: ${iface} on ${host} had a WireGuard handshake through it ${ageSec} s ago (silent to an empty datagram, as WireGuard is)`,
      observed: { ...observed, state: "open" },
    };
  return undecided(
    `${ep} not observed: silent to an empty datagram, and no WireGuard handshake on ${iface} within ${maxAgeSec} s (see wireguard.peers)`,
    observed,
  );
}

/** The WireGuard interface's handshakes over SSH, judged by `judgeWgHandshake`. */
async function observeWireguard(
  ctx: CheckContext,
  host: string,
  address: string,
  port: number,
  p: Extract<UdpServiceProbe, { kind: "wireguard" }>,
): Promise<CheckOutcome> {
  const target: SshTarget = p.target;
  try {
    const r = await ctx.prober.sshExec(target, wgHandshakeCommand(p.interface), ctx.timeoutMs, ctx.signal);
    if (toolMissing(r, "wg")) return undecided(`wg is not installed on ${host}`);
    if (r.code !== 0)
      return undecided(
        `${endpoint(address, port, "udp")} not observed: silent to an empty datagram, and wg show ${p.interface} failed on ${host}: ${excerpt(r.stderr)}`,
      );
    const wg = parseWgHandshakes(r.stdout);
    if (!wg) return undecided(`cannot read wg show ${p.interface} on ${host}: ${excerpt(r.stdout)}`);
    return judgeWgHandshake(address, port, p.interface, host, wg, p.maxHandshakeAgeSec);
  } catch (e) {
    return hostSideError(host, e);
  }
}

/**
 * TCP connect, or for UDP the service's protocol probe (DNS query) or an empty datagram, judged
 * by `judgePortOpen`. A silent WireGuard port is then judged by its interface's handshakes.
 */
export const portOpen: CheckKindDefinition<"port.open", PortOpenParams> = {
  kind: "port.open",
  transport: "network",
  scope: "port",
  derive({ host: h, vantage: v, address, service: s }, ctx) {
    if (!s || !admits(s.allow, v)) return [];
    const params: PortOpenParams = { kind: "port.open", address, port: s.port, protocol: s.protocol };
    const probe = udpServiceProbe(h, s, v, ctx);
    if (probe) params.probe = probe;
    return [{ params, service: s.name }];
  },
  async run(spec, ctx) {
    const { address, port, protocol, probe } = spec.params;
    try {
      const obs = await observePort(ctx, address, port, protocol, probe);
      if (protocol === "udp" && probe?.kind === "wireguard" && obs.state === "open|filtered")
        return await observeWireguard(ctx, spec.host, address, port, probe);
      return judgePortOpen(address, port, protocol, obs, spec.vantage);
    } catch (e) {
      return outcomeOfError(e);
    }
  },
};

/**
 * The protocol probe of UDP service `s` of host `h`, seen from vantage `v`: a DNS query (SOA of
 * the domain, else of the root) for a service of kind `dns`; the interface's handshakes, over
 * SSH from `v` when `v` may log in, for the host's WireGuard listen port. Undefined for TCP and
 * for other UDP services. Shared with `port.closed`, which uses only the DNS query.
 */
export function udpServiceProbe(
  h: Host,
  s: Service,
  v: Vantage,
  ctx: DeriveContext,
): UdpServiceProbe | undefined {
  if (s.protocol !== "udp") return undefined;
  if (s.kind === "dns") return { kind: "dns", zone: ctx.domain ?? "." };
  const wg = h.wireguard;
  if (!wg || wg.port !== s.port || v.via === h.name) return undefined;
  if (!admits(sshAllow(h), v)) return undefined;
  const target = ctx.sshTarget(h, v);
  if (!target) return undefined;
  return {
    kind: "wireguard",
    target,
    interface: wg.interface,
    maxHandshakeAgeSec: WIREGUARD_MAX_HANDSHAKE_AGE_SEC,
  };
}
