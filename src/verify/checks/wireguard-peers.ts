/**
 * `wireguard.peers`: each declared WireGuard peer is configured on the host's interface and has
 * a handshake younger than the limit (180 s per the contract). Observed with
 * `wg show IFACE dump` (`wg(8)`).
 */
import type { CheckKindDefinition, CheckOutcome, DeriveContext, SshTarget } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { addressMatches, excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `wireguard.peers` check: derived for a host with `wireguard:`, run on it over SSH. */
export interface WireguardPeersParams {
  kind: "wireguard.peers";
  target: SshTarget;
  interface: string;
  /** Expected peers: name and the addresses that identify it in the peer's allowed-ips. */
  peers: { name: string; addresses: string[] }[];
  /** A handshake older than this (seconds) fails; 180 per the contract. */
  maxHandshakeAgeSec: number;
}

/** One peer line of `wg show IFACE dump`. */
export interface WgPeer {
  publicKey: string;
  /** `host:port`, or null when `(none)`. */
  endpoint: string | null;
  /** CIDR prefixes; empty when `(none)`. */
  allowedIps: string[];
  /** Unix time of the latest handshake, in seconds; 0 = never. */
  latestHandshake: number;
  /** Bytes received / sent. */
  rx: number;
  tx: number;
  /** Persistent keepalive in seconds; null when `off`. */
  keepalive: number | null;
}

/**
 * Parses `wg show IFACE dump` (tab-separated, `wg(8)` "dump"): the interface line (private key,
 * public key, listen port, fwmark; 4 fields) is skipped (it carries the private key and is
 * never kept), each 8-field line is a peer: public-key, preshared-key, endpoint, allowed-ips,
 * latest-handshake, transfer-rx, transfer-tx, persistent-keepalive. The preshared key is
 * dropped too.
 */
export function parseWgDump(output: string): WgPeer[] {
  const peers: WgPeer[] = [];
  for (const line of output.split("\n")) {
    const f = line.split("\t");
    if (f.length !== 8) continue;
    const [publicKey, , endpoint, allowed, hs, rx, tx, ka] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    peers.push({
      publicKey,
      endpoint: endpoint === "(none)" ? null : endpoint,
      allowedIps: allowed === "(none)" || allowed === "" ? [] : allowed.split(","),
      latestHandshake: Number(hs) || 0,
      rx: Number(rx) || 0,
      tx: Number(tx) || 0,
      keepalive: ka === "off" || ka === "" ? null : Number(ka),
    });
  }
  return peers;
}

/** True when one of `addresses` lies inside one of the peer's allowed-ips prefixes. */
export function peerHasAddress(peer: WgPeer, addresses: string[]): boolean {
  return peer.allowedIps.some((prefix) => addresses.some((a) => addressMatches(a, prefix)));
}

/**
 * Judges peers against the declared ones. A declared peer is the configured peer whose
 * allowed-ips contain one of its addresses (the most recent handshake wins when several do).
 * Fails per peer: not configured, no handshake yet, or handshake older than `maxAgeSec`.
 * Peers matching no declared peer are reported in `observed.unexpected` (not a failure).
 *
 * @param nowSec the host's clock, unix seconds (handshake times are the host's too).
 */
export function judgeWireguard(
  iface: string,
  declared: { name: string; addresses: string[] }[],
  peers: WgPeer[],
  nowSec: number,
  maxAgeSec: number,
): CheckOutcome {
  const problems: string[] = [];
  const report: Record<string, unknown>[] = [];
  const matched = new Set<WgPeer>();
  // A peer with no address in the inventory cannot be told apart from the others: undecided.
  const unknown: string[] = [];
  for (const d of declared) {
    const label = `peer ${d.name}`;
    if (d.addresses.length === 0) {
      unknown.push(d.name);
      report.push({ name: d.name, configured: null });
      continue;
    }
    const candidates = peers.filter((p) => peerHasAddress(p, d.addresses));
    candidates.forEach((p) => {
      matched.add(p);
    });
    const best = candidates.sort((a, b) => b.latestHandshake - a.latestHandshake)[0];
    if (!best) {
      problems.push(`${label} (${d.addresses.join(", ")}) is not configured on ${iface}`);
      report.push({ name: d.name, configured: false });
      continue;
    }
    const age = best.latestHandshake === 0 ? null : Math.max(0, nowSec - best.latestHandshake);
    report.push({
      name: d.name,
      configured: true,
      publicKey: best.publicKey,
      endpoint: best.endpoint,
      handshakeAgeSec: age,
    });
    if (age === null) problems.push(`${label}: no handshake yet`);
    else if (age >= maxAgeSec)
      problems.push(`${label}: last handshake ${age} s ago; expected under ${maxAgeSec} s`);
  }
  const unexpected = peers
    .filter((p) => !matched.has(p))
    .map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps, endpoint: p.endpoint }));
  const observed = { peers: report, unexpected };
  const unknownNote = unknown.length
    ? `cannot identify peer${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} on ${iface}: no address in the inventory (give the vantage an \`address:\`)`
    : "";
  if (problems.length > 0) {
    return {
      status: "fail",
      message: [...problems, ...(unknownNote ? [unknownNote] : [])].join("; "),
      observed,
    };
  }
  if (unknownNote) return { status: "error", message: unknownNote, observed };
  const extra = unexpected.length
    ? ` (${unexpected.length} undeclared peer${unexpected.length > 1 ? "s" : ""})`
    : "";
  return {
    status: "pass",
    message: `${iface}: all ${declared.length} peers had a handshake within ${maxAgeSec} s${extra}`,
    observed,
  };
}

/**
 * The command run on the host: the dump without its first (private-key) line, then the host's
 * clock. POSIX sh; keeps `wg`'s exit status (127 when missing).
 */
export function wgCommand(iface: string): string {
  const q = shellQuote(iface);
  return `PATH="$PATH:/usr/sbin:/sbin"; out=$(wg show ${q} dump) || exit $?; printf '%s\\n' "$out" | tail -n +2; date +%s`;
}

/** Runs `wg show IFACE dump` and `date +%s` on the host and judges with `judgeWireguard`. */
export const wireguardPeers: CheckKindDefinition<"wireguard.peers", WireguardPeersParams> = {
  kind: "wireguard.peers",
  transport: "ssh",
  scope: "on-host",
  derive(h, ctx) {
    const wg = h.wireguard;
    if (!wg) return [];
    return [
      {
        service: wg.interface,
        make: (target) => ({
          kind: "wireguard.peers",
          target,
          interface: wg.interface,
          peers: wg.peers.map((name) => ({ name, addresses: peerAddresses(ctx, name) })),
          maxHandshakeAgeSec: WIREGUARD_MAX_HANDSHAKE_AGE_SEC,
        }),
      },
    ];
  },
  async run(spec, ctx) {
    const { target, interface: iface, peers, maxHandshakeAgeSec } = spec.params;
    try {
      const r = await ctx.prober.sshExec(target, wgCommand(iface), ctx.timeoutMs, ctx.signal);
      if (toolMissing(r, "wg")) return undecided(`wg is not installed on ${spec.host}`);
      if (r.code !== 0) {
        // Kernel WireGuard: "No such device"; without the kernel module and without a
        // wireguard-go socket for IFACE, wg(8) says "Protocol not supported".
        if (/no such device|does not exist|protocol not supported/i.test(r.stderr)) {
          return {
            status: "fail",
            message: `${iface} does not exist on ${spec.host}`,
            observed: { interface: null },
          };
        }
        return undecided(`wg show ${iface} dump failed on ${spec.host}: ${excerpt(r.stderr)}`);
      }
      const lines = r.stdout.trimEnd().split("\n");
      const now = Number(lines.at(-1));
      if (!Number.isFinite(now) || now <= 0) return undecided(`cannot read the clock of ${spec.host}`);
      return judgeWireguard(
        iface,
        peers,
        parseWgDump(lines.slice(0, -1).join("\n")),
        now,
        maxHandshakeAgeSec,
      );
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};

/** The contract's limit on WireGuard handshake age, in seconds. */
export const WIREGUARD_MAX_HANDSHAKE_AGE_SEC = 180;

/** Addresses that identify a WireGuard peer (a host's or a vantage's addresses). */
function peerAddresses(ctx: DeriveContext, name: string): string[] {
  const h = ctx.hostsByName.get(name);
  if (h) return h.addresses.map((a) => a.address);
  const v = ctx.inv.vantages.find((x) => x.name === name);
  return v ? v.addresses.map((a) => a.address) : [];
}
