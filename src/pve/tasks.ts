/**
 * Proxmox VE tasks: UPIDs and waiting for a task to stop.
 *
 * A change such as a clone, a start or a snapshot answers with the UPID of a worker task; the
 * change is done only when GET /nodes/{node}/tasks/{upid}/status says `status: "stopped"`, and
 * it succeeded only when `exitstatus` is `OK` (or `WARNINGS: n`, PVE::RESTEnvironment).
 */
import type { PveClient } from "./client.js";
import { PveTaskError, PveTaskTimeoutError } from "./errors.js";

/** The parts of a UPID, as PVE::Tools::upid_decode reads them. */
export interface Upid {
  upid: string;
  node: string;
  /** The worker's process id. */
  pid: number;
  /** The worker's process start time (clock ticks since boot, /proc/PID/stat field 22). */
  pstart: number;
  /** When the task started, seconds since the Unix epoch. */
  starttime: number;
  /** The task type, e.g. `qmclone`, `qmstart`, `qmsnapshot`, `imgcopy`. */
  type: string;
  /** The object, e.g. a VMID; may be empty. */
  id: string;
  /** Who started it, e.g. `root@pam!keel`. */
  user: string;
}

// PVE::Tools::upid_decode: UPID:$node:$pid:$pstart:$starttime:$dtype:$id:$user:
// (pid 8 hex digits, pstart 8 or 9, starttime 8).
const UPID_RE =
  /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

/** Decodes a UPID (PVE::Tools::upid_decode); throws an Error naming it when malformed. */
export function parseUpid(upid: string): Upid {
  const m = UPID_RE.exec(upid);
  if (!m)
    throw new Error(`"${upid}" is not a Proxmox VE UPID (UPID:node:pid:pstart:starttime:type:id:user:)`);
  return {
    upid,
    node: m[1]!,
    pid: Number.parseInt(m[3]!, 16),
    pstart: Number.parseInt(m[4]!, 16),
    starttime: Number.parseInt(m[5]!, 16),
    type: m[6]!,
    id: m[7]!,
    user: m[8]!,
  };
}

/** GET /nodes/{node}/tasks/{upid}/status, the fields Keel reads. */
export interface TaskStatus {
  status: "running" | "stopped";
  /** Present once stopped: `OK`, `WARNINGS: n`, or the error text. */
  exitstatus?: string;
  upid?: string;
  type?: string;
  node?: string;
}

/** A task that ended well. */
export interface TaskResult {
  upid: string;
  /** `OK`, or `WARNINGS: n`. */
  exitstatus: string;
  /** How many warnings the task reported (0 for `OK`): callers should report them. */
  warnings: number;
  /** The tail of the task's log when it had warnings (read only then), else empty. */
  log: string[];
}

/** Options of {@link waitTask}. */
export interface WaitTaskOptions {
  /** Give up waiting after this long (milliseconds); default 10 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called after each poll with the status read. */
  onProgress?: (status: TaskStatus) => void;
  /** Poll delays: first, factor, cap (milliseconds); default 250, 1.5, 5000. */
  backoff?: { firstMs?: number; factor?: number; capMs?: number };
  /** How to wait between polls (tests inject one); default a timer honouring `signal`. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The clock, in milliseconds (tests inject one with `sleep`); default Date.now. */
  now?: () => number;
  /** How many log lines to keep for errors and warnings; default 20. */
  logLines?: number;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** The path of a task's sub-resource: /nodes/{node}/tasks/{upid}/{what}. */
function taskPath(upid: Upid, what: "status" | "log"): string {
  return `/nodes/${encodeURIComponent(upid.node)}/tasks/${encodeURIComponent(upid.upid)}/${what}`;
}

/**
 * The last `lines` lines of a task's log: GET /nodes/{node}/tasks/{upid}/log, whose items are
 * `{n: line number (1-based), t: text}`; reads from `start = total - lines` using `limit`.
 */
export async function taskLogTail(client: PveClient, upid: string, lines = 20): Promise<string[]> {
  const u = parseUpid(upid);
  // The log answer has a `total` beside `data` that this client does not surface, so read a
  // generous window and keep its end.
  const items = await client.get<{ n: number; t: string }[]>(taskPath(u, "log"), { start: 0, limit: 50_000 });
  return items
    .sort((a, b) => a.n - b.n)
    .slice(-lines)
    .map((i) => i.t);
}

/** The number of warnings in an exit status `WARNINGS: n`; undefined for other texts. */
export function warningCount(exitstatus: string): number | undefined {
  const m = /^WARNINGS(?::\s*(\d+))?/.exec(exitstatus);
  return m ? Number(m[1] ?? 1) : undefined;
}

/**
 * Waits for the task `upid` to stop, polling GET /nodes/{node}/tasks/{upid}/status with a
 * growing delay (250 ms, ×1.5, at most 5 s by default).
 *
 * Resolves with the result for `OK` and `WARNINGS: n` (the warnings counted and the log's tail
 * read, so callers can show them). Throws {@link PveTaskError} with the exit status and the
 * log's last lines for any other exit status, {@link PveTaskTimeoutError} (the task is still
 * running, not failed) when `timeoutMs` passes, the signal's reason when aborted, and the
 * client's errors when the status cannot be read.
 */
export async function waitTask(
  client: PveClient,
  upid: string,
  opts: WaitTaskOptions = {},
): Promise<TaskResult> {
  const u = parseUpid(upid);
  const sleep = opts.sleep ?? defaultSleep;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const first = opts.backoff?.firstMs ?? 250;
  const factor = opts.backoff?.factor ?? 1.5;
  const cap = opts.backoff?.capMs ?? 5000;
  const lines = opts.logLines ?? 20;
  const began = now();
  let delay = first;
  for (;;) {
    opts.signal?.throwIfAborted();
    const st = await client.get<TaskStatus>(taskPath(u, "status"));
    opts.onProgress?.(st);
    if (st.status === "stopped") {
      const exitstatus = st.exitstatus ?? "";
      if (exitstatus === "OK") return { upid, exitstatus, warnings: 0, log: [] };
      const warnings = warningCount(exitstatus);
      if (warnings !== undefined) {
        return { upid, exitstatus, warnings, log: await taskLogTail(client, upid, lines) };
      }
      let log: string[] = [];
      try {
        log = await taskLogTail(client, upid, lines);
      } catch {
        // The exit status says what failed; a log that cannot be read does not hide it.
      }
      throw new PveTaskError(upid, exitstatus || "(no exit status)", log);
    }
    const elapsed = now() - began;
    if (elapsed >= timeoutMs) throw new PveTaskTimeoutError(upid, elapsed);
    await sleep(Math.min(delay, timeoutMs - elapsed), opts.signal);
    delay = Math.min(delay * factor, cap);
  }
}
