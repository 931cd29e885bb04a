/**
 * The results store: check history for `keel verify` (one run at a time) and `keel serve`
 * (a continuous stream of results), with bounded size. Two backends with the same behaviour:
 * SQLite (embedded default, better-sqlite3) and PostgreSQL (`pg`); `openStore` picks one.
 *
 * Design (the size bound follows from it; see docs/history.md, "The history store"):
 * - Raw history is run-length encoded: a **span** is a run of consecutive results of one check
 *   with the same status and message, stored as one row `{first, last, count, min/sum/max
 *   duration}`. A check that keeps passing costs one row however long it passes; a flapping
 *   check one row per change.
 * - Downsampled history is written as results arrive: per check, one **bucket** row per
 *   `retention.bucketMs` period `{start, width, pass, fail, error, min/sum/max duration}`. So
 *   folding raw results into buckets costs nothing later: retention only drops rows.
 * - The store keeps each check's open span and open bucket in memory and writes what changed
 *   since the last write (added counts, newer `last`) as upserts, in the background at most
 *   every `flushMs` of result time, and on `flush()`, `saveRun()` and `close()`, each write one
 *   transaction. A crash loses at most the results since the last write; what is on disk is
 *   always consistent.
 * - Retention (`applyRetention`, run automatically every `retentionEveryMs` of result time)
 *   drops spans that ended more than `rawMs` ago, the oldest spans of a check whose spans hold
 *   more than `perCheck` results (never its newest span), buckets that ended more than
 *   `maxAgeMs` ago, runs older than `maxAgeMs` and checks with no rows left, each in bounded
 *   transactions (every row it drops is expired on its own, so stopping half way is consistent).
 * - Size bound, per check: at most `maxAgeMs / bucketMs + 1` buckets (+1 per bucket-width
 *   change) and at most `perCheck` spans (each holds at least one result), so the store holds at
 *   most `checks x (maxAgeMs / bucketMs + 1 + perCheck)` history rows, plus runs younger than
 *   `maxAgeMs`, however long it runs.
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
 * message. A single result is a span with `count` 1 and `at === until`.
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
 * duration statistics. Buckets cover the whole stored history, raw period included, so a chart
 * can draw one series.
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
  /** Spans dropped because they ended more than `rawMs` ago (their results stay in buckets). */
  spansDroppedByAge: number;
  /** Spans dropped because their check's spans held more than `perCheck` results. */
  spansDroppedByCount: number;
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
  /** Retention in force (default `DEFAULT_RETENTION` of `src/inventory/serve-settings.ts`); see `setRetention`. */
  retention?: Retention;
  /**
   * Write buffered results at most this long after they arrive, in ms of the results' own
   * clock (the `at` given to `saveResults`); default 10,000. Also written on a timer of the
   * same length when no further results arrive.
   */
  flushMs?: number;
  /** Run `applyRetention` automatically when this long has passed since the last pass, ms of result time; default 600,000. */
  retentionEveryMs?: number;
  /** Receives errors of background work (timer flushes, automatic retention); default: one line on stderr. */
  onError?: (err: Error) => void;
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
   * Stores a `keel verify` report as one run and its results (skips are not stored) in one
   * transaction, after writing any buffered results; resolves with the run id. Rejects (with
   * nothing of the run stored, in memory or on disk) when either write fails.
   */
  saveRun(report: Report): Promise<number>;

  /**
   * Records results that arrived at `at` (serve's scheduled results; no run). Skips are not
   * stored. Resolves once they are recorded in memory: writes happen in the background, at most
   * `flushMs` of result time apart (or on the timer), so a slow database never holds up the
   * caller, except that a write that falls due while the previous one still runs waits for it.
   * Calls made after this one (`flush`, `history`, `runs`, ...) run after the write it queued.
   * A failed background write goes to `onError`, and its results are written with the next
   * write (nothing is lost, nothing is written twice). While `saveRun` stores a run, this waits.
   * A result older than its check's latest counts at the latest time (+ 1 ms if it starts a new
   * span), so spans of a check never overlap.
   * @throws TypeError (before recording anything) for a bad `at` or a malformed result: empty id,
   * status not pass/fail/error/skip, message not a string, duration not a finite number >= 0.
   */
  saveResults(results: readonly CheckResult[], at: Date): Promise<void>;

  /** Writes buffered results now (one transaction); rejects when the write fails (they stay buffered). */
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

  /** Row counts and size, after writing buffered results. */
  stats(): Promise<StoreStats>;

  /** Flushes and closes. The store cannot be used afterwards. */
  close(): Promise<void>;
}
