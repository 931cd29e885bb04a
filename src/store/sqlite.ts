/**
 * The SQLite backend (better-sqlite3), by default `.keel/keel.db` beside the inventory. Schema in
 * `backend.ts`, versioned with `PRAGMA user_version` (2; version 1, written by earlier
 * `keel verify`, is migrated in one transaction: its results become spans and buckets).
 *
 * WAL journal with `synchronous = NORMAL`: a crash or power loss leaves the database
 * consistent (it may lose the last transactions on power loss, never half of one). Page cache
 * up to 64 MiB; checkpoints every 16 MiB of WAL, which is cut back to 16 MiB after them.
 */
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { CheckResult, CheckStatus, Report } from "../verify/types.js";
import { Aggregator } from "./aggregate.js";
import {
  type Backend,
  type LoadedState,
  RETENTION_BATCH,
  RETENTION_CHECKS,
  type SpanDrops,
} from "./backend.js";
import { type BucketRow, type CheckRow, PENDING_RUN, type SpanRow, type WriteBatch } from "./rows.js";
import type { Run, StoredStatus, StoreStats } from "./types.js";

const SCHEMA_VERSION = 2;

const STATUS_CHECK = "IN ('pass','fail','error')";

const SCHEMA_V2 = `
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    inventory TEXT NOT NULL,
    pass INTEGER NOT NULL, fail INTEGER NOT NULL, error INTEGER NOT NULL, skip INTEGER NOT NULL
  );
  CREATE INDEX runs_started_at ON runs (started_at);
  CREATE TABLE checks (
    key INTEGER PRIMARY KEY,
    check_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    service TEXT,
    vantage TEXT,
    last_status TEXT CHECK (last_status ${STATUS_CHECK})
  );
  CREATE TABLE spans (
    check_key INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status ${STATUS_CHECK}),
    message TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    sum_ms INTEGER NOT NULL,
    min_ms INTEGER NOT NULL,
    max_ms INTEGER NOT NULL,
    prev_status TEXT CHECK (prev_status ${STATUS_CHECK}),
    run_id INTEGER,
    PRIMARY KEY (check_key, first_at)
  ) WITHOUT ROWID;
  CREATE TABLE buckets (
    check_key INTEGER NOT NULL,
    start INTEGER NOT NULL,
    width_ms INTEGER NOT NULL CHECK (width_ms > 0),
    pass INTEGER NOT NULL, fail INTEGER NOT NULL, error INTEGER NOT NULL,
    sum_ms INTEGER NOT NULL,
    min_ms INTEGER NOT NULL,
    max_ms INTEGER NOT NULL,
    PRIMARY KEY (check_key, start)
  ) WITHOUT ROWID;
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const SPAN_COLUMNS = `c.check_id AS checkId, s.first_at AS firstAt, s.last_at AS lastAt, s.status, s.message,
  s.count, s.sum_ms AS sumMs, s.min_ms AS minMs, s.max_ms AS maxMs, s.prev_status AS prevStatus, s.run_id AS runId`;

const BUCKET_COLUMNS = `start, width_ms AS widthMs, pass, fail, error, sum_ms AS sumMs, min_ms AS minMs, max_ms AS maxMs`;

/** Every statement the backend runs, prepared once (after the schema exists). */
function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    upsertCheck:
      p(`INSERT INTO checks (check_id, kind, host, service, vantage, last_status) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (check_id) DO UPDATE SET last_status = excluded.last_status RETURNING key`),
    keyOf: p("SELECT key FROM checks WHERE check_id = ?"),
    upsertSpan:
      p(`INSERT INTO spans (check_key, first_at, last_at, status, message, count, sum_ms, min_ms, max_ms, prev_status, run_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (check_key, first_at) DO UPDATE SET last_at = max(last_at, excluded.last_at),
        count = count + excluded.count, sum_ms = sum_ms + excluded.sum_ms,
        min_ms = min(min_ms, excluded.min_ms), max_ms = max(max_ms, excluded.max_ms)`),
    upsertBucket:
      p(`INSERT INTO buckets (check_key, start, width_ms, pass, fail, error, sum_ms, min_ms, max_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (check_key, start) DO UPDATE SET width_ms = max(width_ms, excluded.width_ms),
        pass = pass + excluded.pass, fail = fail + excluded.fail, error = error + excluded.error,
        sum_ms = sum_ms + excluded.sum_ms, min_ms = min(min_ms, excluded.min_ms), max_ms = max(max_ms, excluded.max_ms)`),
    insertRun: p(
      "INSERT INTO runs (started_at, duration_ms, inventory, pass, fail, error, skip) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    spans: p(`SELECT ${SPAN_COLUMNS} FROM spans s JOIN checks c ON c.key = s.check_key
      WHERE c.check_id = ? AND s.first_at <= ? AND s.last_at >= ? ORDER BY s.first_at`),
    buckets: p(`SELECT ${BUCKET_COLUMNS} FROM buckets
      WHERE check_key = (SELECT key FROM checks WHERE check_id = ?) AND start <= ? AND start + width_ms > ?
      ORDER BY start DESC LIMIT ?`),
    changes: p(`SELECT ${SPAN_COLUMNS} FROM spans s JOIN checks c ON c.key = s.check_key
      WHERE (s.prev_status IS NULL OR s.prev_status <> s.status) AND (@check IS NULL OR c.check_id = @check)
        AND s.first_at >= @since AND s.first_at <= @until
      ORDER BY s.first_at DESC, c.check_id DESC LIMIT @limit`),
    runs: p("SELECT * FROM runs ORDER BY id DESC LIMIT ?"),
    dropSpansByAge: p(`DELETE FROM spans WHERE (check_key, first_at) IN (
      SELECT check_key, first_at FROM spans
      WHERE check_key IN (SELECT key FROM checks) AND first_at < @cut AND last_at < @cut LIMIT @limit)`),
    overLimit: p("SELECT check_key AS key FROM spans GROUP BY check_key HAVING sum(count) > ?"),
    dropSpansByCount: p(`DELETE FROM spans WHERE (check_key, first_at) IN (
      SELECT check_key, first_at FROM (
        SELECT check_key, first_at,
          sum(count) OVER (PARTITION BY check_key ORDER BY first_at DESC ROWS UNBOUNDED PRECEDING) AS kept,
          row_number() OVER (PARTITION BY check_key ORDER BY first_at DESC) AS rn
        FROM spans WHERE check_key IN (SELECT value FROM json_each(@keys)))
      WHERE kept > @perCheck AND rn > 1)`),
    dropBuckets: p(`DELETE FROM buckets WHERE (check_key, start) IN (
      SELECT check_key, start FROM buckets
      WHERE check_key IN (SELECT key FROM checks) AND start < @cut AND start + width_ms <= @cut LIMIT @limit)`),
    dropRuns: p("DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE started_at < @cut LIMIT @limit)"),
    dropChecks: p(`DELETE FROM checks WHERE NOT EXISTS (SELECT 1 FROM spans WHERE check_key = checks.key)
      AND NOT EXISTS (SELECT 1 FROM buckets WHERE check_key = checks.key) RETURNING check_id AS id`),
    setMeta: p(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
  };
}
type Statements = ReturnType<typeof prepareStatements>;

interface RunRow {
  id: number;
  started_at: number;
  duration_ms: number;
  inventory: string;
  pass: number;
  fail: number;
  error: number;
  skip: number;
}

/** SQLite backend; see the module docstring. */
export class SqliteBackend implements Backend {
  readonly backend = "sqlite" as const;
  readonly location: string;
  private readonly db: Database.Database;
  /** check id -> key, for every stored check. */
  private readonly keys = new Map<string, number>();
  private st!: Statements;

  /**
   * Opens (creating if needed, with its parent directory) the database at `file` and migrates
   * it to the current schema.
   * @param bucketMs bucket width for results migrated from schema 1.
   * @throws Error from better-sqlite3 when the file is not a database or cannot be written, or
   * when it was written by a newer Keel.
   */
  constructor(file: string, bucketMs: number) {
    this.location = file;
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 5000");
      this.db.pragma("cache_size = -65536");
      // Checkpoint (and fsync) every 16 MiB of log rather than every 4 MiB: a day of serve's
      // writes costs a few checkpoints, not dozens. The WAL is cut back to 16 MiB after a
      // checkpoint, so it never keeps a big transaction's size (a bounded store includes its log).
      this.db.pragma("wal_autocheckpoint = 4096");
      this.db.pragma("journal_size_limit = 16777216");
      this.migrate(bucketMs);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.st ??= prepareStatements(this.db);
  }

  private migrate(bucketMs: number): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${this.location} was written by a newer Keel (schema ${version}; this one knows ${SCHEMA_VERSION})`,
      );
    }
    if (version === SCHEMA_VERSION) return;
    this.db.transaction(() => {
      if (version === 0) this.db.exec(SCHEMA_V2);
      else this.migrateFrom1(bucketMs);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  /** Schema 1 (`runs` with ISO times, one `results` row per check and run) to 2, in the caller's transaction. */
  private migrateFrom1(bucketMs: number): void {
    this.db.exec(
      `ALTER TABLE runs RENAME TO runs_v1; ALTER TABLE results RENAME TO results_v1; ${SCHEMA_V2}`,
    );
    const stmtRun = this.db.prepare(
      "INSERT INTO runs (id, started_at, duration_ms, inventory, pass, fail, error, skip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const results = this.db.prepare(
      `SELECT check_id AS id, kind, host, service, vantage, status, message, duration_ms AS durationMs
       FROM results_v1 WHERE run_id = ?`,
    );
    const agg = new Aggregator(bucketMs);
    const runs = this.db.prepare("SELECT * FROM runs_v1 ORDER BY id").all() as (Omit<RunRow, "started_at"> & {
      started_at: string;
    })[];
    this.st = prepareStatements(this.db);
    for (const [i, r] of runs.entries()) {
      const at = Date.parse(r.started_at);
      stmtRun.run(r.id, at, r.duration_ms, r.inventory, r.pass, r.fail, r.error, r.skip);
      const rows = results.all(r.id) as (Omit<CheckResult, "service" | "vantage"> & {
        service: string | null;
        vantage: string | null;
      })[];
      const checks = rows.map((x) => ({
        ...x,
        service: x.service ?? undefined,
        vantage: x.vantage ?? undefined,
        status: x.status as CheckStatus,
      }));
      agg.apply(checks, at, r.id);
      if (i % 1000 === 999 || i === runs.length - 1) {
        this.writeSync(agg.batch(), null);
        agg.commit();
      }
    }
    this.db.exec("DROP TABLE results_v1; DROP TABLE runs_v1;");
  }

  private keyOf(id: string): number {
    let key = this.keys.get(id);
    if (key === undefined) {
      const row = this.st.keyOf.get(id) as { key: number } | undefined;
      if (row === undefined) throw new Error(`store: check ${id} has no row (internal error)`);
      key = row.key;
      this.keys.set(id, key);
    }
    return key;
  }

  /** The body of `write`, inside the caller's transaction. */
  private writeSync(batch: WriteBatch, runId: number | null): void {
    const st = this.st;
    const written: [string, number][] = [];
    for (const c of batch.checks) {
      const { key } = st.upsertCheck.get(c.id, c.kind, c.host, c.service, c.vantage, c.lastStatus) as {
        key: number;
      };
      written.push([c.id, key]);
    }
    for (const [id, key] of written) this.keys.set(id, key);
    const spans = batch.spans.map((s) => [this.keyOf(s.checkId), s] as const);
    spans.sort((a, b) => a[0] - b[0] || a[1].firstAt - b[1].firstAt);
    for (const [key, s] of spans) {
      st.upsertSpan.run(
        key,
        s.firstAt,
        s.lastAt,
        s.status,
        s.message,
        s.count,
        s.sumMs,
        s.minMs,
        s.maxMs,
        s.prevStatus,
        s.runId === PENDING_RUN ? runId : s.runId,
      );
    }
    const buckets = batch.buckets.map((b) => [this.keyOf(b.checkId), b] as const);
    buckets.sort((a, b) => a[0] - b[0] || a[1].start - b[1].start);
    for (const [key, b] of buckets) {
      st.upsertBucket.run(key, b.start, b.widthMs, b.pass, b.fail, b.error, b.sumMs, b.minMs, b.maxMs);
    }
  }

  async load(): Promise<LoadedState> {
    const rows = this.db
      .prepare(
        `SELECT c.key, c.check_id AS id, c.kind, c.host, c.service, c.vantage, c.last_status AS lastStatus,
           s.first_at AS firstAt, s.last_at AS lastAt, s.status, s.message, s.count, s.sum_ms AS sumMs,
           s.min_ms AS minMs, s.max_ms AS maxMs, s.prev_status AS prevStatus, s.run_id AS runId
         FROM checks c LEFT JOIN spans s ON s.check_key = c.key
           AND s.first_at = (SELECT max(first_at) FROM spans WHERE check_key = c.key)`,
      )
      .all() as (CheckRow & Partial<SpanRow> & { key: number })[];
    this.keys.clear();
    const checks = rows.map((r) => {
      this.keys.set(r.id, r.key);
      const row: CheckRow = {
        id: r.id,
        kind: r.kind,
        host: r.host,
        service: r.service,
        vantage: r.vantage,
        lastStatus: r.lastStatus,
      };
      const newest: SpanRow | null =
        r.firstAt === null || r.firstAt === undefined
          ? null
          : {
              checkId: r.id,
              firstAt: r.firstAt,
              lastAt: r.lastAt as number,
              status: r.status as StoredStatus,
              message: r.message as string,
              count: r.count as number,
              sumMs: r.sumMs as number,
              minMs: r.minMs as number,
              maxMs: r.maxMs as number,
              prevStatus: r.prevStatus ?? null,
              runId: r.runId ?? null,
            };
      return { row, newest };
    });
    const meta = this.db.prepare("SELECT value FROM meta WHERE key = 'retained_at'").get() as
      | { value: string }
      | undefined;
    return { checks, retainedAt: meta ? Number(meta.value) : null };
  }

  async write(batch: WriteBatch, run?: Report): Promise<number | null> {
    const keys = new Map(this.keys);
    try {
      return this.db.transaction(() => {
        let runId: number | null = null;
        if (run) {
          const s = run.summary;
          runId = Number(
            this.st.insertRun.run(
              Date.parse(run.startedAt),
              run.durationMs,
              run.inventory,
              s.pass,
              s.fail,
              s.error,
              s.skip,
            ).lastInsertRowid,
          );
        }
        this.writeSync(batch, runId);
        return runId;
      })();
    } catch (err) {
      // Keys learnt inside the rolled-back transaction may not exist.
      this.keys.clear();
      for (const [k, v] of keys) this.keys.set(k, v);
      throw err;
    }
  }

  async spans(checkId: string, sinceMs: number, untilMs: number): Promise<SpanRow[]> {
    return this.st.spans.all(checkId, untilMs, sinceMs) as SpanRow[];
  }

  async buckets(checkId: string, sinceMs: number, untilMs: number, limit: number): Promise<BucketRow[]> {
    const rows = this.st.buckets.all(checkId, untilMs, sinceMs, limit) as Omit<BucketRow, "checkId">[];
    return rows.reverse().map((b) => ({ checkId, ...b }));
  }

  async changes(
    checkId: string | undefined,
    sinceMs: number,
    untilMs: number,
    limit: number,
  ): Promise<SpanRow[]> {
    return this.st.changes.all({
      check: checkId ?? null,
      since: sinceMs,
      until: untilMs,
      limit,
    }) as SpanRow[];
  }

  async runs(limit: number): Promise<Run[]> {
    return (this.st.runs.all(limit) as RunRow[]).map((r) => ({
      id: r.id,
      startedAt: new Date(r.started_at).toISOString(),
      durationMs: r.duration_ms,
      inventory: r.inventory,
      summary: { pass: r.pass, fail: r.fail, error: r.error, skip: r.skip },
    }));
  }

  /** Runs `stmt` for rows older than `cut`, one transaction per batch, until a batch is short. */
  private drain(stmt: Database.Statement, cut: number): number {
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => stmt.run({ cut, limit: RETENTION_BATCH }).changes)();
      total += n;
      if (n < RETENTION_BATCH) return total;
    }
  }

  async dropSpans(rawCut: number, perCheck: number): Promise<SpanDrops> {
    const byAge = this.drain(this.st.dropSpansByAge, rawCut);
    const over = (this.st.overLimit.all(perCheck) as { key: number }[]).map((r) => r.key);
    let byCount = 0;
    for (let i = 0; i < over.length; i += RETENTION_CHECKS) {
      const chunk = JSON.stringify(over.slice(i, i + RETENTION_CHECKS));
      byCount += this.db.transaction(() => this.st.dropSpansByCount.run({ keys: chunk, perCheck }).changes)();
    }
    return { byAge, byCount };
  }

  async dropBuckets(ageCut: number): Promise<number> {
    return this.drain(this.st.dropBuckets, ageCut);
  }

  async dropRuns(ageCut: number): Promise<number> {
    return this.drain(this.st.dropRuns, ageCut);
  }

  async dropChecks(): Promise<string[]> {
    const ids = (this.st.dropChecks.all() as { id: string }[]).map((r) => r.id);
    for (const id of ids) this.keys.delete(id);
    return ids;
  }

  /** Nothing to do: SQLite reuses the pages of deleted rows by itself. */
  async vacuum(): Promise<void> {}

  async setRetainedAt(ms: number): Promise<void> {
    this.st.setMeta.run("retained_at", String(ms));
  }

  async stats(): Promise<Omit<StoreStats, "sizeBytes">> {
    const counts = this.db
      .prepare(
        `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM checks) AS checks,
           (SELECT count(*) FROM spans) AS spans, (SELECT coalesce(sum(count), 0) FROM spans) AS rawResults,
           (SELECT count(*) FROM buckets) AS buckets`,
      )
      .get() as Pick<StoreStats, "runs" | "checks" | "spans" | "rawResults" | "buckets">;
    const per = this.db
      .prepare(
        `SELECT coalesce(max(n), 0) AS maxSpansPerCheck, coalesce(max(c), 0) AS maxRawResultsPerCheck
         FROM (SELECT count(*) AS n, sum(count) AS c FROM spans GROUP BY check_key)`,
      )
      .get() as Pick<StoreStats, "maxSpansPerCheck" | "maxRawResultsPerCheck">;
    return { ...counts, ...per };
  }

  async sizeBytes(): Promise<number> {
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const size = this.db.pragma("page_size", { simple: true }) as number;
    let wal = 0;
    if (this.location !== ":memory:") {
      try {
        wal = statSync(`${this.location}-wal`).size;
      } catch {
        wal = 0;
      }
    }
    return pages * size + wal;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
