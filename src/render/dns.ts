/**
 * `keel render --only dns`: the site's DNS zones as RFC 1035 master files (§5) and the BIND zone
 * stanzas that load them (contract: `docs/render.md`).
 *
 * - `dns/db.DOMAIN`: the forward zone of `domain`: SOA, NS (`dns.servers`, or else the hosts with
 *   a service of kind `dns`), A/AAAA per host address (owner: the host name), a CNAME per
 *   service with `dns: NAME` (RFC 1034 §3.6.2), then `dns.records`.
 * - `dns/db.REVERSE`: one reverse zone per network, on an octet boundary for IPv4
 *   (`in-addr.arpa`, RFC 1035 §3.5: a /25 gets its /24's zone, a /16 one zone) and a nibble
 *   boundary for IPv6 (`ip6.arpa`, RFC 3596 §2.5), with a PTR per host address.
 * - `dns/named.conf.zones`: a `zone { type primary; file …; }` stanza per zone.
 *
 * Without `domain` there is no zone to render (PTR targets are names in it): nothing is written.
 * Every record is sorted (owner, type, RDATA), so the same inventory gives the same bytes.
 * SOA serial: `YYYYMMDDnn`, kept from the zone file of the previous render when the zone is
 * otherwise unchanged, else max(old + 1, today's `YYYYMMDD00`) (UTC date of `ctx.now`).
 */
import { UserError } from "../errors.js";
import { parseRecordValue } from "../inventory/dns.js";
import type { Inventory } from "../inventory/model.js";
import { type Address, parseAddress, parsePrefix } from "../net/prefix.js";
import type { RenderContext, RenderedFile, Renderer } from "./types.js";

/** SOA timers in s: refresh, retry, expire, and the negative-caching TTL (RFC 2308 §4). */
export const SOA_TIMERS = { refresh: 3600, retry: 900, expire: 1209600, negative: 300 } as const;

/** The text the serial takes in a zone before it is decided; never a valid serial. */
const SERIAL_SLOT = "<serial>";
/** Finds the serial in a zone this renderer wrote. */
const SERIAL_LINE = /^\t\t(\d{1,10}) ; serial$/m;

/** One resource record of a zone, before formatting. */
interface Rr {
  owner: string;
  type: string;
  rdata: string;
  ttl?: number;
}

const TYPE_ORDER = ["SOA", "NS", "A", "AAAA", "CNAME", "MX", "SRV", "TXT", "CAA", "PTR"];

function compareRr(a: Rr, b: Rr): number {
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

/** `YYYYMMDD00` of the UTC date of `now`. */
export function firstSerialOf(now: Date): number {
  const d = now.toISOString().slice(0, 10).replace(/-/g, "");
  return Number(`${d}00`);
}

/**
 * The serial for a zone whose text (with `SERIAL_SLOT` in place of the serial) is `zone`, given
 * the previous render's file: kept when only the serial differs, else max(old + 1, today's first).
 */
export function serialFor(zone: string, previous: string | undefined, now: Date): number {
  const first = firstSerialOf(now);
  const m = previous === undefined ? null : SERIAL_LINE.exec(previous);
  if (!m || previous === undefined) return first;
  const old = Number(m[1]);
  if (previous.replace(SERIAL_LINE, `\t\t${SERIAL_SLOT} ; serial`) === zone) return old;
  return Math.max(old + 1, first);
}

/** Formats a zone: header comment, `$ORIGIN`, `$TTL`, SOA (with `SERIAL_SLOT`), then `rrs` sorted. */
function zoneText(
  origin: string,
  what: string,
  site: string,
  ttl: number,
  mname: string,
  rname: string,
  rrs: Rr[],
): string {
  const lines = [
    `; ${what} ${origin}, written by keel render for site ${site}; edit the inventory, not this file.`,
    `$ORIGIN ${origin}.`,
    `$TTL ${ttl}`,
    `@\tIN\tSOA\t${mname} ${rname} (`,
    `\t\t${SERIAL_SLOT} ; serial`,
    `\t\t${SOA_TIMERS.refresh} ; refresh`,
    `\t\t${SOA_TIMERS.retry} ; retry`,
    `\t\t${SOA_TIMERS.expire} ; expire`,
    `\t\t${SOA_TIMERS.negative} ) ; negative caching TTL`,
  ];
  for (const r of rrs.sort(compareRr))
    lines.push(`${r.owner}\t${r.ttl !== undefined ? `${r.ttl}\t` : ""}IN\t${r.type}\t${r.rdata}`);
  return `${lines.join("\n")}\n`;
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
 * The DNS renderer. @throws UserError when the site has a domain but no name server: neither
 * `dns.servers` nor a host with a service of kind `dns`.
 */
export const dnsRenderer: Renderer<RenderedFile> = {
  kind: "dns",
  render(inv: Inventory, ctx: RenderContext): RenderedFile[] {
    if (inv.domain === undefined) return [];
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

    const files: RenderedFile[] = [];
    const zones: string[] = [];
    const emit = (zone: string, what: string, rrs: Rr[]) => {
      const path = `dns/db.${zone}`;
      const text = zoneText(zone, what, inv.site, ttl, mname, rname, rrs);
      const serial = serialFor(text, ctx.previous(path), ctx.now);
      files.push({ path, content: text.replace(SERIAL_SLOT, String(serial)) });
      zones.push(zone);
    };
    emit(domain, "Forward zone", forward);
    for (const zone of [...reverse.keys()].sort())
      emit(zone, "Reverse zone", [...nsRrs(), ...reverse.get(zone)!]);
    const conf = [
      `// Zones of site ${inv.site}, written by keel render. Include this file from named.conf; the file`,
      "// names are relative to named's `directory` option (copy the db.* files there).",
      ...zones.map((z) => `zone "${z}" {\n\ttype primary;\n\tfile "db.${z}";\n};`),
    ];
    files.push({ path: "dns/named.conf.zones", content: `${conf.join("\n")}\n` });
    return files;
  },
};
