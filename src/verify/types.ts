/**
 * Types shared by derive (Inventory → CheckSpec[]), the runner, the check kinds and the
 * vantages. The report shape follows `shared/design/inventory.md` ("Report"). What a check kind
 * may use is in `kind.ts` (re-exported here); the kinds' parameters are declared in their
 * modules and assembled into `CheckParams` by the registry (`checks/index.ts`).
 */

import type { CheckKind, CheckOutcome, CheckSpecOf } from "./kind.js";

export type { CheckParams } from "./checks/index.js";
export * from "./kind.js";

import type { CheckParams } from "./checks/index.js";

/** One derived check, of any kind: pure data, serialisable. */
export type CheckSpec = CheckSpecOf<CheckParams>;

/** A check result as it appears in the report (`shared/design/inventory.md`). */
export interface CheckResult extends CheckOutcome {
  id: string;
  kind: CheckKind;
  host: string;
  service?: string;
  vantage?: string;
  /** Wall time spent on the check, in ms. */
  durationMs: number;
}

export interface ReportSummary {
  pass: number;
  fail: number;
  error: number;
  skip: number;
}

/** The JSON report of `keel verify --json`. */
export interface Report {
  inventory: string;
  /** ISO 8601 timestamp. */
  startedAt: string;
  durationMs: number;
  summary: ReportSummary;
  checks: CheckResult[];
}
