/**
 * The `images:` section: exactly one source (`url`, http or https without credentials, or
 * `path`), exactly one digest (`sha256` or `sha1`, of the right length in hex); and the
 * normalised `Image`s, digests lowercase and paths resolved against the inventory's directory.
 */
import { urlProblem } from "./alerts.js";
import type { CheckContext } from "./context.js";
import { resolveIdentityPath } from "./hosts.js";
import type { Image } from "./model.js";
import type { RawImage, RawInventory } from "./raw.js";
import { show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Hex digits of each digest `images.NAME` accepts. */
const DIGEST_LENGTHS = { sha256: 64, sha1: 40 } as const;

const URL_EXAMPLE = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img";

/** Rules of `images:` the schema cannot express. */
export function checkImages(ctx: CheckContext): void {
  for (const [name, img] of Object.entries(ctx.raw.images ?? {})) {
    const segs = ["images", name];
    const cut = (key: string) => ctx.wasCut([...segs, key]);
    if (img.url !== undefined && img.path !== undefined)
      ctx.problem(
        [...segs, "path"],
        `image "${name}" has both url and path; expected exactly one: url: https://… (fetched) or path: FILE (on this machine)`,
        "key",
      );
    else if (img.url === undefined && img.path === undefined && !cut("url") && !cut("path"))
      ctx.problem(
        segs,
        `image "${name}" has neither url nor path; expected exactly one: url: https://… (fetched) or path: FILE (on this machine)`,
        "key",
      );
    if (img.url !== undefined) {
      const why = urlProblem(img.url);
      if (why)
        ctx.problem(
          [...segs, "url"],
          `url ${why.secret ? "" : `${show(img.url)} `}of image "${name}" ${why.message}; expected e.g. ${URL_EXAMPLE}`,
        );
    }
    if (img.sha256 !== undefined && img.sha1 !== undefined)
      ctx.problem(
        [...segs, "sha1"],
        `image "${name}" has both sha256 and sha1; expected exactly one (sha256 when the publisher gives it)`,
        "key",
      );
    else if (img.sha256 === undefined && img.sha1 === undefined && !cut("sha256") && !cut("sha1"))
      ctx.problem(
        segs,
        `image "${name}" has neither sha256 nor sha1; expected the digest its publisher gives, e.g. sha256: (64 hex digits, as in SHA256SUMS)`,
        "key",
      );
    for (const algorithm of ["sha256", "sha1"] as const) {
      const hex = img[algorithm];
      if (hex === undefined) continue;
      const why = digestProblem(hex, DIGEST_LENGTHS[algorithm]);
      if (why) ctx.problem([...segs, algorithm], `${algorithm} of image "${name}" ${why}`);
    }
  }
}

/** Why `hex` is not a digest of `length` hex digits, or undefined when it is. */
function digestProblem(hex: string, length: number): string | undefined {
  const bad = /[^0-9A-Fa-f]/.exec(hex);
  if (bad) return `holds ${show(bad[0])}, which is not a hex digit; expected ${length} hex digits (0-9, a-f)`;
  if (hex.length !== length) return `has ${hex.length} hex digits; expected ${length}`;
  return undefined;
}

/**
 * `images:` normalised, in declaration order: format defaulted to qcow2, the digest lowercase,
 * a `path` resolved (`~/` against the home directory, relative against `dir`, the inventory's
 * directory).
 */
export function normaliseImages(raw: RawInventory, dir: string, loc: Positions): Image[] {
  return Object.entries(raw.images ?? {}).map(([name, img]) => ({
    name,
    source: img.url !== undefined ? { url: img.url } : { path: resolveIdentityPath({ dir }, img.path!) },
    checksum: checksumOf(img),
    format: img.format ?? "qcow2",
    pos: loc.pos(["images", name], "key"),
  }));
}

function checksumOf(img: RawImage): Image["checksum"] {
  return img.sha256 !== undefined
    ? { algorithm: "sha256", hex: img.sha256.toLowerCase() }
    : { algorithm: "sha1", hex: img.sha1!.toLowerCase() };
}
