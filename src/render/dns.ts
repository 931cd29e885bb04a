/**
 * `keel render --only dns`: the site's DNS zones as RFC 1035 master files (§5) and the BIND zone
 * stanzas that load them (contract: `docs/render.md`). The records of each zone come from
 * `siteZones` (`src/dns/zone.ts`), which `keel dns sync` shares; this module only formats them.
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

import { type Rr, siteZones } from "../dns/zone.js";
import type { Inventory } from "../inventory/model.js";
import type { RenderContext, RenderedFile, Renderer } from "./types.js";

export { reverseName, soaRname } from "../dns/zone.js";

/** SOA timers in s: refresh, retry, expire, and the negative-caching TTL (RFC 2308 §4). */
export const SOA_TIMERS = { refresh: 3600, retry: 900, expire: 1209600, negative: 300 } as const;

/** The text the serial takes in a zone before it is decided; never a valid serial. */
const SERIAL_SLOT = "<serial>";
/** Finds the serial in a zone this renderer wrote. */
const SERIAL_LINE = /^\t\t(\d{1,10}) ; serial$/m;

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
  for (const r of rrs)
    lines.push(`${r.owner}\t${r.ttl !== undefined ? `${r.ttl}\t` : ""}IN\t${r.type}\t${r.rdata}`);
  return `${lines.join("\n")}\n`;
}

/**
 * The DNS renderer. @throws UserError when the site has a domain but no name server: neither
 * `dns.servers` nor a host with a service of kind `dns`.
 */
export const dnsRenderer: Renderer<RenderedFile> = {
  kind: "dns",
  render(inv: Inventory, ctx: RenderContext): RenderedFile[] {
    const site = siteZones(inv);
    if (site === undefined) return [];
    const files: RenderedFile[] = [];
    const zones: string[] = [];
    for (const z of site.zones) {
      const path = `dns/db.${z.name}`;
      const what = z.kind === "forward" ? "Forward zone" : "Reverse zone";
      const text = zoneText(z.name, what, inv.site, site.ttl, site.mname, site.rname, z.rrs);
      const serial = serialFor(text, ctx.previous(path), ctx.now);
      files.push({ path, content: text.replace(SERIAL_SLOT, String(serial)) });
      zones.push(z.name);
    }
    const conf = [
      `// Zones of site ${inv.site}, written by keel render. Include this file from named.conf; the file`,
      "// names are relative to named's `directory` option (copy the db.* files there).",
      ...zones.map((z) => `zone "${z}" {\n\ttype primary;\n\tfile "db.${z}";\n};`),
    ];
    files.push({ path: "dns/named.conf.zones", content: `${conf.join("\n")}\n` });
    return files;
  },
};
