/**
 * `dns.records`: a declared DNS server (`dns.servers`) answers every host's A/AAAA records
 * (`HOST.DOMAIN`) and every host address's PTR record as the inventory says, and its zones'
 * SOA serials are not behind those of the other declared servers the same vantage reaches (a
 * server with a lower serial is stale: it missed a change its peers serve; RFC 1034 §4.3.5).
 * Serials compare as plain numbers (`keel render` writes `YYYYMMDDnn`); RFC 1982 wrap-around is
 * not handled.
 *
 * Questions go through `Prober.dnsQuery`, one batch per server (node's resolver locally, at most
 * 4 in flight; one `dig` run on a via host), all within the check's timeout.
 */

import { reverseName } from "../../dns/zone.js";
import type { Host, Inventory, Vantage } from "../../inventory/model.js";
import { hostPort } from "../../net/hostport.js";
import { parseAddress as parseIp, parsePrefix } from "../../net/prefix.js";
import type {
  CheckKindDefinition,
  CheckOutcome,
  DeriveContext,
  DnsQueryType,
  DnsServerRef,
} from "../kind.js";
import { ProbeError } from "../kind.js";
import { admits, mayReach, probeAddress } from "../reach.js";
import { outcomeOfError, parseAddress, undecided } from "./common.js";

/** The params of a `dns.records` check: derived for each host in `dns.servers` (of a site with a `domain`), from every vantage that may reach it and its service of kind `dns` (if any) admits. */
export interface DnsRecordsParams {
  kind: "dns.records";
  /** The name server asked: the inventory host, the address the vantage reaches it at, the port. */
  server: DnsServerRef;
  /** The other declared servers this vantage may reach: their SOA serials are compared. */
  peers: DnsServerRef[];
  /** Zones whose SOA serial is compared with the peers': the forward zone, then the reverse zones. */
  zones: string[];
  /** Per host: `HOST.DOMAIN` with its expected A and AAAA addresses (empty: none expected). */
  names: { name: string; a: string[]; aaaa: string[] }[];
  /** Per host address: the expected PTR target (`HOST.DOMAIN`, no trailing dot). */
  ptr: { address: string; name: string }[];
}

type Params = DnsRecordsParams;

/** One question and what the server answered. */
export interface DnsAnswer {
  /** `HOST.DOMAIN` for A/AAAA, the address for PTR, the zone for SOA. */
  name: string;
  type: DnsQueryType;
  values: string[];
}

/** A peer's SOA serial of a zone; undefined when the peer did not answer. */
export interface PeerSerial {
  peer: string;
  zone: string;
  serial: string | undefined;
}

/** The questions a dns.records check asks each server: A and AAAA per host, PTR per address. */
export function dnsQuestions(p: Params): { name: string; type: DnsQueryType }[] {
  return [
    ...p.names.flatMap((n) => [
      { name: n.name, type: "A" as const },
      { name: n.name, type: "AAAA" as const },
    ]),
    ...p.ptr.map((x) => ({ name: x.address, type: "PTR" as const })),
  ];
}

/** Canonical form of an answer value: addresses normalised (ipaddr.js), names lowercase without dot. */
function canon(type: DnsQueryType, v: string): string {
  if (type === "A" || type === "AAAA") return parseAddress(v)?.toString() ?? v;
  return v.toLowerCase().replace(/\.$/, "");
}

function sameSet(a: string[], b: string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const listOr = (xs: string[], none: string) => (xs.length ? [...xs].sort().join(", ") : none);

/**
 * Judges one server's answers against the inventory and its zones' SOA serials against its
 * peers'. Fails naming each record that differs (`svc-1.lab.internal A: got 10.20.0.9, expected
 * 10.20.0.20`; `… A: no record, expected …`; `… AAAA: got fd00::9, expected none`) and each zone
 * whose serial is behind a peer's (`SOA serial of lab.internal is 2026120199, behind mon's
 * 2026120200`). Peers that did not answer are left out (their own check reports them).
 *
 * @param serials the server's own SOA serial per zone (`params.zones` order).
 */
export function judgeDnsRecords(
  p: Params,
  answers: DnsAnswer[],
  serials: { zone: string; serial: string }[],
  peerSerials: PeerSerial[],
): CheckOutcome {
  const server = `${p.server.host} (${hostPort(p.server.address, p.server.port)})`;
  const got = (name: string, type: DnsQueryType) =>
    (answers.find((a) => a.name === name && a.type === type)?.values ?? []).map((v) => canon(type, v));
  const problems: string[] = [];
  const compare = (label: string, type: DnsQueryType, actual: string[], expected: string[]) => {
    const want = expected.map((v) => canon(type, v));
    if (sameSet(actual, want)) return;
    if (actual.length === 0) problems.push(`${label} ${type}: no record, expected ${listOr(want, "none")}`);
    else problems.push(`${label} ${type}: got ${listOr(actual, "none")}, expected ${listOr(want, "none")}`);
  };
  for (const n of p.names) {
    compare(n.name, "A", got(n.name, "A"), n.a);
    compare(n.name, "AAAA", got(n.name, "AAAA"), n.aaaa);
  }
  for (const x of p.ptr) compare(x.address, "PTR", got(x.address, "PTR"), [x.name]);
  const stale: string[] = [];
  for (const { zone, serial } of serials) {
    if (serial === "none") {
      problems.push(`${zone} SOA: no record (the zone is not served)`);
      continue;
    }
    for (const ps of peerSerials) {
      if (ps.zone !== zone || ps.serial === undefined) continue;
      if (Number(ps.serial) > Number(serial))
        stale.push(`SOA serial of ${zone} is ${serial}, behind ${ps.peer}'s ${ps.serial}`);
    }
  }
  const asked = answers.length;
  const peersAnswered = [...new Set(peerSerials.filter((x) => x.serial !== undefined).map((x) => x.peer))];
  const silentPeers = [...new Set(peerSerials.filter((x) => x.serial === undefined).map((x) => x.peer))];
  const observed = {
    serials: Object.fromEntries(serials.map((s) => [s.zone, s.serial])),
    mismatches: problems.length,
    stale: stale.length,
    ...(silentPeers.length ? { peersNotAnswering: silentPeers } : {}),
  };
  if (problems.length > 0 || stale.length > 0) {
    const parts = [];
    if (problems.length > 0) parts.push(`disagrees with the inventory: ${problems.join("; ")}`);
    if (stale.length > 0) parts.push(`disagrees with its peers: ${stale.join("; ")}`);
    return { status: "fail", message: `${server} ${parts.join("; ")}`, observed };
  }
  const peerNote = peersAnswered.length ? `; SOA serials not behind ${peersAnswered.join(", ")}` : "";
  return {
    status: "pass",
    message: `${server}: ${asked} answers match the inventory${peerNote}`,
    observed,
  };
}

/** Asks the server (one batch), then each peer's SOA serials (one batch each), then `judgeDnsRecords`. */
export const dnsRecords: CheckKindDefinition<"dns.records", DnsRecordsParams> = {
  kind: "dns.records",
  transport: "network",
  scope: "server",
  derive({ host: h, vantage: v }, ctx) {
    if (!dnsServers(ctx).has(h.name)) return [];
    const ns = h.services.find((s) => s.kind === "dns");
    if (ns && !admits(ns.allow, v)) return [];
    return [{ params: dnsRecordsParams(h, v, ctx), service: ns?.name }];
  },
  async run(spec, ctx) {
    const p = spec.params;
    const deadline = Date.now() + ctx.timeoutMs;
    const left = () => Math.max(50, deadline - Date.now());
    const soa = p.zones.map((zone) => ({ name: zone, type: "SOA" as const }));
    const questions = dnsQuestions(p);
    try {
      const got = await ctx.prober.dnsQuery(
        p.server.address,
        p.server.port,
        [...soa, ...questions],
        left(),
        ctx.signal,
      );
      const serials = p.zones.map((zone, i) => ({ zone, serial: got[i]?.[0] ?? "none" }));
      const answers = questions.map((q, i) => ({ ...q, values: got[soa.length + i] ?? [] }));
      const peerSerials = (
        await Promise.all(
          p.peers.map(async (peer): Promise<PeerSerial[]> => {
            try {
              const s = await ctx.prober.dnsQuery(peer.address, peer.port, soa, left(), ctx.signal);
              return p.zones.map((zone, i) => ({ peer: peer.host, zone, serial: s[i]?.[0] }));
            } catch (e) {
              if (e instanceof ProbeError)
                return p.zones.map((zone) => ({ peer: peer.host, zone, serial: undefined }));
              throw e;
            }
          }),
        )
      ).flat();
      return judgeDnsRecords(p, answers, serials, peerSerials);
    } catch (e) {
      return outcomeOfError(e, (pe) =>
        undecided(
          `${p.server.host} (${hostPort(p.server.address, p.server.port)}) does not answer: ${pe.message}`,
        ),
      );
    }
  },
};

/** The hosts of `dns.servers`, when the site has a `domain` (else none). */
function dnsServers(ctx: DeriveContext): ReadonlySet<string> {
  return ctx.once(
    "dns.records/servers",
    () => new Set(ctx.domain === undefined ? [] : (ctx.inv.dns?.servers ?? [])),
  );
}

/** The name server `ns` as vantage `v` asks it: probe address, port of its dns service (else 53). */
function serverRef(ns: Host, v: Vantage): DnsServerRef {
  const port = ns.services.find((s) => s.kind === "dns")?.port ?? 53;
  return { host: ns.name, address: probeAddress(ns, v), port };
}

/** The params of name server `h`'s check from vantage `v` (the site has a `domain`). */
function dnsRecordsParams(h: Host, v: Vantage, ctx: DeriveContext): DnsRecordsParams {
  const peers = [...dnsServers(ctx)]
    .filter((name) => name !== h.name)
    .map((name) => ctx.hostsByName.get(name))
    .filter((p): p is Host => {
      if (!p || !mayReach(p, v) || (v.type === "via" && v.via === p.name)) return false;
      const ns = p.services.find((s) => s.kind === "dns");
      return !ns || admits(ns.allow, v);
    })
    .map((p) => serverRef(p, v));
  const e = ctx.once("dns.records/expected", () => expectedRecords(ctx.inv, ctx.domain!));
  return {
    kind: "dns.records",
    server: serverRef(h, v),
    peers,
    zones: e.zones,
    names: e.names,
    ptr: e.ptr,
  };
}

/**
 * What every declared DNS server must answer (`dns.records`): `HOST.DOMAIN` → its IPv4 (A) and
 * IPv6 (AAAA) addresses, each address → `HOST.DOMAIN` (PTR), and the zones the renderer writes
 * (the forward zone, then each reverse zone holding a host address, as `src/render/dns.ts` names
 * them: octet boundary for IPv4, nibble boundary for IPv6).
 */
export function expectedRecords(
  inv: Inventory,
  domain: string,
): {
  zones: string[];
  names: { name: string; a: string[]; aaaa: string[] }[];
  ptr: { address: string; name: string }[];
} {
  const lengthOf = new Map(inv.networks.map((n) => [n.name, parsePrefix(n.cidr).length]));
  const reverse = new Set<string>();
  const names = inv.hosts.map((h) => ({
    name: `${h.name}.${domain}`,
    a: h.addresses.filter((a) => !a.address.includes(":")).map((a) => a.address),
    aaaa: h.addresses.filter((a) => a.address.includes(":")).map((a) => a.address),
  }));
  const ptr = inv.hosts.flatMap((h) =>
    h.addresses.map((a) => {
      const addr = parseIp(a.address);
      const v4 = addr.kind() === "ipv4";
      reverse.add(reverseName(addr, lengthOf.get(a.network) ?? (v4 ? 24 : 64)).zone);
      return { address: a.address, name: `${h.name}.${domain}` };
    }),
  );
  return { zones: [domain, ...[...reverse].sort()], names, ptr };
}
