/**
 * The apply journal on a real file: records written by a process killed with SIGKILL are all
 * readable afterwards and its unanswered intent is found; a torn last line is skipped, counted and
 * cut off before the next run appends; a damaged line before the last is a located error.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import {
  journalFile,
  openJournal,
  parseJournal,
  pendingIntents,
  readJournal,
} from "../../../src/provision/journal.js";
import { killHard, startChild } from "./child.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "keel-journal-"));
  dirs.push(d);
  return d;
}

test("a run writes run-start, intents, results and run-end, numbered in order, to a 0600 file in a 0700 .keel/", () => {
  const dir = tempDir();
  const j = openJournal(dir, { run: "r1", now: () => new Date("2030-01-02T03:04:05.678Z") });
  const a = j.intent("volume.create", "web-1", "vega", { pool: "default", volume: "web-1.qcow2" });
  const b = j.intent("domain.define", "web-1", "vega");
  j.result(a, true, { key: "/var/lib/libvirt/images/web-1.qcow2" });
  j.result(b, false, "virsh define: XML error");
  j.close();
  j.close(); // again: nothing
  assert.equal(statSync(path.join(dir, ".keel")).mode & 0o777, 0o700);
  assert.equal(statSync(journalFile(dir)).mode & 0o777, 0o600);
  const { records, torn } = readJournal(dir);
  assert.equal(torn, 0);
  assert.deepEqual(
    records.map((r) => [r.type, r.seq, r.step, r.ok]),
    [
      ["run-start", 1, undefined, undefined],
      ["intent", 2, "volume.create", undefined],
      ["intent", 3, "domain.define", undefined],
      ["result", 2, "volume.create", true],
      ["result", 3, "domain.define", false],
      ["run-end", 4, undefined, false],
    ],
  );
  assert.deepEqual(records[4], {
    at: "2030-01-02T03:04:05.678Z",
    run: "r1",
    seq: 3,
    type: "result",
    host: "web-1",
    hypervisor: "vega",
    step: "domain.define",
    ok: false,
    error: "virsh define: XML error",
  });
  assert.equal(records[1]!.detail?.volume, "web-1.qcow2");
  // every line is one record
  const lines = readFileSync(journalFile(dir), "utf8").split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, 6);
  assert.deepEqual(pendingIntents(records), [], "the run ended with every intent answered");
});

test("results name an open intent of the run, and nothing is written after close", () => {
  const dir = tempDir();
  const j = openJournal(dir);
  const a = j.intent("domain.start", "web-1", "vega");
  j.result(a, true);
  assert.throws(() => j.result(a, true), /no intent 2 of run .* awaits a result/);
  assert.throws(() => j.result(1, true), /no intent 1/, "run-start is not an intent");
  j.close();
  assert.throws(() => j.intent("domain.start", "web-2", "vega"), /after close/);
  assert.match(j.run, /^[0-9a-f]{16}$/);
});

test("a run that did not answer an intent ends not ok, and the intent is pending", () => {
  const dir = tempDir();
  const j = openJournal(dir, { run: "r1" });
  j.intent("domain.undefine", "old-1", "vega", { name: "old-1" });
  j.close("interrupted");
  const { records } = readJournal(dir);
  assert.deepEqual(records.at(-1)?.ok, false);
  assert.deepEqual(records.at(-1)?.error, "interrupted");
  const [run, ...more] = pendingIntents(records);
  assert.equal(more.length, 0);
  assert.equal(run!.ended, true);
  assert.deepEqual(
    run!.pending.map((r) => [r.seq, r.step, r.host]),
    [[2, "domain.undefine", "old-1"]],
  );
});

test("after a SIGKILL every record written is readable and the unanswered intent is pending", async () => {
  const dir = tempDir();
  const done = openJournal(dir, { run: "earlier" });
  done.result(done.intent("domain.start", "db-1", "vega"), true);
  done.close();
  const child = await startChild(dir, "journal");
  await killHard(child);
  const { records, torn } = readJournal(dir);
  assert.equal(torn, 0);
  const run = records.at(-1)!.run;
  assert.notEqual(run, "earlier");
  assert.deepEqual(
    records.filter((r) => r.run === run).map((r) => [r.type, r.seq, r.step]),
    [
      ["run-start", 1, undefined],
      ["intent", 2, "volume.create"],
      ["result", 2, "volume.create"],
      ["intent", 3, "domain.define"],
    ],
  );
  const unfinished = pendingIntents(records);
  assert.equal(unfinished.length, 1, "the earlier run finished");
  assert.equal(unfinished[0]!.run, run);
  assert.equal(unfinished[0]!.ended, false);
  assert.deepEqual(
    unfinished[0]!.pending.map((r) => [r.seq, r.step, r.host, r.hypervisor, r.detail]),
    [[3, "domain.define", "web-1", "vega", { name: "web-1" }]],
  );
});

test("killed at an arbitrary point of a stream of writes, the journal reads back whole but for at most a torn last line", async () => {
  for (const ms of [0, 30, 120]) {
    const dir = tempDir();
    const child = await startChild(dir, "loop");
    await new Promise((r) => setTimeout(r, ms));
    await killHard(child);
    const { records, torn } = readJournal(dir);
    assert.ok(torn <= 1);
    assert.equal(records[0]?.type, "run-start");
    // every intent but possibly the last has its result
    const unfinished = pendingIntents(records);
    assert.equal(unfinished.length, 1);
    assert.equal(unfinished[0]!.ended, false);
    assert.ok(unfinished[0]!.pending.length <= 1);
    const last = records.filter((r) => r.type === "intent").at(-1);
    if (unfinished[0]!.pending.length === 1) assert.equal(unfinished[0]!.pending[0]!.seq, last!.seq);
    // the next run appends after what the crash left, and the file reads back clean
    const next = openJournal(dir, { run: "next" });
    next.close();
    const again = readJournal(dir);
    assert.equal(again.torn, 0);
    assert.equal(again.records.length, records.length + 2);
    assert.deepEqual(again.records.at(-1)?.type, "run-end");
  }
});

test("a torn last line is skipped and counted, and cut off before the next run appends", () => {
  const dir = tempDir();
  const j = openJournal(dir, { run: "r1" });
  j.intent("volume.create", "web-1", "vega", { volume: "web-1.qcow2" });
  // half a record, as a crash in the middle of a write leaves it
  const line = `${JSON.stringify({ at: new Date().toISOString(), run: "r1", seq: 3, type: "intent", host: "web-1", hypervisor: "vega", step: "domain.define" })}\n`;
  appendFileSync(journalFile(dir), line.slice(0, line.length / 2));
  const read = readJournal(dir);
  assert.equal(read.torn, 1);
  assert.deepEqual(
    read.records.map((r) => r.seq),
    [1, 2],
  );
  assert.deepEqual(
    pendingIntents(read.records)[0]?.pending.map((r) => r.seq),
    [2],
  );
  // a whole record without its newline is torn too: the call that wrote it never returned
  writeFileSync(journalFile(dir), readFileSync(journalFile(dir), "utf8").replace(/[^\n]*$/, line.trimEnd()));
  assert.equal(readJournal(dir).torn, 1);
  const next = openJournal(dir, { run: "r2" });
  next.close();
  const after = readJournal(dir);
  assert.equal(after.torn, 0);
  assert.deepEqual(
    after.records.map((r) => `${r.run}/${r.seq}/${r.type}`),
    ["r1/1/run-start", "r1/2/intent", "r2/1/run-start", "r2/2/run-end"],
  );
  // a garbled last line that does end with a newline (a block of zeros, say) is torn as well
  appendFileSync(journalFile(dir), "\0\0\0\0\n");
  assert.equal(readJournal(dir).torn, 1);
  assert.equal(readJournal(dir).records.length, 4);
});

test("a damaged line before the last is an error naming file:line, and the journal is not appended to", () => {
  const dir = tempDir();
  const j = openJournal(dir, { run: "r1" });
  j.intent("volume.create", "web-1", "vega");
  j.close();
  const file = journalFile(dir);
  const lines = readFileSync(file, "utf8").split("\n");
  lines[1] = lines[1]!.slice(0, 20);
  writeFileSync(file, lines.join("\n"));
  const before = readFileSync(file);
  const err = (() => {
    try {
      readJournal(dir);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof UserError);
  assert.match(
    err.message,
    new RegExp(
      `^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2:1: not a journal record \\(not valid JSON\\)`,
    ),
  );
  assert.throws(() => openJournal(dir), UserError);
  assert.deepEqual(readFileSync(file), before);
});

test("a line that is JSON but not a record is damaged too, with what is wrong", () => {
  const ok = `${JSON.stringify({ at: "2030-01-01T00:00:00.000Z", run: "r", seq: 1, type: "run-start" })}\n`;
  const text = (bad: unknown) => Buffer.from(`${ok}${JSON.stringify(bad)}\n${ok}`);
  const cases: [unknown, RegExp][] = [
    [[1, 2], /not a JSON object/],
    [{ at: "yesterday", run: "r", seq: 1, type: "intent" }, /`at` is not an ISO-8601 time/],
    [{ at: "2030-01-01T00:00:00Z", run: "r", seq: 0, type: "intent" }, /`seq` is not a positive integer/],
    [{ at: "2030-01-01T00:00:00Z", run: "r", seq: 2, type: "begin" }, /`type` is not one of/],
    [{ at: "2030-01-01T00:00:00Z", run: "r", seq: 2, type: "result", ok: "yes" }, /`ok` is not a boolean/],
  ];
  for (const [bad, why] of cases) assert.throws(() => parseJournal(text(bad), "j.jsonl"), why);
  assert.equal(
    parseJournal(text({ at: "2030-01-01T00:00:00Z", run: "r", seq: 2, type: "intent" }), "j").records.length,
    3,
  );
});

test("no journal yet reads as no records", () => {
  assert.deepEqual(readJournal(tempDir()).records, []);
});
