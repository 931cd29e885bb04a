/**
 * The resource records of the zones Keel manages, as a pure function of the inventory: the
 * forward zone of `domain` and one reverse zone per network (contract: `docs/render.md`). Both
 * `keel render --only dns` (which formats them as RFC 1035 master files, `src/render/dns.ts`) and
 * `keel dns sync` (which compares them with a server, `src/dns/diff.ts`) read them from here.
 *
 * - forward: NS (`dns.servers`, or else the hosts with a service of kind `dns`), A/AAAA per host
 *   address (owner: the host name), a CNAME per service with `dns: NAME` (RFC 1034 §3.6.2), then
 *   `dns.records`.
 * - reverse: on an octet boundary for IPv4 (`in-addr.arpa`, RFC 1035 §3.5: a /25 gets its /24's
 *   zone, a /16 one zone) and a nibble boundary for IPv6 (`ip6.arpa`, RFC 3596 §2.5): NS, and a
 *   PTR per host address.
 *
 * The SOA is not among the records (its serial is the renderer's or the server's business); its
 * MNAME and RNAME are given beside them.
 */
import { UserError } from "../errors.js";
import { parseRecordValue } from "../inventory/dns.js";
import type { Inventory } from "../inventory/model.js";
import { type Address, parseAddress, parsePrefix } from "../net/prefix.js";

/**
 * One resource record of a zone, in master-file terms: `owner` relative to the zone's origin
 * (`@` is the apex), `rdata` in presentation format where a name without a final dot is relative
 * to the origin, `ttl` in s (absent: the zone's default, `dns.ttl`).
 */
export interface Rr {
  owner: string;
  type: string;
  rdata: string;
  ttl?: number;
}

/** One zone Keel manages: its name (lower case, no final dot) and its records (no SOA). */
export interface Zone {
  name: string;
  kind: "forward" | "reverse";
  /** Sorted by `compareRr`. */
  rrs: Rr[];
}

/** The zones of a site and what their SOA records hold besides the serial. */
export interface SiteZones {
  /** The forward zone's name: `domain`, lower case, without the final dot. */
  domain: string;
  /** Default TTL of the records (`$TTL`), in s. */
  ttl: number;
  /** The hosts that serve the zones (NS records), the SOA primary first. */
  servers: string[];
  /** SOA MNAME: the first name server, absolute (`ns1.lab.internal.`). */
  mname: string;
  /** SOA RNAME, absolute (RFC 1035 §8). */
  rname: string;
  /** The forward zone first, then the reverse zones sorted by name. */
  zones: Zone[];
}

const TYPE_ORDER = ["SOA", "NS", "A", "AAAA", "CNAME", "MX", "SRV", "TXT", "CAA", "PTR"];

/** Zone file order: the apex first, then by owner, type (`TYPE_ORDER`) and RDATA. */
export function compareRr(a: Rr, b: Rr): number {
  if (a.owner !== b.owner) {
    if (a.owner === "@") return -1;
    if (b.owner === "@") return 1;
    return a.owner < b.owner ? -1 : 1;
  }
  const t = TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type);
  if (t !== 0) return t;
  return a.rdata < b.rdata ? -1 : a.rdata > b.rdata ? 1 : 0;
}

/** The SOA RNAME of `contact` (RFC 1035 §8: the mailbox's `@` becomes a dot, dots before it escaped). */
export function soaRname(contact: string, domain: string): string {
  const at = contact.lastIndexOf("@");
  if (at > 0)
    return `${contact.slice(0, at).replace(/\./g, "\\.")}.${contact.slice(at + 1).replace(/\.$/, "")}.`;
  if (contact.includes(".")) return contact.endsWith(".") ? contact : `${contact}.`;
  return `${contact}.${domain}.`;
}

/** Bytes (IPv4) or nibbles (IPv6) of an address, most significant first. */
function digits(a: Address): string[] {
  const bytes = a.toByteArray();
  if (a.kind() === "ipv4") return bytes.map(String);
  return bytes.flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]);
}

/**
 * The reverse zone holding `addr` for a network of prefix length `length`: the network's prefix
 * rounded down to an octet (IPv4) or nibble (IPv6) boundary, at least one octet or nibble long.
 * @returns the zone name (without the final dot) and the PTR owner of `addr` relative to it.
 */
export function reverseName(addr: Address, length: number): { zone: string; owner: string } {
  const v4 = addr.kind() === "ipv4";
  const width = v4 ? 8 : 4;
  const kept = Math.max(1, Math.floor(length / width));
  const d = digits(addr);
  return {
    zone: `${d.slice(0, kept).reverse().join(".")}.${v4 ? "in-addr.arpa" : "ip6.arpa"}`,
    owner: d.slice(kept).reverse().join("."),
  };
}

/**
 * The zones of `inv` with their records; undefined when the inventory has no `domain` (PTR
 * targets are names in it, so there is no zone at all).
 * @throws UserError when the site has a domain but no name server: neither `dns.servers` nor a
 *   host with a service of kind `dns`.
 */
export function siteZones(inv: Inventory): SiteZones | undefined {
  if (inv.domain === undefined) return undefined;
  const domain = inv.domain.replace(/\.$/, "").toLowerCase();
  const ttl = inv.dns?.ttl ?? 3600;
  const declared = inv.dns?.servers ?? [];
  const servers = declared.length
    ? declared
    : inv.hosts.filter((h) => h.services.some((s) => s.kind === "dns")).map((h) => h.name);
  if (servers.length === 0)
    throw new UserError(
      `${inv.file}: the zones of domain ${domain} need a name server; declare dns: { servers: [HOST] } or give a host a service of kind dns`,
    );
  const ns = servers.map((s) => `${s}.${domain}.`);
  const mname = ns[0]!;
  const rname = soaRname(inv.dns?.contact ?? "hostmaster", domain);
  const nsRrs = (): Rr[] => ns.map((n) => ({ owner: "@", type: "NS", rdata: n }));

  const forward = nsRrs();
  const reverse = new Map<string, Rr[]>();
  for (const net of inv.networks) {
    const p = parsePrefix(net.cidr);
    if (p.length >= (p.family === 4 ? 8 : 4)) reverse.set(reverseName(p.network, p.length).zone, []);
  }
  const lengthOf = new Map(inv.networks.map((n) => [n.name, parsePrefix(n.cidr).length]));
  for (const h of inv.hosts) {
    for (const a of h.addresses) {
      const addr = parseAddress(a.address);
      forward.push({ owner: h.name, type: addr.kind() === "ipv4" ? "A" : "AAAA", rdata: a.address });
      const { zone, owner } = reverseName(
        addr,
        lengthOf.get(a.network) ?? (addr.kind() === "ipv4" ? 24 : 64),
      );
      const rrs = reverse.get(zone) ?? [];
      reverse.set(zone, rrs);
      rrs.push({ owner, type: "PTR", rdata: `${h.name}.${domain}.` });
    }
    for (const s of h.services)
      if (s.dns !== undefined) forward.push({ owner: s.dns, type: "CNAME", rdata: h.name });
  }
  for (const r of inv.dns?.records ?? []) {
    const v = parseRecordValue(r.type, r.value);
    // the loader has rejected malformed values; this guards against a hand-built Inventory
    if (typeof v === "string")
      throw new UserError([{ pos: r.pos, message: `value of ${r.type} record ${v}` }]);
    forward.push({
      owner: r.name,
      type: r.type,
      rdata: v.rdata,
      ...(r.ttl !== undefined ? { ttl: r.ttl } : {}),
    });
  }
  const zones: Zone[] = [{ name: domain, kind: "forward", rrs: forward.sort(compareRr) }];
  for (const name of [...reverse.keys()].sort())
    zones.push({ name, kind: "reverse", rrs: [...nsRrs(), ...reverse.get(name)!].sort(compareRr) });
  return { domain, ttl, servers, mname, rname, zones };
}
