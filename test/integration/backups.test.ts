/**
 * The backup checks end to end on the backups twin (root only): the built `keel verify` against
 * a copy of examples/backups/keel.yaml brought up with the built `keel lab up`, where PostgreSQL
 * 15 archives WAL over SSH to a real pgBackRest 2.45 repository. On the healthy twin every check
 * passes; then one fault at a time, injected with test/helpers/lab-backups.ts, exactly the
 * checks that should fail do, with their message:
 *
 * - the repository unreachable from the primary: the archive fails, backup freshness still
 *   passes (as in real life: the last backups are still young);
 * - the repository host stopped: the archive fails; what Keel must read on that host is `error`
 *   (it could not observe), never a pass or a fail;
 * - a broken archive_command: the archive and `pgbackrest check` fail;
 * - a stale backup (the objective shorter than the newest backup's age): only freshness fails;
 * - an archiver that archives nothing while pg_stat_archiver shows no failure (stopped with
 *   SIGSTOP): the `.ready` backlog older than the WAL objective fails the archive check.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Report } from "../../src/verify/types.js";
import {
  type BackupsTwin,
  blockArchivePath,
  breakArchiveCommand,
  nsRoot,
  openBackupsTwin,
  psql,
  stopRepositorySshd,
  switchWal,
  takeBackup,
  until,
} from "../helpers/lab-backups.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "keel-backups-it-"));
const file = path.join(dir, "keel.yaml");
const octet = 20 + (process.pid % 40) * 2;
const site = `k${process.pid % 100000}`;
const DATA = "/var/lib/postgresql/15/main";
let t: BackupsTwin;
let example = "";

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 300_000 });
  assert.equal(r.stderr.includes("    at "), false, `no stack trace expected: ${r.stderr}`);
  return r;
}

function verify(...args: string[]): { code: number | null; report: Report } {
  const r = keel("verify", file, "--json", "--strict-host-keys", "--no-history", ...args);
  return { code: r.status, report: JSON.parse(r.stdout) as Report };
}

/** `status: id` of every check that did not pass or skip, sorted. */
function broken(report: Report): string[] {
  return report.checks
    .filter((c) => c.status === "fail" || c.status === "error")
    .map((c) => `${c.status}: ${c.id}`)
    .sort();
}

function check(report: Report, id: string) {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in the report`);
  return c;
}

const INFO = "backup-1/backup.pgbackrest/main";
const CHECK = "backup-1/backup.pgbackrest-check/main";
const ARCHIVE = "db-1/backup.wal-archive/main";

before(() => {
  example = readFileSync(path.join(root, "examples/backups/keel.yaml"), "utf8")
    .replace(/^site: bak$/m, `site: ${site}`)
    .replaceAll("10.30.0.", `10.${octet}.0.`)
    .replaceAll("10.31.0.", `10.${octet + 1}.0.`);
  writeFileSync(file, example);
});

after(() => {
  keel("lab", "down", file);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Waits until the primary's archiver is failing as `pg_stat_archiver` shows it: more failures
 * than `failed`, the last one newer than the last success.
 */
async function archiverFailsBeyond(failed: number): Promise<void> {
  await until(
    "the archiver to fail",
    async () =>
      (await psql(
        t,
        `select failed_count > ${failed} and last_failed_time > coalesce(last_archived_time, 'epoch') from pg_stat_archiver`,
      )) === "t",
    60_000,
  );
}

/**
 * Waits until the primary has nothing left to archive: no `.ready` segment, and no failure newer
 * than the last success. After a fault PostgreSQL's archiver may sleep a minute before it retries
 * (PostgreSQL docs, "Continuous Archiving"), so this can take that long.
 */
async function archiveCaughtUp(): Promise<void> {
  await until(
    "the archive to catch up",
    async () =>
      (await psql(
        t,
        "select (select count(*) from pg_ls_dir('pg_wal/archive_status') f where f like '%.ready') = 0" +
          " and (last_failed_time is null or last_archived_time > last_failed_time) from pg_stat_archiver",
      )) === "t",
    150_000,
  );
  assert.deepEqual(broken(verify("--only", "*backup.wal-archive*").report), []);
}

/**
 * Runs `keel verify --only ONLY` until the checks that fail or error are exactly `expected` (a
 * fault shows through PostgreSQL's archiver, which acts on its own), at most 30 s; returns that
 * run. Fails with the last run's broken checks otherwise.
 */
async function verifyUntil(
  only: string,
  expected: string[],
): Promise<{ code: number | null; report: Report }> {
  let last = verify("--only", only);
  for (let i = 0; i < 15 && JSON.stringify(broken(last.report)) !== JSON.stringify(expected); i++) {
    await new Promise((r) => setTimeout(r, 2000));
    last = verify("--only", only);
  }
  assert.deepEqual(broken(last.report), expected, JSON.stringify(last.report.checks.map((c) => c.message)));
  return last;
}

test("on the healthy backups twin every check passes, the backup kinds among them", async () => {
  const up = keel("lab", "up", file, "--timeout", "60000");
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  t = openBackupsTwin(file);
  const { code, report } = verify();
  assert.deepEqual(broken(report), []);
  assert.equal(code, 0);
  for (const id of [INFO, CHECK, ARCHIVE]) assert.equal(check(report, id).status, "pass", id);
  assert.match(
    check(report, INFO).message,
    /^stanza main: newest backup \(full\) \d{8}-\d{6}F finished \d+ s ago \(.+\); 1 backup, WAL archived to [0-9A-F]{24}$/,
  );
  assert.match(check(report, CHECK).message, /^pgbackrest check of stanza main passed in \d+ s$/);
  assert.match(
    check(report, ARCHIVE).message,
    new RegExp(
      `^WAL archive of main \\(${DATA}\\): last segment [0-9A-F]{24} archived \\d+ (s|min) ago; 0 waiting; pg_wal \\d+ MiB, .+ free$`,
    ),
  );
});

test("the repository unreachable from the primary: the archive fails while backup freshness passes", async () => {
  const failed = Number(await psql(t, "select failed_count from pg_stat_archiver"));
  const undo = await blockArchivePath(t);
  try {
    await switchWal(t);
    await archiverFailsBeyond(failed);
    const { code, report } = await verifyUntil("*backup.pgbackrest/*,*backup.wal-archive*", [
      `fail: ${ARCHIVE}`,
    ]);
    assert.equal(code, 1);
    assert.match(
      check(report, ARCHIVE).message,
      /: archiving fails: \d+ failures?, the last on [0-9A-F]{24} \d+ s ago \(.+\), newer than the last success \(.+\); expected archive_command to succeed$/,
    );
    assert.equal(check(report, INFO).status, "pass");
  } finally {
    await undo();
  }
  // once the repository is reachable again the archiver catches up and the check passes
  await archiveCaughtUp();
});

test("the repository host stopped: the archive fails; what Keel must read there is error, not a verdict", async () => {
  const failed = Number(await psql(t, "select failed_count from pg_stat_archiver"));
  const undo = await stopRepositorySshd(t);
  try {
    await switchWal(t);
    await archiverFailsBeyond(failed);
    const { code, report } = await verifyUntil("*backup.*", [
      `error: ${CHECK}`,
      `error: ${INFO}`,
      `fail: ${ARCHIVE}`,
    ]);
    assert.equal(code, 1);
    assert.match(check(report, INFO).message, /^cannot log in to backup-1: /);
    assert.match(check(report, ARCHIVE).message, /archiving fails/);
  } finally {
    await undo();
  }
  await archiveCaughtUp();
});

test("a broken archive_command: the archive and pgbackrest check fail, backup freshness passes", async () => {
  const failed = Number(await psql(t, "select failed_count from pg_stat_archiver"));
  // pgBackRest refuses an archive_command without pgbackrest in it; this one has it and fails
  const undo = await breakArchiveCommand(t, "pgbackrest --stanza=nosuchstanza archive-push %p");
  try {
    await archiverFailsBeyond(failed);
    const { code, report } = await verifyUntil("*backup.*", [`fail: ${CHECK}`, `fail: ${ARCHIVE}`]);
    assert.equal(code, 1);
    assert.match(
      check(report, CHECK).message,
      /^pgbackrest check of stanza main failed \(exit \d+\): ERROR: \[\d+\]: /,
    );
    assert.match(check(report, ARCHIVE).message, /archiving fails: .*expected archive_command to succeed/);
    assert.equal(check(report, INFO).status, "pass");
  } finally {
    await undo();
  }
  await archiveCaughtUp();
});

test("a stale backup: with the objective shorter than the newest backup's age, only freshness fails", async () => {
  // a full backup every 20 s with no grace, and objectives to match: the twin's backup (taken at
  // lab up, minutes ago) is stale; the archive, fed just before, is not
  const stale = example
    .replace("schedule: { full: 7d, diff: 1d }", "schedule: { full: 20s }\n      grace: 0s")
    .replace("objectives: { backup: 26h, wal: 15m }", "objectives: { backup: 20s, wal: 20s }");
  assert.notEqual(stale, example);
  writeFileSync(file, stale);
  try {
    await switchWal(t);
    await until("the segment to be archived", async () => {
      const age = await psql(
        t,
        "select extract(epoch from now() - last_archived_time)::int from pg_stat_archiver",
      );
      return Number(age) < 5;
    });
    const { code, report } = await verifyUntil("*backup.pgbackrest/*,*backup.wal-archive*", [
      `fail: ${INFO}`,
    ]);
    assert.equal(code, 1);
    assert.match(
      check(report, INFO).message,
      /^stanza main: newest full backup \d{8}-\d{6}F finished \d+ min ago \(.+\); expected at most 20 s \(schedule\.full 20 s \+ grace 0 s\); newest backup \S+ finished \d+ min ago \(.+\); expected at most 20 s \(objective\)$/,
    );
  } finally {
    writeFileSync(file, example);
  }
});

test("an archiver that archives nothing and reports no failure: the .ready backlog fails the archive check", async () => {
  // objectives.wal of 20 s (and a backup objective to match), so a backlog is late quickly
  const quick = example.replace(
    "objectives: { backup: 26h, wal: 15m }",
    "objectives: { backup: 26h, wal: 20s }",
  );
  writeFileSync(file, quick);
  const pid = (await psql(t, "select pid from pg_stat_activity where backend_type = 'archiver'")).trim();
  assert.match(pid, /^\d+$/, "the archiver runs");
  await nsRoot(t.lab, "db-1", "kill", ["-STOP", pid]);
  try {
    const failed = Number(await psql(t, "select failed_count from pg_stat_archiver"));
    await switchWal(t);
    await new Promise((r) => setTimeout(r, 25_000));
    const { code, report } = await verifyUntil("*backup.wal-archive*", [`fail: ${ARCHIVE}`]);
    assert.equal(code, 1);
    assert.match(
      check(report, ARCHIVE).message,
      /: \d+ WAL segments? waits? to be archived, the oldest ready since \d+ (s|min) ago \(.+\); expected none waiting longer than 20 s \(objectives\.wal\)/,
    );
    // pg_stat_archiver saw nothing go wrong: only the .ready files tell
    assert.equal(Number(await psql(t, "select failed_count from pg_stat_archiver")), failed);
  } finally {
    await nsRoot(t.lab, "db-1", "kill", ["-CONT", pid]);
    writeFileSync(file, example);
  }
  await archiveCaughtUp();
  // a differential backup afterwards: the twin is whole again
  await takeBackup(t, "diff");
  assert.deepEqual(broken(verify("--only", "*backup.*").report), []);
});
