/**
 * The PostgreSQL backend (`pg`), for `--db postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
 * Same schema semantics as SQLite (`backend.ts`), in tables prefixed `keel_` in the connection's
 * default schema (so the database may be shared). Versioned in `keel_meta` (`schema` = 2, as
 * SQLite's `user_version`); migrations run in one transaction under an advisory lock, so two
 * Keels starting at once do not race. Every statement is parameterised; batches are passed as
 * arrays and expanded with `unnest`, one statement per table and write.
 */
import pg from "pg";
import type { Report } from "../verify/types.js";
import { type BucketRow, type CheckRow, PENDING_RUN, type SpanRow, type WriteBatch } from "./aggregate.js";
import {
  type Backend,
  type LoadedState,
  RETENTION_BATCH,
  RETENTION_CHECKS,
  type SpanDrops,
} from "./backend.js";
import type { Run, StoreStats } from "./types.js";

const SCHEMA_VERSION = 2;
/** Key of the advisory lock held while migrating (any constant; "keel" in ASCII). */
const MIGRATION_LOCK = 0x6b65656c;

const STATUS_CHECK = "IN ('pass','fail','error')";

/** Migrations by the version they reach, oldest first. */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 2,
    sql: `
      CREATE TABLE keel_runs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at bigint NOT NULL,
        duration_ms bigint NOT NULL,
        inventory text NOT NULL,
        pass integer NOT NULL, fail integer NOT NULL, error integer NOT NULL, skip integer NOT NULL
      );
      CREATE INDEX keel_runs_started_at ON keel_runs (started_at);
      CREATE TABLE keel_checks (
        key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        check_id text NOT NULL UNIQUE,
        kind text NOT NULL,
        host text NOT NULL,
        service text,
        vantage text,
        last_status text CHECK (last_status ${STATUS_CHECK})
      );
      CREATE TABLE keel_spans (
        check_key integer NOT NULL,
        first_at bigint NOT NULL,
        last_at bigint NOT NULL,
        status text NOT NULL CHECK (status ${STATUS_CHECK}),
        message text NOT NULL,
        count integer NOT NULL CHECK (count > 0),
        sum_ms bigint NOT NULL,
        min_ms integer NOT NULL,
        max_ms integer NOT NULL,
        prev_status text CHECK (prev_status ${STATUS_CHECK}),
        run_id bigint,
        PRIMARY KEY (check_key, first_at)
      );
      CREATE TABLE keel_buckets (
        check_key integer NOT NULL,
        start bigint NOT NULL,
        width_ms bigint NOT NULL CHECK (width_ms > 0),
        pass integer NOT NULL, fail integer NOT NULL, error integer NOT NULL,
        sum_ms bigint NOT NULL,
        min_ms integer NOT NULL,
        max_ms integer NOT NULL,
        PRIMARY KEY (check_key, start)
      );`,
  },
];

const TABLES = ["keel_runs", "keel_checks", "keel_spans", "keel_buckets", "keel_meta"];

const SPAN_COLUMNS = `c.check_id AS "checkId", s.first_at AS "firstAt", s.last_at AS "lastAt", s.status, s.message,
  s.count, s.sum_ms AS "sumMs", s.min_ms AS "minMs", s.max_ms AS "maxMs", s.prev_status AS "prevStatus", s.run_id AS "runId"`;

const BUCKET_COLUMNS = `start, width_ms AS "widthMs", pass, fail, error, sum_ms AS "sumMs", min_ms AS "minMs", max_ms AS "maxMs"`;

const SQL = {
  upsertChecks: `INSERT INTO keel_checks (check_id, kind, host, service, vantage, last_status)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    ON CONFLICT (check_id) DO UPDATE SET last_status = EXCLUDED.last_status
    RETURNING key, check_id AS id`,
  upsertSpans: `INSERT INTO keel_spans (check_key, first_at, last_at, status, message, count, sum_ms, min_ms, max_ms, prev_status, run_id)
    SELECT * FROM unnest($1::int[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::int[], $7::int8[],
      $8::int[], $9::int[], $10::text[], $11::int8[])
    ON CONFLICT (check_key, first_at) DO UPDATE SET last_at = GREATEST(keel_spans.last_at, EXCLUDED.last_at),
      count = keel_spans.count + EXCLUDED.count, sum_ms = keel_spans.sum_ms + EXCLUDED.sum_ms,
      min_ms = LEAST(keel_spans.min_ms, EXCLUDED.min_ms), max_ms = GREATEST(keel_spans.max_ms, EXCLUDED.max_ms)`,
  upsertBuckets: `INSERT INTO keel_buckets (check_key, start, width_ms, pass, fail, error, sum_ms, min_ms, max_ms)
    SELECT * FROM unnest($1::int[], $2::int8[], $3::int8[], $4::int[], $5::int[], $6::int[], $7::int8[], $8::int[], $9::int[])
    ON CONFLICT (check_key, start) DO UPDATE SET width_ms = GREATEST(keel_buckets.width_ms, EXCLUDED.width_ms),
      pass = keel_buckets.pass + EXCLUDED.pass, fail = keel_buckets.fail + EXCLUDED.fail,
      error = keel_buckets.error + EXCLUDED.error, sum_ms = keel_buckets.sum_ms + EXCLUDED.sum_ms,
      min_ms = LEAST(keel_buckets.min_ms, EXCLUDED.min_ms), max_ms = GREATEST(keel_buckets.max_ms, EXCLUDED.max_ms)`,
  insertRun: `INSERT INTO keel_runs (started_at, duration_ms, inventory, pass, fail, error, skip)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
  load: `SELECT c.key, c.check_id AS id, c.kind, c.host, c.service, c.vantage, c.last_status AS "lastStatus",
      s.first_at AS "firstAt", s.last_at AS "lastAt", s.status, s.message, s.count, s.sum_ms AS "sumMs",
      s.min_ms AS "minMs", s.max_ms AS "maxMs", s.prev_status AS "prevStatus", s.run_id AS "runId"
    FROM keel_checks c LEFT JOIN LATERAL (
      SELECT * FROM keel_spans WHERE check_key = c.key ORDER BY first_at DESC LIMIT 1) s ON true`,
  spans: `SELECT ${SPAN_COLUMNS} FROM keel_spans s JOIN keel_checks c ON c.key = s.check_key
    WHERE c.check_id = $1 AND s.first_at <= $2 AND s.last_at >= $3 ORDER BY s.first_at`,
  buckets: `SELECT ${BUCKET_COLUMNS} FROM keel_buckets
    WHERE check_key = (SELECT key FROM keel_checks WHERE check_id = $1) AND start <= $2 AND start + width_ms > $3
    ORDER BY start DESC LIMIT $4`,
  changes: `SELECT ${SPAN_COLUMNS} FROM keel_spans s JOIN keel_checks c ON c.key = s.check_key
    WHERE (s.prev_status IS NULL OR s.prev_status <> s.status) AND ($1::text IS NULL OR c.check_id = $1)
      AND s.first_at >= $2 AND s.first_at <= $3
    ORDER BY s.first_at DESC, c.check_id DESC LIMIT $4`,
  runs: "SELECT * FROM keel_runs ORDER BY id DESC LIMIT $1",
  dropSpansByAge: `DELETE FROM keel_spans WHERE (check_key, first_at) IN (
    SELECT s.check_key, s.first_at FROM keel_checks c CROSS JOIN LATERAL (
      SELECT check_key, first_at FROM keel_spans WHERE check_key = c.key AND first_at < $1 AND last_at < $1) s
    LIMIT $2)`,
  overLimit: "SELECT check_key AS key FROM keel_spans GROUP BY check_key HAVING sum(count) > $1",
  dropSpansByCount: `DELETE FROM keel_spans WHERE (check_key, first_at) IN (
    SELECT check_key, first_at FROM (
      SELECT check_key, first_at,
        sum(count) OVER (PARTITION BY check_key ORDER BY first_at DESC ROWS UNBOUNDED PRECEDING) AS kept,
        row_number() OVER (PARTITION BY check_key ORDER BY first_at DESC) AS rn
      FROM keel_spans WHERE check_key = ANY($1::int[])) ranked
    WHERE kept > $2 AND rn > 1)`,
  dropBuckets: `DELETE FROM keel_buckets WHERE (check_key, start) IN (
    SELECT b.check_key, b.start FROM keel_checks c CROSS JOIN LATERAL (
      SELECT check_key, start FROM keel_buckets WHERE check_key = c.key AND start < $1 AND start + width_ms <= $1) b
    LIMIT $2)`,
  dropRuns: "DELETE FROM keel_runs WHERE id IN (SELECT id FROM keel_runs WHERE started_at < $1 LIMIT $2)",
  dropChecks: `DELETE FROM keel_checks c WHERE NOT EXISTS (SELECT 1 FROM keel_spans WHERE check_key = c.key)
    AND NOT EXISTS (SELECT 1 FROM keel_buckets WHERE check_key = c.key) RETURNING check_id AS id`,
  setMeta: `INSERT INTO keel_meta (key, value) VALUES ($1, $2)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
  stats: `SELECT (SELECT count(*) FROM keel_runs) AS runs, (SELECT count(*) FROM keel_checks) AS checks,
      (SELECT count(*) FROM keel_spans) AS spans, (SELECT coalesce(sum(count), 0)::int8 FROM keel_spans) AS "rawResults",
      (SELECT count(*) FROM keel_buckets) AS buckets,
      (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM keel_spans GROUP BY check_key) x) AS "maxSpansPerCheck",
      (SELECT coalesce(max(n), 0)::int8 FROM (SELECT sum(count) AS n FROM keel_spans GROUP BY check_key) x) AS "maxRawResultsPerCheck"`,
  size: `SELECT coalesce(sum(pg_total_relation_size(t)), 0)::int8 AS bytes
    FROM unnest(ARRAY[${TABLES.map((t) => `to_regclass('${t}')`).join(", ")}]) AS t WHERE t IS NOT NULL`,
};

/** `int8` (count(*), bigint columns) as a JS number: Keel's values stay far below 2^53. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  }
}

/** PostgreSQL backend; see the module docstring. */
export class PostgresBackend implements Backend {
  readonly backend = "postgres" as const;
  readonly location: string;
  private readonly keys = new Map<string, number>();

  private constructor(
    private readonly pool: pg.Pool,
    location: string,
  ) {
    this.location = location;
  }

  /**
   * Connects (one connection; the store serialises its calls) and migrates the schema.
   * @throws Error `cannot use PostgreSQL at URL: …` when the server cannot be reached, refuses
   * the login, or the schema was written by a newer Keel.
   */
  static async connect(url: string): Promise<PostgresBackend> {
    const location = redactUrl(url);
    const pool = new pg.Pool({ connectionString: url, max: 1, types, connectionTimeoutMillis: 10_000 });
    // An idle connection that breaks is dropped by the pool; the next query opens a new one.
    pool.on("error", () => undefined);
    const backend = new PostgresBackend(pool, location);
    try {
      await backend.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot use PostgreSQL at ${location}: ${(err as Error).message}`);
    }
    return backend;
  }

  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      try {
        await c.query("ROLLBACK");
      } catch (e) {
        broken = e as Error;
      }
      throw err;
    } finally {
      c.release(broken);
    }
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await c.query("CREATE TABLE IF NOT EXISTS keel_meta (key text PRIMARY KEY, value text NOT NULL)");
      const row = (await c.query("SELECT value FROM keel_meta WHERE key = 'schema'")).rows[0] as
        | { value: string }
        | undefined;
      const version = row ? Number(row.value) : 0;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `the database was written by a newer Keel (schema ${version}; this one knows ${SCHEMA_VERSION})`,
        );
      }
      for (const m of MIGRATIONS) {
        if (m.version <= version) continue;
        await c.query(m.sql);
        await c.query(SQL.setMeta, ["schema", String(m.version)]);
      }
    });
  }

  async load(): Promise<LoadedState> {
    const { rows } = await this.pool.query(SQL.load);
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
        r.firstAt === null
          ? null
          : {
              checkId: r.id,
              firstAt: r.firstAt,
              lastAt: r.lastAt,
              status: r.status,
              message: r.message,
              count: r.count,
              sumMs: r.sumMs,
              minMs: r.minMs,
              maxMs: r.maxMs,
              prevStatus: r.prevStatus,
              runId: r.runId,
            };
      return { row, newest };
    });
    const meta = (await this.pool.query("SELECT value FROM keel_meta WHERE key = 'retained_at'")).rows[0];
    return { checks, retainedAt: meta ? Number(meta.value) : null };
  }

  private keyOf(id: string): number {
    const key = this.keys.get(id);
    if (key === undefined) throw new Error(`store: check ${id} has no row (internal error)`);
    return key;
  }

  async write(batch: WriteBatch, run?: Report): Promise<number | null> {
    const keys = new Map(this.keys);
    try {
      return await this.tx(async (c) => {
        let runId: number | null = null;
        if (run) {
          const s = run.summary;
          const r = await c.query(SQL.insertRun, [
            Date.parse(run.startedAt),
            run.durationMs,
            run.inventory,
            s.pass,
            s.fail,
            s.error,
            s.skip,
          ]);
          runId = r.rows[0].id as number;
        }
        if (batch.checks.length > 0) {
          const k = batch.checks;
          const r = await c.query(SQL.upsertChecks, [
            k.map((x) => x.id),
            k.map((x) => x.kind),
            k.map((x) => x.host),
            k.map((x) => x.service),
            k.map((x) => x.vantage),
            k.map((x) => x.lastStatus),
          ]);
          for (const row of r.rows as { key: number; id: string }[]) this.keys.set(row.id, row.key);
        }
        if (batch.spans.length > 0) {
          const rows = batch.spans.map((s) => [this.keyOf(s.checkId), s] as const);
          rows.sort((a, b) => a[0] - b[0] || a[1].firstAt - b[1].firstAt);
          const col = <T>(f: (s: SpanRow) => T) => rows.map(([, s]) => f(s));
          await c.query(SQL.upsertSpans, [
            rows.map(([key]) => key),
            col((s) => s.firstAt),
            col((s) => s.lastAt),
            col((s) => s.status),
            col((s) => s.message),
            col((s) => s.count),
            col((s) => s.sumMs),
            col((s) => s.minMs),
            col((s) => s.maxMs),
            col((s) => s.prevStatus),
            col((s) => (s.runId === PENDING_RUN ? runId : s.runId)),
          ]);
        }
        if (batch.buckets.length > 0) {
          const rows = batch.buckets.map((b) => [this.keyOf(b.checkId), b] as const);
          rows.sort((a, b) => a[0] - b[0] || a[1].start - b[1].start);
          const col = <T>(f: (b: BucketRow) => T) => rows.map(([, b]) => f(b));
          await c.query(SQL.upsertBuckets, [
            rows.map(([key]) => key),
            col((b) => b.start),
            col((b) => b.widthMs),
            col((b) => b.pass),
            col((b) => b.fail),
            col((b) => b.error),
            col((b) => b.sumMs),
            col((b) => b.minMs),
            col((b) => b.maxMs),
          ]);
        }
        return runId;
      });
    } catch (err) {
      // Keys learnt inside the rolled-back transaction may not exist.
      this.keys.clear();
      for (const [k, v] of keys) this.keys.set(k, v);
      throw err;
    }
  }

  async spans(checkId: string, sinceMs: number, untilMs: number): Promise<SpanRow[]> {
    return (await this.pool.query(SQL.spans, [checkId, untilMs, sinceMs])).rows;
  }

  async buckets(checkId: string, sinceMs: number, untilMs: number, limit: number): Promise<BucketRow[]> {
    const { rows } = await this.pool.query(SQL.buckets, [checkId, untilMs, sinceMs, limit]);
    return rows.reverse().map((b) => ({ checkId, ...b }));
  }

  async changes(
    checkId: string | undefined,
    sinceMs: number,
    untilMs: number,
    limit: number,
  ): Promise<SpanRow[]> {
    return (await this.pool.query(SQL.changes, [checkId ?? null, sinceMs, untilMs, limit])).rows;
  }

  async runs(limit: number): Promise<Run[]> {
    const { rows } = await this.pool.query(SQL.runs, [limit]);
    return rows.map((r) => ({
      id: r.id,
      startedAt: new Date(r.started_at).toISOString(),
      durationMs: r.duration_ms,
      inventory: r.inventory,
      summary: { pass: r.pass, fail: r.fail, error: r.error, skip: r.skip },
    }));
  }

  /** Runs `sql` with `args` + the batch size, one transaction each, until it changes fewer rows. */
  private async drain(sql: string, ...args: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.tx(async (c) => (await c.query(sql, [...args, RETENTION_BATCH])).rowCount ?? 0);
      total += n;
      if (n < RETENTION_BATCH) return total;
    }
  }

  async dropSpans(rawCut: number, perCheck: number): Promise<SpanDrops> {
    const byAge = await this.drain(SQL.dropSpansByAge, rawCut);
    const over = (await this.pool.query(SQL.overLimit, [perCheck])).rows.map((r) => r.key as number);
    let byCount = 0;
    for (let i = 0; i < over.length; i += RETENTION_CHECKS) {
      const chunk = over.slice(i, i + RETENTION_CHECKS);
      byCount += await this.tx(
        async (c) => (await c.query(SQL.dropSpansByCount, [chunk, perCheck])).rowCount ?? 0,
      );
    }
    return { byAge, byCount };
  }

  dropBuckets(ageCut: number): Promise<number> {
    return this.drain(SQL.dropBuckets, ageCut);
  }

  dropRuns(ageCut: number): Promise<number> {
    return this.drain(SQL.dropRuns, ageCut);
  }

  async dropChecks(): Promise<string[]> {
    const ids = (await this.pool.query(SQL.dropChecks)).rows.map((r) => r.id as string);
    for (const id of ids) this.keys.delete(id);
    return ids;
  }

  async setRetainedAt(ms: number): Promise<void> {
    await this.pool.query(SQL.setMeta, ["retained_at", String(ms)]);
  }

  async stats(): Promise<Omit<StoreStats, "sizeBytes">> {
    return (await this.pool.query(SQL.stats)).rows[0];
  }

  async sizeBytes(): Promise<number> {
    return (await this.pool.query(SQL.size)).rows[0].bytes;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
