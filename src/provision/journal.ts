/**
 * The journal of `keel apply`: `.keel/journal.jsonl` beside the inventory, append-only, one JSON
 * record per line. Before apply changes a hypervisor it writes an `intent` (what it is about to
 * do), after the change a `result`; each run is framed by `run-start` and `run-end`. A crash
 * (power loss, `kill -9`) therefore leaves every record written before it readable, and the
 * intents without a result say what was left half-done (`pendingIntents`).
 *
 * Durability: a record is one `write(2)` of the whole line followed by `fsync(2)` of the file
 * before the call returns, and the directory is fsync'd when the file is created; so a crash at
 * any point leaves at most a torn last line, which `readJournal` skips and counts and
 * `openJournal` cuts off before it appends (the call that wrote it never returned, so nothing
 * acted on it).
 *
 * The journal is written synchronously on purpose: a record must be on disk before the step it
 * announces starts, and with a synchronous write the return of `intent` is that guarantee, with
 * no promise to forget to await; steps of several hosts running at once cannot interleave
 * between taking a sequence number and writing it, so file order is sequence order. The cost,
 * one fsync per step (milliseconds), is small next to the virsh call the step makes.
 *
 * One writer at a time: the caller holds the apply lock (`lock.ts`) while the journal is open.
 *
 * Secrets never go into the journal: `detail` holds names, paths, sizes and digests only (a
 * volume's name, an image's path and digest, a domain's UUID), never a password, key, token or
 * cloud-init user data; `error` is an error's message, which the caller must not build from
 * secret values either. The file is created with mode 0600 all the same.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { type Problem, UserError } from "../errors.js";
import { fsyncDir, STATE_DIR, stateDir } from "./state-dir.js";

/** The journal's file name inside `.keel/`. */
export const JOURNAL_FILE = "journal.jsonl";

/** The kinds of record, in the order a run writes them (`intent` and `result` repeat). */
export const RECORD_TYPES = ["run-start", "intent", "result", "run-end"] as const;
export type JournalRecordType = (typeof RECORD_TYPES)[number];

/** One line of the journal. */
export interface JournalRecord {
  /** When the record was written: ISO-8601 UTC time with milliseconds (`Date.toISOString`). */
  at: string;
  /** Id of one apply run (random hex, 16 characters); every record of a run carries it. */
  run: string;
  /**
   * The record's number in its run, from 1 (`run-start`), increasing in file order; a `result`
   * repeats the number of the `intent` it answers instead of taking one of its own.
   */
  seq: number;
  type: JournalRecordType;
  /** The inventory host (machine) the step is about (`intent`, `result`). */
  host?: string;
  /** The hypervisor the step runs on (`intent`, `result`). */
  hypervisor?: string;
  /** What the step does, `OBJECT.VERB`: `volume.create`, `domain.define`, `domain.start`, … */
  step?: string;
  /**
   * What the step needs to be found and undone: names, paths, sizes and digests only (never a
   * secret, see the module's docstring), e.g. `{ pool: "default", volume: "web-1.qcow2" }`.
   */
  detail?: Record<string, unknown>;
  /** `result`: whether the step succeeded; `run-end`: whether every step of the run did. */
  ok?: boolean;
  /** `result` and `run-end` that failed: the error's message. */
  error?: string;
}

/** The journal file of the inventory directory `dir`. */
export function journalFile(dir: string): string {
  return path.join(dir, STATE_DIR, JOURNAL_FILE);
}

/** An open journal: one apply run appending to it. */
export interface Journal {
  /** The journal's path. */
  readonly file: string;
  /** This run's id. */
  readonly run: string;
  /**
   * Records that `step` is about to run for `host` on `hypervisor`; returns the intent's `seq`,
   * which its `result` names. On disk when it returns.
   */
  intent(step: string, host: string, hypervisor: string, detail?: Record<string, unknown>): number;
  /**
   * Records the outcome of the intent `seq`: success with optional detail (what was made, e.g. a
   * UUID), or failure with the error's message. On disk when it returns.
   * @throws Error when `seq` is not an intent of this run awaiting its result, or the journal is closed.
   */
  result(seq: number, ok: true, detail?: Record<string, unknown>): void;
  result(seq: number, ok: false, error: string, detail?: Record<string, unknown>): void;
  /**
   * Writes `run-end` and closes the file; `ok` is true when no `error` is given and every intent
   * of the run has a successful result. Closing again does nothing.
   */
  close(error?: string): void;
}

/** What `readJournal` found. */
export interface JournalContents {
  file: string;
  /** The records in file order. */
  records: JournalRecord[];
  /** Torn last lines skipped: 0 or 1 (a crash in the middle of a write). */
  torn: number;
}

/** Checks `v` is a record; returns what is wrong with it, or undefined. */
function recordProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not a JSON object";
  const r = v as Record<string, unknown>;
  if (typeof r.at !== "string" || Number.isNaN(Date.parse(r.at))) return "`at` is not an ISO-8601 time";
  if (typeof r.run !== "string" || r.run === "") return "`run` is missing";
  if (typeof r.seq !== "number" || !Number.isInteger(r.seq) || r.seq < 1)
    return "`seq` is not a positive integer";
  if (!(RECORD_TYPES as readonly unknown[]).includes(r.type))
    return `\`type\` is not one of ${RECORD_TYPES.join(", ")}`;
  for (const k of ["host", "hypervisor", "step", "error"])
    if (r[k] !== undefined && typeof r[k] !== "string") return `\`${k}\` is not a string`;
  if (r.ok !== undefined && typeof r.ok !== "boolean") return "`ok` is not a boolean";
  if (
    r.detail !== undefined &&
    (typeof r.detail !== "object" || r.detail === null || Array.isArray(r.detail))
  )
    return "`detail` is not an object";
  return undefined;
}

/**
 * Parses journal text: the records, the torn last lines skipped (0 or 1) and the length in bytes
 * of the intact part (where an append may start). The last line is torn when it is not a record
 * or lacks its newline: the write of a record ends with its newline, so the call that wrote
 * such a line never returned and nothing acted on it.
 * @throws UserError located `file:line` at a line other than the last that is not a record.
 */
export function parseJournal(
  text: Buffer,
  file: string,
): { records: JournalRecord[]; torn: number; intactBytes: number } {
  const records: JournalRecord[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    line++;
    const nl = text.indexOf(0x0a, start);
    if (nl === -1) return { records, torn: 1, intactBytes: start };
    let problem: string | undefined;
    let value: unknown;
    try {
      value = JSON.parse(text.subarray(start, nl).toString("utf8"));
      problem = recordProblem(value);
    } catch {
      problem = "not valid JSON";
    }
    if (problem !== undefined) {
      if (nl + 1 === text.length) return { records, torn: 1, intactBytes: start };
      const p: Problem = {
        pos: { file, line, col: 1 },
        message: `not a journal record (${problem}): the journal of keel apply is damaged before its last line; move the file aside to start a new journal`,
      };
      throw new UserError([p]);
    }
    records.push(value as JournalRecord);
    start = nl + 1;
  }
  return { records, torn: 0, intactBytes: text.length };
}

/**
 * Reads the journal of the inventory directory `dir` (none yet: no records).
 * @throws UserError located `file:line` when a line other than the last is not a record.
 */
export function readJournal(dir: string): JournalContents {
  const file = journalFile(dir);
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { file, records: [], torn: 0 };
    throw e;
  }
  const { records, torn } = parseJournal(text, file);
  return { file, records, torn };
}

/** A run the journal shows unfinished. */
export interface UnfinishedRun {
  run: string;
  /** `at` of its first record. */
  startedAt: string;
  /** `at` of its last record: about when it stopped. */
  lastAt: string;
  /** True when it wrote `run-end` (it finished, with intents left without a result). */
  ended: boolean;
  /** Its intents without a result, in order: the steps a crash may have left half-done. */
  pending: JournalRecord[];
}

/**
 * The runs of `records` that did not finish cleanly: each with its intents that have no result,
 * and whether it wrote `run-end`. Runs that ended with every intent answered are left out. In
 * the order the runs started.
 */
export function pendingIntents(records: readonly JournalRecord[]): UnfinishedRun[] {
  const runs = new Map<
    string,
    { first: string; last: string; ended: boolean; open: Map<number, JournalRecord> }
  >();
  for (const r of records) {
    let run = runs.get(r.run);
    if (run === undefined) {
      run = { first: r.at, last: r.at, ended: false, open: new Map() };
      runs.set(r.run, run);
    }
    run.last = r.at;
    if (r.type === "intent") run.open.set(r.seq, r);
    else if (r.type === "result") run.open.delete(r.seq);
    else if (r.type === "run-end") run.ended = true;
  }
  const out: UnfinishedRun[] = [];
  for (const [id, r] of runs)
    if (!r.ended || r.open.size > 0)
      out.push({
        run: id,
        startedAt: r.first,
        lastAt: r.last,
        ended: r.ended,
        pending: [...r.open.values()].sort((a, b) => a.seq - b.seq),
      });
  return out;
}

/** Options of `openJournal` (tests). */
export interface JournalOptions {
  /** The run's id (default: 16 random hex characters). */
  run?: string;
  /** The clock (default: `new Date()`). */
  now?: () => Date;
}

/**
 * Opens the journal of the inventory directory `dir` for one apply run and writes its
 * `run-start`: creates `.keel/` (0700) and the file (0600) when missing, and cuts off a torn
 * last line a crash left. The caller holds the apply lock.
 * @throws UserError when the existing journal has a damaged line other than the last; Error from
 *   fs when it cannot be created or written.
 */
export function openJournal(dir: string, options: JournalOptions = {}): Journal {
  const now = options.now ?? (() => new Date());
  const run = options.run ?? randomBytes(8).toString("hex");
  const sdir = stateDir(dir);
  const file = path.join(sdir, JOURNAL_FILE);
  const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT;
  let fd: number;
  let created = true;
  try {
    fd = openSync(file, flags | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    fd = openSync(file, flags);
    created = false;
  }
  try {
    if (created) fsyncDir(sdir);
    else {
      if (!fstatSync(fd).isFile()) throw new UserError(`${file}: the journal is not a regular file`);
      const text = readFileSync(fd);
      const { intactBytes } = parseJournal(text, file);
      if (intactBytes < text.length) {
        ftruncateSync(fd, intactBytes);
        fsyncSync(fd);
      }
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return new FileJournal(file, fd, run, now);
}

/** Writes `text` with one write(2) and fsyncs. @throws Error on a short write (the disk is full). */
function append(fd: number, text: string): void {
  const buf = Buffer.from(text, "utf8");
  const n = writeSync(fd, buf);
  if (n !== buf.length)
    throw new Error(`journal: short write (${n} of ${buf.length} bytes): is the disk full?`);
  fsyncSync(fd);
}

class FileJournal implements Journal {
  #fd: number | undefined;
  #seq = 0;
  /** Intents of this run awaiting their result: seq → what the result repeats of it. */
  readonly #open = new Map<number, { step: string; host: string; hypervisor: string }>();
  #failed = false;

  constructor(
    readonly file: string,
    fd: number,
    readonly run: string,
    readonly now: () => Date,
  ) {
    this.#fd = fd;
    this.#write({ type: "run-start", seq: ++this.#seq });
  }

  #write({ seq, type, ...rest }: Omit<JournalRecord, "at" | "run">): void {
    if (this.#fd === undefined) throw new Error(`journal ${this.file}: written to after close`);
    // fields in the order of JournalRecord, for people reading the file
    const record: JournalRecord = { at: this.now().toISOString(), run: this.run, seq, type, ...rest };
    try {
      append(this.#fd, `${JSON.stringify(record)}\n`);
    } catch (e) {
      // a failed write may have left part of a line: nothing more goes after it in this run
      closeSync(this.#fd);
      this.#fd = undefined;
      throw e;
    }
  }

  intent(step: string, host: string, hypervisor: string, detail?: Record<string, unknown>): number {
    const seq = ++this.#seq;
    this.#write({ type: "intent", seq, host, hypervisor, step, ...(detail ? { detail } : {}) });
    this.#open.set(seq, { step, host, hypervisor });
    return seq;
  }

  result(seq: number, ok: boolean, a?: string | Record<string, unknown>, b?: Record<string, unknown>): void {
    const intent = this.#open.get(seq);
    if (intent === undefined)
      throw new Error(`journal ${this.file}: no intent ${seq} of run ${this.run} awaits a result`);
    const error = ok ? undefined : String(a);
    const detail = ok ? (a as Record<string, unknown> | undefined) : b;
    this.#write({
      type: "result",
      seq,
      host: intent.host,
      hypervisor: intent.hypervisor,
      step: intent.step,
      ...(detail ? { detail } : {}),
      ok,
      ...(error !== undefined ? { error } : {}),
    });
    this.#open.delete(seq);
    if (!ok) this.#failed = true;
  }

  close(error?: string): void {
    if (this.#fd === undefined) return;
    const ok = error === undefined && !this.#failed && this.#open.size === 0;
    try {
      this.#write({ type: "run-end", seq: ++this.#seq, ok, ...(error !== undefined ? { error } : {}) });
    } finally {
      if (this.#fd !== undefined) closeSync(this.#fd);
      this.#fd = undefined;
    }
  }
}
