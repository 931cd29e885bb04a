/**
 * The `backup.wal-archive` check: what it reads (parsing the lines its command prints) and how it
 * judges each fault it claims to see. The twin's integration test runs the command on a live
 * primary whose archive is broken in each way.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  humanBytes,
  judgeWalArchive,
  parseWalArchive,
  type WalArchiveState,
  walArchiveCommand,
} from "../../../src/verify/checks/backup-wal-archive.js";
import { runCheck } from "../../../src/verify/checks/index.js";
import type { CheckSpec, ExecResult, Prober, SshTarget } from "../../../src/verify/types.js";

const NOW = Date.parse("2026-12-06T12:00:00Z");
const S = 1000;
const MIN = 60 * S;
const GiB = 1024 ** 3;
const p = {
  backup: "main",
  tool: "pgbackrest" as const,
  data: "/var/lib/postgresql/15/main",
  walObjectiveMs: 15 * MIN,
};
const healthy: WalArchiveState = {
  ready: 0,
  oldestReadyMs: null,
  walBytes: 48 * 1024 ** 2,
  freeBytes: 20 * GiB,
  filesystemBytes: 40 * GiB,
  archivedCount: 120,
  lastArchivedWal: "00000001000000000000000B",
  lastArchivedMs: NOW - 2 * MIN,
  failedCount: 0,
  lastFailedWal: null,
  lastFailedMs: null,
  archiveMode: "on",
  inRecovery: false,
};
const secs = (ms: number) => Math.floor(ms / 1000);

/** The lines the command prints for `s` (as GNU find/du/df and psql -A -t -F'|' print them). */
function printed(s: WalArchiveState): string {
  const t = (ms: number | null) => (ms === null ? "-1" : String(secs(ms)));
  return [
    `ready ${s.ready} ${s.oldestReadyMs === null ? "-" : secs(s.oldestReadyMs)}`,
    `wal ${s.walBytes}`,
    `df ${s.freeBytes} ${s.filesystemBytes}`,
    `archiver ${s.archivedCount}|${s.lastArchivedWal ?? ""}|${t(s.lastArchivedMs)}|${s.failedCount}|${s.lastFailedWal ?? ""}|${t(s.lastFailedMs)}|${s.archiveMode}|${s.inRecovery ? "t" : "f"}`,
  ].join("\n");
}

test("the printed state parses back; a missing or garbled line is named", () => {
  assert.deepEqual(parseWalArchive(printed(healthy)), healthy);
  assert.equal(parseWalArchive("wal 1\ndf 1 2"), "no readable count of .ready files");
  assert.equal(parseWalArchive("ready 0 -\ndf 1 2"), "no readable size of pg_wal");
  assert.equal(
    parseWalArchive("ready 0 -\nwal 5\ndf 1 2\narchiver 1|2"),
    "no readable row of pg_stat_archiver",
  );
});

test("a healthy archive passes with its last segment, backlog and space", () => {
  const o = judgeWalArchive(p, healthy, NOW);
  assert.equal(o.status, "pass");
  assert.equal(
    o.message,
    "WAL archive of main (/var/lib/postgresql/15/main): last segment 00000001000000000000000B archived 2 min ago; 0 waiting; pg_wal 48 MiB, 20 GiB free",
  );
  assert.equal(o.observed?.lastArchivedAgeSec, 120);
  assert.equal(o.observed?.walObjectiveSec, 900);
});

test("archiving that fails now fails the check: a failure newer than the last success", () => {
  const o = judgeWalArchive(
    p,
    {
      ...healthy,
      ready: 2,
      oldestReadyMs: NOW - 3 * MIN,
      failedCount: 3,
      lastFailedWal: "00000001000000000000000C",
      lastFailedMs: NOW - 30 * S,
    },
    NOW,
  );
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "WAL archive of main (/var/lib/postgresql/15/main): archiving fails: 3 failures, the last on 00000001000000000000000C 30 s ago (2026-12-06T11:59:30Z), newer than the last success (00000001000000000000000B 2 min ago (2026-12-06T11:58:00Z)); expected archive_command to succeed",
  );
  // a failure that was followed by a success is history, not a failure
  assert.equal(
    judgeWalArchive(p, { ...healthy, failedCount: 3, lastFailedWal: "0A", lastFailedMs: NOW - 10 * MIN }, NOW)
      .status,
    "pass",
  );
});

test("a backlog older than the WAL objective fails even when pg_stat_archiver shows no failure (a dead archiver)", () => {
  const o = judgeWalArchive(
    p,
    { ...healthy, ready: 12, oldestReadyMs: NOW - 40 * MIN, lastArchivedMs: NOW - 41 * MIN },
    NOW,
  );
  assert.equal(o.status, "fail");
  assert.match(
    o.message,
    /: 12 WAL segments wait to be archived, the oldest ready since 40 min ago \(2026-12-06T11:20:00Z\); expected none waiting longer than 15 min \(objectives\.wal\); the newest archived WAL segment 00000001000000000000000B was archived 41 min ago/,
  );
  assert.equal(o.observed?.ready, 12);
  assert.equal(o.observed?.oldestReadyAgeSec, 2400);
});

test("an archive that has not been fed within the WAL objective fails, naming archive_timeout", () => {
  const o = judgeWalArchive(p, { ...healthy, lastArchivedMs: NOW - 3 * 3_600_000 }, NOW);
  assert.equal(o.status, "fail");
  assert.match(
    o.message,
    /archived 3 h ago \(2026-12-06T09:00:00Z\); expected at most 15 min \(objectives\.wal; on a quiet server set archive_timeout below it\)$/,
  );
  const never = judgeWalArchive(
    p,
    { ...healthy, lastArchivedWal: null, lastArchivedMs: null, archivedCount: 0 },
    NOW,
  );
  assert.match(never.message, /no WAL segment archived since pg_stat_archiver was reset/);
});

test("archive_mode off and a server in recovery fail", () => {
  assert.match(
    judgeWalArchive(p, { ...healthy, archiveMode: "off" }, NOW).message,
    /archive_mode is off: no WAL is archived; expected on/,
  );
  assert.match(
    judgeWalArchive(p, { ...healthy, inRecovery: true }, NOW).message,
    /the server is in recovery \(a standby\); expected the primary/,
  );
});

test("pg_wal larger than the free space of its filesystem fails, as does a filesystem under 5 % free", () => {
  const full = judgeWalArchive(p, { ...healthy, walBytes: 9.8 * GiB, freeBytes: 6.1 * GiB }, NOW);
  assert.equal(full.status, "fail");
  assert.match(
    full.message,
    /pg_wal holds 9\.8 GiB and its filesystem has 6\.1 GiB free: WAL kept for the archive could fill it; expected more free than pg_wal holds$/,
  );
  const low = judgeWalArchive(p, { ...healthy, freeBytes: 1.5 * GiB, filesystemBytes: 40 * GiB }, NOW);
  assert.match(low.message, /pg_wal's filesystem has 1\.5 GiB free of 40 GiB; expected at least 5 %$/);
  assert.deepEqual([0, 1023, 1024, 5 * 1024 ** 2, 1.25 * GiB].map(humanBytes), [
    "0 B",
    "1023 B",
    "1 KiB",
    "5 MiB",
    "1.3 GiB",
  ]);
});

/** Runs the check on a prober whose SSH command answers `r`. */
async function run(r: Partial<ExecResult>) {
  const commands: string[] = [];
  const prober = {
    async sshExec(_t: SshTarget, command: string) {
      commands.push(command);
      return { code: 0, stderr: "", stdout: "", ...r };
    },
  } as unknown as Prober;
  const spec = {
    id: "db-1/backup.wal-archive/main",
    kind: "backup.wal-archive",
    host: "db-1",
    params: { kind: "backup.wal-archive", target: {} as SshTarget, port: 5432, ...p },
  } as CheckSpec;
  return {
    outcome: await runCheck(spec, { prober, timeoutMs: 1000, signal: new AbortController().signal }),
    commands,
  };
}

test("the check: a missing data directory fails; a server it cannot query is an error", async () => {
  const clock = `${secs(NOW)}\n`;
  const ok = await run({ stdout: `${printed(healthy)}\n${clock}` });
  assert.equal(ok.outcome.status, "pass");
  assert.match(
    ok.commands[0]!,
    /^d=\/var\/lib\/postgresql\/15\/main; owner=\$\(stat -c %U "\$d" 2>\/dev\/null\)/,
  );
  assert.match(ok.commands[0]!, /runuser -u "\$owner" -- sh -c "\$inner" _ "\$d" 5432/);
  const missing = await run({ code: 3, stdout: clock });
  assert.deepEqual(missing.outcome, {
    status: "fail",
    message:
      "the data directory /var/lib/postgresql/15/main of main does not exist on db-1; expected the primary's data directory",
  });
  const down = await run({
    code: 5,
    stdout: `ready 0 -\nwal 1\ndf 1 2\n${clock}`,
    stderr:
      'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory',
  });
  assert.equal(down.outcome.status, "error");
  assert.match(
    down.outcome.message,
    /^cannot query pg_stat_archiver on db-1 \(port 5432\): psql: error: connection to server/,
  );
  assert.equal(walArchiveCommand("/d", 5433).includes('-p "$2"'), true);
});
