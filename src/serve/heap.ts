/**
 * The V8 heap of `keel serve`: how far the old generation may grow past what a major garbage
 * collection left alive before the next one runs.
 *
 * V8 sizes that step from the mutator's allocation rate and the machine's memory: up to 4× the
 * live heap when its heap limit is large (a machine with several GB), 1.3-2× on small ones.
 * `keel serve` allocates steadily (every result replaces a check's message and times), so on a
 * large machine its heap sat at 3-4× its ~130 MB of live data between collections. A fixed step
 * makes the footprint the same on every machine and small enough for a small VM, at the price of
 * more frequent (incremental, mostly concurrent) major collections.
 *
 * The young generation is capped where it can only be set, at process start: the `keel`
 * executable's interpreter line passes `--max-semi-space-size=8` (see `src/cli/main.ts`).
 * Together they keep `keel serve` with 50,000 checks under 300 MB RSS (`bench/README.md`).
 */
import { setFlagsFromString } from "node:v8";

/** Growth of the old generation past the live heap before the next major collection, percent. */
export const HEAP_GROWING_PERCENT = 20;

/**
 * Sets V8's `--heap-growing-percent` for this process (read by V8 at every major collection, so
 * setting it at run time takes effect from the next one). Call once, at the start of `keel serve`.
 */
export function limitHeapGrowth(percent: number = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
