/**
 * Which machines the journal says an earlier apply left unfinished: the last run that touched a
 * host decides, by its open intents, its failed results, or a missing `run-end`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { snapshotName } from "../../../src/provision/apply.js";
import type { JournalRecord } from "../../../src/provision/journal.js";
import { unfinishedMachines } from "../../../src/provision/unfinished.js";

let seq = 0;
const at = "2026-12-06T10:00:00.000Z";
const start = (run: string): JournalRecord => ({ at, run, seq: ++seq, type: "run-start" });
const end = (run: string, ok = true): JournalRecord => ({ at, run, seq: ++seq, type: "run-end", ok });
const intent = (run: string, host: string, step: string): JournalRecord => ({
  at,
  run,
  seq: ++seq,
  type: "intent",
  host,
  hypervisor: "vega",
  step,
});
const result = (of: JournalRecord, ok = true, error?: string): JournalRecord => ({
  ...of,
  type: "result",
  ok,
  ...(error ? { error } : {}),
});

test("a host whose last run answered every step and ended is finished", () => {
  const i1 = intent("a", "web-1", "domain.define");
  const i2 = intent("a", "web-1", "machine.done");
  assert.deepEqual([...unfinishedMachines([start("a"), i1, result(i1), i2, result(i2), end("a")])], []);
});

test("an intent without a result (killed during the step) leaves the host unfinished, naming the step", () => {
  const i1 = intent("a", "web-1", "root.create");
  const i2 = intent("a", "web-1", "seed.upload");
  assert.deepEqual(Object.fromEntries(unfinishedMachines([start("a"), i1, result(i1), i2])), {
    "web-1": { hypervisor: "vega", why: "the last apply stopped during seed.upload" },
  });
});

test("a run killed between two steps (no run-end) leaves its hosts unfinished", () => {
  const i1 = intent("a", "web-1", "root.create");
  assert.deepEqual(Object.fromEntries(unfinishedMachines([start("a"), i1, result(i1)])), {
    "web-1": { hypervisor: "vega", why: "the last apply stopped before recording it done" },
  });
});

test("a failed step or gate leaves the host unfinished with the error", () => {
  const i1 = intent("a", "web-1", "machine.gate");
  assert.deepEqual(
    Object.fromEntries(
      unfinishedMachines([start("a"), i1, result(i1, false, "no SSH login within 300 s"), end("a", false)]),
    ),
    {
      "web-1": {
        hypervisor: "vega",
        why: "the last apply did not finish it: machine.gate failed: no SSH login within 300 s",
      },
    },
  );
});

test("a later run that finished the host settles it; other hosts keep their own last run", () => {
  const a1 = intent("a", "web-1", "domain.start");
  const a2 = intent("a", "web-2", "domain.start");
  const b1 = intent("b", "web-1", "domain.start");
  const b2 = intent("b", "web-1", "machine.done");
  const records = [start("a"), a1, a2, start("b"), b1, result(b1), b2, result(b2), end("b")];
  assert.deepEqual([...unfinishedMachines(records).keys()], ["web-2"]);
});

test("snapshot names are keel- and the UTC time to the second", () => {
  assert.equal(snapshotName(new Date("2026-12-06T10:15:00.123Z")), "keel-20261206T101500Z");
});
