/**
 * Loads a Keel inventory (`shared/design/inventory.md`, format version 1) into the normalised
 * `Inventory` model. Three passes, each reporting every problem it finds, located at the
 * offending key or value as `file:line:col`:
 *
 * 1. YAML syntax (the `yaml` library, with a LineCounter for positions) and duplicate mapping
 *    keys (detected here on the AST, so the message can say what was duplicated and where the
 *    first one is);
 * 2. the JSON Schema of `schema.ts` (ajv, allErrors), with ajv's instance paths mapped back to
 *    YAML node ranges;
 * 3. cross-reference rules (addresses inside networks, names that must exist, overlaps…), run
 *    on what is left after cutting the parts the schema rejected, so one run reports both kinds.
 *
 * A YAML syntax error stops after pass 1 (there is no document to check).
 *
 * Then defaults are merged in (see `model.ts`).
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type * as AjvLib from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import { CORE_SCHEMA, load as loadFast } from "js-yaml";
import type * as YamlLib from "yaml";
import type { Document, LineCounter, Node, Pair, YAMLMap } from "yaml";
import { type Problem, UserError } from "../errors.js";
import { type AddressRequest, type AllocationResult, allocate, type MacRequest } from "../ipam/allocate.js";
import { formatLock, type Lock, lockPathFor, parseLock, readLockText, sameLock } from "../ipam/lock.js";
import { isMulticastMac, MAC_EXPECTED, parseMac } from "../net/mac.js";
import {
  type Address,
  AddressError,
  canonicalAddress,
  contains,
  containsPrefix,
  firstUsable,
  formatPrefix,
  isNetworkOrBroadcast,
  lastUsable,
  overlaps,
  type Prefix,
  parsePrefix,
  tryParseAddress,
} from "../net/prefix.js";
import { checkDns, normaliseDns, type RawDns } from "./dns.js";
import { DURATION_EXPECTED, formatDuration, parseDuration } from "./duration.js";
import type {
  AlertSettings,
  ApiToken,
  CheckSchedule,
  DhcpSettings,
  Host,
  HttpProbe,
  InterfaceAddress,
  Inventory,
  IpamState,
  Network,
  NodeExporterSettings,
  ServeSettings,
  Service,
  ServiceKind,
  SourcePosition,
  SshSettings,
  Vantage,
  VmSettings,
  Webhook,
} from "./model.js";
import { inventorySchema } from "./schema.js";
import { DEFAULT_FLAPPING, DEFAULT_RETENTION, defaultServeSettings, schedules } from "./serve-settings.js";

// ---------------------------------------------------------------------------------------------
// Raw shapes: what the YAML looks like once it has passed the JSON Schema.

type RawAddress = string | Record<string, string>;
interface RawSsh {
  user?: string;
  port?: number;
  identity?: string;
  allow?: string[];
  known_hosts?: string;
  host_key_checking?: "accept-new" | "strict";
}
interface RawNodeExporter {
  port?: number;
  allow?: string[];
}
interface RawService {
  name: string;
  kind?: ServiceKind;
  port: number | string;
  http?: string | { path: string; expect?: number; body?: string };
  allow?: string[];
  dns?: string;
}
interface RawVmUser {
  name: string;
  ssh_authorized_keys?: string[];
  sudo?: boolean;
}
interface RawVmDefaults {
  users?: RawVmUser[];
  packages?: string[];
  package_upgrade?: boolean;
}
interface RawVm extends RawVmDefaults {
  mac?: string;
  instance?: number;
}
interface RawHost {
  address: RawAddress;
  vm?: RawVm;
  tags?: string[];
  sysctl?: Record<string, string | number>;
  wireguard?: { interface: string; port?: number; peers?: string[] };
  ssh?: RawSsh | false;
  node_exporter?: RawNodeExporter | false;
  services?: RawService[];
  listeners?: { ignore?: string[] };
}
interface RawNetwork {
  cidr: string;
  gateway?: string;
  dns?: string[];
  ranges?: Record<string, string>;
  reserved?: string[];
  dhcp?: { range: string; lease?: string };
}
interface RawVantage {
  local?: true;
  networks?: string[];
  host?: string;
  via?: string;
  address?: RawAddress;
}
interface RawSchedule {
  interval?: string;
  fail_after?: number;
  recover_after?: number;
}
interface RawToken {
  name: string;
  role: "viewer" | "operator";
  sha256?: string;
  token?: string;
}
interface RawServe {
  listen?: string;
  checks?: Record<string, RawSchedule>;
  flapping?: { window?: number; changes?: number };
  retention?: { raw?: string; bucket?: string; max_age?: string; per_check?: number };
  tokens?: RawToken[];
}
interface RawWebhook {
  name: string;
  url: string;
  headers?: Record<string, string>;
}
interface RawAlerts {
  alertmanager?: string[];
  webhooks?: RawWebhook[];
}
interface RawInventory {
  keel: 1;
  site: string;
  domain?: string;
  dns?: RawDns;
  networks?: Record<string, RawNetwork>;
  defaults?: { ssh?: RawSsh; node_exporter?: RawNodeExporter; vm?: RawVmDefaults };
  hosts?: Record<string, RawHost>;
  vantages?: Record<string, RawVantage>;
  serve?: RawServe;
  alerts?: RawAlerts;
}

type Segment = string | number;

const DNS_LABEL =
  "a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters";
const PORT_EXPECTED = "N, N/tcp or N/udp with N from 1 to 65535";
const KINDS = ["ssh", "node_exporter", "prometheus", "grafana", "dns", "http"];
/** Format versions this Keel reads. */
export const SUPPORTED_VERSIONS = [1] as const;

// ---------------------------------------------------------------------------------------------
// The validator, compiled once.

// The libraries of the located path (`yaml`, ajv with verbose errors) are loaded on first use:
// a valid inventory never needs them, and they are a good part of the CLI's start-up time.
const require = createRequire(import.meta.url);
let yamlLib: typeof YamlLib | undefined;
/** The `yaml` library, loaded on first use. */
function Y(): typeof YamlLib {
  yamlLib ??= require("yaml") as typeof YamlLib;
  return yamlLib;
}

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
function isValid(data: unknown): boolean {
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

// ---------------------------------------------------------------------------------------------
// Small helpers.

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

function didYouMean(word: string, candidates: readonly string[]): string {
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

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "number") return Number.isInteger(v) ? "a whole number" : "a number";
  if (typeof v === "boolean") return "a boolean";
  return `a ${typeof v}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  null: "empty",
};

function getIn(data: unknown, segs: readonly Segment[]): unknown {
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
function describe(data: unknown, segs: readonly Segment[]): string {
  const n = segs.length;
  if (n === 0) return "the inventory";
  const [a, b, c, d] = segs;
  if (n === 1) return String(a);
  if (a === "dns" && b === "records" && typeof c === "number")
    return n === 3
      ? `record ${c + 1} of dns.records`
      : `${segs.slice(3).join(".")} of record ${c + 1} of dns.records`;
  if (a === "serve" || a === "alerts") return describeSettings(data, segs);
  if (a === "defaults" && n === 2) return `defaults.${String(b)}`;
  if (n === 2 && a === "networks") return `network "${String(b)}"`;
  if (n === 2 && a === "hosts") return `host "${String(b)}"`;
  if (n === 2 && a === "vantages") return `vantage "${String(b)}"`;
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
function keyKind(segs: readonly Segment[]): string {
  const p = segs.join("/");
  if (p === "networks") return "network name";
  if (p === "hosts") return "host name";
  if (p === "vantages") return "vantage name";
  if (/^networks\/[^/]+\/ranges$/.test(p)) return "range name";
  if (/\/address$/.test(p)) return "network name";
  return "key";
}

// ---------------------------------------------------------------------------------------------
// Locating paths in the YAML document.

class Locator {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lc: LineCounter,
  ) {}

  at(offset: number | undefined): SourcePosition {
    if (offset === undefined) return { file: this.file, line: 1, col: 1 };
    const { line, col } = this.lc.linePos(offset);
    return { file: this.file, line: Math.max(1, line), col: Math.max(1, col) };
  }

  /** Key → pair of each mapping, built once per mapping (the last of duplicate keys wins). */
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();

  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let byKey = this.index.get(map);
    if (!byKey) {
      byKey = new Map();
      for (const p of map.items) byKey.set(keyText(p.key), p);
      this.index.set(map, byKey);
    }
    return byKey.get(key);
  }

  private deref(node: unknown): unknown {
    return Y().isAlias(node) ? node.resolve(this.doc) : node;
  }

  /**
   * Position of the value (or, with `key`, of the key) at `segs`; when the path does not exist
   * in full, the position of the deepest part that does.
   */
  pos(segs: readonly Segment[], which: "key" | "value" = "value"): SourcePosition {
    let node: unknown = this.doc.contents;
    let offset: number | undefined = (node as Node | null)?.range?.[0];
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      const cur = this.deref(node);
      let pair: Pair | undefined;
      if (Y().isMap(cur)) {
        pair = this.pairOf(cur, String(s));
        if (!pair) break;
        const keyNode = pair.key as Node | null;
        const keyOffset = keyNode?.range?.[0];
        const valueOffset = (pair.value as Node | null)?.range?.[0];
        if (i === segs.length - 1 && which === "key") return this.at(keyOffset ?? offset);
        offset = valueOffset ?? keyOffset ?? offset;
        node = pair.value;
      } else if (Y().isSeq(cur) && typeof s === "number") {
        const item = cur.items[s] as Node | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return this.at(offset);
  }
}

/** Where the checker and `normalise` get source positions from. */
interface Positions {
  pos(segs: readonly Segment[], which?: "key" | "value"): SourcePosition;
}

/** The hidden part of a lazy position: where to look it up, and what was found. */
interface LazyState {
  owner: LazyPositions;
  path: readonly Segment[];
  which: "key" | "value";
  found: SourcePosition | undefined;
}

/** Key of a lazy position's {@link LazyState}: a non-enumerable own property, so spread, JSON and deep equality skip it. */
const LAZY = Symbol("keel.lazyPosition");

function lazyFound(pos: object): SourcePosition {
  const st = (pos as { [LAZY]: LazyState })[LAZY];
  st.found ??= st.owner.resolve(st.path, st.which);
  return st.found;
}

/**
 * The accessors of every lazy position: the same two functions for all of them (a position of
 * its own closures cost three closures, their context and a property array, ~700 bytes; an
 * inventory of 5,000 hosts holds 40,000 positions, most never read).
 */
const LAZY_ACCESSORS: PropertyDescriptorMap = {
  line: {
    enumerable: true,
    get(this: object) {
      return lazyFound(this).line;
    },
  },
  col: {
    enumerable: true,
    get(this: object) {
      return lazyFound(this).col;
    },
  },
};

/**
 * Positions for an inventory read on the fast path (`js-yaml`, which keeps no positions): each
 * position's `line` and `col` are enumerable getters that, on first use, parse the text once
 * more with `yaml` (which keeps them) and look the path up there. A valid inventory whose
 * positions nobody reads never pays for the second parse.
 */
class LazyPositions implements Positions {
  #loc: Locator | undefined;
  readonly #defaults = new Map<string, SourcePosition>();
  constructor(
    readonly file: string,
    readonly text: string,
  ) {}

  /**
   * A position whose `line` and `col` are own enumerable getters (so spread, JSON and deep
   * equality see plain numbers), resolved on first read.
   */
  pos(segs: readonly Segment[], which: "key" | "value" = "value"): SourcePosition {
    // Every host that takes a setting from `defaults` points at the same place: one position
    // for all of them.
    if (segs[0] === "defaults") {
      const key = `${which}\u0000${segs.join("\u0000")}`;
      let shared = this.#defaults.get(key);
      if (shared === undefined) {
        shared = this.make(segs, which);
        this.#defaults.set(key, shared);
      }
      return shared;
    }
    return this.make(segs, which);
  }

  private make(segs: readonly Segment[], which: "key" | "value"): SourcePosition {
    const pos = { file: this.file };
    Object.defineProperties(pos, LAZY_ACCESSORS);
    const state: LazyState = { owner: this, path: [...segs], which, found: undefined };
    Object.defineProperty(pos, LAZY, { value: state });
    return pos as SourcePosition;
  }

  /** The located position of a path (parses with `yaml` on the first call). */
  resolve(segs: readonly Segment[], which: "key" | "value"): SourcePosition {
    this.#loc ??= parseYaml(this.text, this.file).loc;
    return this.#loc.pos(segs, which);
  }
}

/**
 * The fast path's parse: `js-yaml` with the YAML 1.2 core schema (the schema `yaml` uses too),
 * about eight times faster than `yaml`'s document parse on large inventories.
 * Returns undefined, sending the caller to the slow path (`yaml` with positions, which reports
 * every problem located), when js-yaml rejects the text (syntax errors, duplicate keys, several
 * documents) or when the data shares nodes (YAML anchors and aliases: the slow path bounds
 * their expansion).
 */
function fastParse(text: string): unknown {
  let data: unknown;
  try {
    data = loadFast(text, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  // Sharing needs an alias, an alias needs an anchor, and an anchor is written with `&`: text
  // without one cannot share nodes, and the walk below is skipped.
  if (!text.includes("&")) return data;
  const seen = new Set<object>();
  const shares = (v: unknown): boolean => {
    if (v === null || typeof v !== "object") return false;
    if (seen.has(v)) return true;
    seen.add(v);
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (shares(c)) return true;
    return false;
  };
  return shares(data) ? undefined : data;
}

function keyText(key: unknown): string {
  if (Y().isScalar(key)) return String(key.value ?? "");
  return String(key);
}

// ---------------------------------------------------------------------------------------------
// Pass 1: YAML.

interface Parsed {
  data: unknown;
  loc: Locator;
  problems: Problem[];
}

function parseYaml(text: string, file: string): Parsed {
  const lc = new (Y().LineCounter)();
  const doc = Y().parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const loc = new Locator(file, doc, lc);
  const problems: Problem[] = [];
  for (const e of doc.errors) {
    const msg = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+.*$/, "");
    problems.push({ pos: loc.at(e.pos[0]), message: `YAML syntax error: ${msg}` });
  }
  if (problems.length > 0) return { data: undefined, loc, problems };
  findDuplicateKeys(doc.contents, [], loc, problems);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    problems.push({ pos: loc.at(0), message: `YAML could not be read: ${(e as Error).message}` });
  }
  return { data, loc, problems };
}

function findDuplicateKeys(node: unknown, segs: Segment[], loc: Locator, problems: Problem[]): void {
  if (Y().isMap(node)) {
    const seen = new Map<string, Node | null>();
    for (const pair of node.items) {
      const k = keyText(pair.key);
      const keyNode = pair.key as Node | null;
      const first = seen.get(k);
      if (seen.has(k)) {
        const firstLine = loc.at(first?.range?.[0]).line;
        const kind = keyKind(segs);
        const where =
          kind === "key" || segs[segs.length - 1] === "address" ? ` in ${describe(undefined, segs)}` : "";
        problems.push({
          pos: loc.at(keyNode?.range?.[0]),
          message: `duplicate ${kind} "${k}"${where} (first defined at line ${firstLine}); each must appear once`,
        });
      } else seen.set(k, keyNode);
      findDuplicateKeys(pair.value, [...segs, k], loc, problems);
    }
  } else if (Y().isSeq(node)) {
    node.items.forEach((item, i) => {
      findDuplicateKeys(item, [...segs, i], loc, problems);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Pass 2: JSON Schema.

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
          !(parent.length === 1 && ["networks", "hosts", "vantages"].includes(String(parent[0])))
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
  }
  if (e.keyword === "pattern" && last === "name")
    return `${subj} is not a valid name; expected ${DNS_LABEL} (or node_exporter)`;
  if (e.keyword === "enum" && last === "type" && segs[0] === "dns")
    return `${subj} is not a record type; expected one of A, AAAA, CNAME, MX, TXT, SRV, NS, CAA`;
  if (e.keyword === "enum" && last === "kind")
    return `${subj} is not a service kind; expected one of ${KINDS.join(", ")}`;
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

function schemaProblems(data: unknown, loc: Locator): Problem[] {
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
interface Pruned {
  /** Joined paths (`hosts/gpu/ssh`) of the values that were cut. */
  paths: Set<string>;
  /** Names of networks, hosts and vantages that were cut: they exist, but cannot be checked. */
  names: { networks: string[]; hosts: string[]; vantages: string[] };
}

const SECTIONS = ["networks", "hosts", "vantages"] as const;

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
function pruneToSchema(data: unknown): { raw: RawInventory; pruned: Pruned } | undefined {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  // pass 3 reads neither keel nor site, and never normalises a file with problems
  const root: Record<string, unknown> = { ...structuredClone(data), keel: 1, site: "x" };
  const pruned: Pruned = { paths: new Set(), names: { networks: [], hosts: [], vantages: [] } };
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

// ---------------------------------------------------------------------------------------------
// Pass 3: cross-reference rules, then normalisation.

interface Owner {
  what: string;
  /** Where it was declared, as a path: made a position only when a duplicate is reported. */
  at: readonly Segment[];
}

/** One `auto`/`auto@RANGE` address of a host, waiting for allocation. */
interface AutoSlot extends AddressRequest {
  /** Path of the `auto` value, where an exhausted pool is reported. */
  segs: Segment[];
  /** The host's address entry, filled in by allocation. */
  slot: InterfaceAddress;
}

/** Lease time of DHCP when `dhcp.lease` is absent, in seconds (12h). */
export const DEFAULT_LEASE_SECONDS = 43_200;
/** Shortest DHCP lease accepted, in seconds: dnsmasq's minimum, two minutes (dnsmasq(8) --dhcp-range). */
export const MIN_LEASE_SECONDS = 120;

class Checker {
  readonly problems: Problem[] = [];
  readonly prefixes = new Map<string, Prefix>();
  readonly addressOwners = new Map<string, Owner>();
  /** Every static address accepted so far (hosts and vantages), parsed, for allocation. */
  readonly staticAddresses: Address[] = [];
  /** Valid named ranges by network. */
  readonly rangePrefixes = new Map<string, Map<string, Prefix>>();
  /** Valid `reserved` entries by network (addresses as /32 or /128). */
  readonly reservedPrefixes = new Map<string, Prefix[]>();
  /** `auto` addresses asked for, in inventory order. */
  readonly autos: AutoSlot[] = [];
  /** VMs whose `vm.mac` is valid (static, normalised) or auto, in inventory order. */
  readonly vms: MacRequest[] = [];
  /** Result of `allocateAll`. */
  allocation: AllocationResult | undefined;
  /** The lock file's content as read (undefined without a lock file), set with `allocation`. */
  previousLock: Lock | undefined;
  readonly networkNames: string[];
  readonly hostNames: string[];
  readonly vantageNames: string[];
  readonly allowNames: string[];

  constructor(
    readonly raw: RawInventory,
    readonly loc: Positions,
    readonly pruned: Pruned = { paths: new Set(), names: { networks: [], hosts: [], vantages: [] } },
  ) {
    // names cut by pruneToSchema still exist: references to them are not reported
    this.networkNames = [...Object.keys(raw.networks ?? {}), ...pruned.names.networks];
    this.hostNames = [...Object.keys(raw.hosts ?? {}), ...pruned.names.hosts];
    const declared = [...Object.keys(raw.vantages ?? {}), ...pruned.names.vantages];
    this.vantageNames = declared.length > 0 ? declared : ["local"];
    this.allowNames = ["any", ...this.networkNames, ...this.hostNames, ...this.vantageNames];
  }

  problem(segs: readonly Segment[], message: string, which: "key" | "value" = "value"): void {
    this.problems.push({ pos: this.loc.pos(segs, which), message });
  }

  label(segs: readonly Segment[]): string {
    return describe(this.raw, segs);
  }

  checkNetworks(): void {
    const nets = this.raw.networks ?? {};
    const seen: [string, Prefix][] = [];
    for (const [name, net] of Object.entries(nets)) {
      const segs = ["networks", name];
      let p: Prefix;
      try {
        p = parsePrefix(net.cidr);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
        this.problem([...segs, "cidr"], `cidr of network "${name}": ${e.message}`);
        continue;
      }
      this.prefixes.set(name, p);
      for (const [other, q] of seen) {
        if (overlaps(p, q))
          this.problem(
            [...segs, "cidr"],
            `network "${name}" (${formatPrefix(p)}) overlaps network "${other}" (${formatPrefix(q)}); networks must not overlap`,
          );
      }
      seen.push([name, p]);
      if (net.gateway !== undefined) {
        const g = tryParseAddress(net.gateway);
        if (!g)
          this.problem(
            [...segs, "gateway"],
            `gateway ${show(net.gateway)} of network "${name}" is not an IP address; expected an address inside ${formatPrefix(p)}`,
          );
        else if (!contains(p, g))
          this.problem(
            [...segs, "gateway"],
            `gateway ${net.gateway} of network "${name}" is outside the network; expected an address inside ${formatPrefix(p)}`,
          );
      }
      const ranges: [string, Prefix][] = [];
      for (const [rname, rcidr] of Object.entries(net.ranges ?? {})) {
        const rsegs = [...segs, "ranges", rname];
        let r: Prefix;
        try {
          r = parsePrefix(rcidr);
        } catch (e) {
          if (!(e instanceof AddressError)) throw e;
          this.problem(rsegs, `range "${rname}" of network "${name}": ${e.message}`);
          continue;
        }
        if (!containsPrefix(p, r)) {
          this.problem(
            rsegs,
            `range "${rname}" (${formatPrefix(r)}) is outside network "${name}" (${formatPrefix(p)}); expected a prefix inside it`,
          );
          continue;
        }
        for (const [other, q] of ranges) {
          if (overlaps(r, q))
            this.problem(
              rsegs,
              `range "${rname}" (${formatPrefix(r)}) overlaps range "${other}" (${formatPrefix(q)}) of network "${name}"; ranges must not overlap`,
            );
        }
        ranges.push([rname, r]);
      }
      this.rangePrefixes.set(name, new Map(ranges));
      this.checkReserved(name, net, p);
      this.checkDhcp(name, net);
    }
    // dns entries need host names, so they are checked after all networks are known
    for (const [name, net] of Object.entries(nets)) {
      (net.dns ?? []).forEach((entry, i) => {
        if (this.hostNames.includes(entry) || tryParseAddress(entry)) return;
        this.problem(
          ["networks", name, "dns", i],
          `dns entry ${show(entry)} of network "${name}" is neither a host name nor an IP address${didYouMean(entry, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts)"} or an address`,
        );
      });
    }
  }

  /** `reserved` of network `name`: each an address or prefix inside the network. */
  checkReserved(name: string, net: RawNetwork, p: Prefix): void {
    const out: Prefix[] = [];
    (net.reserved ?? []).forEach((entry, i) => {
      const segs = ["networks", name, "reserved", i];
      let r: Prefix | undefined;
      const addr = tryParseAddress(entry);
      if (addr) r = parsePrefix(`${canonicalAddress(addr)}/${addr.kind() === "ipv4" ? 32 : 128}`);
      else if (entry.includes("/")) {
        try {
          r = parsePrefix(entry);
        } catch (e) {
          if (!(e instanceof AddressError)) throw e;
          this.problem(segs, `reserved entry of network "${name}": ${e.message}`);
          return;
        }
      } else {
        this.problem(
          segs,
          `reserved entry ${show(entry)} of network "${name}" is neither an address nor a CIDR prefix; expected e.g. 10.20.0.250 or 10.20.0.240/29 inside ${formatPrefix(p)}`,
        );
        return;
      }
      if (!containsPrefix(p, r)) {
        this.problem(
          segs,
          `reserved entry ${entry} of network "${name}" is outside the network (${formatPrefix(p)}); expected an address or prefix inside it`,
        );
        return;
      }
      out.push(r);
    });
    this.reservedPrefixes.set(name, out);
  }

  /** `dhcp` of network `name`: its range must be a range of the network; a lease of whole seconds, at least 2m. */
  checkDhcp(name: string, net: RawNetwork): void {
    if (!net.dhcp) return;
    const segs = ["networks", name, "dhcp"];
    const rangeNames = Object.keys(net.ranges ?? {});
    if (!rangeNames.includes(net.dhcp.range))
      this.problem(
        [...segs, "range"],
        `dhcp.range "${net.dhcp.range}" of network "${name}" names no range of that network${didYouMean(net.dhcp.range, rangeNames)}; expected one of ${rangeNames.join(", ") || "(the network declares no ranges: add ranges: { NAME: CIDR })"}`,
      );
    if (net.dhcp.lease !== undefined) {
      const ms = parseDuration(net.dhcp.lease);
      if (ms !== undefined && (ms % 1000 !== 0 || ms < MIN_LEASE_SECONDS * 1000))
        this.problem(
          [...segs, "lease"],
          `dhcp.lease ${net.dhcp.lease} of network "${name}" is ${ms % 1000 !== 0 ? "not a whole number of seconds" : "too short"}; expected whole seconds, at least 2m (dnsmasq's minimum)`,
        );
    }
  }

  /** Resolves a host's or vantage's `address` form; reports problems, returns what is valid. */
  resolveAddresses(segs: Segment[], form: RawAddress, owner: string, host?: string): InterfaceAddress[] {
    const out: InterfaceAddress[] = [];
    const add = (network: string, text: string, at: Segment[]) => {
      const addr = tryParseAddress(text);
      if (!addr) {
        this.problem(
          at,
          `address ${show(text)} of ${owner} is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)`,
        );
        return;
      }
      const p = this.prefixes.get(network);
      if (!p) return; // the network's own cidr problem is already reported
      if (!contains(p, addr)) {
        this.problem(
          at,
          `address ${text} of ${owner} is outside network "${network}" (${formatPrefix(p)}); expected an address inside it`,
        );
        return;
      }
      if (isNetworkOrBroadcast(p, addr)) {
        this.problem(
          at,
          `address ${text} of ${owner} is the network or broadcast address of "${network}" (${formatPrefix(p)}); expected one from ${canonicalAddress(firstUsable(p))} to ${canonicalAddress(lastUsable(p))}`,
        );
        return;
      }
      const canon = canonicalAddress(addr);
      const prev = this.addressOwners.get(canon);
      if (prev) {
        this.problem(
          at,
          `address ${canon} of ${owner} is already used by ${prev.what} (line ${this.loc.pos(prev.at).line}); addresses must be unique across the site`,
        );
        return;
      }
      this.addressOwners.set(canon, { what: owner, at });
      this.staticAddresses.push(addr);
      out.push({ network, address: canon });
    };
    const auto = (network: string, text: string, at: Segment[]) => {
      if (host === undefined) {
        this.problem(at, `address ${text} of ${owner}: auto is only for hosts; expected an IP address`);
        return;
      }
      if (!this.prefixes.has(network)) return; // the network's own cidr problem is already reported
      const range = text.startsWith("auto@") ? text.slice(5) : undefined;
      if (range !== undefined) {
        const names = Object.keys(this.raw.networks?.[network]?.ranges ?? {});
        if (!names.includes(range)) {
          this.problem(
            at,
            `address ${text} of ${owner} names no range of network "${network}"${didYouMean(range, names)}; expected auto or auto@RANGE with RANGE one of ${names.join(", ") || "(the network declares no ranges)"}`,
          );
          return;
        }
        if (!this.rangePrefixes.get(network)?.has(range)) return; // the range's own problem is reported
      }
      const slot: InterfaceAddress = { network, address: "", auto: range !== undefined ? { range } : {} };
      this.autos.push({ host, network, ...(range !== undefined ? { range } : {}), segs: at, slot });
      out.push(slot);
    };
    if (typeof form === "string") {
      if (/^auto(@|$)/.test(form)) {
        this.problem(
          segs,
          `address ${form} of ${owner} does not say which network; expected { NETWORK: ${form} }, e.g. { ${this.networkNames[0] ?? "lan"}: ${form} }`,
        );
        return out;
      }
      const addr = tryParseAddress(form);
      if (!addr) {
        add("", form, segs);
        return out;
      }
      const inNets = [...this.prefixes].filter(([, p]) => contains(p, addr)).map(([n]) => n);
      // a network whose cidr is broken might be the one meant: say nothing rather than guess
      const allUsable = this.prefixes.size === this.networkNames.length;
      if (inNets.length === 1) add(inNets[0]!, form, segs);
      else if (inNets.length === 0 && allUsable)
        this.problem(
          segs,
          `address ${form} of ${owner} is in no network; expected an address inside one of ${[...this.prefixes].map(([n, p]) => `${n} (${formatPrefix(p)})`).join(", ") || "the networks (none are declared)"}`,
        );
      else if (inNets.length > 1)
        this.problem(
          segs,
          `address ${form} of ${owner} is in more than one network (${inNets.join(", ")}); write { NETWORK: ${form} } to say which`,
        );
      return out;
    }
    for (const [net, text] of Object.entries(form)) {
      if (!this.networkNames.includes(net)) {
        this.problem(
          [...segs, net],
          `unknown network "${net}" in address of ${owner}${didYouMean(net, this.networkNames)}; expected one of ${this.networkNames.join(", ") || "(no networks are declared)"}`,
          "key",
        );
        continue;
      }
      if (/^auto(@|$)/.test(text)) auto(net, text, [...segs, net]);
      else add(net, text, [...segs, net]);
    }
    return out;
  }

  /** `vm.mac` of every VM: auto, or a unicast MAC used by no other VM. */
  checkVms(): void {
    const seen = new Map<string, { host: string; segs: Segment[] }>();
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      if (!host.vm) continue;
      const text = host.vm.mac ?? "auto";
      if (text === "auto") {
        this.vms.push({ host: name });
        continue;
      }
      const segs = ["hosts", name, "vm", "mac"];
      const mac = parseMac(text);
      if (!mac) continue; // the schema's pattern already reported it
      if (isMulticastMac(mac)) {
        this.problem(
          segs,
          `mac ${text} of host "${name}" is a multicast (group) address: the I/G bit of its first octet is set; expected a unicast MAC (first octet even, e.g. 52:54:00:…) or auto`,
        );
        continue;
      }
      const first = seen.get(mac);
      if (first) {
        this.problem(
          segs,
          `mac ${text} of host "${name}" is already used by host "${first.host}" (line ${this.loc.pos(first.segs).line}); MACs must be unique across the site`,
        );
        continue;
      }
      seen.set(mac, { host: name, segs });
      this.vms.push({ host: name, mac });
    }
  }

  /**
   * Allocates the `auto` addresses and MACs (`src/ipam/allocate.ts`) against the previous `lock`;
   * an exhausted pool is a problem at the `auto` value.
   */
  allocateAll(site: string, lock: Lock | undefined): void {
    const networks = [...this.prefixes].map(([name, prefix]) => {
      const gw = this.raw.networks?.[name]?.gateway;
      const gateway = gw !== undefined ? tryParseAddress(gw) : undefined;
      return {
        name,
        prefix,
        ...(gateway && contains(prefix, gateway) ? { gateway } : {}),
        ranges: [...(this.rangePrefixes.get(name) ?? [])].map(([rname, p]) => ({ name: rname, prefix: p })),
        reserved: this.reservedPrefixes.get(name) ?? [],
      };
    });
    const result = allocate({
      site,
      networks,
      statics: this.staticAddresses,
      requests: this.autos,
      vms: this.vms,
      ...(lock ? { lock } : {}),
      hosts: this.hostNames,
    });
    for (const ex of result.exhausted) {
      const req = this.autos[ex.index]!;
      this.problem(
        req.segs,
        `address auto${req.range !== undefined ? `@${req.range}` : ""} of host "${req.host}" cannot be allocated: ${ex.pool} is exhausted (all ${ex.size} addresses are used, reserved or excluded); widen it, free an address, or allocate from another range`,
      );
    }
    this.autos.forEach((req, i) => {
      const a = result.addresses[i];
      if (a !== undefined) req.slot.address = a;
    });
    this.allocation = result;
    this.previousLock = lock;
  }

  checkAllow(segs: Segment[], allow: string[] | undefined): void {
    (allow ?? []).forEach((name, i) => {
      if (this.allowNames.includes(name)) return;
      this.problem(
        [...segs, i],
        `${this.label(segs)} names "${name}", which is not a network, host or vantage${didYouMean(name, this.allowNames)}; expected one of ${this.allowNames.join(", ")}`,
      );
    });
  }

  checkHosts(): Map<string, InterfaceAddress[]> {
    const addresses = new Map<string, InterfaceAddress[]>();
    const d = this.raw.defaults ?? {};
    this.checkAllow(["defaults", "ssh", "allow"], d.ssh?.allow);
    this.checkAllow(["defaults", "node_exporter", "allow"], d.node_exporter?.allow);
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      const segs = ["hosts", name];
      addresses.set(name, this.resolveAddresses([...segs, "address"], host.address, `host "${name}"`, name));
      if (host.ssh) this.checkAllow([...segs, "ssh", "allow"], host.ssh.allow);
      if (host.node_exporter) this.checkAllow([...segs, "node_exporter", "allow"], host.node_exporter.allow);
      const serviceLines = new Map<string, Segment[]>(); // first declaration of each name
      (host.services ?? []).forEach((svc, i) => {
        const ss = [...segs, "services", i];
        const first = serviceLines.get(svc.name);
        if (first !== undefined)
          this.problem(
            [...ss, "name"],
            `service name "${svc.name}" is used twice on host "${name}" (first at line ${this.loc.pos(first).line}); service names must be unique per host`,
          );
        else serviceLines.set(svc.name, [...ss, "name"]);
        this.checkAllow([...ss, "allow"], svc.allow);
        if (typeof svc.http === "object" && svc.http.body !== undefined) {
          try {
            new RegExp(svc.http.body);
          } catch (e) {
            this.problem(
              [...ss, "http", "body"],
              `body ${show(svc.http.body)} of ${this.label(ss)} is not a valid regular expression (${(e as Error).message}); expected JavaScript RegExp syntax`,
            );
          }
        }
      });
      (host.listeners?.ignore ?? []).forEach((entry, i) => {
        if (tryParseAddress(entry)) return;
        if (entry.includes("/")) {
          try {
            parsePrefix(entry);
            return;
          } catch (e) {
            if (!(e instanceof AddressError)) throw e;
            this.problem(
              [...segs, "listeners", "ignore", i],
              `listeners.ignore of host "${name}": ${e.message}`,
            );
            return;
          }
        }
        this.problem(
          [...segs, "listeners", "ignore", i],
          `listeners.ignore entry ${show(entry)} of host "${name}" is neither an address nor a CIDR prefix; expected e.g. 127.0.0.0/8 or ::1`,
        );
      });
    }
    return addresses;
  }

  checkWireguard(): void {
    const peerNames = [...this.hostNames, ...Object.keys(this.raw.vantages ?? {})];
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      (host.wireguard?.peers ?? []).forEach((peer, i) => {
        if (peerNames.includes(peer)) return;
        this.problem(
          ["hosts", name, "wireguard", "peers", i],
          `wireguard peer "${peer}" of host "${name}" is not a host or vantage${didYouMean(peer, peerNames)}; expected one of ${peerNames.join(", ")}`,
        );
      });
    }
  }

  checkVantages(): Map<string, InterfaceAddress[]> {
    const out = new Map<string, InterfaceAddress[]>();
    for (const [name, v] of Object.entries(this.raw.vantages ?? {})) {
      const segs = ["vantages", name];
      if (v.via !== undefined) {
        if (v.local)
          this.problem(
            [...segs, "local"],
            `vantage "${name}" has both local and via; expected either local: true or via: HOST`,
            "key",
          );
        for (const k of ["networks", "host", "address"] as const) {
          if (v[k] !== undefined)
            this.problem(
              [...segs, k],
              `vantage "${name}" uses via, so it sits in the networks and addresses of host "${v.via}"; remove ${k}`,
              "key",
            );
        }
        if (!this.hostNames.includes(v.via))
          this.problem(
            [...segs, "via"],
            `via "${v.via}" of vantage "${name}" is not a host${didYouMean(v.via, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts are declared)"}`,
          );
        continue;
      }
      if (!v.local) {
        if (
          this.pruned.paths.has([...segs, "local"].join("/")) ||
          this.pruned.paths.has([...segs, "via"].join("/"))
        )
          continue; // its local/via value is already reported
        this.problem(segs, `vantage "${name}" needs either local: true or via: HOST`, "key");
        continue;
      }
      if (v.networks !== undefined && v.host !== undefined)
        this.problem(
          [...segs, "host"],
          `vantage "${name}" has both networks and host; expected one of them (host means the networks of that host)`,
          "key",
        );
      (v.networks ?? []).forEach((net, i) => {
        if (this.networkNames.includes(net)) return;
        this.problem(
          [...segs, "networks", i],
          `network "${net}" of vantage "${name}" does not exist${didYouMean(net, this.networkNames)}; expected one of ${this.networkNames.join(", ") || "(no networks are declared)"}`,
        );
      });
      if (v.host !== undefined && !this.hostNames.includes(v.host))
        this.problem(
          [...segs, "host"],
          `host "${v.host}" of vantage "${name}" does not exist${didYouMean(v.host, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts are declared)"}`,
        );
      if (v.address !== undefined)
        out.set(name, this.resolveAddresses([...segs, "address"], v.address, `vantage "${name}"`));
    }
    return out;
  }

  /** Rules of `serve:` the schema cannot express: interval floor, flapping, retention order, tokens. */
  checkServe(): void {
    const serve = this.raw.serve;
    if (!serve) return;
    if (serve.listen !== undefined && !parseListen(serve.listen))
      this.problem(
        ["serve", "listen"],
        `serve.listen ${show(serve.listen)} is invalid; expected HOST:PORT with an IP address or host name and a port from 0 to 65535, e.g. 127.0.0.1:8484 or [::1]:8484`,
      );
    for (const [kind, sched] of Object.entries(serve.checks ?? {})) {
      if (sched.interval === undefined) continue;
      const ms = parseDuration(sched.interval);
      if (ms !== undefined && ms < MIN_INTERVAL_MS)
        this.problem(
          ["serve", "checks", kind, "interval"],
          `serve.checks.${kind}.interval ${sched.interval} is too short; expected at least 1s`,
        );
    }
    const f = serve.flapping;
    if (f?.changes !== undefined) {
      const window = f.window ?? DEFAULT_FLAPPING.window;
      if (f.changes >= window)
        this.problem(
          ["serve", "flapping", "changes"],
          `serve.flapping.changes ${f.changes} can never be reached: ${window} results hold at most ${window - 1} changes; expected a number from 1 to ${window - 1}`,
        );
    }
    const r = serve.retention ?? {};
    for (const key of ["raw", "bucket", "max_age"] as const) {
      const text = r[key];
      if (text !== undefined && parseDuration(text) === 0)
        this.problem(
          ["serve", "retention", key],
          `serve.retention.${key} is 0; expected a duration above zero`,
        );
    }
    if (r.max_age !== undefined) {
      const maxAge = parseDuration(r.max_age);
      const raw = r.raw !== undefined ? parseDuration(r.raw) : DEFAULT_RETENTION.rawMs;
      if (maxAge !== undefined && maxAge > 0 && raw !== undefined && maxAge < raw)
        this.problem(
          ["serve", "retention", "max_age"],
          `serve.retention.max_age ${r.max_age} is shorter than raw (${r.raw ?? formatDuration(raw)}); expected at least as long as raw`,
        );
    }
    const names = new Map<string, SourcePosition>();
    (serve.tokens ?? []).forEach((t, i) => {
      const segs = ["serve", "tokens", i];
      const hasHash = t.sha256 !== undefined;
      const hasToken = t.token !== undefined;
      if (hasHash === hasToken)
        this.problem(
          segs,
          `${this.label(segs)} has ${hasHash ? "both sha256 and token" : "neither sha256 nor token"}; expected exactly one: sha256: HEX (the token's SHA-256) or token: \${ENV_VAR}`,
        );
      const first = names.get(t.name);
      if (first !== undefined)
        this.problem(
          [...segs, "name"],
          `API token name "${t.name}" is used twice (first at line ${first.line}); token names must be unique`,
        );
      else names.set(t.name, this.loc.pos([...segs, "name"]));
    });
  }

  /** Rules of `alerts:` the schema cannot express: URLs that parse, unique webhook names. */
  checkAlerts(): void {
    const alerts = this.raw.alerts;
    if (!alerts) return;
    (alerts.alertmanager ?? []).forEach((url, i) => {
      const why = urlProblem(url);
      if (why)
        this.problem(
          ["alerts", "alertmanager", i],
          `alertmanager URL ${why.secret ? `(item ${i + 1})` : show(url)} ${why.message}; expected Alertmanager's base URL such as http://10.20.0.3:9093`,
        );
    });
    const names = new Map<string, SourcePosition>();
    (alerts.webhooks ?? []).forEach((w, i) => {
      const segs = ["alerts", "webhooks", i];
      const why = urlProblem(w.url);
      if (why)
        this.problem(
          [...segs, "url"],
          `url ${why.secret ? "" : `${show(w.url)} `}of ${this.label(segs)} ${why.message}; expected e.g. http://10.20.0.5:8080/hook`,
        );
      const first = names.get(w.name);
      if (first !== undefined)
        this.problem(
          [...segs, "name"],
          `webhook name "${w.name}" is used twice (first at line ${first.line}); webhook names must be unique`,
        );
      else names.set(w.name, this.loc.pos([...segs, "name"]));
    });
  }
}

/** Shortest interval `serve.checks` accepts, in ms. */
export const MIN_INTERVAL_MS = 1000;

/**
 * Splits a listen address `HOST:PORT` (`[IPv6]:PORT` for IPv6) into host and port.
 * @returns undefined when it is not one (no port, port outside 0–65535, bad host).
 */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2]!;
  const hostname =
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  return isIP(host) === 4 || hostname.test(host) ? { host, port } : undefined;
}

/**
 * Why `url` is not a usable http(s) URL for sending alerts, or undefined when it is; `secret`
 * when the URL holds credentials and must not be echoed.
 */
function urlProblem(url: string): { message: string; secret?: true } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { message: "is not a URL" };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return { message: "is not http:// or https://" };
  if (u.hostname === "") return { message: "has no host" };
  if (u.username !== "" || u.password !== "")
    return { message: "holds credentials (user:password@), a literal secret in the inventory", secret: true };
  return undefined;
}

function uniqueNetworks(addrs: InterfaceAddress[]): string[] {
  return [...new Set(addrs.map((a) => a.network))];
}

function normaliseHttp(http: RawService["http"], kind: ServiceKind | undefined): HttpProbe | undefined {
  if (typeof http === "string") return { path: http, expect: 200 };
  if (http)
    return {
      path: http.path,
      expect: http.expect ?? 200,
      ...(http.body !== undefined ? { body: http.body } : {}),
    };
  return kind === "http" ? { path: "/", expect: 200 } : undefined;
}

function normalise(
  raw: RawInventory,
  file: string,
  loc: Positions,
  checker: Checker,
  hostAddresses: Map<string, InterfaceAddress[]>,
  vantageAddresses: Map<string, InterfaceAddress[]>,
): Inventory {
  const d = raw.defaults ?? {};
  const defaultSsh: SshSettings = {
    user: d.ssh?.user ?? "root",
    port: d.ssh?.port ?? 22,
    ...(d.ssh?.identity !== undefined ? { identity: d.ssh.identity } : {}),
    allow: [...(d.ssh?.allow ?? ["any"])],
  };
  const defaultNodeExporter: NodeExporterSettings = {
    port: d.node_exporter?.port ?? 9100,
    allow: [...(d.node_exporter?.allow ?? ["any"])],
  };

  const networks: Network[] = Object.entries(raw.networks ?? {}).map(([name, net]) => {
    const p = checker.prefixes.get(name)!;
    return {
      name,
      cidr: formatPrefix(p),
      family: p.family,
      ...(net.gateway !== undefined ? { gateway: canonicalAddress(net.gateway) } : {}),
      dns: [...(net.dns ?? [])],
      ranges: Object.entries(net.ranges ?? {}).map(([rname, cidr]) => ({
        name: rname,
        cidr: formatPrefix(parsePrefix(cidr)),
      })),
      reserved: (net.reserved ?? []).map((r) =>
        r.includes("/") ? formatPrefix(parsePrefix(r)) : canonicalAddress(r),
      ),
      ...(net.dhcp ? { dhcp: normaliseDhcp(net.dhcp) } : {}),
      pos: loc.pos(["networks", name], "key"),
    };
  });
  const allocation = checker.allocation!;
  const macOf = new Map(checker.vms.map((vm, i) => [vm.host, allocation.macs[i]!]));

  const hosts: Host[] = Object.entries(raw.hosts ?? {}).map(([name, h]) => {
    const segs = ["hosts", name];
    const tags = [...(h.tags ?? [])];
    const ssh: SshSettings | undefined =
      h.ssh === false
        ? undefined
        : {
            user: h.ssh?.user ?? defaultSsh.user,
            port: h.ssh?.port ?? defaultSsh.port,
            ...((h.ssh?.identity ?? defaultSsh.identity) !== undefined
              ? { identity: (h.ssh?.identity ?? defaultSsh.identity)! }
              : {}),
            allow: [...(h.ssh?.allow ?? defaultSsh.allow)],
          };
    const nodeExporter: NodeExporterSettings | undefined =
      h.node_exporter === false
        ? undefined
        : h.node_exporter !== undefined || tags.includes("monitored")
          ? {
              port: h.node_exporter?.port ?? defaultNodeExporter.port,
              allow: [...(h.node_exporter?.allow ?? defaultNodeExporter.allow)],
            }
          : undefined;
    const services: Service[] = (h.services ?? []).map((s, i) => {
      const [portText, proto] = String(s.port).split("/");
      const http = normaliseHttp(s.http, s.kind);
      return {
        name: s.name,
        ...(s.kind !== undefined ? { kind: s.kind } : {}),
        port: Number(portText),
        protocol: proto === "udp" ? "udp" : "tcp",
        allow: [...(s.allow ?? ["any"])],
        ...(http ? { http } : {}),
        ...(s.dns !== undefined ? { dns: s.dns } : {}),
        fromDefaults: false,
        pos: loc.pos([...segs, "services", i]),
      };
    });
    const declared = new Set(services.map((s) => s.name));
    const hostPos = loc.pos(segs, "key"); // also where implied services point
    const defaultPos = (key: string, defaultKey: string): SourcePosition =>
      (h as unknown as Record<string, unknown>)[key] !== undefined
        ? loc.pos([...segs, key], "key")
        : (d as Record<string, unknown>)[defaultKey] !== undefined
          ? loc.pos(["defaults", defaultKey], "key")
          : hostPos;
    if (ssh && !declared.has("ssh"))
      services.push({
        name: "ssh",
        kind: "ssh",
        port: ssh.port,
        protocol: "tcp",
        allow: [...ssh.allow],
        fromDefaults: true,
        pos: defaultPos("ssh", "ssh"),
      });
    if (nodeExporter && !declared.has("node_exporter"))
      services.push({
        name: "node_exporter",
        kind: "node_exporter",
        port: nodeExporter.port,
        protocol: "tcp",
        allow: [...nodeExporter.allow],
        fromDefaults: true,
        pos: defaultPos("node_exporter", "node_exporter"),
      });
    return {
      name,
      addresses: hostAddresses.get(name) ?? [],
      tags,
      sysctl: Object.fromEntries(Object.entries(h.sysctl ?? {}).map(([k, v]) => [k, String(v)])),
      ...(h.wireguard
        ? {
            wireguard: {
              interface: h.wireguard.interface,
              ...(h.wireguard.port !== undefined ? { port: h.wireguard.port } : {}),
              peers: [...(h.wireguard.peers ?? [])],
            },
          }
        : {}),
      services,
      ...(ssh ? { ssh } : {}),
      listenersIgnore: [...(h.listeners?.ignore ?? [])],
      ...(h.vm ? { vm: normaliseVm(h.vm, d.vm, macOf.get(name)!, loc.pos([...segs, "vm"], "key")) } : {}),
      pos: hostPos,
    };
  });

  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  let vantages: Vantage[] = Object.entries(raw.vantages ?? {}).map(([name, v]) => {
    const pos = loc.pos(["vantages", name], "key");
    if (v.via !== undefined) {
      const h = hostByName.get(v.via)!;
      return {
        name,
        type: "via",
        via: v.via,
        networks: uniqueNetworks(h.addresses),
        addresses: h.addresses.map((a) => ({ ...a })),
        implicit: false,
        pos,
      };
    }
    const networks =
      v.host !== undefined ? uniqueNetworks(hostByName.get(v.host)!.addresses) : [...(v.networks ?? [])];
    return {
      name,
      type: "local",
      ...(v.host !== undefined ? { host: v.host } : {}),
      networks,
      addresses: vantageAddresses.get(name) ?? [],
      implicit: false,
      pos,
    };
  });
  if (vantages.length === 0)
    vantages = [
      {
        name: "local",
        type: "local",
        networks: [],
        addresses: [],
        implicit: true,
        pos: { file, line: 1, col: 1 },
      },
    ];

  return {
    file,
    dir: dirname(resolve(file)),
    version: 1,
    site: raw.site,
    ...(raw.domain !== undefined ? { domain: raw.domain } : {}),
    ...(raw.dns !== undefined ? { dns: normaliseDns(raw.dns, (segs) => loc.pos(segs)) } : {}),
    networks,
    defaults: {
      ssh: defaultSsh,
      nodeExporter: defaultNodeExporter,
      knownHosts: resolveIdentityPath(
        { dir: dirname(resolve(file)) },
        d.ssh?.known_hosts ?? join(".keel", "known_hosts"),
      ),
      hostKeyChecking: d.ssh?.host_key_checking ?? "accept-new",
    },
    hosts,
    vantages,
    serve: normaliseServe(raw.serve, loc),
    alerts: normaliseAlerts(raw.alerts, loc),
    ipam: ipamState(file, allocation, checker.previousLock),
  };
}

function normaliseDhcp(dhcp: NonNullable<RawNetwork["dhcp"]>): DhcpSettings {
  return {
    range: dhcp.range,
    leaseSeconds: dhcp.lease !== undefined ? parseDuration(dhcp.lease)! / 1000 : DEFAULT_LEASE_SECONDS,
  };
}

/** A host's `vm:` over `defaults.vm` (each list replaces the default's, it does not append). */
function normaliseVm(vm: RawVm, d: RawVmDefaults | undefined, mac: string, pos: SourcePosition): VmSettings {
  const users = vm.users ?? d?.users ?? [];
  return {
    mac,
    macAllocated: (vm.mac ?? "auto") === "auto",
    instance: vm.instance ?? 1,
    users: users.map((u) => ({
      name: u.name,
      sshAuthorizedKeys: [...(u.ssh_authorized_keys ?? [])],
      sudo: u.sudo ?? false,
    })),
    packages: [...(vm.packages ?? d?.packages ?? [])],
    packageUpgrade: vm.package_upgrade ?? d?.package_upgrade ?? false,
    pos,
  };
}

/**
 * The lock file's new content and whether it changed. No lock file is created for an inventory
 * that allocates nothing; an existing one is kept (emptied) rather than deleted. Whether it
 * changed is decided on the content (`sameLock`), and the text (`lock`) is formatted only when
 * asked for, by the commands that write it: formatting 20,000 entries with `yaml` took longer
 * than loading the inventory, and every command loads it.
 */
function ipamState(file: string, allocation: AllocationResult, previous: Lock | undefined): IpamState {
  const empty =
    Object.keys(allocation.lock.addresses).length === 0 && Object.keys(allocation.lock.macs).length === 0;
  const needed = !(empty && previous === undefined);
  const state: IpamState = {
    lockFile: lockPathFor(file),
    lockChanged: needed && (previous === undefined || !sameLock(previous, allocation.lock)),
    changes: allocation.changes,
  };
  if (needed) {
    let text: string | undefined;
    Object.defineProperty(state, "lock", {
      get: () => (text ??= formatLock(allocation.lock)),
      enumerable: true,
    });
  }
  return state;
}

/** Durations that passed the schema parse; `fallback` when absent. */
function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : parseDuration(text)!;
}

function normaliseServe(raw: RawServe | undefined, loc: Positions): ServeSettings {
  const d = defaultServeSettings();
  if (!raw) return d;
  const declared: Record<string, Partial<CheckSchedule>> = {};
  for (const [kind, sched] of Object.entries(raw.checks ?? {})) {
    const p: Partial<CheckSchedule> = {};
    if (sched.interval !== undefined) p.intervalMs = parseDuration(sched.interval)!;
    if (sched.fail_after !== undefined) p.failAfter = sched.fail_after;
    if (sched.recover_after !== undefined) p.recoverAfter = sched.recover_after;
    declared[kind] = p;
  }
  const r = raw.retention ?? {};
  return {
    listen: raw.listen ?? d.listen,
    checks: schedules(declared),
    flapping: { ...d.flapping, ...raw.flapping },
    retention: {
      rawMs: ms(r.raw, d.retention.rawMs),
      bucketMs: ms(r.bucket, d.retention.bucketMs),
      maxAgeMs: ms(r.max_age, d.retention.maxAgeMs),
      perCheck: r.per_check ?? d.retention.perCheck,
    },
    tokens: (raw.tokens ?? []).map(
      (t, i): ApiToken => ({
        name: t.name,
        role: t.role,
        ...(t.sha256 !== undefined ? { sha256: t.sha256.toLowerCase() } : {}),
        ...(t.token !== undefined ? { env: t.token.slice(2, -1) } : {}),
        pos: loc.pos(["serve", "tokens", i]),
      }),
    ),
  };
}

function normaliseAlerts(raw: RawAlerts | undefined, loc: Positions): AlertSettings {
  return {
    alertmanagers: (raw?.alertmanager ?? []).map((u) => u.replace(/\/+$/, "")),
    webhooks: (raw?.webhooks ?? []).map(
      (w, i): Webhook => ({
        name: w.name,
        url: w.url,
        headers: { ...w.headers },
        pos: loc.pos(["alerts", "webhooks", i]),
      }),
    ),
  };
}

function byPosition(a: Problem, b: Problem): number {
  return (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0);
}

/**
 * Parses and validates inventory text (YAML, format version 1) and returns the normalised model.
 * `file` is used in positions and stored as `Inventory.file`; `Inventory.dir` is its absolute
 * directory (resolved against the current working directory).
 * @throws UserError listing every problem found, each located `file:line:col`, sorted by position.
 */
export function parseInventory(text: string, file: string, options: ParseOptions = {}): Inventory {
  const lock = lockOf(file, options);
  // Fast path: a valid inventory, read by js-yaml, positions resolved only if asked for.
  const data = fastParse(text);
  if (data !== undefined && isValid(data)) {
    const raw = data as RawInventory;
    const loc = new LazyPositions(file, text);
    const checker = new Checker(raw, loc);
    const checked = checkAll(checker, lock);
    if (checker.problems.length === 0)
      return normalise(raw, file, loc, checker, checked.hostAddresses, checked.vantageAddresses);
  }
  // Slow path: `yaml` with positions, every problem reported and located.
  return parseLocated(text, file, options);
}

/** Options of `parseInventory`. */
export interface ParseOptions {
  /**
   * The text of `keel.lock` beside the inventory (`loadInventory` reads it); undefined when there
   * is none: everything is allocated afresh.
   */
  lockText?: string;
}

/** The parsed lock of `options`. @throws UserError located in keel.lock when it is malformed. */
function lockOf(file: string, options: ParseOptions): Lock | undefined {
  return options.lockText === undefined ? undefined : parseLock(options.lockText, lockPathFor(file));
}

function checkAll(checker: Checker, lock: Lock | undefined) {
  checker.checkNetworks();
  const hostAddresses = checker.checkHosts();
  checker.checkVms();
  checker.checkWireguard();
  const vantageAddresses = checker.checkVantages();
  checker.checkServe();
  checker.checkAlerts();
  checkDns(checker.raw, checker.hostNames, (segs, message) => checker.problem(segs, message));
  checker.allocateAll(checker.raw.site, lock);
  return { hostAddresses, vantageAddresses };
}

/** `parseInventory` on `yaml` alone, with positions throughout. Exported for the tests that compare both paths. */
export function parseLocated(text: string, file: string, options: ParseOptions = {}): Inventory {
  const lock = lockOf(file, options);
  const { data, loc, problems } = parseYaml(text, file);
  if (problems.length > 0 && data === undefined) throw new UserError(problems.sort(byPosition));
  const schema = schemaProblems(data, loc);
  problems.push(...schema);
  let raw = data as RawInventory;
  let pruned: Pruned | undefined;
  if (schema.length > 0) {
    const rest = pruneToSchema(data);
    if (!rest) throw new UserError(problems.sort(byPosition));
    ({ raw, pruned } = rest);
  }
  const checker = new Checker(raw, loc, pruned);
  const { hostAddresses, vantageAddresses } = checkAll(checker, lock);
  problems.push(...checker.problems);
  if (problems.length > 0) throw new UserError(problems.sort(byPosition));
  return normalise(raw, file, loc, checker, hostAddresses, vantageAddresses);
}

/**
 * Reads and loads the inventory file at `file` (a path, relative to the current directory or
 * absolute). See `parseInventory`.
 * @throws UserError naming the file when it cannot be read (missing, a directory, no
 *   permission), or listing every problem in it.
 */
export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (e as Error).message;
    throw new UserError(`${file}: cannot read the inventory: ${why}`);
  }
  const lockText = readLockText(lockPathFor(file));
  return parseInventory(text, file, lockText !== undefined ? { lockText } : {});
}

/**
 * Resolves an SSH identity path as written in the inventory: `~` and `~/…` against the user's
 * home directory, relative paths against the inventory's directory (`inv.dir`); absolute paths
 * are returned unchanged.
 */
export function resolveIdentityPath(inv: Pick<Inventory, "dir">, identity: string): string {
  if (identity === "~") return homedir();
  if (identity.startsWith("~/")) return resolve(homedir(), identity.slice(2));
  return isAbsolute(identity) ? identity : resolve(inv.dir, identity);
}
