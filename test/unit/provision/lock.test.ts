/**
 * The apply lock on a real file, against real processes: a live holder's lock is refused with
 * its owner named; once the holder is killed with SIGKILL the next acquirer breaks it and says
 * whose it was; a reused pid is told apart by its start time; another host's lock is never
 * broken; release removes only our own lock.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import {
  acquireLock,
  type LockOwner,
  lockFile,
  ownerState,
  procStartFromStat,
  procStartOf,
} from "../../../src/provision/lock.js";
import { killHard, startChild } from "./child.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "keel-lock-"));
  dirs.push(d);
  return d;
}
const HAS_PROC = existsSync("/proc/self/stat");

/** Writes a lock file held by `owner` (as another process would have). */
function plant(dir: string, owner: LockOwner): string {
  mkdirSync(path.join(dir, ".keel"), { recursive: true, mode: 0o700 });
  const file = lockFile(dir);
  writeFileSync(file, `${JSON.stringify(owner)}\n`);
  return file;
}

/** The UserError `acquireLock(dir)` rejects with. */
async function refusal(dir: string): Promise<UserError> {
  try {
    const h = await acquireLock(dir);
    await h.release();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    return e;
  }
  assert.fail("the lock was taken");
}

/** Only the lock file in .keel/: no temporary file left behind. */
function assertNoLitter(dir: string): void {
  assert.deepEqual(
    readdirSync(path.join(dir, ".keel")).filter((f) => f !== "apply.lock"),
    [],
  );
}

test("the lock file holds its owner; release removes it, once", async () => {
  const dir = tempDir();
  const h = await acquireLock(dir);
  assert.equal(h.broken, undefined);
  assert.equal(statSync(path.join(dir, ".keel")).mode & 0o777, 0o700);
  assert.equal(statSync(h.file).mode & 0o777, 0o600);
  const owner = JSON.parse(readFileSync(h.file, "utf8"));
  assert.deepEqual(owner, h.owner);
  assert.equal(owner.pid, process.pid);
  assert.equal(owner.host, os.hostname());
  assert.ok(!Number.isNaN(Date.parse(owner.startedAt)));
  if (HAS_PROC) assert.equal(owner.procStart, procStartOf(process.pid));
  assertNoLitter(dir);
  // held by this (live) process: a second acquire is refused
  const again = await refusal(dir);
  assert.match(again.message, new RegExp(`held by pid ${process.pid} on host`));
  assert.equal(await h.release(), true);
  assert.equal(existsSync(h.file), false);
  assert.equal(await h.release(), false);
});

test("a live process's lock is refused naming it; after SIGKILL the next acquirer breaks it and says whose it was", async () => {
  const dir = tempDir();
  const child = await startChild(dir, "lock");
  try {
    const held = readFileSync(lockFile(dir), "utf8");
    const owner = JSON.parse(held) as LockOwner;
    assert.equal(owner.pid, child.pid);
    const err = await refusal(dir);
    assert.equal(
      err.message,
      `keel apply is already running: the apply lock ${lockFile(dir)} is held by pid ${child.pid} on host ${os.hostname()} (since ${owner.startedAt}), which is still running; wait for it to finish`,
    );
    assert.equal(readFileSync(lockFile(dir), "utf8"), held, "a refused acquire leaves the lock alone");
    assertNoLitter(dir);
  } finally {
    await killHard(child);
  }
  const h = await acquireLock(dir);
  assert.ok(h.broken, "the dead owner's lock is broken");
  assert.equal(h.broken.owner.pid, child.pid);
  assert.equal(h.broken.reason, "gone");
  assert.match(h.broken.message, new RegExp(`of pid ${child.pid} on host .*: that process is gone$`));
  assert.deepEqual(JSON.parse(readFileSync(h.file, "utf8")), h.owner);
  assertNoLitter(dir);
  assert.equal(await h.release(), true);
});

test("a live pid that started at another time is a reused pid: its lock is broken", {
  skip: !HAS_PROC && "no /proc",
}, async () => {
  const dir = tempDir();
  const stale: LockOwner = {
    pid: process.pid, // alive, but not the process that took the lock
    host: os.hostname(),
    startedAt: "2030-01-01T00:00:00.000Z",
    procStart: procStartOf(process.pid)! + 1,
  };
  assert.equal(ownerState(stale), "pid-reused");
  plant(dir, stale);
  const h = await acquireLock(dir);
  assert.equal(h.broken?.reason, "pid-reused");
  assert.deepEqual(h.broken?.owner, stale);
  assert.match(h.broken!.message, /its pid now belongs to another process$/);
  await h.release();
  // the same pid with its own start time is the owner itself: alive
  assert.equal(ownerState({ ...stale, procStart: procStartOf(process.pid)! }), "alive");
});

test("another host's lock is never broken, even when its pid is unused here", async () => {
  const dir = tempDir();
  const child = await startChild(dir, "lock");
  const dead = child.pid!;
  await killHard(child);
  rmSync(lockFile(dir));
  const file = plant(dir, { pid: dead, host: "elsewhere.example", startedAt: "2030-01-01T00:00:00.000Z" });
  const before = readFileSync(file, "utf8");
  const err = await refusal(dir);
  assert.equal(
    err.message,
    `keel apply is running elsewhere: the apply lock ${file} is held by pid ${dead} on host elsewhere.example (since 2030-01-01T00:00:00.000Z); wait for it to finish, or, if that host or its keel apply is gone, remove ${file}`,
  );
  assert.equal(readFileSync(file, "utf8"), before);
  assertNoLitter(dir);
});

test("a lock file without an owner record is refused, not broken", async () => {
  const dir = tempDir();
  mkdirSync(path.join(dir, ".keel"));
  for (const text of ["", '{"pid":', JSON.stringify({ pid: 0, host: "h", startedAt: "x" })]) {
    writeFileSync(lockFile(dir), text);
    const err = await refusal(dir);
    assert.match(err.message, /holds no owner record Keel can read.*If no keel apply is running, remove /);
    assert.equal(readFileSync(lockFile(dir), "utf8"), text);
  }
  assertNoLitter(dir);
});

test("release leaves a lock that no longer holds our owner record", async () => {
  const dir = tempDir();
  const h = await acquireLock(dir);
  const other = { ...h.owner, startedAt: "2030-01-01T00:00:00.000Z" };
  writeFileSync(h.file, JSON.stringify(other));
  assert.equal(await h.release(), false);
  assert.deepEqual(JSON.parse(readFileSync(h.file, "utf8")), other);
});

test("the start time is field 22 of /proc/PID/stat, whatever the command name holds", () => {
  const tail = Array.from({ length: 50 }, (_, i) => String(i + 3)).join(" ");
  assert.equal(procStartFromStat(`4242 (a) (b c) ${tail}`), 22);
  assert.equal(procStartFromStat("4242 (short) S 1"), undefined);
  if (HAS_PROC) assert.ok((procStartOf(process.pid) ?? -1) > 0);
  assert.equal(procStartOf(2 ** 31 - 2), undefined);
});
