/**
 * What apply hands to a hypervisor, kept on the machine running Keel in its state directory
 * (`.keel/` beside the inventory, never `/tmp`, so a reboot of that machine loses nothing):
 *
 * - `.keel/images/ALGORITHM-HEX.FORMAT`: an image fetched from its URL, stored under its
 *   declared digest once the bytes matched it. An image given as a `path` is used in place.
 *   Either way the file's digest is computed again before each apply uses it.
 * - `.keel/cidata/SEED.iso`: a machine's `cidata` image, named by the SHA-256 of its seed files
 *   (`seedDigest`), built by `render/cloud-init.ts`'s `cidataIsoTo`.
 *
 * Files are written under a temporary name in the same directory and renamed into place, so a
 * crash leaves no file under a final name that does not hold what the name promises.
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Image } from "../inventory/model.js";
import { cidataIsoTo, type SeedFiles } from "../render/cloud-init.js";

/** A file's bytes did not match the image's declared digest: that machine stops, the others go on. */
export class ImageDigestMismatch extends Error {
  override name = "ImageDigestMismatch";
  constructor(
    readonly image: string,
    readonly algorithm: string,
    readonly expected: string,
    readonly actual: string,
    where: string,
  ) {
    super(
      `image "${image}": ${algorithm} of ${where} is ${actual}, but the inventory declares ${expected}; the image is not used`,
    );
  }
}

/** Digest (hex) of the file at `file`. */
export async function digestFile(algorithm: "sha256" | "sha1", file: string): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

/** `.keel/` beside the inventory, with `sub` made (mode 0700). */
export function stateDir(inventoryDir: string, sub: string): string {
  const dir = join(inventoryDir, ".keel", sub);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** How long fetching one image may take, in ms. */
export const FETCH_TIMEOUT_MS = 30 * 60_000;

/**
 * The local file of `image`, its digest verified now: the `path` itself, or the cached download
 * of its `url` (fetched when absent). Concurrent callers for one image share one fetch (`shared`).
 * @throws ImageDigestMismatch naming both digests; Error when the download fails.
 */
export function localImage(
  image: Image,
  inventoryDir: string,
  shared: Map<string, Promise<string>>,
): Promise<string> {
  const key = `${image.name}:${image.checksum.hex}`;
  let p = shared.get(key);
  if (p === undefined) {
    p = resolveImage(image, inventoryDir);
    shared.set(key, p);
  }
  return p;
}

async function resolveImage(image: Image, inventoryDir: string): Promise<string> {
  const { algorithm, hex } = image.checksum;
  if ("path" in image.source) {
    const got = await digestFile(algorithm, image.source.path);
    if (got !== hex) throw new ImageDigestMismatch(image.name, algorithm, hex, got, image.source.path);
    return image.source.path;
  }
  const dir = stateDir(inventoryDir, "images");
  const file = join(dir, `${algorithm}-${hex}.${image.format}`);
  if (existsSync(file)) {
    const got = await digestFile(algorithm, file);
    if (got === hex) return file;
    rmSync(file, { force: true }); // damaged since it was stored: fetch it again
  }
  const part = `${file}.part-${process.pid}`;
  try {
    // mirrors answer image URLs with redirects (undici's redirect interceptor follows up to 5)
    const { Agent, interceptors, request } = await import("undici"); // loaded only to fetch
    const dispatcher = new Agent({ headersTimeout: 60_000, bodyTimeout: FETCH_TIMEOUT_MS }).compose(
      interceptors.redirect({ maxRedirections: 5 }),
    );
    const res = await request(image.source.url, { dispatcher });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(
        `image "${image.name}": ${image.source.url} answered HTTP ${res.statusCode}; expected 200`,
      );
    }
    const h = createHash(algorithm);
    res.body.on("data", (c: Buffer) => h.update(c));
    await pipeline(res.body, createWriteStream(part, { mode: 0o600 }));
    const got = h.digest("hex");
    if (got !== hex) throw new ImageDigestMismatch(image.name, algorithm, hex, got, image.source.url);
    renameSync(part, file);
    return file;
  } finally {
    rmSync(part, { force: true });
  }
}

/**
 * The `cidata` image of seed files `files` whose digest is `seed`, built when absent.
 * @returns its path.
 */
export async function localSeed(files: SeedFiles, seed: string, inventoryDir: string): Promise<string> {
  const dir = stateDir(inventoryDir, "cidata");
  const file = join(dir, `${seed}.iso`);
  if (existsSync(file)) return file;
  const part = `${file}.part-${process.pid}`;
  try {
    await cidataIsoTo(files, part, dir);
    renameSync(part, file);
  } finally {
    rmSync(part, { force: true });
  }
  return file;
}

/**
 * Deletes the `cidata` images in `.keel/cidata/` whose seed digest is not in `keep` (the seeds
 * of the machines the inventory declares): a removed machine's, or a machine's earlier seed.
 * @returns the names of the files deleted.
 */
export function pruneLocalSeeds(inventoryDir: string, keep: ReadonlySet<string>): string[] {
  const dir = join(inventoryDir, ".keel", "cidata");
  if (!existsSync(dir)) return [];
  const gone: string[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^([0-9a-f]{64})\.iso$/.exec(f);
    if (m && keep.has(m[1]!)) continue;
    if (!m && !f.includes(".part-")) continue; // not Keel's
    rmSync(join(dir, f), { force: true });
    gone.push(f);
  }
  return gone;
}
