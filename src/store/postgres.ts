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
import {
  type Backend,
  type LoadedState,
  RETENTION_BATCH,
  RETENTION_CHECKS,
  type SpanDrops,
} from "./backend.js";
import { type BucketRow, type CheckRow, PENDING_RUN, type SpanRow, type WriteBatch } from "./rows.js";
import type { Run, StoreStats } from "./types.js";
import { redactUrl } from "./url.js";

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
      ) WITH (fillfactor = 50);
      CREATE TABLE keel_buckets (
        check_key integer NOT NULL,
        start bigint NOT NULL,
        width_ms bigint NOT NULL CHECK (width_ms > 0),
        pass integer NOT NULL, fail integer NOT NULL, error integer NOT NULL,
        sum_ms bigint NOT NULL,
        min_ms integer NOT NULL,
        max_ms integer NOT NULL,
        PRIMARY KEY (check_key, start)
      ) WITH (fillfactor = 90);`,
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
  dropSpansByAge: `DELETE FROM keel_spans WHERE ctid = ANY(ARRAY(
    SELECT s.ctid FROM keel_checks c CROSS JOIN LATERAL (
      SELECT ctid FROM keel_spans WHERE check_key = c.key AND first_at < $1 AND last_at < $1
      ORDER BY first_at LIMIT $2) s
    LIMIT $2))`,
  overLimit: "SELECT check_key AS key FROM keel_spans GROUP BY check_key HAVING sum(count) > $1",
  dropSpansByCount: `DELETE FROM keel_spans WHERE (check_key, first_at) IN (
    SELECT check_key, first_at FROM (
      SELECT check_key, first_at,
        sum(count) OVER (PARTITION BY check_key ORDER BY first_at DESC ROWS UNBOUNDED PRECEDING) AS kept,
        row_number() OVER (PARTITION BY check_key ORDER BY first_at DESC) AS rn
      FROM keel_spans WHERE check_key = ANY($1::int[])) ranked
    WHERE kept > $2 AND rn > 1)`,
  checkKeys: "SELECT key FROM keel_checks ORDER BY key",
  // One ordered index range scan per check (ORDER BY + LIMIT keep the LATERAL subquery from
  // being flattened into a join), whatever the statistics say: with stale statistics the planner
  // otherwise picks a sequential scan of the whole table for every chunk of checks.
  dropBuckets: `DELETE FROM keel_buckets WHERE ctid = ANY(ARRAY(
    SELECT b.ctid FROM unnest($2::int[]) AS k(key) CROSS JOIN LATERAL (
      SELECT ctid FROM keel_buckets WHERE check_key = k.key AND start < $1 AND start + width_ms <= $1
      ORDER BY start LIMIT $3) b
    LIMIT $3))`,
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

/**
 * A PostgreSQL integer array literal (`{1,2,3}`) for an array parameter. Only for integers the
 * store computes itself (keys, epoch ms, counts, ms): their decimal form needs no quoting, and it
 * is far cheaper than pg's per-element generic serialisation for the 8.76 million bucket rows a
 * year of 1,000 checks writes. Text columns always go through pg's own serialisation.
 * @throws RangeError on a value that is not a safe integer (a bug, never user input).
 */
export function intArray(values: readonly number[]): string {
  for (const v of values) if (!Number.isSafeInteger(v)) throw new RangeError(`not an integer: ${v}`);
  return `{${values.join(",")}}`;
}

/** PostgreSQL backend; see the module docstring. */
export class PostgresBackend implements Backend {
  readonly backend = "postgres" as const;
  readonly location: string;
  private readonly keys = new Map<string, number>();
  /** Rows this store deleted from each table since it last vacuumed it. */
  private readonly dropped = new Map<string, number>();

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
    // Keel's statements are short; JIT compilation (chosen from cost estimates that stale
    // statistics inflate) only adds tens of ms to each.
    pool.on("connect", (client) => {
      client.query("SET jit = off").catch(() => undefined);
    });
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
          const ints = (f: (s: SpanRow) => number) => intArray(col(f));
          await c.query(SQL.upsertSpans, [
            intArray(rows.map(([key]) => key)),
            ints((s) => s.firstAt),
            ints((s) => s.lastAt),
            col((s) => s.status),
            col((s) => s.message),
            ints((s) => s.count),
            ints((s) => s.sumMs),
            ints((s) => s.minMs),
            ints((s) => s.maxMs),
            col((s) => s.prevStatus),
            col((s) => (s.runId === PENDING_RUN ? runId : s.runId)),
          ]);
        }
        if (batch.buckets.length > 0) {
          const rows = batch.buckets.map((b) => [this.keyOf(b.checkId), b] as const);
          rows.sort((a, b) => a[0] - b[0] || a[1].start - b[1].start);
          const ints = (f: (b: BucketRow) => number) => intArray(rows.map(([, b]) => f(b)));
          await c.query(SQL.upsertBuckets, [
            intArray(rows.map(([key]) => key)),
            ints((b) => b.start),
            ints((b) => b.widthMs),
            ints((b) => b.pass),
            ints((b) => b.fail),
            ints((b) => b.error),
            ints((b) => b.sumMs),
            ints((b) => b.minMs),
            ints((b) => b.maxMs),
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
    this.dropped.set("keel_spans", (this.dropped.get("keel_spans") ?? 0) + byAge + byCount);
    return { byAge, byCount };
  }

  async dropBuckets(ageCut: number): Promise<number> {
    const keys = (await this.pool.query(SQL.checkKeys)).rows.map((r) => r.key as number);
    let total = 0;
    for (let i = 0; i < keys.length; i += RETENTION_CHECKS) {
      const chunk = keys.slice(i, i + RETENTION_CHECKS);
      for (;;) {
        const n = await this.tx(
          async (c) => (await c.query(SQL.dropBuckets, [ageCut, chunk, RETENTION_BATCH])).rowCount ?? 0,
        );
        total += n;
        if (n < RETENTION_BATCH) break;
      }
    }
    this.dropped.set("keel_buckets", (this.dropped.get("keel_buckets") ?? 0) + total);
    return total;
  }

  async dropRuns(ageCut: number): Promise<number> {
    const n = await this.drain(SQL.dropRuns, ageCut);
    this.dropped.set("keel_runs", (this.dropped.get("keel_runs") ?? 0) + n);
    return n;
  }

  async dropChecks(): Promise<string[]> {
    const ids = (await this.pool.query(SQL.dropChecks)).rows.map((r) => r.id as string);
    for (const id of ids) this.keys.delete(id);
    return ids;
  }

  /**
   * VACUUMs (plain: no lock against readers or writers) each table from which this store has
   * deleted more than a fifth of its rows since it last vacuumed it, so deleted rows are reused
   * however fast results come (autovacuum does the same on its own clock, which a burst can
   * outrun). Spans are updated in place all the time: their table keeps spare room per page
   * (fillfactor 50) so updates stay on the page and old versions are pruned without VACUUM.
   */
  async vacuum(): Promise<void> {
    for (const [table, n] of this.dropped) {
      const { rows } = await this.pool.query(
        "SELECT reltuples::int8 AS live FROM pg_class WHERE oid = to_regclass($1)",
        [table],
      );
      const live = Math.max(rows[0]?.live ?? 0, 1000);
      if (n > live / 5) {
        await this.pool.query(`VACUUM ${table}`);
        this.dropped.set(table, 0);
      }
    }
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
