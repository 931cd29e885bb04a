/**
 * Results history in SQLite (better-sqlite3), by default `.keel/keel.db` beside the inventory.
 *
 * Schema (versioned with `PRAGMA user_version`):
 * - `runs(id, started_at ISO 8601, duration_ms, inventory, pass, fail, error, skip)`
 * - `results(run_id, check_id, kind, host, service, vantage, status, message, observed JSON, duration_ms)`
 *
 * A run is written in one transaction: a crash half way leaves the database as it was.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { CheckStatus, Report } from "../verify/types.js";

const SCHEMA_VERSION = 1;

/** One change of a check's status between two consecutive runs that included it. */
export interface StateChange {
  checkId: string;
  /** When the run that observed the new status started (ISO 8601). */
  at: string;
  runId: number;
  /** Status before; null for the first time the check was seen. */
  from: CheckStatus | null;
  to: CheckStatus;
  message: string;
}

export interface HistoryQuery {
  /** Only this check id (exact), or a picomatch-style filter applied by the caller. */
  checkId?: string;
  /** At most this many changes, newest last (default 200). */
  limit?: number;
}

/** SQLite-backed results store. */
export class SqliteStore {
  readonly file: string;
  private readonly db: Database.Database;

  /**
   * Opens (creating if needed, with its parent directory) the database at `file`.
   * @throws Error from better-sqlite3 when the file is not a database or cannot be written.
   */
  constructor(file: string) {
    this.file = file;
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${this.file} was written by a newer Keel (schema ${version}; this one knows ${SCHEMA_VERSION})`,
      );
    }
    if (version < 1) {
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS runs (
          id INTEGER PRIMARY KEY,
          started_at TEXT NOT NULL,
          duration_ms INTEGER NOT NULL,
          inventory TEXT NOT NULL,
          pass INTEGER NOT NULL, fail INTEGER NOT NULL, error INTEGER NOT NULL, skip INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS results (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          check_id TEXT NOT NULL,
          kind TEXT NOT NULL,
          host TEXT NOT NULL,
          service TEXT,
          vantage TEXT,
          status TEXT NOT NULL CHECK (status IN ('pass','fail','error','skip')),
          message TEXT NOT NULL,
          observed TEXT,
          duration_ms INTEGER NOT NULL,
          PRIMARY KEY (check_id, run_id)
        ) WITHOUT ROWID;
        PRAGMA user_version = 1;
      `);
    }
  }

  /** Stores a report as one run; returns the run id. Skipped checks are not stored. */
  saveRun(report: Report): number {
    const insertRun = this.db.prepare(
      "INSERT INTO runs (started_at, duration_ms, inventory, pass, fail, error, skip) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const insertResult = this.db.prepare(
      `INSERT INTO results (run_id, check_id, kind, host, service, vantage, status, message, observed, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const tx = this.db.transaction((r: Report) => {
      const s = r.summary;
      const runId = Number(
        insertRun.run(r.startedAt, r.durationMs, r.inventory, s.pass, s.fail, s.error, s.skip)
          .lastInsertRowid,
      );
      for (const c of r.checks) {
        if (c.status === "skip") continue;
        insertResult.run(
          runId,
          c.id,
          c.kind,
          c.host,
          c.service ?? null,
          c.vantage ?? null,
          c.status,
          c.message,
          c.observed === undefined ? null : JSON.stringify(c.observed),
          c.durationMs,
        );
      }
      return runId;
    });
    return tx(report);
  }

  /** Number of stored runs. */
  runCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n;
  }

  /**
   * Status changes of each check over time: the first observation and every change between
   * consecutive observations, oldest first, the last `limit` of them.
   */
  stateChanges(q: HistoryQuery = {}): StateChange[] {
    const limit = q.limit ?? 200;
    const rows = this.db
      .prepare(
        `SELECT check_id AS checkId, at, runId, prev AS "from", status AS "to", message FROM (
           SELECT r.check_id, u.started_at AS at, r.run_id AS runId, r.status, r.message,
                  LAG(r.status) OVER (PARTITION BY r.check_id ORDER BY r.run_id) AS prev
           FROM results r JOIN runs u ON u.id = r.run_id
           WHERE (@check IS NULL OR r.check_id = @check)
         ) WHERE prev IS NULL OR prev <> status
         ORDER BY runId DESC, checkId DESC LIMIT @limit`,
      )
      .all({ check: q.checkId ?? null, limit }) as StateChange[];
    return rows.reverse();
  }

  close(): void {
    this.db.close();
  }
}
