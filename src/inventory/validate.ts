/**
 * Pass 2 of loading: the JSON Schema of `schema.ts` (ajv). `isValid` is the fast path's yes/no;
 * `schemaProblems` turns ajv's errors into located problems worded like every other problem;
 * `pruneToSchema` cuts what the schema rejected so that the cross-reference rules can still run
 * on the rest (every problem reported in one go).
 */
import { createRequire } from "node:module";
import type * as AjvLib from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import type { Problem } from "../errors.js";
import { MAC_EXPECTED } from "../net/mac.js";
import { DURATION_EXPECTED } from "./duration.js";
import {
  DNS_RECORD_TYPES,
  HYPERVISOR_DRIVERS,
  IMAGE_FORMATS,
  PGBACKREST_BACKUP_TYPES,
  SERVICE_KINDS,
  WALG_BACKUP_TYPES,
} from "./model.js";
import type { RawInventory, Segment } from "./raw.js";
import { inventorySchema } from "./schema.js";
import {
  DNS_LABEL,
  describe,
  didYouMean,
  getIn,
  keyKind,
  PORT_EXPECTED,
  show,
  TYPE_WORDS,
  typeName,
} from "./wording.js";
import type { Locator } from "./yaml.js";

/** What a pgBackRest stanza name must look like (the `stanza` definition of `backups.schema.ts`). */
const STANZA_EXPECTED =
  "letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters (e.g. main)";

/** Format versions this Keel reads. */
export const SUPPORTED_VERSIONS = [1] as const;

const require = createRequire(import.meta.url);

let locatedValidator: ValidateFunction | undefined;
/** ajv with every error and its schema (`verbose`), compiled on first use; for located problems. */
function validateSchema(data: unknown): boolean {
  if (!locatedValidator) {
    const { Ajv } = require("ajv") as typeof AjvLib;
    // inlineRefs: false keeps each definition a function of its own: faster to compile
    const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, inlineRefs: false });
    locatedValidator = ajv.compile(inventorySchema);
  }
  const ok = locatedValidator(data);
  validateSchema.errors = locatedValidator.errors;
  return ok;
}
validateSchema.errors = null as ValidateFunction["errors"];

let fastValidator: ((data: unknown) => boolean) | undefined;
/**
 * Yes/no schema validation for the fast path: the validator ajv's standalone mode wrote at build
 * time (`scripts/build-validator.mjs` → `dist/inventory/inventory-validator.cjs`), which loads in
 * a few milliseconds; when running from source, compiled here instead.
 */
export function isValid(data: unknown): boolean {
  if (!fastValidator) {
    try {
      fastValidator = require("./inventory-validator.cjs") as (data: unknown) => boolean;
    } catch {
      const { Ajv } = require("ajv") as typeof AjvLib;
      fastValidator = new Ajv({ allowUnionTypes: true }).compile(inventorySchema);
    }
  }
  return fastValidator(data);
}

/** Maps each (sub)schema object of a definition to the definition's name, to label ajv errors. */
const definitionOf = new Map<object, string>();
for (const [name, def] of Object.entries(inventorySchema.definitions)) definitionOf.set(def, name);

function pathOf(instancePath: string): Segment[] {
  if (instancePath === "") return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/** Array indices stay numbers only where the data is a list (mapping keys like "80" stay strings). */
function fixSegments(data: unknown, segs: Segment[]): Segment[] {
  const out: Segment[] = [];
  let cur = data;
  for (const s of segs) {
    const seg = Array.isArray(cur) ? s : String(s);
    out.push(seg);
    cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[String(s)] : undefined;
  }
  return out;
}

/** True for a whole number (a value that fails only a range, not the type). */
const isWhole = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v);

function valueMessage(
  def: string | undefined,
  e: ErrorObject,
  data: unknown,
  segs: Segment[],
  value: unknown,
): string {
  const label = describe(data, segs);
  const last = segs[segs.length - 1];
  const parent = segs.slice(0, -1);
  // "port \"70000/tcp\" of service \"x\" of host \"gpu\"": the key, its value, then where it is
  const inSettings = segs[0] === "serve" || segs[0] === "alerts";
  const inItem = inSettings && (segs[1] === "tokens" || segs[1] === "webhooks") && segs.length > 3;
  const subj =
    inSettings && !inItem
      ? `${label} ${show(value)}`
      : typeof last === "string" &&
          !(parent.length === 1 && (SECTIONS as readonly string[]).includes(String(parent[0])))
        ? `${last} ${show(value)}${parent.length > 0 ? ` of ${describe(data, parent)}` : ""}`
        : `${label} ${show(value)}`;
  switch (def) {
    case "duration":
      return `${subj} is not a duration; expected ${DURATION_EXPECTED}`;
    case "sha256": {
      // never echo it: a token pasted here by mistake would end up in logs
      const len = typeof value === "string" ? `${value.length} characters` : typeName(value);
      return `${label} is not a SHA-256 (got ${len}); expected 64 hexadecimal digits, e.g. from \`printf %s TOKEN | sha256sum\``;
    }
    case "envRef":
      // never echo it: it is most likely the secret itself
      return `${label} must be an environment variable reference such as \${KEEL_TOKEN}, not the secret itself; set the variable, or give sha256: (the hex SHA-256 of the token) instead`;
    case "url":
      return `${subj} is not an http:// or https:// URL; expected e.g. ${segs[1] === "alertmanager" ? "http://10.20.0.3:9093" : "http://10.20.0.5:8080/hook"}`;
    case "listen":
      return `${subj} is invalid; expected HOST:PORT such as 127.0.0.1:8484`;
    case "version":
      return `keel: ${show(value)} is not a supported format version; this Keel supports version ${SUPPORTED_VERSIONS.join(", ")} (keel: 1)`;
    case "name":
      return `${subj} is not a valid name; expected ${DNS_LABEL}`;
    case "port": {
      const numeric =
        (typeof value === "number" && Number.isInteger(value)) ||
        (typeof value === "string" && /^\d+(\/(tcp|udp))?$/.test(value));
      return `${subj} is ${numeric ? "out of range" : "not a port"}; expected ${PORT_EXPECTED}`;
    }
    case "portNumber":
      return `${subj} is not a port number; expected a whole number from 1 to 65535`;
    case "cidr":
      return `${subj} is not a CIDR prefix; expected ADDRESS/LENGTH such as 10.20.0.0/24`;
    case "address":
      return `${subj} is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)`;
    case "addressForm":
      if (e.keyword === "minProperties")
        return `${label} is empty; expected at least one entry such as { lan: 10.20.0.4 }`;
      return `${subj} is invalid; expected an address (10.20.0.4) or a mapping of network name to address ({ lan: 10.20.0.4 })`;
    case "hostSsh":
      return `${subj} is invalid; expected a mapping of ssh settings (user, port, identity, allow) or false`;
    case "hostNodeExporter":
      return `${subj} is invalid; expected a mapping of node_exporter settings (port, allow) or false`;
    case "http":
      return `${subj} is invalid; expected a path starting with "/" or { path, expect, body }`;
    case "ttl":
      return typeof value === "number" && Number.isInteger(value)
        ? `${subj} is out of range; expected a TTL in seconds from 0 to 2147483647 (RFC 2181 §8)`
        : `${subj} is not a TTL; expected a whole number of seconds from 0 to 2147483647`;
    case "dnsName":
      return `${subj} is not a DNS name; expected a name relative to domain: dot-separated labels of lowercase letters, digits and '-' (e.g. www)`;
    case "domain":
      return `${subj} is not a DNS domain; expected dot-separated labels such as lab.internal`;
    case "allow":
      return `${label} must be a list of names; got ${typeName(value)}`;
    case "mac":
      return `${subj} is not a MAC address; expected auto or ${MAC_EXPECTED}`;
    case "unixUser":
      return `${subj} is not a valid user name; expected a lowercase letter or _, then lowercase letters, digits, _ or -, at most 32 characters`;
    case "sshPublicKey":
      return `${subj} is not an OpenSSH public key; expected one authorized_keys line without options: TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAAC3Nza… ops@lab`;
    case "package":
      return `${subj} is not a package name; expected e.g. qemu-guest-agent`;
    case "vmVcpus":
      return `${subj} ${isWhole(value) ? "is out of range" : "is not a number of virtual CPUs"}; expected a whole number from 1 to 255`;
    case "vmMemory":
      return `${subj} ${isWhole(value) ? "is out of range" : "is not a memory size"}; expected a whole number of MiB, at least 128 (e.g. 2048 for 2 GiB)`;
    case "vmDisk":
      return `${subj} ${isWhole(value) ? "is out of range" : "is not a disk size"}; expected a whole number of GiB from 1 to 65536`;
    case "hypervisorDriver":
      return `${subj} is not a hypervisor driver; expected ${HYPERVISOR_DRIVERS.join(" or ")}`;
    case "libvirtUri":
      return `${label} must be a libvirt connection URI such as qemu:///system or qemu+ssh://root@vega/system; got ${typeName(value)}`;
    case "storagePool":
      return `${subj} is not a storage pool name; expected the name of a libvirt pool, without "/", e.g. default`;
    case "hypervisorDir":
      return `${subj} is not an absolute path; expected a directory on the hypervisor starting with "/", e.g. /var/lib/keel`;
    case "bridge":
      return `bridge ${show(value)} of network "${String(last)}" on hypervisor "${String(segs[1])}" is not a bridge name; expected a Linux interface name such as br0`;
    case "imageDigest":
      // YAML reads a digest made only of digits as a number
      return `${label} must be a string of hex digits; got ${typeName(value)} (quote a digest made only of digits: "0123…")`;
    case "absolutePath":
      return `${subj} is not an absolute path; expected a path starting with "/", e.g. ${last === "dir" ? "/var/tmp/keel-rehearsal" : "/var/lib/postgresql/16/main"}`;
    case "postgresRole":
      return `${subj} is not a role; expected primary or standby`;
    case "pgbackrestSchedule":
    case "walgSchedule": {
      const types = def === "walgSchedule" ? WALG_BACKUP_TYPES : PGBACKREST_BACKUP_TYPES;
      if (e.keyword === "minProperties")
        return `${label} is empty; expected the interval of at least one backup type (${types.join(", ")}), e.g. { full: 7d, ${types[1]}: 1d }`;
      return `${label} must be a mapping of backup type (${types.join(", ")}) to interval; got ${typeName(value)}`;
    }
    case "pgbackrestPostgresList":
      if (e.keyword === "minItems")
        return `${label} is empty; expected the stanza's PostgreSQL servers, e.g. - { host: db-1, data: /var/lib/postgresql/16/main }`;
      return `${label} must be a list of PostgreSQL servers ({ host, data, port, role }); got ${typeName(value)}`;
    case "sqlQuery":
      return `${label} is ${typeof value === "string" ? "empty" : typeName(value)}; expected an SQL statement such as select count(*) from pg_class`;
    case "commandPrefix":
      return `${label} is ${typeof value === "string" ? "empty" : typeName(value)}; expected the words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env`;
    case "imageFormat":
      return `${subj} is not an image format; expected ${IMAGE_FORMATS.join(" or ")}`;
  }
  if (e.keyword === "pattern" && last === "name")
    return `${subj} is not a valid name; expected ${DNS_LABEL} (or node_exporter)`;
  if (e.keyword === "enum" && last === "type" && segs[0] === "dns")
    return `${subj} is not a record type; expected one of ${DNS_RECORD_TYPES.join(", ")}`;
  if (e.keyword === "enum" && last === "kind")
    return `${subj} is not a service kind; expected one of ${SERVICE_KINDS.join(", ")}`;
  if (e.keyword === "const" && last === "local")
    return `${subj} is invalid; expected local: true (or use via: HOST)`;
  if (e.keyword === "type") {
    const t = (e.params as { type: string | string[] }).type;
    const want = (Array.isArray(t) ? t : [t]).map((x) => TYPE_WORDS[x] ?? x).join(" or ");
    return `${label} must be ${want}; got ${typeName(value)}`;
  }
  if (e.keyword === "pattern" && last === "path")
    return `${subj} is invalid; expected an absolute path starting with "/"`;
  if (e.keyword === "minimum" || e.keyword === "maximum") {
    const s = e.parentSchema as { minimum?: number; maximum?: number };
    if (s.maximum === undefined)
      return `${subj} is out of range; expected a whole number of at least ${s.minimum}`;
    return `${subj} is out of range; expected a whole number from ${s.minimum} to ${s.maximum}`;
  }
  if (e.keyword === "enum" && last === "role")
    return `${subj} is not a role; expected viewer (reads) or operator (may also trigger runs)`;
  if (e.keyword === "enum" && last === "host_key_checking")
    return `${subj} is not a host key checking mode; expected accept-new (record unknown hosts' keys) or strict (refuse them)`;
  if (e.keyword === "minProperties") return `${label} is empty; expected at least one entry`;
  if (e.keyword === "enum") {
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return `${subj} is invalid; expected one of ${allowed.map(String).join(", ")}`;
  }
  return `${subj} is invalid: ${e.message ?? "does not match the schema"}`;
}

/**
 * The ajv errors worth reporting: a bad key name yields both the name schema's own error (at the
 * mapping) and a propertyNames error naming the key; only the latter is kept.
 */
function relevantErrors(errors: ErrorObject[]): ErrorObject[] {
  const badKeyNames = new Set(errors.filter((e) => e.keyword === "propertyNames").map((e) => e.instancePath));
  return errors.filter(
    (e) =>
      e.propertyName === undefined &&
      !(
        badKeyNames.has(e.instancePath) &&
        !["propertyNames", "additionalProperties", "required"].includes(e.keyword)
      ),
  );
}

/** Every schema violation of `data`, located with `loc` and worded; empty when it is valid. */
export function schemaProblems(data: unknown, loc: Locator): Problem[] {
  if (validateSchema(data)) return [];
  const problems: Problem[] = [];
  const valueDone = new Set<string>();
  for (const e of relevantErrors(validateSchema.errors ?? [])) {
    const segs = fixSegments(data, pathOf(e.instancePath));
    if (e.keyword === "additionalProperties") {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const props = (e.parentSchema as { properties?: Record<string, unknown> }).properties ?? {};
      const allowed = Object.keys(props);
      if (segs.join("/") === "serve/checks") {
        problems.push({
          pos: loc.pos([...segs, key], "key"),
          message: `unknown check kind "${key}" in serve.checks${didYouMean(key, allowed)}; expected default or one of ${allowed.filter((k) => k !== "default").join(", ")}`,
        });
        continue;
      }
      problems.push({
        pos: loc.pos([...segs, key], "key"),
        message: `unknown key "${key}" in ${describe(data, segs)}${didYouMean(key, allowed)}; expected one of ${allowed.join(", ")}`,
      });
      continue;
    }
    if (e.keyword === "required") {
      const key = (e.params as { missingProperty: string }).missingProperty;
      const hint = key === "keel" ? " (the format version: keel: 1)" : "";
      problems.push({
        pos: loc.pos(segs, segs.length === 0 ? "value" : "key"),
        message: `${describe(data, segs)} is missing required key "${key}"${hint}`,
      });
      continue;
    }
    if (e.keyword === "propertyNames") {
      const name = (e.params as { propertyName: string }).propertyName;
      if (segs[segs.length - 1] === "headers") {
        problems.push({
          pos: loc.pos([...segs, name], "key"),
          message: `header name ${JSON.stringify(name)} in ${describe(data, segs)} is not a valid HTTP header name; expected letters, digits and !#$%&'*+.^_\`|~- (RFC 9110 token)`,
        });
        continue;
      }
      if (segs.join("/") === "backups/pgbackrest") {
        problems.push({
          pos: loc.pos([...segs, name], "key"),
          message: `stanza name ${JSON.stringify(name)} in backups.pgbackrest is not a valid stanza name; expected ${STANZA_EXPECTED}`,
        });
        continue;
      }
      problems.push({
        pos: loc.pos([...segs, name], "key"),
        message: `${keyKind(segs)} ${JSON.stringify(name)} in ${describe(data, segs)} is not a valid name; expected ${DNS_LABEL}`,
      });
      continue;
    }
    const id = e.instancePath;
    if (valueDone.has(id)) continue;
    valueDone.add(id);
    const value = getIn(data, segs);
    const def = definitionOf.get(e.parentSchema as object);
    let message: string;
    if (segs.length === 0 && e.keyword === "type")
      message = `the inventory must be a mapping (keel: 1, site, networks, hosts, …); got ${typeName(value)}`;
    else message = valueMessage(def, e, data, segs, value);
    problems.push({ pos: loc.pos(segs), message });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Between passes 2 and 3: cut what the schema rejected, so the cross-reference rules can still
// run on the rest (every problem in one go) without tripping over ill-typed values.

/** What was cut from the data, so pass 3 neither crashes on it nor reports its consequences. */
export interface Pruned {
  /** Joined paths (`hosts/gpu/ssh`) of the values that were cut. */
  paths: Set<string>;
  /** Names of the entries of the named sections that were cut: they exist, but cannot be checked. */
  names: Record<(typeof SECTIONS)[number], string[]>;
}

/** The sections whose entries other sections refer to by name. */
const SECTIONS = ["networks", "hosts", "vantages", "hypervisors", "images"] as const;

/** A `Pruned` of nothing: what the fast path and a schema-valid file have. */
export function emptyPruned(): Pruned {
  return { paths: new Set(), names: { networks: [], hosts: [], vantages: [], hypervisors: [], images: [] } };
}

/** Deletes the value at `segs` (or the list holding it); false when only the root could go. */
function cut(root: Record<string, unknown>, segs: Segment[], pruned: Pruned): boolean {
  let at = segs.length;
  let cur: unknown = root;
  for (let i = 0; i < segs.length; i++) {
    if (Array.isArray(cur)) {
      at = i; // cut the whole list: removing one item would shift the positions of the others
      break;
    }
    if (cur === undefined) return true; // an enclosing value (a list) was already cut this round
    cur =
      cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[String(segs[i])] : undefined;
  }
  const path = segs.slice(0, at);
  if (path.length === 0) return false;
  const parent = getIn(root, path.slice(0, -1));
  if (parent === null || typeof parent !== "object") return false;
  const key = String(path[path.length - 1]);
  delete (parent as Record<string, unknown>)[key];
  pruned.paths.add(path.join("/"));
  const section = SECTIONS.find((sec) => sec === path[0]);
  if (section && path.length === 2) pruned.names[section].push(key);
  return !(section && path.length === 1); // a whole section gone: names cannot be checked
}

/**
 * Returns a copy of `data` with every part the schema rejects cut out (repeating, since a cut
 * can leave a required key missing), or undefined when too much is wrong to check further.
 */
export function pruneToSchema(data: unknown): { raw: RawInventory; pruned: Pruned } | undefined {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  // pass 3 reads neither keel nor site, and never normalises a file with problems
  const root: Record<string, unknown> = { ...structuredClone(data), keel: 1, site: "x" };
  const pruned = emptyPruned();
  for (let round = 0; round < 8; round++) {
    if (validateSchema(root)) return { raw: root as unknown as RawInventory, pruned };
    for (const e of relevantErrors(validateSchema.errors ?? [])) {
      const segs = fixSegments(root, pathOf(e.instancePath));
      const extra =
        e.keyword === "additionalProperties"
          ? (e.params as { additionalProperty: string }).additionalProperty
          : e.keyword === "propertyNames"
            ? (e.params as { propertyName: string }).propertyName
            : undefined;
      if (!cut(root, extra === undefined ? segs : [...segs, extra], pruned)) return undefined;
    }
  }
  return undefined;
}
