/**
 * `keel render FILE --out DIR [--only KIND[,KIND…]] [--keys DIR] [--frozen-lock]`: writes the configs of the
 * site's core services, derived from the inventory (contract: `docs/render.md`; README
 * "Rendering configs"). Every renderer runs in memory first; only when all succeed are the
 * files written, each through a temporary file and a rename, so a failed render changes
 * nothing. Files an earlier render wrote that this one no longer produces (a removed host's
 * cloud-init, say) are deleted; the list lives in `DIR/.keel-render.json`. Exit 0, or 2 for an
 * invalid inventory, a bad flag or a missing key file. After a successful render, keel.lock is
 * written when its content changed; `--frozen-lock` makes a needed change an error (exit 2)
 * before anything is written.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { commitLock } from "../ipam/lock.js";
import { renderers } from "../render/index.js";
import { isKept, type Output, RENDER_KINDS, type RenderContext, type RenderKind } from "../render/types.js";

/** Name of the manifest of rendered files kept in the output directory. */
export const MANIFEST = ".keel-render.json";

interface RenderFlags {
  out: string;
  only?: RenderKind[];
  keys?: string;
  frozenLock?: boolean;
}

/** Parses `--only dns,dhcp`. @throws InvalidArgumentError naming the unknown kind and the known ones. */
export function parseKinds(value: string): RenderKind[] {
  const kinds = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of kinds)
    if (!(RENDER_KINDS as readonly string[]).includes(k))
      throw new InvalidArgumentError(
        `unknown kind "${k}"; expected one or more of ${RENDER_KINDS.join(", ")}`,
      );
  if (kinds.length === 0)
    throw new InvalidArgumentError(`expected one or more of ${RENDER_KINDS.join(", ")}`);
  return kinds as RenderKind[];
}

/**
 * Runs the renderers of `kinds` (all when undefined) on `inv` and returns their files, sorted by
 * path. @throws UserError from a renderer, or when two renderers produce the same path (a bug).
 */
export async function renderAll(
  inv: Inventory,
  ctx: RenderContext,
  kinds?: readonly RenderKind[],
): Promise<Output[]> {
  const files: Output[] = [];
  for (const r of renderers) if (!kinds || kinds.includes(r.kind)) files.push(...(await r.render(inv, ctx)));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** True when `file` exists with exactly `bytes` and permission bits `mode`. */
function sameFile(file: string, bytes: Uint8Array, mode: number): boolean {
  try {
    const st = statSync(file);
    if (st.size !== bytes.length || (st.mode & 0o777) !== mode) return false;
    return Buffer.compare(readFileSync(file), bytes) === 0;
  } catch {
    return false;
  }
}

/** The previous render's file list (relative paths), from the manifest; empty when there is none. */
function readManifest(out: string): string[] {
  try {
    const m = JSON.parse(readFileSync(path.join(out, MANIFEST), "utf8")) as { files?: unknown };
    return Array.isArray(m.files) ? m.files.filter((f): f is string => typeof f === "string") : [];
  } catch {
    return [];
  }
}

/**
 * Writes `files` under `out` (temporary file + rename each; a `KeptFile` is left as it is), removes files of the previous
 * manifest that are not rewritten and belong to the kinds rendered now, and writes the manifest.
 * @returns the paths written, found already up to date (same bytes and mode), kept as they
 * were (`KeptFile`), and removed.
 */
export function writeRender(
  out: string,
  files: Output[],
  kinds: readonly RenderKind[],
): { written: string[]; unchanged: string[]; kept: string[]; removed: string[] } {
  const now = new Set(files.map((f) => f.path));
  const before = readManifest(out);
  const kindOf = (p: string) => p.split("/")[0] as RenderKind;
  const removed = before.filter((p) => !now.has(p) && kinds.includes(kindOf(p)));
  const written: string[] = [];
  const keptAsIs: string[] = [];
  const unchanged: string[] = [];
  mkdirSync(out, { recursive: true });
  for (const f of files) {
    if (isKept(f)) {
      keptAsIs.push(f.path);
      continue;
    }
    const target = path.join(out, ...f.path.split("/"));
    const bytes = typeof f.content === "string" ? Buffer.from(f.content) : f.content;
    // A file that already holds these bytes (and mode) is left alone: no new inode, no new mtime
    // for tools that watch it, and far fewer file creations on a re-render.
    if (sameFile(target, bytes, f.mode ?? 0o644)) {
      unchanged.push(f.path);
      continue;
    }
    mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.keel-tmp`;
    writeFileSync(tmp, bytes, { mode: f.mode ?? 0o644 });
    renameSync(tmp, target);
    written.push(f.path);
  }
  for (const p of removed) rmSync(path.join(out, ...p.split("/")), { force: true });
  const kept = before.filter((p) => !now.has(p) && !kinds.includes(kindOf(p)));
  mkdirSync(out, { recursive: true }); // also when no file was rendered
  writeFileSync(
    path.join(out, MANIFEST),
    `${JSON.stringify({ files: [...kept, ...written, ...unchanged, ...keptAsIs].sort() }, null, 2)}\n`,
  );
  return { written, unchanged, kept: keptAsIs, removed };
}

/** Registers `keel render`. */
export function register(program: Command): void {
  program
    .command("render")
    .description(
      "write the configs of the site's core services (DNS, DHCP, cloud-init, Prometheus, nftables, WireGuard, Ansible)",
    )
    .argument("<file>", "inventory file (keel.yaml)")
    .requiredOption("--out <dir>", "output directory (created if missing)")
    .addOption(
      new Option("--only <kinds>", `comma-separated kinds: ${RENDER_KINDS.join(", ")}`).argParser(parseKinds),
    )
    .option("--keys <dir>", "directory of key files (WireGuard private keys as HOST.key)")
    .option("--frozen-lock", "fail (exit 2, nothing written) instead of changing keel.lock, for CI")
    .action(async (file: string, flags: RenderFlags) => {
      const inv = loadInventory(file);
      // --frozen-lock: refuse before anything is written
      if (flags.frozenLock) commitLock(inv.ipam, true);
      const out = path.resolve(flags.out);
      if (flags.keys !== undefined && !existsSync(flags.keys))
        throw new UserError(`--keys: ${flags.keys} does not exist; expected a directory of key files`);
      const ctx: RenderContext = {
        now: new Date(),
        exists: (p) => existsSync(path.join(out, ...p.split("/"))),
        previous: (p) => {
          try {
            return readFileSync(path.join(out, ...p.split("/")), "utf8");
          } catch {
            return undefined;
          }
        },
        ...(flags.keys !== undefined ? { keysDir: path.resolve(flags.keys) } : {}),
      };
      const kinds = flags.only ?? [...RENDER_KINDS];
      const files = await renderAll(inv, ctx, kinds);
      const { written, unchanged, kept, removed } = writeRender(out, files, kinds);
      // after a successful render: record the allocations the rendered files are built on
      const lock = commitLock(inv.ipam, flags.frozenLock === true);
      const n = written.length + unchanged.length;
      process.stdout.write(
        `${inv.file}: rendered ${n} file${n === 1 ? "" : "s"} into ${flags.out}` +
          (unchanged.length ? ` (${written.length} changed)` : "") +
          (kept.length ? `, kept ${kept.length} unchanged image${kept.length === 1 ? "" : "s"}` : "") +
          (removed.length ? `, removed ${removed.length} no longer produced` : "") +
          (lock === "written" ? `; wrote ${inv.ipam.lockFile}` : "") +
          "\n",
      );
    });
}
