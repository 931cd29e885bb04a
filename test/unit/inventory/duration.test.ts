import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { formatDuration, parseDuration } from "../../../src/inventory/duration.js";

test("parseDuration reads Prometheus durations into ms", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["0s", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["7d", 604_800_000],
    ["2w", 1_209_600_000],
    ["1y", 31_536_000_000],
    ["1y2w3d4h5m6s7ms", 31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6000 + 7],
    ["90s", 90_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test("parseDuration rejects what Prometheus rejects", () => {
  for (const bad of [
    "",
    "15",
    "1.5s",
    "-1s",
    "1S",
    "s",
    "1m1h",
    "1s1s",
    "1 s",
    " 1s",
    "1sec",
    "1ms1s",
    "99999999999999999y",
  ])
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
});

test("formatDuration is the shortest form and parses back", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(604_800_000), "1w");
  assert.equal(formatDuration(1500), "1s500ms");
  assert.throws(() => formatDuration(-1), RangeError);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 13 }), (ms) => parseDuration(formatDuration(ms)) === ms),
  );
});
