import * as crypto from "node:crypto";

// `crypto.hash` (Node ≥ 20.12) hashes in one call, without a Hash object per file: a render of
// 5,000 VMs hashes 20,000 files. Older Node 20 releases fall back to createHash.
const oneShot: typeof crypto.hash | undefined = typeof crypto.hash === "function" ? crypto.hash : undefined;

/** The SHA-256 of `bytes` (a string is taken as UTF-8), as 64 hex digits. Used by the render manifest. */
export function sha256Hex(bytes: string | Uint8Array): string {
  if (oneShot) return oneShot("sha256", bytes, "hex");
  return crypto.createHash("sha256").update(bytes).digest("hex");
}
