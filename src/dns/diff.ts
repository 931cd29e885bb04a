/**
 * The difference between the records the inventory wants in a zone and the records a server
 * holds, per RRset (RFC 2181 §5: the records of one owner name and type, sharing one TTL), and
 * its rendering as a plan. Pure: no I/O.
 *
 * Both sides are brought to one canonical form before they are compared: owner names and names
 * in RDATA absolute and lower case (DNS names compare case-insensitively, RFC 4343), A/AAAA in
 * their canonical text (RFC 5952 for IPv6), character-strings (TXT, CAA values) decoded and
 * re-quoted (RFC 1035 §5.1). The SOA (the server owns its serial) and the DNSSEC types the server
 * maintains are never compared (`IGNORED_TYPES`).
 */
import { tryParseAddress } from "../net/prefix.js";
import type { Zone } from "./zone.js";

/** Types the server maintains: never part of a difference (RFC 4034, 5155, 7344, 8976; 65534: BIND's signing state). */
export const IGNORED_TYPES: ReadonlySet<string> = new Set([
  "SOA",
  "RRSIG",
  "NSEC",
  "NSEC3",
  "NSEC3PARAM",
  "DNSKEY",
  "CDS",
  "CDNSKEY",
  "ZONEMD",
  "TYPE65534",
  "TSIG",
]);

/** One resource record in canonical form: `name` absolute and lower case, `ttl` in s. */
export interface CanonicalRr {
  name: string;
  ttl: number;
  type: string;
  rdata: string;
}

/** One RRset: TTL in s, canonical RDATA values sorted. */
export interface RrSetValue {
  ttl: number;
  values: string[];
}

/** One change of a zone, per RRset: `old` absent for an add, `new` absent for a remove. */
export interface Change {
  action: "add" | "change" | "remove";
  /** Owner name, absolute, lower case (`web-1.lab.internal.`). */
  name: string;
  type: string;
  old?: RrSetValue;
  new?: RrSetValue;
}

/** `name` made absolute against `origin` (no final dot) and lower-cased; `@` is the origin. */
export function absoluteName(name: string, origin: string): string {
  if (name === "@") return `${origin.toLowerCase()}.`;
  if (name.endsWith(".")) return name.toLowerCase();
  return `${name}.${origin}.`.toLowerCase();
}

/**
 * Splits presentation-format RDATA into its character-strings or words, decoding `\X` and
 * `\DDD` escapes inside quotes (RFC 1035 §5.1). @returns each string's bytes.
 */
export function parseCharacterStrings(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i++;
      continue;
    }
    const quoted = text[i] === '"';
    if (quoted) i++;
    const bytes: number[] = [];
    while (i < text.length && (quoted ? text[i] !== '"' : !/\s/.test(text[i]!))) {
      const c = text[i]!;
      if (c === "\\" && /^\d{3}$/.test(text.slice(i + 1, i + 4))) {
        bytes.push(Number(text.slice(i + 1, i + 4)));
        i += 4;
      } else if (c === "\\" && i + 1 < text.length) {
        bytes.push(...new TextEncoder().encode(text[i + 1]!));
        i += 2;
      } else {
        bytes.push(...new TextEncoder().encode(c));
        i++;
      }
    }
    if (quoted) i++; // the closing quote
    out.push(Uint8Array.from(bytes));
  }
  return out;
}

/** Character-strings re-quoted as `characterStrings` (`src/inventory/dns.ts`) writes them, one quoted string each. */
function requote(strings: Uint8Array[]): string {
  return strings
    .map((bytes) => {
      let s = "";
      for (const b of bytes) {
        if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
        else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
        else s += `\\${String(b).padStart(3, "0")}`;
      }
      return `"${s}"`;
    })
    .join(" ");
}

/**
 * RDATA of `type` in canonical presentation form, names resolved against `origin` (no final
 * dot). Types Keel does not know keep their text, with runs of white space made single spaces.
 */
export function canonicalRdata(type: string, rdata: string, origin: string): string {
  const v = rdata.trim();
  const w = v.split(/\s+/);
  switch (type) {
    case "A":
    case "AAAA": {
      const a = tryParseAddress(v);
      if (!a) return v;
      return a.kind() === "ipv4" ? a.toString() : (a as { toRFC5952String(): string }).toRFC5952String();
    }
    case "CNAME":
    case "NS":
    case "PTR":
    case "DNAME":
      return absoluteName(v, origin);
    case "MX":
      return w.length === 2 ? `${Number(w[0])} ${absoluteName(w[1]!, origin)}` : w.join(" ");
    case "SRV":
      return w.length === 4
        ? `${w.slice(0, 3).map(Number).join(" ")} ${absoluteName(w[3]!, origin)}`
        : w.join(" ");
    case "TXT":
      return requote(parseCharacterStrings(v));
    case "CAA": {
      const m = /^(\d+)\s+(\S+)\s+(.*)$/.exec(v);
      if (!m) return w.join(" ");
      return `${Number(m[1])} ${m[2]!.toLowerCase()} ${requote([parseCharacterStrings(m[3]!).reduce(concat, new Uint8Array())])}`;
    }
    default:
      return w.join(" ");
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The records the inventory wants in `zone`, canonical. An RRset's TTL is that of its first
 * record in zone-file order (what BIND keeps when it loads the rendered file); `defaultTtl` (s)
 * for records without their own.
 */
export function wantedRecords(zone: Zone, defaultTtl: number): CanonicalRr[] {
  const ttlOf = new Map<string, number>();
  return zone.rrs.map((r) => {
    const name = absoluteName(r.owner, zone.name);
    const key = `${name} ${r.type}`;
    const ttl = ttlOf.get(key) ?? r.ttl ?? defaultTtl;
    ttlOf.set(key, ttl);
    return { name, ttl, type: r.type, rdata: canonicalRdata(r.type, r.rdata, zone.name) };
  });
}

/**
 * Parses dig's answer lines (presentation format, one record per line: `OWNER TTL CLASS TYPE
 * RDATA`), skipping comments (`;`), blank lines and records of other classes than IN.
 * @returns the records, canonical against `origin`, in the order given (an AXFR's SOA twice).
 */
export function parseDigAnswer(text: string, origin: string): CanonicalRr[] {
  const out: CanonicalRr[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith(";")) continue;
    const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(t);
    if (!m || m[3]!.toUpperCase() !== "IN") continue;
    const type = m[4]!.toUpperCase();
    out.push({
      name: absoluteName(m[1]!, origin),
      ttl: Number(m[2]),
      type,
      rdata: canonicalRdata(type, m[5]!, origin),
    });
  }
  return out;
}

/** RRsets keyed `NAME TYPE`, skipping `IGNORED_TYPES`; duplicate values collapse. */
function rrsets(rrs: CanonicalRr[]): Map<string, { name: string; type: string; set: RrSetValue }> {
  const m = new Map<string, { name: string; type: string; set: RrSetValue }>();
  for (const r of rrs) {
    if (IGNORED_TYPES.has(r.type)) continue;
    const key = `${r.name} ${r.type}`;
    const e = m.get(key) ?? { name: r.name, type: r.type, set: { ttl: r.ttl, values: [] } };
    m.set(key, e);
    if (!e.set.values.includes(r.rdata)) e.set.values.push(r.rdata);
  }
  for (const e of m.values()) e.set.values.sort();
  return m;
}

/**
 * The changes that turn `have` (the server's records) into `want` (the inventory's), one per
 * RRset that differs in its values or TTL, sorted by owner name then type. Empty: in sync.
 */
export function diffRecords(want: CanonicalRr[], have: CanonicalRr[]): Change[] {
  const w = rrsets(want);
  const h = rrsets(have);
  const changes: Change[] = [];
  for (const [key, e] of w) {
    const old = h.get(key);
    if (!old) changes.push({ action: "add", name: e.name, type: e.type, new: e.set });
    else if (old.set.ttl !== e.set.ttl || old.set.values.join("\n") !== e.set.values.join("\n"))
      changes.push({ action: "change", name: e.name, type: e.type, old: old.set, new: e.set });
  }
  for (const [key, e] of h)
    if (!w.has(key)) changes.push({ action: "remove", name: e.name, type: e.type, old: e.set });
  return changes.sort((a, b) =>
    a.name !== b.name ? (a.name < b.name ? -1 : 1) : a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

/**
 * A change as plan lines: `+ NAME TTL TYPE VALUE` per added record, `- …` per removed one, and
 * for a change `~ NAME TYPE` then `-`/`+` lines for the values that go and come (a TTL-only change
 * shows `TTL OLD => NEW`).
 */
export function formatChange(c: Change): string[] {
  const line = (sign: string, s: RrSetValue, v: string) => `${sign} ${c.name} ${s.ttl} ${c.type} ${v}`;
  if (c.action === "add") return c.new!.values.map((v) => line("+", c.new!, v));
  if (c.action === "remove") return c.old!.values.map((v) => line("-", c.old!, v));
  const o = c.old!;
  const n = c.new!;
  const ttl = o.ttl !== n.ttl ? ` TTL ${o.ttl} => ${n.ttl}` : "";
  const lines = [`~ ${c.name} ${c.type}${ttl}`];
  for (const v of o.values) if (!n.values.includes(v)) lines.push(`    - ${v}`);
  for (const v of n.values) if (!o.values.includes(v)) lines.push(`    + ${v}`);
  if (lines.length === 1) lines[0] += ` (${n.values.join(", ")})`;
  return lines;
}
