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
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { commitLock } from "../ipam/lock.js";
import { renderers } from "../render/index.js";
import { RENDER_KINDS, type RenderContext, type RenderedFile, type RenderKind } from "../render/types.js";

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
): Promise<RenderedFile[]> {
  const files: RenderedFile[] = [];
  for (const r of renderers) if (!kinds || kinds.includes(r.kind)) files.push(...(await r.render(inv, ctx)));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
 * Writes `files` under `out` (temporary file + rename each), removes files of the previous
 * manifest that are not rewritten and belong to the kinds rendered now, and writes the manifest.
 * @returns the paths written and removed.
 */
export function writeRender(
  out: string,
  files: RenderedFile[],
  kinds: readonly RenderKind[],
): { written: string[]; removed: string[] } {
  const now = new Set(files.map((f) => f.path));
  const before = readManifest(out);
  const kindOf = (p: string) => p.split("/")[0] as RenderKind;
  const removed = before.filter((p) => !now.has(p) && kinds.includes(kindOf(p)));
  const written: string[] = [];
  mkdirSync(out, { recursive: true });
  for (const f of files) {
    const target = path.join(out, ...f.path.split("/"));
    mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.keel-tmp`;
    writeFileSync(tmp, f.content, { mode: f.mode ?? 0o644 });
    renameSync(tmp, target);
    written.push(f.path);
  }
  for (const p of removed) rmSync(path.join(out, ...p.split("/")), { force: true });
  const kept = before.filter((p) => !now.has(p) && !kinds.includes(kindOf(p)));
  mkdirSync(out, { recursive: true }); // also when no file was rendered
  writeFileSync(
    path.join(out, MANIFEST),
    `${JSON.stringify({ files: [...kept, ...written].sort() }, null, 2)}\n`,
  );
  return { written, removed };
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
      const { written, removed } = writeRender(out, files, kinds);
      // after a successful render: record the allocations the rendered files are built on
      const lock = commitLock(inv.ipam, flags.frozenLock === true);
      process.stdout.write(
        `${inv.file}: rendered ${written.length} file${written.length === 1 ? "" : "s"} into ${flags.out}` +
          (removed.length ? `, removed ${removed.length} no longer produced` : "") +
          (lock === "written" ? `; wrote ${inv.ipam.lockFile}` : "") +
          "\n",
      );
    });
}
