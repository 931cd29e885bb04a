/**
 * The `backup.pgbackrest` and `backup.pgbackrest-check` checks on what pgBackRest 2.45 really
 * printed (test/fixtures/pgbackrest-info.ts says how it was captured); the twin's integration
 * test runs them against a live pgBackRest.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseInventory } from "../../../src/inventory/load.js";
import {
  judgePgBackRest,
  parsePgBackRestInfo,
  pgbackrestInfoCommand,
} from "../../../src/verify/checks/backup-pgbackrest.js";
import {
  judgePgBackRestCheck,
  PGBACKREST_CHECK_TIMEOUT_MS,
  pgbackrestCheckCommand,
} from "../../../src/verify/checks/backup-pgbackrest-check.js";
import { runCheck } from "../../../src/verify/checks/index.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import type { CheckSpec, ExecResult, Prober, SshTarget } from "../../../src/verify/types.js";
import {
  INFO_LOCKED,
  INFO_MISSING_STANZA,
  INFO_NO_BACKUP,
  INFO_THREE_BACKUPS,
} from "../../fixtures/pgbackrest-info.js";

const H = 3_600_000;
const D = 24 * H;
const target = { host: "backup-1", address: "10.20.0.40", port: 22, user: "root" } as SshTarget;
/** The full backup of INFO_THREE_BACKUPS stopped at this instant; the incr 4 s later. */
const FULL_STOP = 1796587100_000;
const INCR_STOP = 1796587104_000;
const limits = {
  schedule: { full: 7 * D, diff: D },
  graceMs: H,
  objectiveMs: 26 * H,
  walObjectiveMs: 15 * 60_000,
};
const params = { kind: "backup.pgbackrest" as const, target, stanza: "main", user: "pgbackrest", ...limits };

function info(text: string) {
  const i = parsePgBackRestInfo(text, "main");
  assert.ok(typeof i !== "string", String(i));
  return i;
}

/** Runs the check on a prober whose SSH command answers `stdout` (then the lock line and clock). */
async function run(stdout: string, nowMs: number, extra: Partial<ExecResult> = {}, lock = "-") {
  const commands: string[] = [];
  const prober = {
    async sshExec(_t: SshTarget, command: string) {
      commands.push(command);
      return {
        code: 0,
        stderr: "",
        stdout: `${stdout}\nlock ${lock}\n${Math.floor(nowMs / 1000)}\n`,
        ...extra,
      };
    },
  } as unknown as Prober;
  const spec = {
    id: "backup-1/backup.pgbackrest/main",
    kind: "backup.pgbackrest",
    host: "backup-1",
    params,
  } as CheckSpec;
  const outcome = await runCheck(spec, { prober, timeoutMs: 1000, signal: new AbortController().signal });
  return { outcome, commands };
}

test("pgBackRest's info parses: status, backups newest first with type and stop time, the archive's WAL range", () => {
  const i = info(INFO_THREE_BACKUPS);
  assert.equal(i.statusCode, 0);
  assert.deepEqual(
    i.backups.map((b) => [b.label, b.type, b.error]),
    [
      ["20261206-195816F_20261206-195823I", "incr", false],
      ["20261206-195816F_20261206-195821D", "diff", false],
      ["20261206-195816F", "full", false],
    ],
  );
  assert.equal(i.backups[2]!.finishedMs, FULL_STOP);
  assert.deepEqual([i.archiveMin, i.archiveMax], ["000000010000000000000001", "000000010000000000000006"]);
  assert.equal(info(INFO_LOCKED).lockHeld, true);
  assert.match(String(parsePgBackRestInfo(INFO_THREE_BACKUPS, "other")), /no stanza other/);
  assert.match(String(parsePgBackRestInfo("ERROR: [055]", "main")), /not JSON/);
});

test("a stanza without a path or without backups fails with pgBackRest's status named", () => {
  const missing = judgePgBackRest(info(INFO_MISSING_STANZA), FULL_STOP, limits);
  assert.equal(missing.status, "fail");
  assert.equal(missing.message, "stanza main: pgBackRest status 1 (missing stanza path); expected 0 (ok)");
  const none = judgePgBackRest(info(INFO_NO_BACKUP), FULL_STOP, limits);
  assert.equal(none.message, "stanza main: pgBackRest status 2 (no valid backups); expected 0 (ok)");
  assert.deepEqual(none.observed?.status, { code: 2, message: "no valid backups" });
});

test("fresh backups pass, naming the newest, the count and the archived WAL", () => {
  const o = judgePgBackRest(info(INFO_THREE_BACKUPS), INCR_STOP + 10 * 60_000, limits);
  assert.equal(o.status, "pass", o.message);
  assert.equal(
    o.message,
    "stanza main: newest backup (incr) 20261206-195816F_20261206-195823I finished 10 min ago (2026-12-06T19:58:24Z); 3 backups, WAL archived to 000000010000000000000006",
  );
  const byType = o.observed?.byType as Record<string, { label: string; ageSec: number }>;
  assert.equal(byType.full!.label, "20261206-195816F");
  assert.equal(byType.full!.ageSec, 604);
  assert.equal(o.observed?.objectiveSec, 26 * 3600);
});

test("a stale backup fails per scheduled type (a full counts as a diff) and against the objective", () => {
  // two days on: the diff schedule (1 d + 1 h) and the objective (26 h) are missed, the full (7 d) is not
  const o = judgePgBackRest(info(INFO_THREE_BACKUPS), FULL_STOP + 2 * D, limits);
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "stanza main: newest diff or full backup 20261206-195816F_20261206-195821D finished 47 h 59 min ago (2026-12-06T19:58:22Z); expected at most 25 h (schedule.diff 24 h + grace 1 h); " +
      "newest backup 20261206-195816F_20261206-195823I finished 47 h 59 min ago (2026-12-06T19:58:24Z); expected at most 26 h (objective)",
  );
  // eight days on, the full is late too
  const late = judgePgBackRest(info(INFO_THREE_BACKUPS), FULL_STOP + 8 * D, limits);
  assert.match(
    late.message,
    /newest full backup 20261206-195816F finished 8 d ago .*expected at most 7 d 1 h \(schedule\.full 7 d \+ grace 1 h\)/,
  );
});

test("a backup with errors is not counted, and named", () => {
  const data = JSON.parse(INFO_THREE_BACKUPS);
  // pgBackRest sets `error` on a backup that copied pages with checksum errors
  data[0].backup[2].error = true;
  const o = judgePgBackRest(info(JSON.stringify(data)), INCR_STOP + 60_000, limits);
  assert.equal(o.status, "pass");
  assert.match(
    o.message,
    /newest backup \(diff\) 20261206-195816F_20261206-195821D .*1 backup with errors not counted \(20261206-195816F_20261206-195823I\)/,
  );
  const onlyBad = JSON.parse(INFO_THREE_BACKUPS);
  for (const b of onlyBad[0].backup) b.error = true;
  const bad = judgePgBackRest(info(JSON.stringify(onlyBad)), INCR_STOP + 60_000, limits);
  assert.equal(bad.status, "fail");
  assert.match(bad.message, /no full backup without errors; expected one at most 7 d 1 h/);
});

test("a backup lock held longer than the shortest scheduled interval fails; a young one is a running backup", () => {
  const now = INCR_STOP + 60_000;
  const young = judgePgBackRest(info(INFO_LOCKED), now, limits, now - 5 * 60_000);
  assert.equal(young.status, "pass");
  assert.match(young.message, /; a backup is running$/);
  assert.deepEqual(young.observed?.lock, { held: true, ageSec: 300 });
  const stuck = judgePgBackRest(info(INFO_LOCKED), now + D, limits, now - 60_000);
  assert.equal(stuck.status, "fail");
  assert.match(
    stuck.message,
    /^stanza main: a backup has held the stanza's lock for 24 h 1 min; expected at most 24 h \(the shortest scheduled interval\)$/,
  );
});

test("the check runs pgbackrest info as the stanza's user and reads the lock file's age and the host's clock", async () => {
  assert.equal(
    pgbackrestInfoCommand("main", "pgbackrest"),
    "out=$(sudo -n -u pgbackrest pgbackrest --stanza=main --output=json info) || exit $?; printf '%s\\n' \"$out\"; printf 'lock %s\\n' \"$(stat -c %Y /tmp/pgbackrest/main-backup.lock 2>/dev/null || echo -)\"; date +%s",
  );
  const now = INCR_STOP + 60_000;
  const { outcome, commands } = await run(INFO_LOCKED, now, {}, String(Math.floor((now - 2 * D) / 1000)));
  assert.equal(commands.length, 1);
  assert.equal(outcome.status, "fail");
  assert.match(outcome.message, /held the stanza's lock for 2 d/);
  const ok = await run(INFO_THREE_BACKUPS, now);
  assert.equal(ok.outcome.status, "pass", ok.outcome.message);
});

test("pgbackrest missing, failing or printing something else is an error, never a verdict", async () => {
  const missing = await run("", INCR_STOP, { code: 127, stdout: "", stderr: "sh: 1: pgbackrest: not found" });
  assert.deepEqual(missing.outcome, { status: "error", message: "pgbackrest is not installed on backup-1" });
  const denied = await run("", INCR_STOP, { code: 1, stdout: "", stderr: "sudo: a password is required" });
  assert.equal(denied.outcome.status, "error");
  assert.match(
    denied.outcome.message,
    /pgbackrest info failed on backup-1 \(exit 1\): sudo: a password is required/,
  );
  const garbage = await run("<html>", INCR_STOP);
  assert.equal(garbage.outcome.status, "error");
  assert.match(garbage.outcome.message, /printed not JSON/);
});

test("pgbackrest check: a pass names its time; a failure gives pgBackRest's error and hint", () => {
  const ok = judgePgBackRestCheck("main", 0, "", 951);
  assert.deepEqual(ok, {
    status: "pass",
    message: "pgbackrest check of stanza main passed in 1 s",
    observed: { stanza: "main", durationSec: 1, exit: 0 },
  });
  // what pgBackRest 2.45 printed while archive_command could not push (captured with the fixtures)
  const output = [
    "ERROR: [082]: WAL segment 00000001000000000000000A was not archived before the 25000ms timeout",
    "       HINT: check the archive_command to ensure that all options are correct (especially --stanza).",
    "       HINT: check the PostgreSQL server log for errors.",
  ].join("\n");
  const bad = judgePgBackRestCheck("main", 82, output, 25_300);
  assert.equal(bad.status, "fail");
  assert.match(
    bad.message,
    /^pgbackrest check of stanza main failed \(exit 82\): ERROR: \[082\]: WAL segment 00000001000000000000000A was not archived before the 25000ms timeout HINT: check the archive_command/,
  );
  assert.equal(pgbackrestCheckCommand("main", undefined), "pgbackrest --stanza=main check 2>&1");
});

const SITE = `
keel: 1
site: t
networks: { lan: { cidr: 10.20.0.0/24 } }
defaults: { ssh: { user: root, allow: [lan] } }
hosts:
  db-1: { address: { lan: 10.20.0.30 } }
  backup-1: { address: { lan: 10.20.0.40 } }
  db-3: { address: { lan: 10.20.0.33 } }
vantages:
  here: { local: true, networks: [lan], address: { lan: 10.20.0.250 } }
backups:
  pgbackrest:
    main:
      repository: backup-1
      user: pgbackrest
      postgres:
        - { host: db-1, data: /var/lib/postgresql/15/main, role: primary }
      schedule: { full: 7d, diff: 1d }
      objectives: { backup: 26h, wal: 15m }
      check_interval: 2h
  walg:
    app:
      host: db-3
      data: /var/lib/postgresql/16/main
      port: 5433
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 10m }
`;

test("derived: info and check on the repository host, check on the stanza's own interval and deadline, archive on each primary", () => {
  const inv = parseInventory(SITE, "keel.yaml");
  const specs = deriveChecks(inv).filter((c) => c.kind.startsWith("backup.") && c.kind !== "backup.walg");
  assert.deepEqual(
    specs.map((s) => s.id),
    [
      "db-1/backup.wal-archive/main",
      "backup-1/backup.pgbackrest/main",
      "backup-1/backup.pgbackrest-check/main",
      "db-3/backup.wal-archive/app",
    ],
  );
  const check = specs.find((s) => s.kind === "backup.pgbackrest-check")!;
  assert.deepEqual(
    [check.intervalMs, check.timeoutMs, check.failAfter],
    [2 * H, PGBACKREST_CHECK_TIMEOUT_MS, 1],
  );
  const infoSpec = specs.find((s) => s.kind === "backup.pgbackrest")!;
  assert.equal(infoSpec.intervalMs, undefined);
  const { target: _t, ...p } = infoSpec.params as typeof params;
  assert.deepEqual(p, {
    kind: "backup.pgbackrest",
    stanza: "main",
    user: "pgbackrest",
    schedule: { full: 7 * D, diff: D },
    graceMs: H,
    objectiveMs: 26 * H,
    walObjectiveMs: 15 * 60_000,
  });
  const archives = specs
    .filter((s) => s.kind === "backup.wal-archive")
    .map((s) => {
      const { target: _x, ...rest } = s.params as unknown as Record<string, unknown>;
      return rest;
    });
  assert.deepEqual(archives, [
    {
      kind: "backup.wal-archive",
      backup: "main",
      tool: "pgbackrest",
      data: "/var/lib/postgresql/15/main",
      port: 5432,
      walObjectiveMs: 15 * 60_000,
    },
    {
      kind: "backup.wal-archive",
      backup: "app",
      tool: "walg",
      data: "/var/lib/postgresql/16/main",
      port: 5433,
      walObjectiveMs: 10 * 60_000,
    },
  ]);
});
