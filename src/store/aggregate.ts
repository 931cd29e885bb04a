/**
 * The in-memory half of the store (no I/O): turns results into run-length encoded spans and
 * per-check buckets, and keeps what changed since the last write as deltas.
 *
 * Each check has at most one open span (its latest run of identical status and message) and one
 * open bucket. Their counters hold only what arrived since the last successful write, so a
 * write is an upsert that adds them to the stored row (or inserts it): writing the same delta
 * twice is prevented by clearing it only after the transaction commits (`commit`).
 */
import type { CheckResult } from "../verify/types.js";
import type { StoredStatus } from "./types.js";

/** A span of one check: absolute `firstAt`/`lastAt` (epoch ms); counters as stored or as a delta. */
export interface SpanRow {
  checkId: string;
  firstAt: number;
  lastAt: number;
  status: StoredStatus;
  message: string;
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
  prevStatus: StoredStatus | null;
  runId: number | null;
}

/** A bucket of one check: `[start, start + widthMs)`, epoch ms; counters as stored or as a delta. */
export interface BucketRow {
  checkId: string;
  start: number;
  widthMs: number;
  pass: number;
  fail: number;
  error: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

/** What the store keeps about a check besides its history. */
export interface CheckRow {
  id: string;
  kind: string;
  host: string;
  service: string | null;
  vantage: string | null;
  lastStatus: StoredStatus | null;
}

/** What one write must store, in one transaction. */
export interface WriteBatch {
  /** Checks that are new or whose last status changed (upserted by id). */
  checks: CheckRow[];
  /** Span deltas: insert, or add to the stored span with the same check and `firstAt`. */
  spans: SpanRow[];
  /** Bucket deltas: insert, or add to the stored bucket with the same check and `start`. */
  buckets: BucketRow[];
}

/** Placeholder run id of spans opened by a run whose row is not written yet. */
export const PENDING_RUN = -1;

interface Live {
  row: CheckRow;
  /** Last status as stored (to know when the check row must be written). */
  savedStatus: StoredStatus | null;
  /** True once the check row exists in the database. */
  saved: boolean;
  /** Time of the latest result, epoch ms. */
  lastAt: number;
  span: SpanRow | null;
  bucket: BucketRow | null;
  dirty: boolean;
}

type Snapshot = Omit<Live, "row"> & { lastStatus: StoredStatus | null };

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

/** Open spans, open buckets and closed-but-unwritten deltas of every check seen. */
export class Aggregator {
  private readonly lives = new Map<string, Live>();
  private pendingSpans: SpanRow[] = [];
  private pendingBuckets: BucketRow[] = [];
  private dirty: Live[] = [];
  private undo: Map<Live, Snapshot | null> | null = null;
  private undoLengths: [number, number, number] = [0, 0, 0];
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
    const span = newest && { ...newest, count: 0, sumMs: 0, minMs: Infinity, maxMs: -Infinity };
    this.lives.set(row.id, {
      row,
      savedStatus: row.lastStatus,
      saved: true,
      lastAt: newest ? newest.lastAt : Number.NEGATIVE_INFINITY,
      span,
      bucket: null,
      dirty: false,
    });
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
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as CheckResult;
      const status = r.status;
      if (status === "skip") continue;
      let live = this.lives.get(r.id);
      if (live === undefined) live = this.create(r);
      else if (undo !== null && !undo.has(live)) undo.set(live, snapshot(live));
      const d = Math.round(r.durationMs);
      // The common case: a result later than the check's latest, in the bucket of `at`.
      let t = at;
      let start = atStart;
      let s = live.span;
      const moved = s === null || s.status !== status || s.message !== r.message;
      if (t <= live.lastAt) {
        t = moved && s !== null ? live.lastAt + 1 : live.lastAt;
        start = t - (((t % width) + width) % width);
      }
      if (moved) {
        if (s !== null && s.count > 0) this.pendingSpans.push(s);
        s = {
          checkId: r.id,
          firstAt: t,
          lastAt: t,
          status,
          message: r.message,
          count: 0,
          sumMs: 0,
          minMs: Number.POSITIVE_INFINITY,
          maxMs: Number.NEGATIVE_INFINITY,
          prevStatus: live.row.lastStatus,
          runId,
        };
        live.span = s as SpanRow;
        live.row.lastStatus = status;
      }
      const span = s as SpanRow;
      span.count++;
      span.sumMs += d;
      if (d < span.minMs) span.minMs = d;
      if (d > span.maxMs) span.maxMs = d;
      span.lastAt = t;
      live.lastAt = t;

      let b = live.bucket;
      if (b === null || b.start !== start) {
        if (b !== null && b.pass + b.fail + b.error > 0) this.pendingBuckets.push(b);
        b = {
          checkId: r.id,
          start,
          widthMs: width,
          pass: 0,
          fail: 0,
          error: 0,
          sumMs: 0,
          minMs: Number.POSITIVE_INFINITY,
          maxMs: Number.NEGATIVE_INFINITY,
        };
        live.bucket = b;
      }
      if (status === "pass") b.pass++;
      else if (status === "fail") b.fail++;
      else b.error++;
      b.sumMs += d;
      if (d < b.minMs) b.minMs = d;
      if (d > b.maxMs) b.maxMs = d;

      if (!live.dirty) {
        live.dirty = true;
        this.dirty.push(live);
      }
    }
  }

  private create(r: CheckResult): Live {
    const live: Live = {
      row: {
        id: r.id,
        kind: r.kind,
        host: r.host,
        service: r.service ?? null,
        vantage: r.vantage ?? null,
        lastStatus: null,
      },
      savedStatus: null,
      saved: false,
      lastAt: Number.NEGATIVE_INFINITY,
      span: null,
      bucket: null,
      dirty: false,
    };
    this.lives.set(r.id, live);
    if (this.undo !== null) this.undo.set(live, null);
    return live;
  }

  /** True when something is waiting to be written. */
  pending(): boolean {
    return this.dirty.length > 0 || this.pendingSpans.length > 0 || this.pendingBuckets.length > 0;
  }

  /** What the next write must store. The rows are live objects: write them before any `apply`. */
  batch(): WriteBatch {
    const spans = this.pendingSpans.slice();
    const buckets = this.pendingBuckets.slice();
    const checks: CheckRow[] = [];
    for (const live of this.dirty) {
      if (!live.saved || live.savedStatus !== live.row.lastStatus) checks.push(live.row);
      if (live.span !== null && live.span.count > 0) spans.push(live.span);
      const b = live.bucket;
      if (b !== null && b.pass + b.fail + b.error > 0) buckets.push(b);
    }
    return { checks, spans, buckets: this.widthChanged ? mergeSameBucket(buckets) : buckets };
  }

  /**
   * Takes everything waiting to be written as an independent batch (copies of the open rows'
   * deltas, which restart from zero) and marks the checks written, so results can keep arriving
   * while the batch is written. If the write fails, the caller keeps the batch and writes it
   * (merged, `mergeBatches`) with the next one.
   */
  detach(): WriteBatch {
    const spans = this.pendingSpans;
    const buckets = this.pendingBuckets;
    this.pendingSpans = [];
    this.pendingBuckets = [];
    const checks: CheckRow[] = [];
    for (const live of this.dirty) {
      if (!live.saved || live.savedStatus !== live.row.lastStatus) checks.push({ ...live.row });
      live.dirty = false;
      live.saved = true;
      live.savedStatus = live.row.lastStatus;
      const s = live.span;
      if (s !== null && s.count > 0) {
        spans.push({ ...s });
        s.count = 0;
        s.sumMs = 0;
        s.minMs = Number.POSITIVE_INFINITY;
        s.maxMs = Number.NEGATIVE_INFINITY;
      }
      const b = live.bucket;
      if (b !== null && b.pass + b.fail + b.error > 0) {
        buckets.push({ ...b });
        b.pass = b.fail = b.error = b.sumMs = 0;
        b.minMs = Number.POSITIVE_INFINITY;
        b.maxMs = Number.NEGATIVE_INFINITY;
      }
    }
    this.dirty = [];
    const merged = this.widthChanged ? mergeSameBucket(buckets) : buckets;
    this.widthChanged = false;
    return { checks, spans, buckets: merged };
  }

  /** The batch was committed: clears the deltas; spans opened by the pending run get `runId`. */
  commit(runId: number | null = null): void {
    this.pendingSpans = [];
    this.pendingBuckets = [];
    this.widthChanged = false;
    for (const live of this.dirty) {
      live.dirty = false;
      live.saved = true;
      live.savedStatus = live.row.lastStatus;
      const s = live.span;
      if (s !== null) {
        s.count = 0;
        s.sumMs = 0;
        s.minMs = Infinity;
        s.maxMs = -Infinity;
        if (s.runId === PENDING_RUN) s.runId = runId;
      }
      const b = live.bucket;
      if (b !== null) {
        b.pass = b.fail = b.error = b.sumMs = 0;
        b.minMs = Infinity;
        b.maxMs = -Infinity;
      }
    }
    this.dirty = [];
  }

  /** Starts recording what `apply` changes, so `rollback` can restore it. */
  begin(): void {
    this.undo = new Map();
    this.undoLengths = [this.pendingSpans.length, this.pendingBuckets.length, this.dirty.length];
  }

  /** Forgets the undo record (the changes stay). */
  end(): void {
    this.undo = null;
  }

  /** Restores every check as it was at `begin`. */
  rollback(): void {
    const undo = this.undo;
    if (undo === null) return;
    this.undo = null;
    for (const [live, snap] of undo) {
      if (snap === null) this.lives.delete(live.row.id);
      else {
        live.savedStatus = snap.savedStatus;
        live.saved = snap.saved;
        live.lastAt = snap.lastAt;
        live.span = snap.span;
        live.bucket = snap.bucket;
        live.dirty = snap.dirty;
        live.row.lastStatus = snap.lastStatus;
      }
    }
    const [s, b, d] = this.undoLengths;
    this.pendingSpans.length = s;
    this.pendingBuckets.length = b;
    this.dirty.length = d;
  }

  /**
   * Before a retention pass (everything written): forgets open spans that ended before `rawCut`
   * and open buckets that ended by `ageCut`, whose rows the pass drops.
   */
  forgetBefore(rawCut: number, ageCut: number): void {
    for (const live of this.lives.values()) {
      if (live.span !== null && live.span.lastAt < rawCut) live.span = null;
      if (live.bucket !== null && live.bucket.start + live.bucket.widthMs <= ageCut) live.bucket = null;
    }
  }

  /** After a retention pass: forgets checks it dropped (they had no rows left). */
  forgetChecks(ids: readonly string[]): void {
    for (const id of ids) {
      const live = this.lives.get(id);
      if (live === undefined) continue;
      if (live.span === null && live.bucket === null && !live.dirty) this.lives.delete(id);
      else live.saved = false;
    }
  }

  /** Unwritten span deltas of one check (or all), closed ones and the open one. */
  pendingSpansOf(checkId?: string): SpanRow[] {
    const out = this.pendingSpans.filter((s) => checkId === undefined || s.checkId === checkId);
    for (const live of checkId === undefined ? this.dirty : [this.lives.get(checkId)]) {
      if (live?.span && live.span.count > 0) out.push(live.span);
    }
    return out;
  }

  /** Unwritten bucket deltas of one check. */
  pendingBucketsOf(checkId: string): BucketRow[] {
    const out = this.pendingBuckets.filter((b) => b.checkId === checkId);
    const b = this.lives.get(checkId)?.bucket;
    if (b && b.pass + b.fail + b.error > 0) out.push(b);
    return out;
  }
}

/** True when a batch has nothing to write. */
export function isEmpty(b: WriteBatch): boolean {
  return b.checks.length === 0 && b.spans.length === 0 && b.buckets.length === 0;
}

/** Two batches as one: deltas of the same span or bucket added, each check's latest row kept. */
export function mergeBatches(older: WriteBatch | null, newer: WriteBatch): WriteBatch {
  if (older === null) return newer;
  const checks = new Map(older.checks.map((c) => [c.id, c]));
  for (const c of newer.checks) checks.set(c.id, c);
  const spans = new Map<string, SpanRow>();
  for (const x of [...older.spans, ...newer.spans]) {
    const key = `${x.firstAt} ${x.checkId}`;
    const m = spans.get(key);
    if (m === undefined) spans.set(key, { ...x });
    else {
      m.count += x.count;
      m.sumMs += x.sumMs;
      m.minMs = Math.min(m.minMs, x.minMs);
      m.maxMs = Math.max(m.maxMs, x.maxMs);
      m.lastAt = Math.max(m.lastAt, x.lastAt);
    }
  }
  return {
    checks: [...checks.values()],
    spans: [...spans.values()],
    buckets: mergeSameBucket([...older.buckets, ...newer.buckets]),
  };
}

/**
 * Bucket deltas with the same check and start added together. Only needed after a width change
 * (a new wider bucket may start where an earlier narrower one did); otherwise a check's bucket
 * starts only grow.
 */
function mergeSameBucket(buckets: BucketRow[]): BucketRow[] {
  const byKey = new Map<string, BucketRow>();
  for (const b of buckets) {
    const key = `${b.start} ${b.checkId}`;
    const m = byKey.get(key);
    if (m === undefined) byKey.set(key, { ...b });
    else {
      m.widthMs = Math.max(m.widthMs, b.widthMs);
      m.pass += b.pass;
      m.fail += b.fail;
      m.error += b.error;
      m.sumMs += b.sumMs;
      m.minMs = Math.min(m.minMs, b.minMs);
      m.maxMs = Math.max(m.maxMs, b.maxMs);
    }
  }
  return [...byKey.values()];
}

function snapshot(live: Live): Snapshot {
  return {
    savedStatus: live.savedStatus,
    saved: live.saved,
    lastAt: live.lastAt,
    span: live.span && { ...live.span },
    bucket: live.bucket && { ...live.bucket },
    dirty: live.dirty,
    lastStatus: live.row.lastStatus,
  };
}
