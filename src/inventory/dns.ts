/**
 * The DNS keys of the inventory (`dns:` and a service's `dns: NAME`; contract: `docs/render.md`):
 * their cross-reference rules, run by the loader after the JSON Schema, and the parsing of a
 * record's value into master-file RDATA, shared by the loader (which reports what is wrong) and
 * the zone renderer (`src/render/dns.ts`).
 *
 * Sources: RFC 1035 §3.3 and §5.1 (master files, character-strings), RFC 1034 §3.6.2 (a CNAME
 * owner has no other data), RFC 2181 §8 (TTL range), RFC 2782 (SRV), RFC 8659 (CAA), RFC 3596
 * (AAAA).
 */
import { familyOf, tryParseAddress } from "../net/prefix.js";
import type { CheckContext } from "./context.js";
import type { DnsRecord, DnsRecordType, DnsSettings, SourcePosition } from "./model.js";
import type { RawDns, Segment } from "./raw.js";

/** Default TTL of rendered records, in s. */
export const DEFAULT_TTL = 3600;
/** Default SOA RNAME (a name in the zone). */
export const DEFAULT_CONTACT = "hostmaster";

/** A path in the raw inventory, as the loader's locator takes it. */
type Segs = Segment[];

/** One label of an owner name: letters, digits, `-`, and `_` for service labels (`_sip`, `_dmarc`). */
const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** A host name label in a target (RFC 1123 §2.1: letters, digits, `-`). */
const FQDN_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Checks a record's owner name: `@`, `*`, `*.LABELS` or `LABELS`, relative to the domain.
 * @returns why it is malformed, or undefined when it is fine.
 */
export function ownerNameProblem(name: string): string | undefined {
  if (name === "@" || name === "*") return undefined;
  const labels = (name.startsWith("*.") ? name.slice(2) : name).split(".");
  if (name.endsWith(".")) return 'is an absolute name; expected a name relative to domain ("@" for the apex)';
  if (name.length > 200 || !labels.every((l) => LABEL.test(l)))
    return 'is not a DNS name; expected "@", "*", "*.NAME" or dot-separated labels of letters, digits, "-" and "_" (e.g. www, _sip._tcp)';
  return undefined;
}

/** The parsed value of a record: RDATA in master-file syntax, and the host names it points at. */
export interface RecordValue {
  /** RDATA as written into the zone (relative targets resolve against `$ORIGIN`, the domain). */
  rdata: string;
  /** Host names (relative targets) the record points at; each must be a declared host. */
  hosts: string[];
}

/** A target name: an FQDN (ends in `.`, kept as is), or a host name (relative). */
function target(text: string, allowRoot: boolean): { name: string; host?: string } | string {
  if (text === ".") return allowRoot ? { name: "." } : 'the root "." is no target here';
  const fqdn = text.endsWith(".");
  const labels = (fqdn ? text.slice(0, -1) : text).split(".");
  if (!labels.every((l) => FQDN_LABEL.test(l)) || text.length > 254)
    return `target ${JSON.stringify(text)} is not a DNS name`;
  if (fqdn) return { name: text.toLowerCase() };
  return { name: text, host: text };
}

function uint(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/**
 * Quotes text as RFC 1035 character-strings: `"` and `\` escaped, bytes outside printable ASCII
 * as `\DDD`, split into strings of at most 255 bytes (RFC 1035 §3.3).
 */
export function characterStrings(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const parts: string[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    let s = "";
    for (const b of bytes.subarray(i, i + 255)) {
      if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
      else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
      else s += `\\${String(b).padStart(3, "0")}`;
    }
    parts.push(`"${s}"`);
    if (bytes.length === 0) break;
  }
  return parts.join(" ");
}

/** Already-quoted character-strings (`"a" "b"`): each closed, at most 255 bytes, nothing between. */
const QUOTED = /^"(?:[^"\\]|\\.)*"(?:\s+"(?:[^"\\]|\\.)*")*$/;

/**
 * Parses a record's value (the RDATA as in a master file) for its type.
 * @returns the RDATA to write and the host names it names, or a message saying what is wrong
 *   and what is expected.
 */
export function parseRecordValue(type: DnsRecordType, value: string): RecordValue | string {
  const v = value.trim();
  const words = v.split(/\s+/);
  switch (type) {
    case "A":
    case "AAAA": {
      const a = tryParseAddress(v);
      const fam = type === "A" ? 4 : 6;
      if (!a || familyOf(a) !== fam)
        return `is not an IPv${fam} address; expected e.g. ${fam === 4 ? "10.20.0.4" : "fd00::4"}`;
      return {
        rdata: a.kind() === "ipv4" ? a.toString() : (a as { toRFC5952String(): string }).toRFC5952String(),
        hosts: [],
      };
    }
    case "CNAME":
    case "NS": {
      if (words.length !== 1) return 'expected one target: a host name or an FQDN ending in "."';
      const t = target(words[0]!, false);
      if (typeof t === "string") return `${t}; expected a host name or an FQDN ending in "."`;
      return { rdata: t.name, hosts: t.host ? [t.host] : [] };
    }
    case "MX": {
      const pref = uint(words[0], 65535);
      const t = words.length === 2 ? target(words[1]!, true) : undefined;
      if (pref === undefined || t === undefined || typeof t === "string")
        return `is not PREFERENCE TARGET${typeof t === "string" ? ` (${t})` : ""}; expected e.g. "10 mail" (preference 0-65535, a host name or an FQDN ending in ".")`;
      return { rdata: `${pref} ${t.name}`, hosts: t.host ? [t.host] : [] };
    }
    case "SRV": {
      const nums = words.slice(0, 3).map((w) => uint(w, 65535));
      const t = words.length === 4 ? target(words[3]!, true) : undefined;
      if (nums.some((n) => n === undefined) || t === undefined || typeof t === "string")
        return `is not PRIORITY WEIGHT PORT TARGET${typeof t === "string" ? ` (${t})` : ""}; expected e.g. "10 5 5060 svc-1" (numbers 0-65535, a host name, an FQDN ending in "." or ".")`;
      return { rdata: `${nums.join(" ")} ${t.name}`, hosts: t.host ? [t.host] : [] };
    }
    case "TXT": {
      if (v.startsWith('"')) {
        if (!QUOTED.test(v)) return 'has unbalanced quotes; expected plain text, or "quoted" "strings"';
        return { rdata: v, hosts: [] };
      }
      return { rdata: characterStrings(v), hosts: [] };
    }
    case "CAA": {
      const m = /^(\d{1,3})\s+([A-Za-z0-9]{1,15})\s+(.+)$/.exec(v);
      const flags = m ? uint(m[1], 255) : undefined;
      if (!m || flags === undefined)
        return 'is not FLAGS TAG VALUE; expected e.g. 0 issue "letsencrypt.org" (flags 0-255, tag letters and digits)';
      const val = m[3]!;
      if (val.startsWith('"') && !/^"(?:[^"\\]|\\.)*"$/.test(val))
        return 'has an unbalanced quote in its value; expected e.g. 0 issue "letsencrypt.org"';
      return {
        rdata: `${flags} ${m[2]!.toLowerCase()} ${val.startsWith('"') ? val : characterStrings(val)}`,
        hosts: [],
      };
    }
  }
}

/** One name of the forward zone, for CNAME collisions: what owns it and where. */
interface Owner {
  what: string;
  cname: boolean;
}

/**
 * The cross-reference rules of `dns:` and of services' `dns:` keys, each problem reported with
 * `ctx.problem(segs, message)` at the path that locates it.
 * Rules: a record's name/value malformed for its type; a host name in a CNAME/MX/SRV/NS target
 * that is not a declared host; a `dns.servers` entry naming no host; records or service names
 * without a `domain`; a CNAME sharing its name with other data (RFC 1034 §3.6.2).
 * (TTL ranges are the JSON Schema's.)
 */
export function checkDns(ctx: CheckContext): void {
  const { raw, hostNames } = ctx;
  const report = (segs: Segs, message: string): void => ctx.problem(segs, message);
  const dns = raw.dns;
  const expectHosts = `expected one of ${hostNames.join(", ") || "(no hosts are declared)"}`;
  (dns?.servers ?? []).forEach((s, i) => {
    if (!hostNames.includes(s))
      report(["dns", "servers", i], `dns.servers entry "${s}" is not a host; ${expectHosts}`);
  });
  const owners = new Map<string, Owner>();
  for (const h of Object.keys(raw.hosts ?? {})) owners.set(h, { what: `host "${h}"`, cname: false });
  owners.set("@", { what: "zone apex (SOA, NS)", cname: false });
  const claim = (name: string, o: Owner, segs: Segs) => {
    const key = name.toLowerCase();
    const prev = owners.get(key);
    if (prev && (prev.cname || o.cname)) {
      const cname = o.cname
        ? `CNAME ${JSON.stringify(name)} of ${o.what}`
        : `${o.what} at ${JSON.stringify(name)}`;
      const other = prev.cname ? `CNAME of ${prev.what}` : prev.what;
      report(
        segs,
        `${cname} collides with the ${other}; a name with a CNAME can have no other records (RFC 1034 §3.6.2): pick another name`,
      );
      return;
    }
    if (!prev) owners.set(key, o);
  };
  for (const [h, host] of Object.entries(raw.hosts ?? {}))
    (host.services ?? []).forEach((svc, i) => {
      if (svc.dns === undefined) return;
      const segs = ["hosts", h, "services", i, "dns"];
      if (raw.domain === undefined)
        report(
          segs,
          `dns ${JSON.stringify(svc.dns)} of service "${svc.name}" of host "${h}" needs a domain; add domain: (e.g. lab.internal) at the top level`,
        );
      else claim(svc.dns, { what: `service "${svc.name}" of host "${h}"`, cname: true }, segs);
    });
  (dns?.records ?? []).forEach((r, i) => {
    const segs = ["dns", "records", i];
    const label = `record ${i + 1} of dns.records`;
    if (i === 0 && raw.domain === undefined)
      report(
        ["dns", "records"],
        "dns.records needs a domain for the forward zone; add domain: (e.g. lab.internal) at the top level",
      );
    const nameProblem = ownerNameProblem(r.name);
    if (nameProblem) report([...segs, "name"], `name ${JSON.stringify(r.name)} of ${label} ${nameProblem}`);
    const parsed = parseRecordValue(r.type, r.value);
    if (typeof parsed === "string")
      report([...segs, "value"], `value ${JSON.stringify(r.value)} of ${label} (${r.type}) ${parsed}`);
    else
      for (const h of parsed.hosts)
        if (!hostNames.includes(h))
          report(
            [...segs, "value"],
            `${r.type} record ${i + 1} of dns.records points at "${h}", which is not a declared host; ${expectHosts}, or an FQDN ending in "."`,
          );
    if (!nameProblem && raw.domain !== undefined)
      claim(r.name, { what: `${label} (${r.type})`, cname: r.type === "CNAME" }, [...segs, "name"]);
  });
}

/** `dns:` with its defaults; `pos(segs)` gives each record's position. */
export function normaliseDns(raw: RawDns, pos: (segs: Segs) => SourcePosition): DnsSettings {
  return {
    ttl: raw.ttl ?? DEFAULT_TTL,
    servers: [...(raw.servers ?? [])],
    contact: raw.contact ?? DEFAULT_CONTACT,
    records: (raw.records ?? []).map(
      (r, i): DnsRecord => ({
        name: r.name,
        type: r.type,
        value: r.value,
        ...(r.ttl !== undefined ? { ttl: r.ttl } : {}),
        pos: pos(["dns", "records", i]),
      }),
    ),
  };
}
