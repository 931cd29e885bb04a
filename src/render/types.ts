/**
 * The renderers of `keel render` (contract: `docs/render.md`). A renderer turns the
 * loaded inventory (addresses already allocated, see `src/ipam/`) into the files one core service
 * reads: DNS zones, DHCP, cloud-init, Prometheus, nftables, WireGuard, Ansible. One module per
 * kind under `src/render/`, listed once in `src/render/index.ts`.
 */
import type { Inventory } from "../inventory/model.js";

/** The artifact kinds, as `--only` spells them. */
export const RENDER_KINDS = [
  "dns",
  "dhcp",
  "cloud-init",
  "prometheus",
  "nftables",
  "wireguard",
  "ansible",
] as const;
/** One artifact kind. */
export type RenderKind = (typeof RENDER_KINDS)[number];

/** One file a renderer produces. */
export interface RenderedFile {
  /** Path relative to the output directory, `/`-separated, e.g. `dns/db.lab.internal`. */
  path: string;
  /** The bytes (a string is written as UTF-8). */
  content: string | Uint8Array;
  /** File mode, e.g. 0o600 for files holding secrets; default 0o644. */
  mode?: number;
  /**
   * The SHA-256 (hex) of `content`, when the renderer already worked it out (cloud-init does, to
   * decide whether an image is kept); the writer then does not hash the file again.
   */
  sha256?: string;
}

/**
 * A file the output directory already holds with exactly the bytes this render would write (a
 * VM's `cidata.iso` whose three input files did not change): the writer leaves it as it is and
 * keeps it in the manifest. Renderers return it only after checking with `RenderContext.exists`.
 */
export interface KeptFile {
  path: string;
  keep: true;
}

/**
 * A large file a renderer wrote, complete, into `RenderContext.stageDir` instead of holding it in
 * memory (a VM's `cidata.iso`): the writer renames it into place. Five thousand images held as
 * buffers made every genisoimage fork copy the page tables of a ~2 GB process (~34 ms a spawn).
 */
export interface StagedFile {
  path: string;
  /** Absolute path of the finished file inside `RenderContext.stageDir`. */
  staged: string;
  /** The SHA-256 (hex) of its bytes (the writer records it; the size it takes from the file). */
  sha256: string;
}

/** Everything a renderer may read besides the inventory; renderers do no other I/O. */
export interface RenderContext {
  /** The time of the run (SOA serials use its UTC date). */
  now: Date;
  /**
   * The content of a file this output directory already holds from an earlier render, by the
   * same relative path; undefined when there is none. (DNS keeps its SOA serial this way.)
   */
  previous(path: string): string | undefined;
  /**
   * The SHA-256 (hex) of the bytes the last render wrote at `path`, from the output directory's
   * manifest; undefined when it recorded none. Cheaper than `previous` for "did this change?".
   */
  previousDigest?(path: string): string | undefined;
  /**
   * True when the output directory holds a file at `path` (relative, as `previous`). Absent:
   * nothing is taken as there (images are always built).
   */
  exists?(path: string): boolean;
  /**
   * Directory of key files given with `--keys` (WireGuard private keys as `HOST.key`, base64 as
   * `wg genkey` writes them); undefined when the flag was not given.
   */
  keysDir?: string;
  /**
   * A directory on the output directory's file system where a renderer may write large files and
   * return them as `StagedFile`s (cidata images); the caller removes it afterwards, so a failed
   * render leaves nothing. Absent: renderers return every file's bytes.
   */
  stageDir?: string;
  /**
   * Aborted when the run is interrupted (SIGINT/SIGTERM): a renderer stops starting work (no new
   * genisoimage), kills what it started, and rejects with `RenderInterrupted`.
   */
  signal?: AbortSignal;
}

/** A render stopped by `RenderContext.signal`; the caller removes what it staged. */
export class RenderInterrupted extends Error {
  override name = "RenderInterrupted";
  constructor() {
    super("interrupted");
  }
}

/** What a renderer returns per file: its bytes, "keep the one already there", or a staged file. */
export type Output = RenderedFile | KeptFile | StagedFile;

/** True for a `KeptFile`. */
export function isKept(f: Output): f is KeptFile {
  return "keep" in f;
}

/** True for a `StagedFile`. */
export function isStaged(f: Output): f is StagedFile {
  return "staged" in f;
}

/**
 * A renderer: a function of the inventory and the context. `O` is what it returns per file:
 * `RenderedFile` for renderers that always write bytes, `Output` when it may keep a file.
 * @throws UserError (located when the inventory is at fault; naming the file when a key file is
 * missing or malformed) for input it cannot render; the CLI then writes nothing.
 */
export interface Renderer<O extends Output = Output> {
  kind: RenderKind;
  render(inv: Inventory, ctx: RenderContext): O[] | Promise<O[]>;
}
