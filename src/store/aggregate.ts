/**
 * The in-memory half of the store (no I/O): turns results into run-length encoded spans and
 * per-check buckets, and keeps what changed since the last write as deltas.
 *
 * Each check has at most one open span (its latest run of identical status and message) and one
 * open bucket. Their counters hold only what arrived since the last successful write, so a
 * write is an upsert that adds them to the stored row (or inserts it): writing the same delta
 * twice is prevented by clearing it only after the transaction commits (`commit`).
 *
 * The state of every check seen is kept as columns, not objects, for the memory of `keel serve`,
 * which keeps tens of thousands of checks for as long as it runs: each check has a slot (an
 * index) in typed arrays, one array per number of its check row, open span and open bucket, and
 * plain arrays for its strings. With a check row, a span row and a bucket row object per check
 * (and their times and durations, which V8 keeps as separately allocated numbers), 50,000 checks
 * held 30 MB; as columns they hold 16 MB (8 MB of heap and 8 MB of typed arrays, which grow by
 * doubling). Rows are built from the columns only when handed out (`batch`, `detach`,
 * `pendingSpansOf`, `pendingBucketsOf`); closed spans and buckets waiting to be written are few
 * and stay rows. The columns are `Slots` (columns.ts); the rows and batches are in rows.ts.
 */
import type { CheckResult } from "../verify/types.js";
import { DIRTY, HAS_BUCKET, HAS_SPAN, SAVED, Slots, statusCode, statusOf } from "./columns.js";
import {
  type BucketRow,
  type CheckRow,
  mergeSameBucket,
  PENDING_RUN,
  type SpanRow,
  type WriteBatch,
} from "./rows.js";

// The row types stay importable from here (the store's tests import them with the aggregator).
export type { CheckRow, SpanRow } from "./rows.js";
export { PENDING_RUN } from "./rows.js";

/** Undo row of a check created after `begin`: `rollback` forgets it. */
const CREATED = -1;

/** What `begin` started recording: per touched slot, its undo row (or CREATED). */
interface Undo {
  rows: Map<number, number>;
  /** The touched slots as they were, one row each (rows 0 to `count` - 1). */
  saved: Slots;
  count: number;
  /** Lengths of `pendingSpans`, `pendingBuckets` and `dirty` at `begin`. */
  lengths: [number, number, number];
}

/**
 * Checks a batch before anything is recorded.
 * @throws TypeError naming the first bad result: an id that is not a non-empty string, a
 * status other than pass/fail/error/skip, a message that is not a string, or a duration that is
 * not a finite number >= 0.
 */
export function validateResults(results: readonly CheckResult[]): void {
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as CheckResult;
    if (typeof r.id !== "string" || r.id === "")
      throw new TypeError(`result ${i}: id must be a non-empty string`);
    const st = r.status;
    if (st !== "pass" && st !== "fail" && st !== "error" && st !== "skip")
      throw new TypeError(`result ${r.id}: status must be pass, fail, error or skip, not ${String(st)}`);
    if (typeof r.message !== "string") throw new TypeError(`result ${r.id}: message must be a string`);
    const d = r.durationMs;
    if (typeof d !== "number" || !(d >= 0) || d === Number.POSITIVE_INFINITY)
      throw new TypeError(`result ${r.id}: durationMs must be a finite number >= 0, not ${String(d)}`);
  }
}

/**
 * Open spans, open buckets and closed-but-unwritten deltas of every check seen. Each check has a
 * slot in the columns (`Slots`); slots of forgotten checks are reused.
 */
export class Aggregator {
  /** Slot of each check seen, by check id. */
  private readonly slotOf = new Map<string, number>();
  private readonly cols = new Slots(1024);
  /** Slots in use or free: the next new slot, when `free` is empty. */
  private used = 0;
  /** Slots of forgotten checks, to reuse. */
  private free: number[] = [];
  /** Closed span and bucket deltas not written yet. */
  private pendingSpans: SpanRow[] = [];
  private pendingBuckets: BucketRow[] = [];
  /** Slots changed since the last write (flag DIRTY). */
  private dirty: number[] = [];
  private undo: Undo | null = null;
  /** The bucket width changed since the last write: a batch may hold two deltas of one bucket. */
  private widthChanged = false;

  /** @param bucketMs width of new buckets, ms (changeable with `setBucketMs`). */
  constructor(private bucketMs: number) {}

  setBucketMs(ms: number): void {
    if (ms !== this.bucketMs) this.widthChanged = true;
    this.bucketMs = ms;
  }

  /** Registers a stored check and its newest stored span (counters taken as already written). */
  load(row: CheckRow, newest: SpanRow | null): void {
    const c = this.cols;
    const slot = this.slotOf.get(row.id) ?? this.allocate(row);
    const status = statusCode(row.lastStatus);
    c.u8.lastStatus[slot] = status;
    c.u8.savedStatus[slot] = status;
    c.u8.flags[slot] = SAVED;
    c.f64.lastAt[slot] = Number.NEGATIVE_INFINITY;
    if (newest !== null) {
      this.cols.openSpan(
        slot,
        newest.firstAt,
        newest.status,
        newest.message,
        newest.prevStatus,
        newest.runId,
      );
      c.f64.spanLastAt[slot] = newest.lastAt;
      c.f64.lastAt[slot] = newest.lastAt;
    }
  }

  /**
   * Records validated results that arrived at `at` (epoch ms). Skips are ignored. Times never go
   * back within a check: a result older than the check's latest counts at the latest time, and
   * at the latest + 1 ms when it starts a new span.
   */
  apply(results: readonly CheckResult[], at: number, runId: number | null): void {
    const width = this.bucketMs;
    const atStart = at - (((at % width) + width) % width);
    const undo = this.undo;
    // (The column arrays are looked up on each use: `create` may replace them with bigger ones.)
    const { f64, i32, u8, message } = this.cols;
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as CheckResult;
      const status = r.status;
      if (status === "skip") continue;
      const code = statusCode(status);
      let slot = this.slotOf.get(r.id);
      if (slot === undefined) slot = this.create(r);
      else if (undo !== null && !undo.rows.has(slot)) this.remember(undo, slot);
      const d = Math.round(r.durationMs);
      // The common case: a result later than the check's latest, in the bucket of `at`.
      let t = at;
      let start = atStart;
      const hasSpan = (u8.flags[slot]! & HAS_SPAN) !== 0;
      const moved = !hasSpan || u8.spanStatus[slot] !== code || message[slot] !== r.message;
      const lastAt = f64.lastAt[slot]!;
      if (t <= lastAt) {
        t = moved && hasSpan ? lastAt + 1 : lastAt;
        start = t - (((t % width) + width) % width);
      }
      if (moved) {
        if (hasSpan && i32.spanCount[slot]! > 0) this.pendingSpans.push(this.cols.spanRow(slot));
        this.cols.openSpan(slot, t, status, r.message, statusOf(u8.lastStatus[slot]!), runId);
        u8.lastStatus[slot] = code;
      }
      i32.spanCount[slot]!++;
      f64.spanSumMs[slot]! += d;
      if (d < f64.spanMinMs[slot]!) f64.spanMinMs[slot] = d;
      if (d > f64.spanMaxMs[slot]!) f64.spanMaxMs[slot] = d;
      f64.spanLastAt[slot] = t;
      f64.lastAt[slot] = t;

      if ((u8.flags[slot]! & HAS_BUCKET) === 0 || f64.bucketStart[slot] !== start) {
        if (this.cols.bucketResults(slot) > 0) this.pendingBuckets.push(this.cols.bucketRow(slot));
        this.cols.openBucket(slot, start, width);
      }
      if (status === "pass") i32.bucketPass[slot]!++;
      else if (status === "fail") i32.bucketFail[slot]!++;
      else i32.bucketError[slot]!++;
      f64.bucketSumMs[slot]! += d;
      if (d < f64.bucketMinMs[slot]!) f64.bucketMinMs[slot] = d;
      if (d > f64.bucketMaxMs[slot]!) f64.bucketMaxMs[slot] = d;

      if ((u8.flags[slot]! & DIRTY) === 0) {
        u8.flags[slot]! |= DIRTY;
        this.dirty.push(slot);
      }
    }
  }

  /** A slot for a check seen for the first time (no status, no span, no bucket). */
  private create(r: CheckResult): number {
    const slot = this.allocate({
      id: r.id,
      kind: r.kind,
      host: r.host,
      service: r.service ?? null,
      vantage: r.vantage ?? null,
      lastStatus: null,
    });
    if (this.undo !== null) this.undo.rows.set(slot, CREATED);
    return slot;
  }

  /** Takes a slot (a free one, else a new one) for the check of `row`, without status or history. */
  private allocate(row: CheckRow): number {
    const slot = this.free.pop() ?? this.used++;
    const c = this.cols;
    c.reserve(slot);
    this.slotOf.set(row.id, slot);
    c.id[slot] = row.id;
    c.kind[slot] = row.kind;
    c.host[slot] = row.host;
    c.service[slot] = row.service;
    c.vantage[slot] = row.vantage;
    c.message[slot] = "";
    c.u8.flags[slot] = 0;
    c.u8.lastStatus[slot] = 0;
    c.u8.savedStatus[slot] = 0;
    c.f64.lastAt[slot] = Number.NEGATIVE_INFINITY;
    return slot;
  }

  /** Forgets a check: its slot leaves the map and is free for another check. */
  private release(slot: number): void {
    const c = this.cols;
    this.slotOf.delete(c.id[slot]!);
    // Empty strings, so the forgotten ones can be collected.
    c.id[slot] = c.kind[slot] = c.host[slot] = c.message[slot] = "";
    c.service[slot] = c.vantage[slot] = null;
    c.u8.flags[slot] = 0;
    this.free.push(slot);
  }

  /** Keeps a copy of every column of `slot` in the undo record. */
  private remember(undo: Undo, slot: number): void {
    const row = undo.count++;
    undo.saved.copy(this.cols, slot, row);
    undo.rows.set(slot, row);
  }

  /** True when something is waiting to be written. */
  pending(): boolean {
    return this.dirty.length > 0 || this.pendingSpans.length > 0 || this.pendingBuckets.length > 0;
  }

  /**
   * What the next write must store, as rows built from the columns (closed deltas are shared
   * with the aggregator: do not change them). The deltas stay until `commit` clears them or
   * `detach` takes them: write the batch and `commit` before any `apply`, whose results
   * `commit` would clear unwritten.
   */
  batch(): WriteBatch {
    const spans = this.pendingSpans.slice();
    const buckets = this.pendingBuckets.slice();
    const checks: CheckRow[] = [];
    for (const slot of this.dirty) {
      if (this.cols.checkChanged(slot)) checks.push(this.cols.checkRow(slot));
      if (this.cols.spanResults(slot) > 0) spans.push(this.cols.spanRow(slot));
      if (this.cols.bucketResults(slot) > 0) buckets.push(this.cols.bucketRow(slot));
    }
    return { checks, spans, buckets: this.widthChanged ? mergeSameBucket(buckets) : buckets };
  }

  /**
   * Takes everything waiting to be written as an independent batch (rows of the open spans' and
   * buckets' deltas, which restart from zero) and marks the checks written, so results can keep
   * arriving while the batch is written. If the write fails, the caller keeps the batch and
   * writes it (merged, `mergeBatches`) with the next one.
   */
  detach(): WriteBatch {
    const spans = this.pendingSpans;
    const buckets = this.pendingBuckets;
    this.pendingSpans = [];
    this.pendingBuckets = [];
    const checks: CheckRow[] = [];
    for (const slot of this.dirty) {
      if (this.cols.checkChanged(slot)) checks.push(this.cols.checkRow(slot));
      this.cols.markWritten(slot);
      if (this.cols.spanResults(slot) > 0) {
        spans.push(this.cols.spanRow(slot));
        this.cols.clearSpanDelta(slot);
      }
      if (this.cols.bucketResults(slot) > 0) {
        buckets.push(this.cols.bucketRow(slot));
        this.cols.clearBucketDelta(slot);
      }
    }
    this.dirty = [];
    const merged = this.widthChanged ? mergeSameBucket(buckets) : buckets;
    this.widthChanged = false;
    return { checks, spans, buckets: merged };
  }

  /**
   * The batch was committed: clears the deltas; open spans opened by the pending run (run id
   * `PENDING_RUN`) get `runId`.
   */
  commit(runId: number | null = null): void {
    this.pendingSpans = [];
    this.pendingBuckets = [];
    this.widthChanged = false;
    const { f64, u8 } = this.cols;
    for (const slot of this.dirty) {
      this.cols.markWritten(slot);
      if ((u8.flags[slot]! & HAS_SPAN) !== 0) {
        this.cols.clearSpanDelta(slot);
        if (f64.spanRunId[slot] === PENDING_RUN) f64.spanRunId[slot] = runId ?? Number.NaN;
      }
      if ((u8.flags[slot]! & HAS_BUCKET) !== 0) this.cols.clearBucketDelta(slot);
    }
    this.dirty = [];
  }

  /** Starts recording what `apply` changes, so `rollback` can restore it. */
  begin(): void {
    this.undo = {
      rows: new Map(),
      saved: new Slots(64),
      count: 0,
      lengths: [this.pendingSpans.length, this.pendingBuckets.length, this.dirty.length],
    };
  }

  /** Forgets the undo record (the changes stay). */
  end(): void {
    this.undo = null;
  }

  /** Restores every check as it was at `begin` (every column of its slot); forgets checks created since. */
  rollback(): void {
    const undo = this.undo;
    if (undo === null) return;
    this.undo = null;
    for (const [slot, row] of undo.rows) {
      if (row === CREATED) this.release(slot);
      else this.cols.copy(undo.saved, row, slot);
    }
    const [s, b, d] = undo.lengths;
    this.pendingSpans.length = s;
    this.pendingBuckets.length = b;
    this.dirty.length = d;
  }

  /**
   * Before a retention pass (everything written): forgets open spans that ended before `rawCut`
   * and open buckets that ended by `ageCut`, whose rows the pass drops.
   */
  forgetBefore(rawCut: number, ageCut: number): void {
    const { f64, u8, message } = this.cols;
    for (const slot of this.slotOf.values()) {
      const flags = u8.flags[slot]!;
      if ((flags & HAS_SPAN) !== 0 && f64.spanLastAt[slot]! < rawCut) {
        u8.flags[slot]! &= ~HAS_SPAN;
        message[slot] = "";
      }
      if ((flags & HAS_BUCKET) !== 0 && f64.bucketStart[slot]! + f64.bucketWidthMs[slot]! <= ageCut)
        u8.flags[slot]! &= ~HAS_BUCKET;
    }
  }

  /** After a retention pass: forgets checks it dropped (they had no rows left). */
  forgetChecks(ids: readonly string[]): void {
    const u8 = this.cols.u8;
    for (const id of ids) {
      const slot = this.slotOf.get(id);
      if (slot === undefined) continue;
      if ((u8.flags[slot]! & (HAS_SPAN | HAS_BUCKET | DIRTY)) === 0) this.release(slot);
      else u8.flags[slot]! &= ~SAVED;
    }
  }

  /** Unwritten span deltas of one check (or all): closed ones, and the open one as a new row. */
  pendingSpansOf(checkId?: string): SpanRow[] {
    const out = this.pendingSpans.filter((s) => checkId === undefined || s.checkId === checkId);
    const slots = checkId === undefined ? this.dirty : [this.slotOf.get(checkId)];
    for (const slot of slots) {
      if (slot !== undefined && this.cols.spanResults(slot) > 0) out.push(this.cols.spanRow(slot));
    }
    return out;
  }

  /** Unwritten bucket deltas of one check: closed ones, and the open one as a new row. */
  pendingBucketsOf(checkId: string): BucketRow[] {
    const out = this.pendingBuckets.filter((b) => b.checkId === checkId);
    const slot = this.slotOf.get(checkId);
    if (slot !== undefined && this.cols.bucketResults(slot) > 0) out.push(this.cols.bucketRow(slot));
    return out;
  }
}
