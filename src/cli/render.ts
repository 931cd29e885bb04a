/**
 * `keel render FILE --out DIR [--only KIND[,KIND…]] [--keys DIR] [--frozen-lock]`: writes the configs of the
 * site's core services, derived from the inventory (`docs/render.md`). Every renderer runs in memory first; only when all succeed are the
 * files written, each through a temporary file and a rename, so a failed render changes
 * nothing. Files an earlier render wrote that this one no longer produces (a removed host's
 * cloud-init, say) are deleted; the list lives in `DIR/.keel-render.json`. Exit 0; 1 when
 * genisoimage fails (nothing written); 2 for an invalid inventory, a bad flag (an `--out` that is
 * not a directory) or a missing key file; 130 when interrupted (nothing written). cidata images
 * are built in a stage directory inside DIR and renamed into place. After a successful render, keel.lock is
 * written when its content changed; `--frozen-lock` makes a needed change an error (exit 2)
 * before anything is written. `renderInto` is the whole render without the printing; `keel apply
 * --render-out` renders the `dns` and `dhcp` kinds with it.
 */
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UserError } from "../errors.js";
import { commitLock } from "../inventory/ipam/lock.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { ImageError } from "../render/cloud-init.js";
import { sha256Hex } from "../render/digest.js";
import { renderAll } from "../render/index.js";
import {
  isKept,
  isStaged,
  type Output,
  RENDER_KINDS,
  type RenderContext,
  RenderInterrupted,
  type RenderKind,
} from "../render/types.js";

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
 * What the manifest records of one file a render wrote (or found up to date): the SHA-256 of its
 * bytes (hex), its size in bytes, its mtime (ms since the epoch, as `fs.Stats.mtimeMs`) and its
 * permission bits. A later render trusts a file whose size, mtime and mode on disk are still
 * these to hold these bytes, as rsync's quick check and make do, and reads it only otherwise.
 */
export interface ManifestEntry {
  sha256: string;
  size: number;
  mtimeMs: number;
  mode: number;
}

/**
 * The manifest of an output directory (`DIR/.keel-render.json`): its rendered files (relative
 * paths, sorted) and what is known of each. On disk: `{"files": [PATH, …], "entries": [[PATH,
 * SHA256, SIZE, MTIME_MS, MODE], …]}`; rows, not objects, because a 5,000-VM site has 20,000 of
 * them and rows parse in half the time.
 */
export interface Manifest {
  files: string[];
  entries: Map<string, ManifestEntry>;
}

/** The file's stats, or undefined when it does not exist (or cannot be read). */
function statOf(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** True when `file` (whose stats are `st`) holds exactly `content` (UTF-8 for a string) with permission bits `mode`. */
function sameFile(file: string, st: Stats, content: string | Uint8Array, mode: number): boolean {
  const bytes = typeof content === "string" ? Buffer.from(content) : content;
  if (st.size !== bytes.length || (st.mode & 0o777) !== mode) return false;
  try {
    return Buffer.compare(readFileSync(file), bytes) === 0;
  } catch {
    return false;
  }
}

/**
 * The previous render's manifest (`DIR/.keel-render.json`); empty when there is none or it cannot
 * be read. A manifest written before entries were recorded has its file list only.
 */
export function readManifest(out: string): Manifest {
  const entries = new Map<string, ManifestEntry>();
  try {
    const m = JSON.parse(readFileSync(path.join(out, MANIFEST), "utf8")) as {
      files?: unknown;
      entries?: unknown;
    };
    const files = Array.isArray(m.files) ? m.files.filter((f): f is string => typeof f === "string") : [];
    if (Array.isArray(m.entries))
      for (const e of m.entries as unknown[]) {
        if (!Array.isArray(e) || e.length !== 5) continue;
        const [p, sha256, size, mtimeMs, mode] = e as unknown[];
        if (
          typeof p === "string" &&
          typeof sha256 === "string" &&
          typeof size === "number" &&
          typeof mtimeMs === "number" &&
          typeof mode === "number"
        )
          entries.set(p, { sha256, size, mtimeMs, mode });
      }
    return { files, entries };
  } catch {
    return { files: [], entries };
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
  before: Manifest = readManifest(out),
): { written: string[]; unchanged: string[]; kept: string[]; removed: string[] } {
  const now = new Set(files.map((f) => f.path));
  const kindOf = (p: string) => p.split("/")[0] as RenderKind;
  const removed = before.files.filter((p) => !now.has(p) && kinds.includes(kindOf(p)));
  const written: string[] = [];
  const keptAsIs: string[] = [];
  const unchanged: string[] = [];
  const entries = new Map<string, ManifestEntry>();
  mkdirSync(out, { recursive: true });
  for (const f of files) {
    const known = before.entries.get(f.path);
    if (isKept(f)) {
      keptAsIs.push(f.path);
      if (known) entries.set(f.path, known);
      continue;
    }
    const target = `${out}/${f.path}`; // renderer paths are relative and normalised: no path.join per file
    if (isStaged(f)) {
      // finished in the stage directory (same file system): moved into place, never read here
      mkdirSync(path.dirname(target), { recursive: true });
      chmodSync(f.staged, 0o644);
      renameSync(f.staged, target);
      written.push(f.path);
      const after = statOf(target);
      if (after)
        entries.set(f.path, { sha256: f.sha256, size: after.size, mtimeMs: after.mtimeMs, mode: 0o644 });
      continue;
    }
    const content = f.content;
    const size = typeof content === "string" ? Buffer.byteLength(content) : content.length;
    const mode = f.mode ?? 0o644;
    const sha256 = f.sha256 ?? sha256Hex(content);
    // A file that already holds these bytes (and mode) is left alone: no new inode, no new mtime
    // for tools that watch it, and far fewer file creations on a re-render. The manifest's entry
    // answers without reading the file when size, mtime and mode on disk are still as recorded.
    const st = statOf(target);
    if (st) {
      const quick =
        known !== undefined &&
        known.sha256 === sha256 &&
        st.size === size &&
        known.mtimeMs === st.mtimeMs &&
        known.mode === mode &&
        (st.mode & 0o777) === mode;
      if (quick || sameFile(target, st, content, mode)) {
        unchanged.push(f.path);
        entries.set(f.path, { sha256, size: st.size, mtimeMs: st.mtimeMs, mode });
        continue;
      }
    }
    mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.keel-tmp`;
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, target);
    written.push(f.path);
    const after = statOf(target);
    if (after) entries.set(f.path, { sha256, size: after.size, mtimeMs: after.mtimeMs, mode });
  }
  for (const p of removed) rmSync(path.join(out, p), { force: true });
  const kept = before.files.filter((p) => !now.has(p) && !kinds.includes(kindOf(p)));
  for (const p of kept) {
    const known = before.entries.get(p);
    if (known) entries.set(p, known);
  }
  mkdirSync(out, { recursive: true }); // also when no file was rendered
  const list = [...kept, ...written, ...unchanged, ...keptAsIs].sort();
  const rows: [string, string, number, number, number][] = [];
  for (const p of list) {
    const e = entries.get(p);
    if (e) rows.push([p, e.sha256, e.size, e.mtimeMs, e.mode]);
  }
  writeFileSync(path.join(out, MANIFEST), `${JSON.stringify({ files: list, entries: rows })}\n`);
  return { written, unchanged, kept: keptAsIs, removed };
}

/**
 * Stage directories are named this, then the render's process id, `-` and mkdtemp(3)'s six
 * random characters (`DIR/.keel-stage-4242-a1B2c3`).
 */
const STAGE_PREFIX = ".keel-stage-";
/** A stage directory's name; group 1 is the PID of the render that made it. */
const STAGE_NAME = new RegExp(`^${STAGE_PREFIX.replace(/[.]/g, "\\.")}(\\d+)-`);

/**
 * Removes the stage directories in `out` left by renders that are gone (killed with SIGKILL, or
 * the machine went down): their PID names no running process, or is this process's own (a
 * container's keel is PID 1 on every run). A stage of a render still running on this machine is
 * left alone. (On a DIR shared between machines, another machine's running render cannot be
 * seen: render there into separate directories.) A stage that cannot be removed is reported on
 * stderr and left; the render goes on.
 */
function removeStaleStages(out: string): void {
  for (const name of readdirSync(out)) {
    const m = STAGE_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid !== process.pid;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === "EPERM"; // exists, but not ours
      }
    }
    if (alive) continue;
    try {
      rmSync(path.join(out, name), { recursive: true, force: true });
    } catch (e) {
      process.stderr.write(
        `keel render: warning: cannot remove the stale stage ${path.join(out, name)}: ${(e as Error).message}\n`,
      );
    }
  }
}

/**
 * Creates `out` (and its parents) when missing, and a stage directory inside it (named as
 * `STAGE_PREFIX` says). `flag` names the directory's flag and `given` is its value as given, for
 * messages.
 * @returns the stage directory's path, and the first directory this call created (the one to
 *   remove if the render fails; undefined when `out` existed).
 * @throws UserError naming the flag when `out` is not a directory or cannot be created or written.
 */
function makeStage(out: string, flag: string, given: string): { stage: string; created: string | undefined } {
  let created: string | undefined;
  try {
    created = mkdirSync(out, { recursive: true });
  } catch (e) {
    throw outProblem(e, flag, given);
  }
  removeStaleStages(out);
  try {
    return { stage: mkdtempSync(path.join(out, `${STAGE_PREFIX}${process.pid}-`)), created };
  } catch (e) {
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    throw outProblem(e, flag, given);
  }
}

/** Why an output directory that is a file (or under one) cannot be written. */
const NOT_A_DIRECTORY = "it (or a parent) is not a directory";

/** The UserError for an output directory (`flag given`) that cannot be created or written (`e`: the fs error). */
function outProblem(e: unknown, flag: string, given: string): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === "EEXIST" || code === "ENOTDIR"
      ? NOT_A_DIRECTORY
      : code === "EACCES" || code === "EPERM"
        ? "permission denied"
        : (e as Error).message;
  return outError(why, flag, given);
}

/** The UserError naming `flag given` and `why` it cannot be written. */
function outError(why: string, flag: string, given: string): UserError {
  return new UserError(
    `${flag} ${given}: cannot write there: ${why}; expected a directory (created if missing)`,
  );
}

/**
 * Checks, without creating anything, that a render could write into `out`: it is a directory,
 * or it is missing and its nearest existing parent is a directory; and that directory is
 * writable. For commands that render later and should refuse a bad directory before they
 * change anything else (`keel apply --render-out`).
 * @throws UserError naming `flag` and `given`, as a render into `out` would.
 */
export function checkOutDir(out: string, flag: string, given: string): void {
  let dir = path.resolve(out);
  for (;;) {
    const st = statOf(dir);
    if (st !== undefined) {
      if (!st.isDirectory()) throw outError(NOT_A_DIRECTORY, flag, given);
      try {
        accessSync(dir, constants.W_OK | constants.X_OK);
      } catch (e) {
        throw outProblem(e, flag, given);
      }
      return;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** What a render into a directory is asked to do (`renderInto`). */
export interface RenderIntoOptions {
  /** The output directory, as given (relative to the working directory, or absolute). */
  out: string;
  /** The flag that named `out` (`--out`, `--render-out`), for messages. */
  flag: string;
  /** The kinds to render; files of other kinds an earlier render wrote are left alone. */
  kinds: readonly RenderKind[];
  /** `--keys DIR`: the directory of key files (WireGuard private keys), absolute. */
  keysDir?: string;
  /**
   * keel.lock after a successful render: `write` it when its content changed; `frozen`: a
   * needed change is an error before anything is written (`--frozen-lock`); `keep`: leave it
   * (the caller has written it already).
   */
  lock: "write" | "frozen" | "keep";
}

/** How `renderInto` ended: the files written, or why nothing was written. */
export type RenderOutcome =
  | {
      status: "rendered";
      /** Paths (relative to the output directory) written, found up to date, kept as they were (images), removed. */
      written: string[];
      unchanged: string[];
      kept: string[];
      removed: string[];
      /** Whether keel.lock was written. */
      lock: "written" | "unchanged";
    }
  /** SIGINT or SIGTERM while rendering: nothing was written. */
  | { status: "interrupted" }
  /** genisoimage failed for an image (`message` names it): nothing was written. */
  | { status: "image-failed"; message: string };

/**
 * Renders `opts.kinds` of `inv` into `opts.out` as `keel render` does (docs/render.md, "How files
 * are written"): every renderer in memory first, cidata images in a stage directory inside the
 * output directory, then only the changed files written, each through a temporary file and a
 * rename, files no longer produced (of the kinds rendered) removed, the manifest written, and
 * keel.lock as `opts.lock` says. A render that fails before writing leaves the directory as it
 * was (and removes the directories it created for it). SIGINT and SIGTERM are taken while it
 * runs: before the writes they stop it (`interrupted`), during them they are ignored.
 * @throws UserError naming `opts.flag` for a directory that is not one or cannot be written; a
 *   renderer's UserError (input it cannot render, a missing key file); commitLock's UserError
 *   (`frozen` and a needed change, before anything is written; or the lock cannot be written).
 */
export async function renderInto(inv: Inventory, opts: RenderIntoOptions): Promise<RenderOutcome> {
  const out = path.resolve(opts.out);
  const manifest = readManifest(out);
  // --frozen-lock: refuse before anything is written
  if (opts.lock === "frozen") commitLock(inv.ipam, true);
  const ctx: RenderContext = {
    now: new Date(),
    previousDigest: (p) => manifest.entries.get(p)?.sha256,
    exists: (p) => existsSync(`${out}/${p}`),
    previous: (p) => {
      try {
        return readFileSync(path.join(out, p), "utf8");
      } catch {
        return undefined;
      }
    },
    ...(opts.keysDir !== undefined ? { keysDir: opts.keysDir } : {}),
  };
  // Large files (cidata images) are built in a stage directory inside DIR, so that they move
  // into place with a rename; it is removed whatever happens, and the directories this run
  // made for DIR too when the render failed. A render that fails before writing (a renderer,
  // genisoimage, an interrupt) leaves DIR as it was; one that fails while writing (a full
  // disk) leaves the files written so far and the previous manifest, which the next render
  // corrects.
  const { stage, created } = makeStage(out, opts.flag, opts.out);
  ctx.stageDir = stage;
  // Ctrl-C (SIGINT) or SIGTERM while rendering: no new image is started, running genisoimage
  // processes are killed, the stage is removed and nothing is written (exit 130).
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const stopListening = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  ctx.signal = interrupt.signal;
  let result: ReturnType<typeof writeRender>;
  try {
    const files = await renderAll(inv, ctx, opts.kinds);
    if (interrupt.signal.aborted) throw new RenderInterrupted();
    // From here on the render completes: a signal during the writes (synchronous) or the
    // lock's is taken by the listeners, still in place, and ignored.
    result = writeRender(out, files, opts.kinds, manifest);
  } catch (e) {
    stopListening();
    rmSync(stage, { recursive: true, force: true });
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    if (e instanceof RenderInterrupted) return { status: "interrupted" };
    if (e instanceof ImageError) return { status: "image-failed", message: e.message };
    throw e;
  }
  rmSync(stage, { recursive: true, force: true });
  // after a successful render: record the allocations the rendered files are built on
  let lock: "written" | "unchanged" = "unchanged";
  try {
    if (opts.lock !== "keep") lock = commitLock(inv.ipam, opts.lock === "frozen");
  } finally {
    stopListening();
  }
  return { status: "rendered", ...result, lock };
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
      if (flags.keys !== undefined && !existsSync(flags.keys))
        throw new UserError(`--keys: ${flags.keys} does not exist; expected a directory of key files`);
      const r = await renderInto(inv, {
        out: flags.out,
        flag: "--out",
        kinds: flags.only ?? [...RENDER_KINDS],
        lock: flags.frozenLock ? "frozen" : "write",
        ...(flags.keys !== undefined ? { keysDir: path.resolve(flags.keys) } : {}),
      });
      if (r.status === "interrupted") {
        process.stderr.write("keel render: interrupted; nothing was written\n");
        process.exitCode = 130;
        return;
      }
      if (r.status === "image-failed") {
        process.stderr.write(`keel render: ${r.message}; nothing was written\n`);
        process.exitCode = 1;
        return;
      }
      const { written, unchanged, kept, removed } = r;
      const n = written.length + unchanged.length;
      process.stdout.write(
        `${inv.file}: rendered ${n} file${n === 1 ? "" : "s"} into ${flags.out}` +
          (unchanged.length ? ` (${written.length} changed)` : "") +
          (kept.length ? `, kept ${kept.length} unchanged image${kept.length === 1 ? "" : "s"}` : "") +
          (removed.length ? `, removed ${removed.length} no longer produced` : "") +
          (r.lock === "written" ? `; wrote ${inv.ipam.lockFile}` : "") +
          "\n",
      );
    });
}
