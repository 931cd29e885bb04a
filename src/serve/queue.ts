/**
 * A binary min-heap of items keyed by a number (here: epoch ms of a check's next run), with ties
 * taken in insertion order. The scheduler of `keel serve` pushes a check each time its next run
 * is set and pops what is due, so a tick costs O(due · log n) instead of a scan of every check
 * (50,000 on a large site). Stale items are the caller's to skip (lazy deletion).
 */
export class MinQueue<T> {
  #keys: number[] = [];
  #seqs: number[] = [];
  #items: T[] = [];
  #seq = 0;

  /** Number of items held, stale ones included. */
  get size(): number {
    return this.#items.length;
  }

  /** Adds `item` with key `key`. */
  push(key: number, item: T): void {
    this.#keys.push(key);
    this.#seqs.push(this.#seq++);
    this.#items.push(item);
    this.#up(this.#items.length - 1);
  }

  /** The smallest key; `Infinity` when empty. */
  peekKey(): number {
    return this.#keys[0] ?? Number.POSITIVE_INFINITY;
  }

  /** The item with the smallest key, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Removes and returns the item with the smallest key (the earliest pushed among equals). */
  pop(): T | undefined {
    const n = this.#items.length;
    if (n === 0) return undefined;
    const top = this.#items[0];
    this.#swap(0, n - 1);
    this.#keys.pop();
    this.#seqs.pop();
    this.#items.pop();
    if (n > 1) this.#down(0);
    return top;
  }

  #less(a: number, b: number): boolean {
    const ka = this.#keys[a]!;
    const kb = this.#keys[b]!;
    return ka < kb || (ka === kb && this.#seqs[a]! < this.#seqs[b]!);
  }

  #swap(a: number, b: number): void {
    [this.#keys[a], this.#keys[b]] = [this.#keys[b]!, this.#keys[a]!];
    [this.#seqs[a], this.#seqs[b]] = [this.#seqs[b]!, this.#seqs[a]!];
    [this.#items[a], this.#items[b]] = [this.#items[b]!, this.#items[a]!];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
