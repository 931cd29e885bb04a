/**
 * `ResultStore` over a `Backend`: the aggregation, flushing, retention and history logic both
 * backends share (design: `src/store/types.ts`).
 */
import type { Retention } from "../inventory/model.js";
import { DEFAULT_RETENTION } from "../inventory/serve-settings.js";
import type { CheckResult, Report } from "../verify/types.js";
import { Aggregator, validateResults } from "./aggregate.js";
import type { Backend } from "./backend.js";
import { type BucketRow, isEmpty, mergeBatches, PENDING_RUN, type SpanRow, type WriteBatch } from "./rows.js";
import type {
  ChangesQuery,
  CheckHistory,
  HistoryBucket,
  HistoryPoint,
  HistoryQuery,
  ResultStore,
  RetentionReport,
  Run,
  StateChange,
  StoreOptions,
  StoreStats,
} from "./types.js";

/** Default `flushMs`: buffered results are written within 10 s. */
export const DEFAULT_FLUSH_MS = 10_000;
/** Default `retentionEveryMs`: a retention pass every 10 minutes. */
export const DEFAULT_RETENTION_EVERY_MS = 600_000;

const MIN_TIME = Number.MIN_SAFE_INTEGER;
const MAX_TIME = Number.MAX_SAFE_INTEGER;
/** Longest timer Node accepts, ms. */
const MAX_TIMER_MS = 2_147_483_647;

const iso = (ms: number) => new Date(ms).toISOString();

/** Retention as applied: raw history never outlives `maxAgeMs`; widths and counts at least 1. */
export function effectiveRetention(r: Retention): Retention {
  const maxAgeMs = Math.max(1, r.maxAgeMs);
  return {
    maxAgeMs,
    rawMs: Math.max(0, Math.min(r.rawMs, maxAgeMs)),
    bucketMs: Math.max(1, r.bucketMs),
    perCheck: Math.max(1, Math.floor(r.perCheck)),
  };
}

function toPoint(s: SpanRow): HistoryPoint {
  return {
    at: iso(s.firstAt),
    until: iso(s.lastAt),
    status: s.status,
    message: s.message,
    count: s.count,
    durationMs: Math.round(s.sumMs / s.count),
    minMs: s.minMs,
    maxMs: s.maxMs,
    runId: s.runId,
  };
}

function toBucket(b: BucketRow): HistoryBucket {
  const n = b.pass + b.fail + b.error;
  return {
    start: iso(b.start),
    end: iso(b.start + b.widthMs),
    pass: b.pass,
    fail: b.fail,
    error: b.error,
    minMs: b.minMs,
    avgMs: n > 0 ? Math.round(b.sumMs / n) : 0,
    maxMs: b.maxMs,
  };
}

function toChange(s: SpanRow): StateChange {
  return {
    checkId: s.checkId,
    at: iso(s.firstAt),
    runId: s.runId,
    from: s.prevStatus,
    to: s.status,
    message: s.message,
  };
}

const isChange = (s: SpanRow) => s.prevStatus !== s.status;

/** Adds an unwritten span delta to its stored row (same check and `firstAt`), or takes it as new. */
function mergeSpans(stored: SpanRow[], pending: SpanRow[]): SpanRow[] {
  const byStart = new Map(stored.map((s) => [s.firstAt, { ...s }]));
  for (const p of pending) {
    const s = byStart.get(p.firstAt);
    if (s === undefined) byStart.set(p.firstAt, { ...p });
    else {
      s.count += p.count;
      s.sumMs += p.sumMs;
      s.minMs = Math.min(s.minMs, p.minMs);
      s.maxMs = Math.max(s.maxMs, p.maxMs);
      s.lastAt = Math.max(s.lastAt, p.lastAt);
    }
  }
  return [...byStart.values()].sort((a, b) => a.firstAt - b.firstAt);
}

function mergeBuckets(stored: BucketRow[], pending: BucketRow[]): BucketRow[] {
  const byStart = new Map(stored.map((b) => [b.start, { ...b }]));
  for (const p of pending) {
    const b = byStart.get(p.start);
    if (b === undefined) byStart.set(p.start, { ...p });
    else {
      b.pass += p.pass;
      b.fail += p.fail;
      b.error += p.error;
      b.sumMs += p.sumMs;
      b.minMs = Math.min(b.minMs, p.minMs);
      b.maxMs = Math.max(b.maxMs, p.maxMs);
      b.widthMs = Math.max(b.widthMs, p.widthMs);
    }
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/** The store both backends share; create it with `openStore`. */
export class BufferedStore implements ResultStore {
  readonly backend: "sqlite" | "postgres";
  readonly location: string;
  private readonly agg: Aggregator;
  private retention: Retention;
  private readonly flushMs: number;
  private readonly retentionEveryMs: number;
  private readonly onError: (err: Error) => void;
  private queue: Promise<unknown> = Promise.resolve();
  /** Latest result time seen, epoch ms (the store's clock for flushing and retention). */
  private clock = Number.NEGATIVE_INFINITY;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private lastRetentionAt: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** A batch whose write failed: written (merged) with the next one. */
  private failed: WriteBatch | null = null;
  /** The queued or running background write and retention pass, if any. */
  private writing: Promise<void> | null = null;
  private retaining: Promise<void> | null = null;
  /** Set while `saveRun` stores a run: results arriving meanwhile wait for it. */
  private barrier: Promise<void> | null = null;

  private constructor(
    private readonly db: Backend,
    opts: StoreOptions,
    retainedAt: number | null,
  ) {
    this.backend = db.backend;
    this.location = db.location;
    this.retention = effectiveRetention(opts.retention ?? DEFAULT_RETENTION);
    this.flushMs = opts.flushMs ?? DEFAULT_FLUSH_MS;
    this.retentionEveryMs = opts.retentionEveryMs ?? DEFAULT_RETENTION_EVERY_MS;
    this.onError =
      opts.onError ??
      ((err: Error) => process.stderr.write(`keel: store ${this.location}: ${err.message}\n`));
    this.agg = new Aggregator(this.retention.bucketMs);
    this.lastRetentionAt = retainedAt ?? Number.NEGATIVE_INFINITY;
  }

  /** Loads the stored state (each check's newest span, so runs of identical results continue). */
  static async open(db: Backend, opts: StoreOptions = {}): Promise<BufferedStore> {
    try {
      const state = await db.load();
      const store = new BufferedStore(db, opts, state.retainedAt);
      for (const c of state.checks) store.agg.load(c.row, c.newest);
      return store;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** Runs `fn` after every earlier call on this store has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`store ${this.location} is closed`));
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async saveResults(results: readonly CheckResult[], at: Date): Promise<void> {
    const t = at.getTime();
    if (!Number.isFinite(t)) throw new TypeError("saveResults: at must be a valid Date");
    validateResults(results);
    while (this.barrier !== null) await this.barrier;
    if (this.closed) throw new Error(`store ${this.location} is closed`);
    this.agg.apply(results, t, null);
    if (t > this.clock) this.clock = t;
    // Backpressure: a write (or retention pass) that falls due while the previous one is still
    // queued or running waits for it, so neither is ever skipped and memory stays bounded.
    // (A failed write was reported to onError; its batch is written with the next.)
    if (t - this.lastFlushAt >= this.flushMs) {
      while (this.writing !== null) await this.writing;
      if (t - this.lastFlushAt >= this.flushMs) {
        this.lastFlushAt = this.clock;
        this.writing = this.exclusive(() => this.writeNow())
          .catch((err: Error) => this.onError(err))
          .finally(() => {
            this.writing = null;
          });
      }
    } else this.arm();
    if (t - this.lastRetentionAt >= this.retentionEveryMs) {
      while (this.retaining !== null) await this.retaining;
      if (t - this.lastRetentionAt >= this.retentionEveryMs) {
        this.lastRetentionAt = t;
        this.retaining = this.exclusive(() => this.retainNow(t))
          .then(() => undefined)
          .catch((err: Error) => this.onError(err))
          .finally(() => {
            this.retaining = null;
          });
      }
    }
  }

  async saveRun(report: Report): Promise<number> {
    const t = Date.parse(report.startedAt);
    if (!Number.isFinite(t))
      throw new TypeError(`saveRun: startedAt is not an ISO 8601 time: ${report.startedAt}`);
    validateResults(report.checks);
    while (this.barrier !== null) await this.barrier;
    let release = () => {};
    this.barrier = new Promise<void>((r) => {
      release = r;
    });
    try {
      return await this.exclusive(async () => {
        // Everything before the run first, so a failure below undoes exactly the run.
        await this.writeNow();
        this.agg.begin();
        let runId: number;
        try {
          this.agg.apply(report.checks, t, PENDING_RUN);
          runId = (await this.db.write(this.agg.batch(), report)) as number;
        } catch (err) {
          this.agg.rollback();
          throw err;
        }
        this.agg.end();
        this.agg.commit(runId);
        if (t > this.clock) this.clock = t;
        this.flushed(this.clock);
        if (t - this.lastRetentionAt >= this.retentionEveryMs) {
          this.lastRetentionAt = t;
          await this.retainNow(t).catch((err: Error) => this.onError(err));
        }
        return runId;
      });
    } finally {
      this.barrier = null;
      release();
    }
  }

  flush(): Promise<void> {
    return this.exclusive(() => this.writeNow());
  }

  /** Writes everything waiting (a failed batch first), in one transaction; keeps it on failure. */
  private async writeNow(): Promise<void> {
    const upTo = this.clock;
    const batch = mergeBatches(this.failed, this.agg.detach());
    this.failed = null;
    if (isEmpty(batch)) return;
    try {
      await this.db.write(batch);
    } catch (err) {
      this.failed = batch;
      throw err;
    }
    this.flushed(upTo);
  }

  /** Everything up to `upTo` (result time) is written. */
  private flushed(upTo: number): void {
    if (upTo > this.lastFlushAt) this.lastFlushAt = upTo;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Writes buffered results `flushMs` from now (wall clock) if no result triggers it first. */
  private arm(): void {
    if (this.timer !== null || !this.agg.pending()) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (!this.closed) this.flush().catch((err: Error) => this.onError(err));
      },
      Math.min(this.flushMs, MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  /** Unwritten span deltas of a failed write and in memory. */
  private unwrittenSpans(checkId?: string): SpanRow[] {
    const failed = (this.failed?.spans ?? []).filter((s) => checkId === undefined || s.checkId === checkId);
    return [...failed, ...this.agg.pendingSpansOf(checkId)];
  }

  async history(checkId: string, q: HistoryQuery = {}): Promise<CheckHistory> {
    const since = q.sinceMs ?? MIN_TIME;
    const until = q.untilMs ?? MAX_TIME;
    const limit = q.limit ?? 1000;
    return this.exclusive(async () => {
      const stored = await this.db.spans(checkId, since, until);
      const pending = this.unwrittenSpans(checkId).filter((s) => s.lastAt >= since && s.firstAt <= until);
      const spans = mergeSpans(stored, pending);
      const storedBuckets = await this.db.buckets(checkId, since, until, limit);
      const pendingBuckets = [
        ...(this.failed?.buckets ?? []).filter((b) => b.checkId === checkId),
        ...this.agg.pendingBucketsOf(checkId),
      ].filter((b) => b.start + b.widthMs > since && b.start <= until);
      const buckets = mergeBuckets(storedBuckets, pendingBuckets);
      const changes = spans.filter((s) => isChange(s) && s.firstAt >= since);
      return {
        checkId,
        points: spans.slice(-limit).map(toPoint),
        buckets: buckets.slice(-limit).map(toBucket),
        changes: changes.slice(-limit).map(toChange),
      };
    });
  }

  async stateChanges(q: ChangesQuery = {}): Promise<StateChange[]> {
    const since = q.sinceMs ?? MIN_TIME;
    const until = q.untilMs ?? MAX_TIME;
    const limit = q.limit ?? 200;
    return this.exclusive(async () => {
      const stored = await this.db.changes(q.checkId, since, until, limit);
      const seen = new Set(stored.map((s) => `${s.firstAt} ${s.checkId}`));
      const all = [...stored];
      for (const p of this.unwrittenSpans(q.checkId)) {
        if (isChange(p) && p.firstAt >= since && p.firstAt <= until && !seen.has(`${p.firstAt} ${p.checkId}`))
          all.push(p);
      }
      all.sort(
        (a, b) => a.firstAt - b.firstAt || (a.checkId < b.checkId ? -1 : a.checkId > b.checkId ? 1 : 0),
      );
      return all.slice(-limit).map(toChange);
    });
  }

  runs(limit = 50): Promise<Run[]> {
    return this.exclusive(() => this.db.runs(limit));
  }

  setRetention(retention: Retention): void {
    this.retention = effectiveRetention(retention);
    this.agg.setBucketMs(this.retention.bucketMs);
  }

  applyRetention(now: Date = new Date()): Promise<RetentionReport> {
    const t = now.getTime();
    if (!Number.isFinite(t)) return Promise.reject(new TypeError("applyRetention: now must be a valid Date"));
    return this.exclusive(() => this.retainNow(t));
  }

  private async retainNow(now: number): Promise<RetentionReport> {
    await this.writeNow();
    const r = this.retention;
    const rawCut = now - r.rawMs;
    const ageCut = now - r.maxAgeMs;
    // Open spans and buckets about to be dropped are forgotten first (their deltas are written),
    // so a later write never brings back part of a dropped row.
    this.agg.forgetBefore(rawCut, ageCut);
    const spans = await this.db.dropSpans(rawCut, r.perCheck);
    const bucketsDropped = await this.db.dropBuckets(ageCut);
    const runsDropped = await this.db.dropRuns(ageCut);
    const dropped = await this.db.dropChecks();
    this.agg.forgetChecks(dropped);
    await this.db.vacuum();
    await this.db.setRetainedAt(now);
    this.lastRetentionAt = now;
    return {
      spansDroppedByAge: spans.byAge,
      spansDroppedByCount: spans.byCount,
      bucketsDropped,
      runsDropped,
      checksDropped: dropped.length,
    };
  }

  sizeBytes(): Promise<number> {
    return this.exclusive(() => this.db.sizeBytes());
  }

  stats(): Promise<StoreStats> {
    return this.exclusive(async () => {
      await this.writeNow();
      return { ...(await this.db.stats()), sizeBytes: await this.db.sizeBytes() };
    });
  }

  async close(): Promise<void> {
    while (this.barrier !== null) await this.barrier;
    const done = this.exclusive(async () => {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      try {
        await this.writeNow();
      } finally {
        await this.db.close();
      }
    });
    this.closed = true;
    return done;
  }
}
