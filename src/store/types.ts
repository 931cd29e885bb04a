/**
 * The results store: check history for `keel verify` (one run at a time) and `keel serve`
 * (a continuous stream of results), with bounded size. Two backends with the same behaviour:
 * SQLite (embedded default, better-sqlite3) and PostgreSQL (`pg`); `openStore` picks one.
 *
 * Design (the size bound follows from it; see the README, "History storage"):
 * - Raw history is run-length encoded: a **span** is a run of consecutive results of one check
 *   with the same status and message inside one bucket period (`retention.bucketMs`), stored
 *   as one row `{first, last, count, min/sum/max duration}`. A check that keeps passing costs one
 *   row per bucket period, a flapping check one row per change.
 * - The store keeps each check's open span in memory and writes what changed since the last
 *   write (added counts, newer `last`) at most every `flushMs` of result time, on `flush()`,
 *   `saveRun()` and `close()`, in one transaction. A crash loses at most the results since
 *   the last flush; what is on disk is always consistent.
 * - Retention (`applyRetention`, run automatically every `retentionEveryMs` of result time)
 *   folds spans older than `rawMs`, and the oldest spans of a check holding more than
 *   `perCheck` raw results, into per-check **buckets** `{start, width, pass, fail, error,
 *   min/sum/max duration}`, then drops buckets older than `maxAgeMs`, runs older than
 *   `maxAgeMs` and checks with no data left. Each step runs in bounded transactions.
 * - Size bound, per check: at most `maxAgeMs / bucketMs + 1` buckets, and raw spans holding at
 *   most `perCheck` results (each span holds at least one, and the newest span is never
 *   folded by the count limit), so at most `perCheck` span rows.
 *
 * Times in results are ISO 8601 strings (JSON-ready for the API); query bounds are epoch ms.
 *
 * Open one with `openStore(spec: string, options?: StoreOptions): Promise<ResultStore>` from
 * `src/store/index.ts`: `spec` is a file path (SQLite) or a `postgres://` / `postgresql://` URL.
 */
import type { Retention } from "../inventory/model.js";
import type { CheckResult, CheckStatus, Report, ReportSummary } from "../verify/types.js";

/** Statuses the store records (skipped checks are not stored). */
export type StoredStatus = Exclude<CheckStatus, "skip">;

/**
 * One raw history point: a span of consecutive results of one check with the same status and
 * message, within one bucket period. A single result is a span with `count` 1 and `at === until`.
 */
export interface HistoryPoint {
  /** Time of the span's first result (ISO 8601). */
  at: string;
  /** Time of the span's last result (ISO 8601). */
  until: string;
  status: StoredStatus;
  message: string;
  /** Number of results in the span (>= 1). */
  count: number;
  /** Mean duration of the span's results, ms (rounded). */
  durationMs: number;
  /** Shortest and longest duration of the span's results, ms. */
  minMs: number;
  maxMs: number;
  /** The stored run (`keel verify`, `POST /api/runs`) whose result opened the span; null for serve's scheduled results. */
  runId: number | null;
}

/**
 * Downsampled history: every result of one check in `[start, end)`, counted by status, with
 * duration statistics. Buckets cover the whole stored history, raw period included (buckets of
 * the raw period are computed from its spans), so a chart can draw one series.
 */
export interface HistoryBucket {
  /** Bucket start, inclusive (ISO 8601). */
  start: string;
  /** Bucket end, exclusive (ISO 8601): start + the bucket width in force when it was written. */
  end: string;
  pass: number;
  fail: number;
  error: number;
  /** Duration statistics over all results of the bucket, ms (`avgMs` rounded). */
  minMs: number;
  avgMs: number;
  maxMs: number;
}

/** One change of a check's status between two consecutive stored results. */
export interface StateChange {
  checkId: string;
  /** When the result with the new status arrived (ISO 8601; for a run, its start). */
  at: string;
  /** The stored run that observed the new status; null for serve's scheduled results. */
  runId: number | null;
  /** Status before; null the first time the check was seen. */
  from: StoredStatus | null;
  to: StoredStatus;
  /** Message of the result with the new status. */
  message: string;
}

/** A stored run: one `keel verify` report (or one `POST /api/runs`). */
export interface Run {
  id: number;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  /** Inventory path as given on the command line. */
  inventory: string;
  summary: ReportSummary;
}

/** Bounds of a history query; every field optional. */
export interface HistoryQuery {
  /** Only data at or after this time (epoch ms): spans/buckets that end at or after it. */
  sinceMs?: number;
  /** Only data at or before this time (epoch ms): spans/buckets that start at or before it. */
  untilMs?: number;
  /** At most this many points, buckets and changes each, the newest (default 1000). */
  limit?: number;
}

/** What `history` answers for one check; each list oldest first. */
export interface CheckHistory {
  checkId: string;
  points: HistoryPoint[];
  buckets: HistoryBucket[];
  changes: StateChange[];
}

/** Bounds of a `stateChanges` query. */
export interface ChangesQuery {
  /** Only this check id (exact). */
  checkId?: string;
  sinceMs?: number;
  untilMs?: number;
  /** At most this many changes, the newest, returned oldest first (default 200). */
  limit?: number;
}

/** What one retention pass did (row counts). */
export interface RetentionReport {
  /** Spans folded into buckets because they were older than `rawMs`. */
  foldedByAge: number;
  /** Spans folded into buckets because their check held more than `perCheck` raw results. */
  foldedByCount: number;
  /** Buckets dropped because they ended more than `maxAgeMs` ago. */
  bucketsDropped: number;
  runsDropped: number;
  checksDropped: number;
}

/** Row counts and size of the store (for tests, `/metrics` and operators). */
export interface StoreStats {
  runs: number;
  checks: number;
  /** Raw span rows. */
  spans: number;
  /** Raw results the spans hold (sum of their counts). */
  rawResults: number;
  buckets: number;
  /** Largest number of span rows of one check, and of raw results of one check. */
  maxSpansPerCheck: number;
  maxRawResultsPerCheck: number;
  /** Bytes on disk, as `sizeBytes()`. */
  sizeBytes: number;
}

/** Options of `openStore`. */
export interface StoreOptions {
  /** Retention in force (default `DEFAULT_RETENTION` of `src/serve/settings.ts`); see `setRetention`. */
  retention?: Retention;
  /**
   * Write buffered results at most this long after they arrive, in ms of the results' own
   * clock (the `at` given to `saveResults`); default 10,000. Also written on a timer of the
   * same length when no further results arrive.
   */
  flushMs?: number;
  /** Run `applyRetention` automatically when this long has passed since the last pass, ms of result time; default 600,000. */
  retentionEveryMs?: number;
}

/**
 * A results store. Every method is asynchronous (PostgreSQL); calls on one store are
 * serialised. Errors: methods reject with the backend's error (better-sqlite3 `SqliteError`,
 * pg `DatabaseError`) when the database cannot be read or written, and with `TypeError` for a
 * result whose status is not one of `CheckStatus`; a rejected write leaves the database as it was.
 */
export interface ResultStore {
  /** `sqlite` or `postgres`. */
  readonly backend: "sqlite" | "postgres";
  /** The SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;

  /**
   * Stores a `keel verify` report as one run and its results (skips are not stored), together
   * with any buffered results, in one transaction; resolves with the run id.
   */
  saveRun(report: Report): Promise<number>;

  /**
   * Records results that arrived at `at` (serve's scheduled results; no run). Skips are not
   * stored. Buffered in memory and written by the next flush (see `StoreOptions.flushMs`); a
   * result older than its check's latest is recorded at the latest time + 1 ms if it starts a
   * new span, so spans of a check never overlap.
   * @throws TypeError (before recording anything) when a result's status is not pass/fail/error/skip.
   */
  saveResults(results: readonly CheckResult[], at: Date): Promise<void>;

  /** Writes buffered results now (one transaction). */
  flush(): Promise<void>;

  /** Raw points, buckets and state changes of one check (buffered results included). */
  history(checkId: string, q?: HistoryQuery): Promise<CheckHistory>;

  /** Status changes of every check (or one), newest `limit`, oldest first; raw period only. */
  stateChanges(q?: ChangesQuery): Promise<StateChange[]>;

  /** The newest `limit` stored runs (default 50), newest first. */
  runs(limit?: number): Promise<Run[]>;

  /** Sets the retention used by later passes and spans (e.g. after an inventory reload). */
  setRetention(retention: Retention): void;

  /** Flushes, then applies the retention as of `now` (default: the current time). */
  applyRetention(now?: Date): Promise<RetentionReport>;

  /**
   * Bytes the store occupies: SQLite, the database file plus its write-ahead log; PostgreSQL,
   * `pg_total_relation_size` of Keel's tables (indexes and TOAST included).
   */
  sizeBytes(): Promise<number>;

  /** Row counts and size. */
  stats(): Promise<StoreStats>;

  /** Flushes and closes. The store cannot be used afterwards. */
  close(): Promise<void>;
}
