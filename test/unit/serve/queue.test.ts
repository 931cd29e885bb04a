import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MinQueue } from "../../../src/serve/queue.js";

test("MinQueue pops by key, equal keys in the order they were pushed, whatever the push order", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 }), (keys) => {
      const q = new MinQueue<number>();
      for (const [i, k] of keys.entries()) q.push(k, i);
      assert.equal(q.size, keys.length);
      const out: number[] = [];
      while (q.size > 0) {
        const key = q.peekKey();
        const i = q.pop()!;
        assert.equal(keys[i], key);
        out.push(i);
      }
      const expected = keys.map((k, i) => [k, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(
        out,
        expected.map(([, i]) => i),
      );
      assert.equal(q.pop(), undefined);
      assert.equal(q.peekKey(), Number.POSITIVE_INFINITY);
    }),
    { seed: 20261123, numRuns: 300 },
  );
});

test("MinQueue interleaves pushes and pops like a sorted list would", () => {
  const q = new MinQueue<string>();
  q.push(30, "c");
  q.push(10, "a");
  assert.equal(q.pop(), "a");
  q.push(20, "b");
  q.push(5, "z");
  assert.deepEqual([q.pop(), q.pop(), q.pop(), q.pop()], ["z", "b", "c", undefined]);
});
