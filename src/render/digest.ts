import { createHash } from "node:crypto";

/** The SHA-256 of `bytes` (a string is taken as UTF-8), as 64 hex digits. Used by the render manifest. */
export function sha256Hex(bytes: string | Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
