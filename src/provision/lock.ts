/**
 * The lock of `keel apply`: `.keel/apply.lock` beside the inventory, so that one apply at a time
 * changes a site's hypervisors and writes its journal (`journal.ts`). The file holds its owner
 * (`LockOwner`) as JSON.
 *
 * Taking it: the owner record is written to a temporary file, fsync'd, and `link(2)`ed to the
 * lock's name, which fails when the lock exists. This is as atomic as `open(2)` with `O_EXCL`,
 * and the lock never exists without its whole owner record: an `O_EXCL` create followed by a
 * write would leave an empty lock if the process were killed between the two, one that names
 * no owner and so could never be broken safely.
 *
 * A lock that exists is broken only when its owner is on this host and provably gone: its pid
 * has no process (`kill(pid, 0)` fails with ESRCH), or the process with that pid started at
 * another time than the owner (`/proc/PID/stat`, field 22: the pid was reused). Breaking writes
 * our owner to a temporary file and renames it over the lock, after reading the lock once more
 * just before the rename to see it still holds the owner judged gone, then reads it back to see
 * it is ours. Two processes breaking the same dead owner's lock within microseconds of each
 * other could both succeed; that takes two applies started at once after a crash. An owner on
 * another host is never broken: its liveness cannot be seen from here.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../errors.js";
import { fsyncDir, STATE_DIR, stateDir } from "./state-dir.js";

/** The lock's file name inside `.keel/`. */
export const LOCK_FILE = "apply.lock";

/** Who holds the lock: the content of the lock file. */
export interface LockOwner {
  /** Process id of the `keel apply` holding it. */
  pid: number;
  /** `os.hostname()` of the machine it runs on. */
  host: string;
  /** When it took the lock: ISO-8601 UTC time with milliseconds. */
  startedAt: string;
  /**
   * The process's start time, field 22 (`starttime`) of `/proc/PID/stat`: clock ticks
   * (`sysconf(_SC_CLK_TCK)`, usually 100 a second) after the host booted. A process with this
   * pid that started at another time is another process (the pid was reused). Absent where there
   * is no `/proc`.
   */
  procStart?: number;
}

/** Why a lock was broken. */
export type BreakReason = "gone" | "pid-reused";

/** A lock that was broken to take it: whose it was and why. */
export interface BrokenLock {
  owner: LockOwner;
  reason: BreakReason;
  /** The note to show, e.g. `broke the apply lock of pid 4242 on host vega (since …): that process is gone`. */
  message: string;
}

/** A lock taken by `acquireLock`. */
export interface LockHandle {
  /** The lock file's path. */
  readonly file: string;
  /** Our owner record, as written in the file. */
  readonly owner: LockOwner;
  /** Present when a dead owner's lock was broken to take it. */
  readonly broken?: BrokenLock;
  /**
   * Removes the lock file if it still holds our owner record; resolves true when it did, false
   * when the file was gone or held another owner (left as it is).
   */
  release(): Promise<boolean>;
}

/** The lock file of the inventory directory `dir`. */
export function lockFile(dir: string): string {
  return path.join(dir, STATE_DIR, LOCK_FILE);
}

/** Field 22 (`starttime`) of a `/proc/PID/stat` text; undefined when it cannot be read. */
export function procStartFromStat(stat: string): number | undefined {
  // field 2, the command name in parentheses, may itself hold spaces and parentheses: the
  // fields after it start after the last ")"; the first of them is field 3
  const rest = stat
    .slice(stat.lastIndexOf(")") + 1)
    .trim()
    .split(/\s+/);
  const v = Number(rest[22 - 3]);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** The start time of process `pid` (see `LockOwner.procStart`); undefined without `/proc` or such a process. */
export function procStartOf(pid: number): number | undefined {
  try {
    return procStartFromStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** What became of a lock's owner on this host. */
export function ownerState(owner: LockOwner): "alive" | BreakReason {
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return "gone";
    // EPERM: a process of another user has that pid; alive unless it is another process
  }
  if (owner.procStart === undefined) return "alive";
  const now = procStartOf(owner.pid);
  if (now === undefined) return "alive"; // no /proc here: it cannot be told apart
  return now === owner.procStart ? "alive" : "pid-reused";
}

/** The owner record in a lock file's text, or undefined when it is not one. */
function parseOwner(text: string): LockOwner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.pid !== "number" || !Number.isSafeInteger(o.pid) || o.pid < 1) return undefined;
  if (typeof o.host !== "string" || typeof o.startedAt !== "string") return undefined;
  if (o.procStart !== undefined && typeof o.procStart !== "number") return undefined;
  return {
    pid: o.pid,
    host: o.host,
    startedAt: o.startedAt,
    ...(o.procStart !== undefined ? { procStart: o.procStart } : {}),
  };
}

function sameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.host === b.host && a.startedAt === b.startedAt && a.procStart === b.procStart;
}

/** The lock file's text, or undefined when there is none. */
function readLock(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** `pid 4242 on host vega (since 2030-01-01T00:00:00.000Z)` */
function describe(o: LockOwner): string {
  return `pid ${o.pid} on host ${o.host} (since ${o.startedAt})`;
}

/** Writes `text` to a new file `file` (mode 0600) and fsyncs it. */
function writeNew(file: string, text: string): void {
  const fd = openSync(file, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Attempts before giving up on a lock that keeps changing under us. */
const ATTEMPTS = 5;

/**
 * The apply lock is held by a live `keel apply` (or another command that changes machines): on
 * this host by a running process, or on another host. A `UserError` (the CLI exits 2); `keel
 * serve` answers 409.
 */
export class LockHeld extends UserError {
  override name = "LockHeld";
}

/**
 * Takes the apply lock of the inventory directory `dir` (creating `.keel/`, mode 0700, when
 * missing). When the lock exists and its owner is on this host and provably gone, the lock is
 * broken and the handle's `broken` says whose it was.
 * @throws LockHeld when the lock is held by a live process or by a process of another host;
 *   UserError when it holds no owner record; each names the owner and what to do.
 */
export async function acquireLock(dir: string): Promise<LockHandle> {
  const sdir = stateDir(dir);
  const file = path.join(sdir, LOCK_FILE);
  const host = os.hostname();
  const procStart = procStartOf(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    host,
    startedAt: new Date().toISOString(),
    ...(procStart !== undefined ? { procStart } : {}),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const tmp = path.join(sdir, `${LOCK_FILE}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  writeNew(tmp, text);
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        linkSync(tmp, file);
        fsyncDir(sdir);
        return handle(file, sdir, owner);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const held = readLock(file);
      if (held === undefined) continue; // released meanwhile: try again
      const other = parseOwner(held);
      if (other === undefined)
        throw new UserError(
          `the apply lock ${file} holds no owner record Keel can read; expected JSON { pid, host, startedAt }. If no keel apply is running, remove ${file}`,
        );
      if (other.host !== host)
        throw new LockHeld(
          `keel apply is running elsewhere: the apply lock ${file} is held by ${describe(other)}; wait for it to finish, or, if that host or its keel apply is gone, remove ${file}`,
        );
      const state = ownerState(other);
      if (state === "alive")
        throw new LockHeld(
          `keel apply is already running: the apply lock ${file} is held by ${describe(other)}, which is still running; wait for it to finish`,
        );
      // Break it. Synchronous from the last read to the rename: nothing of ours runs between
      if (readLock(file) !== held) continue; // changed since it was judged: judge again
      renameSync(tmp, file);
      fsyncDir(sdir);
      const now = readLock(file);
      const mine = now === undefined ? undefined : parseOwner(now);
      if (mine !== undefined && sameOwner(mine, owner)) {
        const why = state === "gone" ? "that process is gone" : "its pid now belongs to another process";
        return handle(file, sdir, owner, {
          owner: other,
          reason: state,
          message: `broke the apply lock ${file} of ${describe(other)}: ${why}`,
        });
      }
      // another process broke it at the same time and won: the tmp file is gone, write it again
      writeNew(tmp, text);
    }
    throw new UserError(
      `the apply lock ${file} kept changing while it was being taken (${ATTEMPTS} attempts); try again`,
    );
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // linked or renamed into place already
    }
  }
}

function handle(file: string, sdir: string, owner: LockOwner, broken?: BrokenLock): LockHandle {
  return {
    file,
    owner,
    ...(broken ? { broken } : {}),
    async release() {
      const text = readLock(file);
      const held = text === undefined ? undefined : parseOwner(text);
      if (held === undefined || !sameOwner(held, owner)) return false;
      unlinkSync(file);
      fsyncDir(sdir);
      return true;
    },
  };
}
