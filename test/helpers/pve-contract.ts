/**
 * The Proxmox VE API's contract as the facts file describes it
 * (`test/fixtures/proxmox-api.json`, transcribed from the API viewer's data): matching a request
 * to its endpoint, checking its parameters the way PVE::JSONSchema does (with its wording), and
 * checking an answer against the endpoint's documented `returns`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** One parameter or returned property as the API viewer describes it. */
export interface SchemaEntry {
  type?: string | string[];
  optional?: boolean | number;
  minimum?: number;
  maximum?: number;
  enum?: (string | number)[];
  pattern?: string;
  maxLength?: number;
  minLength?: number;
  format?: unknown;
  default?: unknown;
  items?: SchemaEntry;
  properties?: Record<string, SchemaEntry>;
  [k: string]: unknown;
}

/** One endpoint of the facts file, keyed `METHOD /path/{var}`. */
export interface EndpointFacts {
  parameters?: Record<string, SchemaEntry>;
  returns?: SchemaEntry;
  permissions?: unknown;
  protected?: boolean;
}

/** The facts file. */
export interface ApiFacts {
  source?: unknown;
  endpoints: Record<string, EndpointFacts>;
  facts?: unknown;
}

/** Where the facts file lives. */
export const FACTS_FILE = fileURLToPath(new URL("../fixtures/proxmox-api.json", import.meta.url));

/** Reads the facts file. */
export function loadFacts(file = FACTS_FILE): ApiFacts {
  return JSON.parse(readFileSync(file, "utf8")) as ApiFacts;
}

/** A request matched to an endpoint: its key and the path's variables (decoded). */
export interface Matched {
  key: string;
  template: string;
  vars: Record<string, string>;
  facts: EndpointFacts;
}

/** Finds the endpoint for `method` and the path below `/api2/json`; the most literal template wins. */
export function matchEndpoint(facts: ApiFacts, method: string, path: string): Matched | undefined {
  const segs = path.split("/").filter((s) => s !== "");
  let best: { m: Matched; literals: number } | undefined;
  for (const [key, ef] of Object.entries(facts.endpoints)) {
    const sp = key.indexOf(" ");
    if (key.slice(0, sp) !== method) continue;
    const template = key.slice(sp + 1);
    const tsegs = template.split("/").filter((s) => s !== "");
    if (tsegs.length !== segs.length) continue;
    const vars: Record<string, string> = {};
    let literals = 0;
    let ok = true;
    for (let i = 0; i < tsegs.length && ok; i++) {
      const t = tsegs[i]!;
      const v = /^\{(.+)\}$/.exec(t);
      if (v) {
        try {
          vars[v[1]!] = decodeURIComponent(segs[i]!);
        } catch {
          ok = false;
        }
      } else if (t === segs[i]) literals++;
      else ok = false;
    }
    if (ok && (!best || literals > best.literals)) best = { m: { key, template, vars, facts: ef }, literals };
  }
  return best?.m;
}

const isOptional = (e: SchemaEntry): boolean => e.optional === true || e.optional === 1;

/** The schema entry for `name`, also for enumerated keys such as `net[n]` (net0, net1, …). */
export function entryFor(props: Record<string, SchemaEntry>, name: string): SchemaEntry | undefined {
  const direct = props[name];
  if (direct) return direct;
  for (const [k, e] of Object.entries(props)) {
    const m = /^(.+)\[n\]$/.exec(k);
    if (m && name.startsWith(m[1]!) && /^\d+$/.test(name.slice(m[1]!.length))) return e;
  }
  return undefined;
}

// A few of PVE::JSONSchema's registered string formats.
const FORMATS: Record<string, RegExp> = {
  "pve-node": /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/,
  "pve-storage-id": /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i,
  "pve-vmid": /^\d+$/,
  // PVE::JSONSchema::pve_verify_configid
  "pve-configid": /^[a-z][a-z0-9_-]+$/i,
  "pve-configid-list": /^[a-z][a-z0-9_-]+([,;\s]+[a-z][a-z0-9_-]+)*$/i,
  "pve-snapshot-name": /^[a-zA-Z][a-zA-Z0-9_-]{1,39}$/,
};

/**
 * Checks one parameter's text (as it arrived in a query or form) against its entry; returns
 * PVE::JSONSchema's message for the first problem, or undefined.
 */
export function checkParam(e: SchemaEntry, value: string): string | undefined {
  const types = Array.isArray(e.type) ? e.type : [e.type ?? "string"];
  const type = types[0];
  if (type === "integer" && !/^-?\d+$/.test(value)) return `type check ('integer') failed - got '${value}'`;
  if (type === "number" && !/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value))
    return `type check ('number') failed - got '${value}'`;
  if (type === "boolean" && !/^(0|1|true|false|yes|no|on|off)$/i.test(value))
    return `type check ('boolean') failed - got '${value}'`;
  if (type === "integer" || type === "number") {
    const n = Number(value);
    if (e.minimum !== undefined && n < e.minimum) return `value must have a minimum value of ${e.minimum}`;
    if (e.maximum !== undefined && n > e.maximum) return `value must have a maximum value of ${e.maximum}`;
  }
  if (type === "string") {
    if (e.maxLength !== undefined && value.length > e.maxLength)
      return `value may only be ${e.maxLength} characters long`;
    if (e.minLength !== undefined && value.length < e.minLength)
      return `value must be at least ${e.minLength} characters long`;
    if (e.pattern !== undefined && !new RegExp(`^(?:${e.pattern})$`).test(value))
      return "value does not match the regex pattern";
    if (typeof e.format === "string" && FORMATS[e.format] && !FORMATS[e.format]!.test(value))
      return `value '${value}' does not look like a valid ${e.format.replace(/^pve-/, "")}`;
  }
  if (e.enum && !e.enum.map(String).includes(value))
    return `value '${value}' does not have a value in the enumeration '${e.enum.join(", ")}'`;
  return undefined;
}

/**
 * Checks a request's parameters (path variables, query or form; each a list of the texts sent
 * under that name) against the endpoint's `parameters`: unknown names, missing required ones,
 * types, enums, patterns, bounds. Returns `{name: message}`, empty when all is well.
 */
export function checkParams(ef: EndpointFacts, params: Map<string, string[]>): Record<string, string> {
  const props = ef.parameters ?? {};
  const errors: Record<string, string> = {};
  for (const [name, values] of params) {
    const e = entryFor(props, name);
    if (!e) {
      errors[name] = "property is not defined in schema and the schema does not allow additional properties";
      continue;
    }
    const types = Array.isArray(e.type) ? e.type : [e.type];
    if (values.length > 1 && !types.includes("array")) {
      errors[name] = "property may only be given once";
      continue;
    }
    for (const v of values) {
      const why = types.includes("array") ? (e.items ? checkParam(e.items, v) : undefined) : checkParam(e, v);
      if (why) {
        errors[name] = why;
        break;
      }
    }
  }
  for (const [name, e] of Object.entries(props)) {
    if (!isOptional(e) && !name.endsWith("[n]") && !params.has(name)) {
      errors[name] = "property is missing and it is not optional";
    }
  }
  return errors;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeFits(want: string, v: unknown): boolean {
  const got = typeOf(v);
  if (want === got || want === "any") return true;
  if (want === "number" && got === "integer") return true;
  // PVE's JSON encodes booleans as 0/1 in most answers.
  if (want === "boolean" && (v === 0 || v === 1)) return true;
  return false;
}

/**
 * Checks an answer's `data` against a documented `returns` schema: its type, the properties
 * not marked optional, the type of every documented property present, array items. Returns the
 * problems as `where: what`, empty when it fits. Properties the schema does not list are
 * allowed (PVE answers often carry more than documented).
 */
export function checkReturns(schema: SchemaEntry | undefined, data: unknown, where = "data"): string[] {
  if (!schema || schema.type === undefined) return [];
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (data === null && (types.includes("null") || isOptional(schema))) return [];
  if (!types.some((t) => typeFits(t, data))) {
    return [
      `${where}: expected ${types.join("|")}, got ${typeOf(data)} ${JSON.stringify(data)?.slice(0, 60)}`,
    ];
  }
  const out: string[] = [];
  if (Array.isArray(data) && schema.items) {
    for (const [i, item] of data.entries()) out.push(...checkReturns(schema.items, item, `${where}[${i}]`));
  }
  if (typeOf(data) === "object" && schema.properties) {
    const obj = data as Record<string, unknown>;
    for (const [k, e] of Object.entries(schema.properties)) {
      if (!isOptional(e) && !k.endsWith("[n]") && !(k in obj)) out.push(`${where}.${k}: missing`);
    }
    for (const [k, v] of Object.entries(obj)) {
      const e = entryFor(schema.properties, k);
      if (e && !(v === null && isOptional(e))) out.push(...checkReturns(e, v, `${where}.${k}`));
    }
  }
  return out;
}
