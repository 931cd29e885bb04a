/**
 * What a posture cell (service × vantage) says: the observed port state against the expected
 * one. A UDP port that stayed silent to an empty datagram (`open|filtered`, its check `error`)
 * reads "not observed": it is neither open nor closed, and never shown as a pass.
 */
import type { PostureCell } from "./api.js";

/**
 * The cell's text, e.g. `open (expected open)`, `refused ✗ expected open`,
 * `prohibited (expected closed)`, `not observed: UDP silence ✗ expected open`, `not probed`.
 */
export function cellText(c: PostureCell): string {
  const obs = c.observed === "open|filtered" ? "not observed: UDP silence" : (c.observed ?? "not probed");
  if (c.expected === null) return obs;
  if (c.ok === false) return `${obs} ✗ expected ${c.expected}`;
  return `${obs} (expected ${c.expected})`;
}
