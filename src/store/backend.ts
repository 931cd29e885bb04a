/**
 * What `BufferedStore` needs from a database: the SQL half of the store. Two implementations
 * with the same schema semantics: `SqliteBackend` (better-sqlite3) and `PostgresBackend` (pg).
 *
 * Schema (times are epoch ms, durations ms; PostgreSQL names carry a `keel_` prefix):
 * - `runs(id, started_at, duration_ms, inventory, pass, fail, error, skip)`
 * - `checks(key, check_id UNIQUE, kind, host, service, vantage, last_status)`
 * - `spans(check_key, first_at, last_at, status, message, count, sum_ms, min_ms, max_ms,
 *   prev_status, run_id)`, primary key `(check_key, first_at)`
 * - `buckets(check_key, start, width_ms, pass, fail, error, sum_ms, min_ms, max_ms)`, primary
 *   key `(check_key, start)`
 * - `meta(key, value)`: `retained_at` (last retention pass)
 */
import type { Report } from "../verify/types.js";
import type { BucketRow, CheckRow, SpanRow, WriteBatch } from "./rows.js";
import type { Run, StoreStats } from "./types.js";

/** The stored state `BufferedStore` starts from. */
export interface LoadedState {
  /** Every stored check with its newest span (null when it has none left). */
  checks: { row: CheckRow; newest: SpanRow | null }[];
  /** When retention last ran (epoch ms), or null. */
  retainedAt: number | null;
}

/** A change: a span whose status differs from the status before it. */
export type ChangeRow = SpanRow;

/** Rows that one retention step dropped. */
export interface SpanDrops {
  byAge: number;
  byCount: number;
}

export interface Backend {
  readonly backend: "sqlite" | "postgres";
  readonly location: string;

  load(): Promise<LoadedState>;

  /**
   * Writes a batch in one transaction (all or nothing); with `run`, first inserts the run row and
   * stores its id in place of `PENDING_RUN` in the spans. Resolves with the run id, else null.
   */
  write(batch: WriteBatch, run?: Report): Promise<number | null>;

  /** Spans of a check that overlap `[sinceMs, untilMs]`, oldest first. */
  spans(checkId: string, sinceMs: number, untilMs: number): Promise<SpanRow[]>;

  /** Buckets of a check that overlap `[sinceMs, untilMs]`: the newest `limit`, oldest first. */
  buckets(checkId: string, sinceMs: number, untilMs: number, limit: number): Promise<BucketRow[]>;

  /** Status changes (first spans included) starting in `[sinceMs, untilMs]`: the newest `limit`, newest first. */
  changes(checkId: string | undefined, sinceMs: number, untilMs: number, limit: number): Promise<ChangeRow[]>;

  /** The newest `limit` runs, newest first. */
  runs(limit: number): Promise<Run[]>;

  /**
   * Drops spans that ended before `rawCut`, then, of each check holding more than `perCheck`
   * results in spans, the oldest spans (never the newest) until the rest hold at most `perCheck`.
   * Bounded transactions.
   */
  dropSpans(rawCut: number, perCheck: number): Promise<SpanDrops>;

  /** Drops buckets that ended at or before `ageCut`, in bounded transactions. */
  dropBuckets(ageCut: number): Promise<number>;

  /** Drops runs that started before `ageCut`. */
  dropRuns(ageCut: number): Promise<number>;

  /** Drops checks that have no spans and no buckets left; resolves with their ids. */
  dropChecks(): Promise<string[]>;

  /** After a retention pass: lets the database reuse what it dropped (PostgreSQL: VACUUM when due; SQLite reuses free pages by itself). */
  vacuum(): Promise<void>;

  setRetainedAt(ms: number): Promise<void>;

  stats(): Promise<Omit<StoreStats, "sizeBytes">>;

  sizeBytes(): Promise<number>;

  close(): Promise<void>;
}

/** Rows per retention transaction: a pass never holds a transaction over more than this many. */
export const RETENTION_BATCH = 20_000;

/** Checks whose spans one count-retention transaction handles. */
export const RETENTION_CHECKS = 200;
