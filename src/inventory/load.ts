/**
 * Loads a Keel inventory (`shared/design/inventory.md`, format version 1) into the normalised
 * `Inventory` model. Three passes, each reporting every problem it finds, located at the
 * offending key or value as `file:line:col`:
 *
 * 1. YAML syntax (`yaml.ts`: the `yaml` library, with a LineCounter for positions) and duplicate mapping
 *    keys (detected on the AST, so the message can say what was duplicated and where the
 *    first one is);
 * 2. the JSON Schema of `schema.ts` (ajv, allErrors), with ajv's instance paths mapped back to
 *    YAML node ranges;
 * 3. cross-reference rules (addresses inside networks, names that must exist, overlaps…), one
 *    module per section (`networks.ts`, `hosts.ts`, `addresses.ts` with allocation, `vantages.ts`,
 *    `serve.ts`, `alerts.ts`, `dns.ts`, `hypervisors.ts`, `images.ts`, `machines.ts`, `backups.ts`), run on what is left after cutting the parts the schema
 *    rejected (`validate.ts`), so one run reports both kinds.
 *
 * A YAML syntax error stops after pass 1 (there is no document to check).
 *
 * Then each section normalises its part, defaults merged in (see `model.ts`).
 */

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Problem, UserError } from "../errors.js";
import { allocateAll, checkVms, ipamState } from "./addresses.js";
import { checkAlerts, normaliseAlerts } from "./alerts.js";
import { checkBackups, normaliseBackups } from "./backups.js";
import { CheckContext } from "./context.js";
import { checkDns, normaliseDns } from "./dns.js";
import { checkHosts, checkWireguard, normaliseDefaults, normaliseHosts } from "./hosts.js";
import { checkHypervisors, normaliseHypervisors } from "./hypervisors.js";
import { checkImages, normaliseImages } from "./images.js";
import { type Lock, lockPathFor, parseLock, readLockText } from "./ipam/lock.js";
import { checkMachines } from "./machines.js";
import type { InterfaceAddress, Inventory } from "./model.js";
import { checkNetworks, normaliseNetworks } from "./networks.js";
import type { RawInventory } from "./raw.js";
import { checkServe, normaliseServe } from "./serve.js";
import { isValid, type Pruned, pruneToSchema, schemaProblems } from "./validate.js";
import { checkVantages, normaliseVantages } from "./vantages.js";
import { fastParse, LazyPositions, type Positions, parseYaml } from "./yaml.js";

export { resolveIdentityPath } from "./hosts.js";
export { parseListen } from "./serve.js";
export { SUPPORTED_VERSIONS } from "./validate.js";

/** The addresses the checks resolved, which normalisation hands on. */
interface Checked {
  hostAddresses: Map<string, InterfaceAddress[]>;
  vantageAddresses: Map<string, InterfaceAddress[]>;
}

/** Runs the rules of every section, in order (each may use what an earlier one found), then allocation. */
function checkAll(ctx: CheckContext, lock: Lock | undefined): Checked {
  checkNetworks(ctx);
  const hostAddresses = checkHosts(ctx);
  checkVms(ctx);
  checkWireguard(ctx);
  const vantageAddresses = checkVantages(ctx);
  checkServe(ctx);
  checkAlerts(ctx);
  checkDns(ctx);
  checkHypervisors(ctx);
  checkImages(ctx);
  checkMachines(ctx, hostAddresses);
  checkBackups(ctx);
  allocateAll(ctx, ctx.raw.site, lock);
  return { hostAddresses, vantageAddresses };
}

/** The normalised `Inventory` of a raw inventory `checkAll` found no problem in. */
function normalise(
  raw: RawInventory,
  file: string,
  loc: Positions,
  ctx: CheckContext,
  checked: Checked,
): Inventory {
  const allocation = ctx.allocation!;
  const macOf = new Map(ctx.vms.map((vm, i) => [vm.host, allocation.macs[i]!]));
  const defaults = normaliseDefaults(raw, file);
  const hosts = normaliseHosts(raw, loc, defaults, checked.hostAddresses, macOf, ctx.vmidOf);
  const dir = dirname(resolve(file));
  return {
    file,
    dir,
    version: 1,
    site: raw.site,
    ...(raw.domain !== undefined ? { domain: raw.domain } : {}),
    ...(raw.dns !== undefined ? { dns: normaliseDns(raw.dns, (segs) => loc.pos(segs)) } : {}),
    networks: normaliseNetworks(raw, ctx, loc),
    defaults,
    hosts,
    vantages: normaliseVantages(raw, file, loc, hosts, checked.vantageAddresses),
    serve: normaliseServe(raw.serve, loc),
    alerts: normaliseAlerts(raw.alerts, loc),
    hypervisors: normaliseHypervisors(raw, loc),
    images: normaliseImages(raw, dir, loc),
    backups: normaliseBackups(raw, loc),
    ipam: ipamState(file, allocation, ctx.previousLock),
  };
}

/** Orders problems by line, then column. */
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
    const ctx = new CheckContext(raw, loc);
    const checked = checkAll(ctx, lock);
    if (ctx.problems.length === 0) return normalise(raw, file, loc, ctx, checked);
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
  const ctx = new CheckContext(raw, loc, pruned);
  const checked = checkAll(ctx, lock);
  problems.push(...ctx.problems);
  if (problems.length > 0) throw new UserError(problems.sort(byPosition));
  return normalise(raw, file, loc, ctx, checked);
}

/**
 * Reads and loads the inventory file at `file` (a path, relative to the current directory or
 * absolute): `readInventoryText`, then `loadInventoryText`. See `parseInventory`.
 * @throws UserError naming the file when it cannot be read (missing, a directory, no
 *   permission), or listing every problem in it.
 */
export function loadInventory(file: string): Inventory {
  return loadInventoryText(file, readInventoryText(file));
}

/**
 * The text of the inventory file at `file`, UTF-8.
 * @throws UserError "FILE: cannot read the inventory: WHY" (no such file, it is a directory,
 *   permission denied, or the system's message).
 */
export function readInventoryText(file: string): string {
  try {
    return readFileSync(file, "utf8");
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
}

/**
 * Loads `text`, already read from the inventory file `file`, with the `keel.lock` beside that
 * file (`parseInventory` with its `lockText`): for a caller that must know exactly which text
 * it loaded (`keel serve`'s reload).
 * @throws UserError listing every problem, located at `file:line:col`.
 */
export function loadInventoryText(file: string, text: string): Inventory {
  const lockText = readLockText(lockPathFor(file));
  return parseInventory(text, file, lockText !== undefined ? { lockText } : {});
}
