/**
 * The rows the store writes, as the aggregator hands them out: a check's row, and deltas of its
 * spans and buckets; a write batch of them, and merging two batches (a failed write's and the
 * next) into one.
 */
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
export function mergeSameBucket(buckets: BucketRow[]): BucketRow[] {
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
