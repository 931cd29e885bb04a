/**
 * An address pool: the addresses between two bounds (a network or a named range, IPv4 or IPv6)
 * minus what is blocked in it: single addresses (static, allocated, the gateway, an IPv4
 * network's network and broadcast addresses) and intervals (`reserved` prefixes, the named
 * ranges a network's `auto` must stay out of). It answers "lowest free address" and the counts
 * `keel ipam` prints.
 *
 * Addresses are unsigned integers (`addressToBigInt` in `src/net/prefix.ts`, over ipaddr.js), kept
 * as offsets from the pool's first address. Blocked addresses are sorted once (a typed-array
 * sort when the pool holds at most 2^64 addresses), so finding the next free address in a /16
 * with 60,000 addresses in use is a few milliseconds, not a scan of string sets.
 */

/** Largest offset a BigUint64Array holds. */
const U64_MAX = (1n << 64n) - 1n;

export class Pool {
  /** Offsets of single blocked addresses, in insertion order until `seal`. */
  #points: bigint[] = [];
  /** Blocked intervals as [start, end] offsets, inclusive. */
  #intervals: [bigint, bigint][] = [];
  /** After `seal`: the points, sorted and without duplicates. */
  #sorted: ArrayLike<bigint> = [];
  #pointCount = 0;
  /** After `seal`: disjoint intervals in order. */
  #merged: [bigint, bigint][] = [];
  /** Offset from which the next search starts (everything below is blocked or taken). */
  #cursor = 0n;
  #pi = 0;
  #ii = 0;
  /** Addresses handed out by `take` since `seal`. */
  #taken = 0n;
  #sealed = false;

  /**
   * @param first the pool's first address (integer form), inclusive
   * @param last its last address, inclusive (`last >= first`)
   */
  constructor(
    readonly first: bigint,
    readonly last: bigint,
  ) {}

  /** Number of addresses between the bounds. */
  get size(): bigint {
    return this.last - this.first + 1n;
  }

  /** True when integer address `a` lies between the bounds. */
  has(a: bigint): boolean {
    return a >= this.first && a <= this.last;
  }

  /** Blocks one address (ignored when outside the bounds). Only before `seal`. */
  block(a: bigint): void {
    if (this.#sealed) throw new Error("Pool.block after seal");
    if (this.has(a)) this.#points.push(a - this.first);
  }

  /** Blocks the addresses from `start` to `end` inclusive (clipped to the bounds). Only before `seal`. */
  blockInterval(start: bigint, end: bigint): void {
    if (this.#sealed) throw new Error("Pool.blockInterval after seal");
    const s = start < this.first ? this.first : start;
    const e = end > this.last ? this.last : end;
    if (s <= e) this.#intervals.push([s - this.first, e - this.first]);
  }

  /** Sorts what is blocked; after this, `next`, `take` and the counts may be used. */
  seal(): this {
    if (this.#sealed) return this;
    this.#sealed = true;
    const pts = this.#points;
    let sorted: ArrayLike<bigint> & { [i: number]: bigint };
    if (this.size - 1n <= U64_MAX) sorted = BigUint64Array.from(pts).sort();
    else sorted = [...pts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // drop duplicates in place
    let n = 0;
    for (let i = 0; i < sorted.length; i++)
      if (n === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i]!;
    this.#sorted = sorted;
    this.#pointCount = n;
    this.#points = [];
    const iv = [...this.#intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: [bigint, bigint][] = [];
    for (const [s, e] of iv) {
      const top = merged[merged.length - 1];
      if (top && s <= top[1] + 1n) {
        if (e > top[1]) top[1] = e;
      } else merged.push([s, e]);
    }
    this.#merged = merged;
    return this;
  }

  /** The lowest free address (integer form), or undefined when the pool is exhausted. */
  next(): bigint | undefined {
    if (!this.#sealed) this.seal();
    const pts = this.#sorted;
    const ivs = this.#merged;
    let c = this.#cursor;
    for (;;) {
      while (this.#ii < ivs.length && ivs[this.#ii]![1] < c) this.#ii++;
      const iv = ivs[this.#ii];
      if (iv && iv[0] <= c) {
        c = iv[1] + 1n;
        continue;
      }
      while (this.#pi < this.#pointCount && pts[this.#pi]! < c) this.#pi++;
      if (this.#pi < this.#pointCount && pts[this.#pi] === c) {
        c++;
        continue;
      }
      break;
    }
    this.#cursor = c;
    return c + this.first <= this.last ? c + this.first : undefined;
  }

  /** Hands out the lowest free address (see `next`); undefined when the pool is exhausted. */
  take(): bigint | undefined {
    const a = this.next();
    if (a === undefined) return undefined;
    this.#cursor = a - this.first + 1n;
    this.#taken++;
    return a;
  }

  /** Distinct single addresses blocked (the used ones), plus those handed out by `take`. */
  get pointCount(): bigint {
    if (!this.#sealed) this.seal();
    return BigInt(this.#pointCount) + this.#taken;
  }

  /** Addresses blocked by intervals that are not also single blocked addresses. */
  get intervalOnlyCount(): bigint {
    if (!this.#sealed) this.seal();
    let n = 0n;
    let pi = 0;
    const pts = this.#sorted;
    for (const [s, e] of this.#merged) {
      n += e - s + 1n;
      while (pi < this.#pointCount && pts[pi]! < s) pi++;
      while (pi < this.#pointCount && pts[pi]! <= e) {
        n--;
        pi++;
      }
    }
    return n;
  }

  /** Addresses neither blocked nor taken. */
  get freeCount(): bigint {
    return this.size - this.pointCount - this.intervalOnlyCount;
  }
}
