/**
 * The column storage of the aggregator: the state of every check seen as typed arrays, one
 * array per number of its check row, open span and open bucket (slot `i` of each array is one
 * check), and plain arrays for its strings; the open span's and bucket's deltas of a slot, and
 * the rows built from a slot when they are handed out. Why columns: see aggregate.ts.
 */
import type { BucketRow, CheckRow, SpanRow } from "./rows.js";
import type { StoredStatus } from "./types.js";

/**
 * Statuses in the columns, by code; 0 is none (the last status of a check with no result yet, the
 * previous status of its first span).
 */
const STATUSES: readonly (StoredStatus | null)[] = [null, "pass", "fail", "error"];

/** The column code of a status (0 for none). */
export function statusCode(status: StoredStatus | null): number {
  return status === null ? 0 : status === "pass" ? 1 : status === "fail" ? 2 : 3;
}

/** The status of a column code (null for 0). */
export function statusOf(code: number): StoredStatus | null {
  return STATUSES[code] ?? null;
}

/** Bits of the `flags` column. */
export const SAVED = 1; // the check row exists in the database
export const DIRTY = 2; // in `dirty`: changed since the last write
export const HAS_SPAN = 4; // the span columns hold an open span
export const HAS_BUCKET = 8; // the bucket columns hold an open bucket

/**
 * Number columns, by array type. Times are epoch ms, durations ms; `spanRunId` is NaN for null.
 * Span and bucket counters hold the delta since the last write; with no delta `*MinMs` is
 * Infinity and `*MaxMs` -Infinity.
 */
const F64_COLUMNS = [
  "lastAt", // time of the latest result (-Infinity before any)
  "spanFirstAt",
  "spanLastAt",
  "spanSumMs",
  "spanMinMs",
  "spanMaxMs",
  "spanRunId",
  "bucketStart",
  "bucketWidthMs",
  "bucketSumMs",
  "bucketMinMs",
  "bucketMaxMs",
] as const;
const I32_COLUMNS = ["spanCount", "bucketPass", "bucketFail", "bucketError"] as const;
const U8_COLUMNS = [
  "flags", // SAVED | DIRTY | HAS_SPAN | HAS_BUCKET
  "lastStatus", // status codes (`statusCode`)
  "savedStatus", // last status as stored (to know when the check row must be written)
  "spanStatus",
  "spanPrevStatus",
] as const;

type F64Column = (typeof F64_COLUMNS)[number];
type I32Column = (typeof I32_COLUMNS)[number];
type U8Column = (typeof U8_COLUMNS)[number];

/** An object with one array `make()` per name. */
function columns<K extends string, A>(names: readonly K[], make: () => A): Record<K, A> {
  return Object.fromEntries(names.map((k) => [k, make()])) as Record<K, A>;
}

/** `bigger` with the values of `column` at its start. */
function grown<A extends Float64Array | Int32Array | Uint8Array>(column: ArrayLike<number>, bigger: A): A {
  bigger.set(column);
  return bigger;
}

/**
 * The state of checks as columns: slot `i` of every array is one check. The typed arrays grow
 * by doubling; the string columns are plain arrays.
 */
export class Slots {
  readonly f64: Record<F64Column, Float64Array>;
  readonly i32: Record<I32Column, Int32Array>;
  readonly u8: Record<U8Column, Uint8Array>;
  readonly id: string[] = [];
  readonly kind: string[] = [];
  readonly host: string[] = [];
  readonly service: (string | null)[] = [];
  readonly vantage: (string | null)[] = [];
  /** Message of the open span ("" without one). */
  readonly message: string[] = [];
  /** Slots the typed arrays hold. */
  private capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.f64 = columns(F64_COLUMNS, () => new Float64Array(capacity));
    this.i32 = columns(I32_COLUMNS, () => new Int32Array(capacity));
    this.u8 = columns(U8_COLUMNS, () => new Uint8Array(capacity));
  }

  /** Makes room for `slot`, doubling the typed arrays as often as needed. */
  reserve(slot: number): void {
    if (slot < this.capacity) return;
    let n = this.capacity;
    while (n <= slot) n *= 2;
    this.capacity = n;
    for (const k of F64_COLUMNS) this.f64[k] = grown(this.f64[k], new Float64Array(n));
    for (const k of I32_COLUMNS) this.i32[k] = grown(this.i32[k], new Int32Array(n));
    for (const k of U8_COLUMNS) this.u8[k] = grown(this.u8[k], new Uint8Array(n));
  }

  /** Copies every column of slot `from` of `src` into slot `to` (made room for). */
  copy(src: Slots, from: number, to: number): void {
    this.reserve(to);
    for (const k of F64_COLUMNS) this.f64[k][to] = src.f64[k][from]!;
    for (const k of I32_COLUMNS) this.i32[k][to] = src.i32[k][from]!;
    for (const k of U8_COLUMNS) this.u8[k][to] = src.u8[k][from]!;
    this.id[to] = src.id[from]!;
    this.kind[to] = src.kind[from]!;
    this.host[to] = src.host[from]!;
    this.service[to] = src.service[from] ?? null;
    this.vantage[to] = src.vantage[from] ?? null;
    this.message[to] = src.message[from] ?? "";
  }

  /** Opens a span of `slot` at `t` with no results yet (the caller counts them). */
  openSpan(
    slot: number,
    t: number,
    status: StoredStatus,
    message: string,
    prevStatus: StoredStatus | null,
    runId: number | null,
  ): void {
    this.u8.flags[slot]! |= HAS_SPAN;
    this.u8.spanStatus[slot] = statusCode(status);
    this.u8.spanPrevStatus[slot] = statusCode(prevStatus);
    this.message[slot] = message;
    this.f64.spanFirstAt[slot] = t;
    this.f64.spanLastAt[slot] = t;
    this.f64.spanRunId[slot] = runId ?? Number.NaN;
    this.clearSpanDelta(slot);
  }

  /** Empties the span delta of `slot` (count and sum 0, min Infinity, max -Infinity). */
  clearSpanDelta(slot: number): void {
    this.i32.spanCount[slot] = 0;
    this.f64.spanSumMs[slot] = 0;
    this.f64.spanMinMs[slot] = Number.POSITIVE_INFINITY;
    this.f64.spanMaxMs[slot] = Number.NEGATIVE_INFINITY;
  }

  /** The open span of `slot` (which has one) as a new row. */
  spanRow(slot: number): SpanRow {
    const { f64, i32, u8 } = this;
    const runId = f64.spanRunId[slot]!;
    return {
      checkId: this.id[slot]!,
      firstAt: f64.spanFirstAt[slot]!,
      lastAt: f64.spanLastAt[slot]!,
      status: statusOf(u8.spanStatus[slot]!) as StoredStatus,
      message: this.message[slot]!,
      count: i32.spanCount[slot]!,
      sumMs: f64.spanSumMs[slot]!,
      minMs: f64.spanMinMs[slot]!,
      maxMs: f64.spanMaxMs[slot]!,
      prevStatus: statusOf(u8.spanPrevStatus[slot]!),
      runId: Number.isNaN(runId) ? null : runId,
    };
  }

  /** Number of results in the span delta of `slot` (0 without an open span). */
  spanResults(slot: number): number {
    return (this.u8.flags[slot]! & HAS_SPAN) === 0 ? 0 : this.i32.spanCount[slot]!;
  }

  /** Opens a bucket of `slot` at `start` with no results yet. */
  openBucket(slot: number, start: number, widthMs: number): void {
    this.u8.flags[slot]! |= HAS_BUCKET;
    this.f64.bucketStart[slot] = start;
    this.f64.bucketWidthMs[slot] = widthMs;
    this.clearBucketDelta(slot);
  }

  /** Empties the bucket delta of `slot` (counters and sum 0, min Infinity, max -Infinity). */
  clearBucketDelta(slot: number): void {
    this.i32.bucketPass[slot] = this.i32.bucketFail[slot] = this.i32.bucketError[slot] = 0;
    this.f64.bucketSumMs[slot] = 0;
    this.f64.bucketMinMs[slot] = Number.POSITIVE_INFINITY;
    this.f64.bucketMaxMs[slot] = Number.NEGATIVE_INFINITY;
  }

  /** The open bucket of `slot` (which has one) as a new row. */
  bucketRow(slot: number): BucketRow {
    const { f64, i32 } = this;
    return {
      checkId: this.id[slot]!,
      start: f64.bucketStart[slot]!,
      widthMs: f64.bucketWidthMs[slot]!,
      pass: i32.bucketPass[slot]!,
      fail: i32.bucketFail[slot]!,
      error: i32.bucketError[slot]!,
      sumMs: f64.bucketSumMs[slot]!,
      minMs: f64.bucketMinMs[slot]!,
      maxMs: f64.bucketMaxMs[slot]!,
    };
  }

  /** Number of results in the bucket delta of `slot` (0 without an open bucket). */
  bucketResults(slot: number): number {
    const { i32, u8 } = this;
    if ((u8.flags[slot]! & HAS_BUCKET) === 0) return 0;
    return i32.bucketPass[slot]! + i32.bucketFail[slot]! + i32.bucketError[slot]!;
  }

  /** The check row of `slot` as a new row. */
  checkRow(slot: number): CheckRow {
    return {
      id: this.id[slot]!,
      kind: this.kind[slot]!,
      host: this.host[slot]!,
      service: this.service[slot] ?? null,
      vantage: this.vantage[slot] ?? null,
      lastStatus: statusOf(this.u8.lastStatus[slot]!),
    };
  }

  /** The check row of `slot` must be written: it is new, or its last status is not the stored one. */
  checkChanged(slot: number): boolean {
    const u8 = this.u8;
    return (u8.flags[slot]! & SAVED) === 0 || u8.savedStatus[slot] !== u8.lastStatus[slot];
  }

  /** The check row of `slot` is written: as stored, no longer dirty. */
  markWritten(slot: number): void {
    const u8 = this.u8;
    u8.flags[slot] = (u8.flags[slot]! & ~DIRTY) | SAVED;
    u8.savedStatus[slot] = u8.lastStatus[slot]!;
  }
}
