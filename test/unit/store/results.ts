/** Times and results shared by the store's unit tests. */
import type { CheckResult, CheckStatus } from "../../../src/verify/types.js";

/** The tests' epoch: 2026-11-23T00:00Z, ms. */
export const T0 = Date.UTC(2026, 10, 23, 0, 0);
export const MIN = 60_000;
export const HOUR = 60 * MIN;

/** A `port.open` result of check `id` (its host is the part before the first `/`). */
export function result(
  id: string,
  status: CheckStatus,
  durationMs = 1,
  message = `${id} is ${status}`,
): CheckResult {
  return { id, kind: "port.open", host: id.split("/")[0] ?? "", status, message, durationMs };
}
