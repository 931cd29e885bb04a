/**
 * The wording of inventory problems: how a place in the inventory is named (`host "gpu"`,
 * `service "dns" of host "ns1"`), how a value is shown, and the "did you mean" hints. Every
 * message says what is wrong and what is expected; the texts are part of the CLI's contract
 * (tests compare them).
 */
import type { Segment } from "./raw.js";

/** What a name must look like (networks, hosts, services, vantages, ranges). */
export const DNS_LABEL =
  "a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters";
/** What a port must look like. */
export const PORT_EXPECTED = "N, N/tcp or N/udp with N from 1 to 65535";

/** Levenshtein distance, for "did you mean" hints on misspelled keys and names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** ` (did you mean "X"?)` for the candidate closest to `word`, or "" when none is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD < word.length && bestD <= (word.length <= 4 ? 1 : 2)
    ? ` (did you mean "${best}"?)`
    : "";
}

/** A value as a message shows it: strings quoted, lists and mappings by kind. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** The kind of a value, in words ("a whole number", "a mapping"). */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "number") return Number.isInteger(v) ? "a whole number" : "a number";
  if (typeof v === "boolean") return "a boolean";
  return `a ${typeof v}`;
}

/** JSON Schema type names in words. */
export const TYPE_WORDS: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  null: "empty",
};

/** The value at `segs` in `data`, or undefined where the path breaks. */
export function getIn(data: unknown, segs: readonly Segment[]): unknown {
  let cur = data;
  for (const s of segs) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[String(s)];
  }
  return cur;
}

/**
 * Human description of the thing at `segs`: `host "gpu"`, `service "dns" of host "ns1"`,
 * `port of service "dns" of host "ns1"`, `defaults.ssh`, `the inventory`.
 */
export function describe(data: unknown, segs: readonly Segment[]): string {
  const n = segs.length;
  if (n === 0) return "the inventory";
  const [a, b, c, d] = segs;
  if (n === 1) return String(a);
  if (a === "dns" && b === "records" && typeof c === "number")
    return n === 3
      ? `record ${c + 1} of dns.records`
      : `${segs.slice(3).join(".")} of record ${c + 1} of dns.records`;
  if (a === "serve" || a === "alerts") return describeSettings(data, segs);
  if (a === "backups") return describeBackups(segs);
  if (a === "defaults" && n === 2) return `defaults.${String(b)}`;
  if (n === 2 && a === "networks") return `network "${String(b)}"`;
  if (n === 2 && a === "hosts") return `host "${String(b)}"`;
  if (n === 2 && a === "vantages") return `vantage "${String(b)}"`;
  if (n === 2 && a === "hypervisors") return `hypervisor "${String(b)}"`;
  if (n === 2 && a === "images") return `image "${String(b)}"`;
  if (n === 4 && a === "hypervisors" && c === "networks")
    return `bridge of network "${String(d)}" on hypervisor "${String(b)}"`;
  if (n === 4 && a === "networks" && c === "ranges") return `range "${String(d)}" of network "${String(b)}"`;
  if (n === 4 && a === "hosts" && c === "services" && typeof d === "number") {
    const name = getIn(data, [...segs, "name"]);
    return typeof name === "string"
      ? `service "${name}" of host "${String(b)}"`
      : `service ${d + 1} of host "${String(b)}"`;
  }
  const last = segs[n - 1]!;
  const parent = describe(data, segs.slice(0, -1));
  return typeof last === "number" ? `item ${last + 1} of ${parent}` : `${last} of ${parent}`;
}

/**
 * Human description of a place in `backups:`: `stanza "main"`, `WAL-G backup "app"`, a stanza's
 * servers by pgBackRest's index (`pg2 of stanza "main"`), deeper keys dotted
 * (`schedule.full of stanza "main"`), list items by number (`item 2 of rehearsal.queries of …`).
 */
function describeBackups(segs: readonly Segment[]): string {
  const [, b, c, d, e] = segs;
  if (segs.length === 2) return `backups.${String(b)}`;
  let base = b === "pgbackrest" ? `stanza "${String(c)}"` : `WAL-G backup "${String(c)}"`;
  let rest = segs.slice(3);
  if (d === "postgres" && typeof e === "number") {
    base = `pg${e + 1} of ${base}`;
    rest = segs.slice(5);
  }
  if (rest.length === 0) return base;
  const last = rest[rest.length - 1];
  if (typeof last === "number") return `item ${last + 1} of ${rest.slice(0, -1).join(".")} of ${base}`;
  return `${rest.join(".")} of ${base}`;
}

/**
 * Human description of a place in `serve:` or `alerts:`: the dotted path (`serve.checks.http`),
 * list items by name (`token "alice"`, `webhook "chat"`) or number (`item 2 of alerts.alertmanager`).
 */
function describeSettings(data: unknown, segs: readonly Segment[]): string {
  const [a, b, c] = segs;
  if ((b === "tokens" || b === "webhooks") && typeof c === "number") {
    const name = getIn(data, [a!, b, c, "name"]);
    const what = b === "tokens" ? "API token" : "webhook";
    const base = typeof name === "string" ? `${what} "${name}"` : `${what} ${c + 1} of ${String(a)}.${b}`;
    const rest = segs.slice(3);
    return rest.length === 0 ? base : `${rest.join(".")} of ${base}`;
  }
  const last = segs[segs.length - 1];
  if (typeof last === "number") return `${segs.slice(0, -1).join(".")} item ${last + 1}`;
  return segs.join(".");
}

/** What kind of name the keys of the mapping at `segs` are, for messages about those keys. */
export function keyKind(segs: readonly Segment[]): string {
  const p = segs.join("/");
  if (p === "networks") return "network name";
  if (p === "hosts") return "host name";
  if (p === "vantages") return "vantage name";
  if (p === "hypervisors") return "hypervisor name";
  if (p === "images") return "image name";
  if (p === "backups/pgbackrest") return "stanza name";
  if (p === "backups/walg") return "WAL-G backup name";
  if (/^hypervisors\/[^/]+\/networks$/.test(p)) return "network name";
  if (/^networks\/[^/]+\/ranges$/.test(p)) return "range name";
  if (/\/address$/.test(p)) return "network name";
  return "key";
}
