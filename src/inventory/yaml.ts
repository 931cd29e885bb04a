/**
 * YAML parsing with source positions. Two parsers: `fastParse` (js-yaml, no positions) for the
 * common case of a valid inventory, and `parseYaml` (the `yaml` library with a LineCounter),
 * which reports syntax errors and duplicate keys located and yields a `Locator` that maps a
 * path of the data back to `file:line:col`. `LazyPositions` gives the fast path positions that
 * parse with `yaml` only when first read.
 */
import { createRequire } from "node:module";
import { CORE_SCHEMA, load as loadFast } from "js-yaml";
import type * as YamlLib from "yaml";
import type { Document, LineCounter, Node, Pair, YAMLMap } from "yaml";
import type { Problem } from "../errors.js";
import type { SourcePosition } from "./model.js";
import type { Segment } from "./raw.js";
import { describe, keyKind } from "./wording.js";

// The libraries of the located path (`yaml`, ajv with verbose errors) are loaded on first use:
// a valid inventory never needs them, and they are a good part of the CLI's start-up time.
const require = createRequire(import.meta.url);
let yamlLib: typeof YamlLib | undefined;
/** The `yaml` library, loaded on first use. */
function Y(): typeof YamlLib {
  yamlLib ??= require("yaml") as typeof YamlLib;
  return yamlLib;
}

// ---------------------------------------------------------------------------------------------
// Locating paths in the YAML document.

/** Source positions of the paths of one `yaml` document. */
export class Locator {
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
export interface Positions {
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
export class LazyPositions implements Positions {
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
export function fastParse(text: string): unknown {
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

/** The text of a mapping key node. */
export function keyText(key: unknown): string {
  if (Y().isScalar(key)) return String(key.value ?? "");
  return String(key);
}

// ---------------------------------------------------------------------------------------------
// Pass 1: YAML.

/** What `parseYaml` returns: the data (undefined after a syntax error), its locator and the problems found. */
interface Parsed {
  data: unknown;
  loc: Locator;
  problems: Problem[];
}

/**
 * Parses `text` with `yaml`: syntax errors (which leave `data` undefined) and duplicate keys
 * become located problems.
 */
export function parseYaml(text: string, file: string): Parsed {
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

/** Reports every duplicated mapping key below `node`, at the second key, naming the first one's line. */
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
