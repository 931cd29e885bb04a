/**
 * `keel.lock`: the addresses and MACs Keel allocated, kept beside the inventory and committed, so
 * allocation is stable across runs and machines (`docs/ipam.md`, "keel.lock"). YAML, read and
 * written with the `yaml` library:
 *
 * ```yaml
 * # Written by keel: allocated addresses and MACs. Commit this file.
 * keel-lock: 1
 * addresses:
 *   db-1: { lan: 10.20.0.5 }
 *   web-1: { lan: 10.20.0.128 }
 * macs:
 *   web-1: "02:6b:65:1a:2b:3c"
 * vmids:
 *   web-1: 1000
 * ```
 *
 * `vmids` (Proxmox VE VMIDs of machines that declare none) is written only when there are some.
 *
 * Keys are sorted by host name, then network name (code-unit order), so the same content always
 * gives the same bytes.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CORE_SCHEMA, load as loadFast } from "js-yaml";
import type * as YamlLib from "yaml";
import type { Node, Scalar, YAMLMap } from "yaml";
import { type Problem, UserError } from "../../errors.js";
import { isMulticastMac, MAC_EXPECTED, parseMac } from "../../net/mac.js";
import { type Address, canonicalAddress, tryParseAddress } from "../../net/prefix.js";
import type { IpamState } from "../model.js";

// `yaml` is loaded on first use: most commands never read or write a lock file, and the library
// is a good part of the CLI's start-up time.
const require = createRequire(import.meta.url);
let yamlLib: typeof YamlLib | undefined;
function Y(): typeof YamlLib {
  yamlLib ??= require("yaml") as typeof YamlLib;
  return yamlLib;
}

/** File name of the lock file, in the inventory's directory. */
export const LOCK_FILE = "keel.lock";

/** The content of a lock file: allocations by host name. */
export interface Lock {
  /** Host name → network name → allocated address (canonical text). */
  addresses: Record<string, Record<string, string>>;
  /** Host name → allocated MAC (lowercase, colon-separated). */
  macs: Record<string, string>;
  /** Host name → allocated Proxmox VE VMID; absent or empty when none is allocated. */
  vmids?: Record<string, number>;
  /**
   * The addresses of `addresses` already parsed, by canonical text (filled by `parseLock`, so
   * allocation does not parse them again); optional.
   */
  parsed?: Map<string, Address>;
}

/** Path of the lock file of inventory `file` (same directory, as given: relative stays relative). */
export function lockPathFor(file: string): string {
  return join(dirname(file), LOCK_FILE);
}

const REWRITE_HINT = `${LOCK_FILE} is written by keel: fix the entry, or delete the file and run keel ipam to allocate again`;

/**
 * Parses lock-file text. `file` is used in positions.
 * @throws UserError listing every problem, located `file:line:col` (YAML syntax, a missing or
 *   unsupported `keel-lock` version, unknown keys, an entry that is not an IP address or MAC).
 */
export function parseLock(text: string, file: string): Lock {
  return parseLockFast(text) ?? parseLockLocated(text, file);
}

/**
 * The fast path of `parseLock`: js-yaml (YAML 1.2 core schema, duplicate keys rejected), no
 * positions. Returns undefined for anything that is not a well-formed lock, so that
 * `parseLockLocated` reports it with its position; for a well-formed one both give the same Lock.
 * (Reading a 20,000-entry lock with `yaml` and positions took ~1.4 s; this takes ~50 ms.)
 */
function parseLockFast(text: string): Lock | undefined {
  let data: unknown;
  try {
    data = loadFast(text, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  const isMap = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isMap(data) || data["keel-lock"] !== 1) return undefined;
  for (const k of Object.keys(data))
    if (k !== "keel-lock" && k !== "addresses" && k !== "macs" && k !== "vmids") return undefined;
  const parsed = new Map<string, Address>();
  const lock: Lock = { addresses: {}, macs: {}, parsed };
  const addresses = data.addresses ?? {};
  const macs = data.macs ?? {};
  if (!isMap(addresses) || !isMap(macs)) return undefined;
  for (const [host, nets] of Object.entries(addresses)) {
    if (nets === null) continue; // `host:` left empty, as the located path reads it
    if (!isMap(nets)) return undefined;
    const entry: Record<string, string> = {};
    for (const [net, value] of Object.entries(nets)) {
      const addr = typeof value === "string" ? tryParseAddress(value) : undefined;
      if (!addr) return undefined;
      const canon = canonicalAddress(addr);
      parsed.set(canon, addr);
      entry[net] = canon;
    }
    if (Object.keys(entry).length > 0) lock.addresses[host] = entry;
  }
  for (const [host, value] of Object.entries(macs)) {
    const mac = typeof value === "string" ? parseMac(value) : undefined;
    if (!mac || isMulticastMac(mac)) return undefined;
    lock.macs[host] = mac;
  }
  const vmids = data.vmids ?? {};
  if (!isMap(vmids)) return undefined;
  for (const [host, value] of Object.entries(vmids)) {
    if (!isVmid(value)) return undefined;
    lock.vmids ??= {};
    lock.vmids[host] = value;
  }
  return lock;
}

/**
 * `parseLock` with the `yaml` library and positions: every problem located in the lock file.
 * Exported for the test that compares it with the fast path.
 */
export function parseLockLocated(text: string, file: string): Lock {
  const { LineCounter, parseDocument, isMap, isScalar } = Y();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const at = (node: unknown) => {
    const off = (node as Node | null | undefined)?.range?.[0] ?? 0;
    const { line, col } = lc.linePos(off);
    return { file, line: Math.max(1, line), col: Math.max(1, col) };
  };
  const problems: Problem[] = [];
  for (const e of doc.errors) {
    const msg = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+.*$/, "");
    const { line, col } = lc.linePos(e.pos[0]);
    problems.push({
      pos: { file, line: Math.max(1, line), col: Math.max(1, col) },
      message: `YAML syntax error: ${msg}`,
    });
  }
  if (problems.length > 0) throw new UserError(problems);
  const parsed = new Map<string, Address>();
  const lock: Lock = { addresses: {}, macs: {}, parsed };
  const root = doc.contents;
  if (!isMap(root))
    throw new UserError([
      {
        pos: at(root),
        message: `${LOCK_FILE} must be a mapping (keel-lock: 1, addresses, macs); ${REWRITE_HINT}`,
      },
    ]);
  const mapAt = (node: unknown, what: string): YAMLMap | undefined => {
    if (isMap(node)) return node;
    if (isScalar(node) && node.value === null) return undefined; // `addresses:` left empty
    problems.push({ pos: at(node), message: `${what} in ${LOCK_FILE} must be a mapping; ${REWRITE_HINT}` });
    return undefined;
  };
  let version: unknown;
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (key === "keel-lock") {
      version = isScalar(pair.value) ? pair.value.value : pair.value;
      if (version !== 1)
        problems.push({
          pos: at(pair.value),
          message: `keel-lock: ${JSON.stringify(version ?? null)} is not a supported lock format; this Keel writes keel-lock: 1`,
        });
    } else if (key === "addresses") {
      for (const hostPair of mapAt(pair.value, "addresses")?.items ?? []) {
        const host = String((hostPair.key as Scalar).value);
        if (host in lock.addresses) {
          problems.push({
            pos: at(hostPair.key),
            message: `host "${host}" appears twice in addresses of ${LOCK_FILE}; ${REWRITE_HINT}`,
          });
          continue;
        }
        const nets = mapAt(hostPair.value, `addresses of host "${host}"`);
        for (const netPair of nets?.items ?? []) {
          const net = String((netPair.key as Scalar).value);
          const value = isScalar(netPair.value) ? netPair.value.value : undefined;
          const addr = typeof value === "string" ? tryParseAddress(value) : undefined;
          if (!addr) {
            problems.push({
              pos: at(netPair.value ?? netPair.key),
              message: `address of host "${host}" on network "${net}" in ${LOCK_FILE} is not an IP address; ${REWRITE_HINT}`,
            });
            continue;
          }
          const canon = canonicalAddress(addr);
          parsed.set(canon, addr);
          lock.addresses[host] ??= {};
          lock.addresses[host][net] = canon;
        }
      }
    } else if (key === "macs") {
      for (const hostPair of mapAt(pair.value, "macs")?.items ?? []) {
        const host = String((hostPair.key as Scalar).value);
        if (host in lock.macs) {
          problems.push({
            pos: at(hostPair.key),
            message: `host "${host}" appears twice in macs of ${LOCK_FILE}; ${REWRITE_HINT}`,
          });
          continue;
        }
        const value = isScalar(hostPair.value) ? hostPair.value.value : undefined;
        const mac = typeof value === "string" ? parseMac(value) : undefined;
        if (!mac || isMulticastMac(mac)) {
          problems.push({
            pos: at(hostPair.value ?? hostPair.key),
            message: `MAC of host "${host}" in ${LOCK_FILE} is not a unicast MAC (${MAC_EXPECTED}); ${REWRITE_HINT}`,
          });
          continue;
        }
        lock.macs[host] = mac;
      }
    } else if (key === "vmids") {
      for (const hostPair of mapAt(pair.value, "vmids")?.items ?? []) {
        const host = String((hostPair.key as Scalar).value);
        const value = isScalar(hostPair.value) ? hostPair.value.value : undefined;
        if (lock.vmids?.[host] !== undefined) {
          problems.push({
            pos: at(hostPair.key),
            message: `host "${host}" appears twice in vmids of ${LOCK_FILE}; ${REWRITE_HINT}`,
          });
          continue;
        }
        if (!isVmid(value)) {
          problems.push({
            pos: at(hostPair.value ?? hostPair.key),
            message: `VMID of host "${host}" in ${LOCK_FILE} is not a VMID (a whole number from 100 to 999999999); ${REWRITE_HINT}`,
          });
          continue;
        }
        lock.vmids ??= {};
        lock.vmids[host] = value;
      }
    } else
      problems.push({
        pos: at(pair.key),
        message: `unknown key ${JSON.stringify(key)} in ${LOCK_FILE}; expected keel-lock, addresses, macs, vmids`,
      });
  }
  if (version === undefined && problems.length === 0)
    problems.push({ pos: at(root), message: `${LOCK_FILE} is missing "keel-lock: 1"; ${REWRITE_HINT}` });
  if (problems.length > 0) throw new UserError(problems);
  return lock;
}

/** A Proxmox VE VMID: a whole number from 100 to 999999999 (the API's `pve-vmid` format). */
function isVmid(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 100 && v <= 999999999;
}

/** True when `a` and `b` hold the same allocations (the `parsed` cache aside). */
export function sameLock(a: Lock, b: Lock): boolean {
  const sameRecord = (x: Record<string, string>, y: Record<string, string>) => {
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length && keys.every((k) => y[k] === x[k]);
  };
  const hosts = Object.keys(a.addresses);
  return (
    hosts.length === Object.keys(b.addresses).length &&
    hosts.every((h) => b.addresses[h] !== undefined && sameRecord(a.addresses[h]!, b.addresses[h]!)) &&
    sameRecord(a.macs, b.macs) &&
    sameRecord(numbersAsText(a.vmids), numbersAsText(b.vmids))
  );
}

const numbersAsText = (r: Record<string, number> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, String(v)]));

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Lock-file text for `lock`: the header comment, keys sorted, the same bytes for the same content. */
export function formatLock(lock: Lock): string {
  const addresses = Object.fromEntries(
    Object.keys(lock.addresses)
      .sort(byCodeUnit)
      .map((h) => {
        const nets = lock.addresses[h]!;
        return [
          h,
          Object.fromEntries(
            Object.keys(nets)
              .sort(byCodeUnit)
              .map((n) => [n, nets[n]!]),
          ),
        ];
      }),
  );
  const macs = Object.fromEntries(
    Object.keys(lock.macs)
      .sort(byCodeUnit)
      .map((h) => [h, lock.macs[h]!]),
  );
  const vmids = Object.fromEntries(
    Object.keys(lock.vmids ?? {})
      .sort(byCodeUnit)
      .map((h) => [h, lock.vmids![h]!]),
  );
  const doc = new (Y().Document)({
    "keel-lock": 1,
    addresses,
    macs,
    ...(Object.keys(vmids).length > 0 ? { vmids } : {}),
  });
  const root = doc.contents as YAMLMap;
  (root.items[0]!.key as Scalar).commentBefore =
    " Written by keel: allocated addresses and MACs. Commit this file.";
  const addrMap = root.get("addresses", true) as unknown as YAMLMap;
  for (const p of addrMap.items) (p.value as YAMLMap).flow = true;
  const macMap = root.get("macs", true) as unknown as YAMLMap;
  for (const p of macMap.items) (p.value as Scalar).type = "QUOTE_DOUBLE";
  return doc.toString({ lineWidth: 0 });
}

/**
 * The text of the lock file at `path`, or undefined when there is none.
 * @throws UserError naming the file when it exists but cannot be read.
 */
export function readLockText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new UserError(
      `${path}: cannot read the lock file: ${code === "EISDIR" ? "it is a directory" : (e as Error).message}`,
    );
  }
}

/**
 * Writes the lock file of a loaded inventory when its content changed (temporary file + rename,
 * so a reader never sees half a file).
 * @param frozen `--frozen-lock`: a needed change is an error instead of a write
 * @returns "written" or "unchanged"
 * @throws UserError (exit 2) when `frozen` and the lock file would change; naming the file when
 *   it cannot be written.
 */
export function commitLock(ipam: IpamState, frozen: boolean): "written" | "unchanged" {
  if (!ipam.lockChanged || ipam.lock === undefined) return "unchanged";
  if (frozen) {
    const what = ipam.changes.map(
      (c) =>
        `${c.host}${c.network !== undefined ? ` ${c.network}` : ""} ${c.kind}: ${c.from ?? "-"} -> ${c.to ?? "-"} (${c.reason})`,
    );
    throw new UserError(
      `--frozen-lock: ${ipam.lockFile} is out of date and would change${what.length > 0 ? ` (${what.join("; ")})` : ""}; run keel ipam without --frozen-lock and commit ${LOCK_FILE}`,
    );
  }
  const tmp = `${ipam.lockFile}.keel-tmp`;
  try {
    writeFileSync(tmp, ipam.lock);
    renameSync(tmp, ipam.lockFile);
  } catch (e) {
    throw new UserError(`${ipam.lockFile}: cannot write the lock file: ${(e as Error).message}`);
  }
  return "written";
}
