/**
 * The contract between the parts of `keel serve`: the engine (scheduler, soft/hard states,
 * reload, alerts), the store, the HTTP API and the dashboard. All of them read the same plain,
 * serialisable objects (architecture.md: "results are data").
 */

import type { Problem } from "../errors.js";
import type { Inventory } from "../inventory/model.js";
import type { MachineAction } from "../provision/provider.js";
import type { CheckKind, CheckResult, CheckStatus } from "../verify/types.js";

/**
 * State of a check in the Nagios/Icinga sense: `ok`; `soft` (failing, fewer than `failAfter`
 * times in a row, or recovering, fewer than `recoverAfter` passes in a row); `hard`
 * (failing for real: alerts follow hard states only); `unknown` until the first result;
 * `skipped` for checks the derivation skips.
 */
export type HardState = "ok" | "soft" | "hard" | "unknown" | "skipped";

/** The latest state of one check as the engine keeps it in memory. */
export interface CheckState {
  id: string;
  kind: CheckKind;
  host: string;
  service?: string;
  vantage?: string;
  /** Latest result's status; `null` before the first run. */
  status: CheckStatus | null;
  /** Latest result's message. */
  message: string;
  observed?: Record<string, unknown>;
  /** Latest result's duration in ms. */
  durationMs: number;
  state: HardState;
  /** Consecutive results with the current status (fail and error count together). */
  consecutive: number;
  /** When `state` last changed (ISO 8601); null before the first result. */
  since: string | null;
  /** When the latest result arrived (ISO 8601). */
  lastRunAt: string | null;
  /** When the check runs next (ISO 8601). */
  nextRunAt: string | null;
  /** Too many state changes within the flapping window. */
  flapping: boolean;
  /**
   * Set when a parent check (the host's `reachable` from the same vantage) is failing: this
   * check raises no alerts of its own. Holds the parent's check id.
   */
  suppressedBy?: string;
}

/**
 * A check's state without its three times: what the engine keeps per check and lends to
 * `Engine.forEachState`. The engine keeps the times as epoch ms and writes them as ISO 8601
 * only in the copies it hands out (`states`, `state`, events, alerts): three strings per check
 * were ~6 MB of `keel serve`'s heap with 50,000 checks.
 */
export type CheckStateView = Omit<CheckState, "since" | "lastRunAt" | "nextRunAt">;

/** An event the engine emits; the API streams these to the dashboard (Server-Sent Events). */
export type EngineEvent =
  | { type: "result"; result: CheckResult; state: CheckState }
  | { type: "state"; state: CheckState; from: HardState }
  | { type: "reload"; ok: boolean; problems: Problem[] };

/** Which checks `runNow` runs: all, one host's, or those whose id matches a glob (picomatch). */
export type RunSelector = { all: true } | { host: string } | { glob: string };

/** What `keel serve`'s API needs from the engine. */
export interface Engine {
  /** The inventory being served (the last valid one). */
  inventory(): Inventory;
  /** Located problems of the last rejected inventory; empty when the file on disk is valid. */
  problems(): Problem[];
  /** Current states, in derivation order. */
  states(): CheckState[];
  /**
   * Calls `fn` with each current state, in derivation order, without copying them (for counts
   * over every check: `states()` copies 50,000 objects) and without their times (`state(id)`
   * has them). `fn` must neither keep nor change them.
   */
  forEachState(fn: (state: Readonly<CheckStateView>) => void): void;
  state(id: string): CheckState | undefined;
  /** Runs the selected checks now; resolves with their results. Throws `UserError` on an empty selection. */
  runNow(selector: RunSelector): Promise<CheckResult[]>;
  /** Subscribes to events; returns the unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void;
}

/** An action asked through the API, as `GET /api/hosts/NAME/machine` reports it. */
export interface MachineActionState {
  /** Unique within this server's life: `HOST-N`. */
  id: string;
  host: string;
  action: MachineAction;
  /** rollback: the snapshot asked for (absent: the newest); after a snapshot or rollback, the one taken or reverted to. */
  snapshot?: string;
  /** The token's name. */
  who: string;
  state: "running" | "done" | "failed";
  /** migrate: the node asked for. */
  target?: string;
  /** What was done, or why it failed. */
  message: string;
  /**
   * migrate: the migration task as last read while it runs, then as it stopped, e.g.
   * `task UPID:vega:…:qmigrate:1000:…: running` (Proxmox VE, GET /nodes/{node}/tasks/{upid}/status).
   */
  progress?: string;
  /** ISO 8601. */
  startedAt: string;
  finishedAt?: string;
}
