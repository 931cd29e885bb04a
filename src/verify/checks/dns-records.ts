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

import { hostPort } from "../../net/hostport.js";
import type { CheckKindModule, CheckOutcome, CheckParams, DnsQueryType } from "../types.js";
import { ProbeError } from "../types.js";
import { outcomeOfError, parseAddress, undecided } from "./common.js";

type Params = Extract<CheckParams, { kind: "dns.records" }>;

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
export const dnsRecords: CheckKindModule<"dns.records"> = {
  kind: "dns.records",
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
