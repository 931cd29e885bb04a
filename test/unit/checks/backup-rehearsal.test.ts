/**
 * The `backup.rehearsal` check: its commands, its reading of the tools' lists, its steps and its
 * verdicts. The pgBackRest options are checked against the installed pgBackRest 2.45's own help
 * (`pgbackrest help restore OPTION`), the info JSON is pgBackRest 2.45's verbatim output
 * (test/fixtures/pgbackrest-info.ts). The integration test (test/integration/backup-rehearse.test.ts)
 * runs the whole rehearsal against real PostgreSQL 15 and pgBackRest on the backups twin.
 *
 * WAL-G is neither a Debian nor an npm package, so no test runs it: its commands are checked
 * against WAL-G's documented usage, docs/PostgreSQL.md of the wal-g/wal-g repository (commit
 * e1b173077f18d7b6e2189d0fbe6cfd9c09ca8fab): "backup-fetch": "the user should pass in the name
 * of the backup and a path to a directory to extract to" (`wal-g backup-fetch ~/extract/to/here
 * LATEST`); "wal-fetch": "the user should pass in the archive name and the name of the file to
 * download to" (`wal-g wal-fetch example-archive new-file-name`). PostgreSQL 15's manual
 * ("Recovering Using a Continuous Archive Backup", "Archive Recovery") gives `recovery.signal`
 * and `restore_command`'s `%f` (the file name) and `%p` (the path to copy it to).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { parseInventory } from "../../../src/inventory/load.js";
import {
  asRoot,
  asUser,
  type BackupRehearsalParams,
  choosePgbackrest,
  chooseWalg,
  cleanupScript,
  emptyScript,
  fetchWalScript,
  judgeRehearsal,
  listScript,
  parsePointInTime,
  REHEARSAL_STEPS,
  REHEARSAL_TIMEOUT_MS,
  type RehearsalRun,
  restoreScript,
  serverSettings,
  startScript,
  tailExcerpt,
  walSegments,
} from "../../../src/verify/checks/backup-rehearsal.js";
import { runCheck } from "../../../src/verify/checks/index.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import {
  type CheckSpec,
  type ExecResult,
  ProbeError,
  type Prober,
  type SshTarget,
} from "../../../src/verify/types.js";
import { INFO_MISSING_STANZA, INFO_THREE_BACKUPS } from "../../fixtures/pgbackrest-info.js";
import { WALG_LIST_JSON } from "../../fixtures/walg-backup-list.js";

const root: SshTarget = { host: "backup-1", address: "10.20.0.40", port: 22, user: "root" };
const pg: BackupRehearsalParams = {
  kind: "backup.rehearsal",
  target: root,
  tool: "pgbackrest",
  backup: "main",
  dir: "/var/tmp/keel rehearsal",
  user: "pgbackrest",
  queries: ["select count(*) from pg_class"],
};
const walg: BackupRehearsalParams = {
  kind: "backup.rehearsal",
  target: root,
  tool: "walg",
  backup: "app",
  dir: "/var/tmp/keel-rehearsal",
  user: "postgres",
  env: "envdir /run/etc/wal-e.d/env",
  queries: [],
};

const scratch = mkdtempSync(path.join(tmpdir(), "keel-rehearsal-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs `line` with `sh -c` where each of `tools` is a stub on PATH that prints its arguments,
 * one per line after a `TOOL` line, so the words a command hands the tool can be compared with
 * the tool's documented usage. `runuser -u USER -- CMD…` is stubbed to run CMD… (the test runs
 * as whoever runs it).
 */
function argvOf(line: string, tools: string[]): string[][] {
  const bin = mkdtempSync(path.join(scratch, "bin-"));
  for (const t of tools) {
    writeFileSync(
      path.join(bin, t),
      `#!/bin/sh\necho "=== ${t}"\nfor a in "$@"; do printf '%s\\n' "$a"; done\n`,
    );
    chmodSync(path.join(bin, t), 0o755);
  }
  writeFileSync(path.join(bin, "runuser"), '#!/bin/sh\nshift 3\nexec "$@"\n');
  chmodSync(path.join(bin, "runuser"), 0o755);
  const out = execFileSync("sh", ["-c", line], {
    encoding: "utf8",
    env: { PATH: `${bin}:/usr/bin:/bin` },
  });
  return out
    .split("=== ")
    .filter(Boolean)
    .map((chunk) => chunk.trimEnd().split("\n"));
}

test("as root: the SSH user root runs the script as it is, another user through sudo -n; timeout ends it", () => {
  assert.equal(asRoot("root", "echo hi", 90.7), "timeout -k 5 90 sh -c 'echo hi'");
  assert.equal(asRoot("admin", "echo hi", 0.2), "sudo -n timeout -k 5 1 sh -c 'echo hi'");
  assert.equal(asUser("root", "pgbackrest info"), "pgbackrest info");
  assert.equal(asUser("postgres", "pgbackrest info"), "runuser -u postgres -- sh -c 'pgbackrest info'");
  const out = execFileSync("sh", ["-c", asRoot("root", `printf '%s' "it's $((1 + 1))"`, 5)], {
    encoding: "utf8",
  });
  assert.equal(out, "it's 2");
});

test("pgBackRest restore: the stanza, DIR/data, the chosen set, immediate recovery then promote", () => {
  const [argv] = argvOf(restoreScript(pg, "20261206-101500F"), ["pgbackrest"]);
  assert.deepEqual(argv, [
    "pgbackrest",
    "--stanza=main",
    "--pg1-path=/var/tmp/keel rehearsal/data",
    "--set=20261206-101500F",
    "--type=immediate",
    "--target-action=promote",
    "restore",
  ]);
  assert.match(restoreScript(pg, "x"), /^runuser -u pgbackrest -- sh -c /);
  // without a user, as the SSH user (root here): no runuser at all
  const { user: _u, ...noUser } = pg;
  assert.match(restoreScript(noUser, "x"), /^pgbackrest /);
  const [info] = argvOf(listScript(pg), ["pgbackrest"]);
  assert.deepEqual(info, ["pgbackrest", "--stanza=main", "--output=json", "info"]);
});

test("pgBackRest 2.45 knows every option the rehearsal gives restore and info, and the values used", (t) => {
  if (spawnSync("pgbackrest", ["version"]).status !== 0) {
    t.skip("pgbackrest is not installed (scripts/setup.sh installs it)");
    return;
  }
  const help = (...args: string[]) => execFileSync("pgbackrest", ["help", ...args], { encoding: "utf8" });
  assert.match(help("version"), /pgBackRest 2\.45/);
  for (const option of ["stanza", "pg1-path", "set", "type", "target-action"])
    assert.match(help("restore", option), /option help/, option);
  assert.match(
    help("restore", "type"),
    /^\* immediate - recover only until the database becomes consistent/m,
  );
  assert.match(help("restore", "target-action"), /^\* promote - promote and switch timeline/m);
  assert.match(help("info", "output"), /^\* json - /m);
});

test("the WAL a backup needs: its segments from first to last, 16 MiB apart, across log files", () => {
  assert.deepEqual(walSegments("000000010000000000000004", "000000010000000000000004"), [
    "000000010000000000000004",
  ]);
  assert.deepEqual(walSegments("0000000100000001000000FE", "000000010000000200000001"), [
    "0000000100000001000000FE",
    "0000000100000001000000FF",
    "000000010000000200000000",
    "000000010000000200000001",
  ]);
  // another timeline, or a range too long to fetch ahead: the ends only
  assert.deepEqual(walSegments("000000010000000000000009", "00000002000000000000000A"), [
    "000000010000000000000009",
    "00000002000000000000000A",
  ]);
  assert.equal(walSegments("000000010000000000000001", "000000010000000500000001").length, 2);
});

test("fetch WAL: archive-get of each segment into the restored pg_wal, as the backup tool's user", () => {
  const script = fetchWalScript(pg, "000000020000000000000007", "000000020000000000000008");
  const gets = argvOf(script.replaceAll("|| exit 1", "").replace(/^chown.*$/m, ""), ["pgbackrest"]);
  assert.deepEqual(gets, [
    [
      "pgbackrest",
      "--stanza=main",
      "--pg1-path=/var/tmp/keel rehearsal/data",
      "archive-get",
      "000000020000000000000007",
      "/var/tmp/keel rehearsal/data/pg_wal/000000020000000000000007",
    ],
    [
      "pgbackrest",
      "--stanza=main",
      "--pg1-path=/var/tmp/keel rehearsal/data",
      "archive-get",
      "000000020000000000000008",
      "/var/tmp/keel rehearsal/data/pg_wal/000000020000000000000008",
    ],
    [
      "pgbackrest",
      "--stanza=main",
      "--pg1-path=/var/tmp/keel rehearsal/data",
      "archive-get",
      "00000002.history",
      "/var/tmp/keel rehearsal/data/pg_wal/00000002.history",
    ],
  ]);
  assert.match(script, /chown --reference='\/var\/tmp\/keel rehearsal\/data' "\$w"\/\*/);
  assert.equal(spawnSync("sh", ["-n", "-c", script]).status, 0);
});

test("WAL-G: backup-list and backup-fetch as documented, with the env words and as the backup's user", () => {
  const [list] = argvOf(listScript({ ...walg, env: "WALG_FILE_PREFIX=/backups/app" }), ["wal-g"]);
  assert.deepEqual(list, ["wal-g", "backup-list", "--json", "--detail"]);
  const [fetch] = argvOf(
    restoreScript({ ...walg, env: "WALG_FILE_PREFIX=/backups/app" }, "base_000000010000000000000007"),
    ["wal-g"],
  );
  // `wal-g backup-fetch ~/extract/to/here LATEST`: the directory, then the backup
  assert.deepEqual(fetch, [
    "wal-g",
    "backup-fetch",
    "/var/tmp/keel-rehearsal/data",
    "base_000000010000000000000007",
  ]);
  // the env words come first, as the inventory wrote them
  const [viaEnvdir] = argvOf(restoreScript(walg, "base_1"), ["envdir"]);
  assert.deepEqual(viaEnvdir, [
    "envdir",
    "/run/etc/wal-e.d/env",
    "wal-g",
    "backup-fetch",
    "/var/tmp/keel-rehearsal/data",
    "base_1",
  ]);
  assert.match(restoreScript(walg, "base_1"), /^runuser -u postgres -- sh -c /);
});

test("WAL-G recovery: restore_command runs wal-fetch with the file name and the path PostgreSQL gives", () => {
  const settings = new Map(serverSettings(walg));
  const command = settings.get("restore_command")!;
  assert.equal(command, 'envdir /run/etc/wal-e.d/env wal-g wal-fetch "%f" "%p"');
  assert.equal(settings.get("recovery_target"), "immediate");
  assert.equal(settings.get("recovery_target_action"), "promote");
  // PostgreSQL replaces %f and %p and runs the line with sh (archive recovery)
  const line = command.replace("%f", "000000010000000000000003").replace("%p", "pg_wal/RECOVERYXLOG");
  const [argv] = argvOf(line, ["envdir"]);
  assert.deepEqual(argv, [
    "envdir",
    "/run/etc/wal-e.d/env",
    "wal-g",
    "wal-fetch",
    "000000010000000000000003",
    "pg_wal/RECOVERYXLOG",
  ]);
  // pgBackRest writes its own restore_command and recovery target; Keel adds none
  assert.equal(new Map(serverSettings(pg)).get("restore_command"), undefined);
});

test("the server can harm nothing: no TCP listener, socket in DIR/run, archive_mode off, on its command line", () => {
  const settings = new Map(serverSettings(pg));
  assert.equal(settings.get("listen_addresses"), "");
  assert.equal(settings.get("archive_mode"), "off");
  assert.equal(settings.get("unix_socket_directories"), "/var/tmp/keel rehearsal/run");
  assert.equal(settings.get("hot_standby"), "off");
  assert.equal(settings.get("config_file"), "/var/tmp/keel rehearsal/postgresql.conf");
  // given as -c options to pg_ctl -o, which hands them to a shell: quoted once more
  const script = startScript(pg, 600);
  assert.match(script, /pg_ctl" -D "\$data" -l "\$d\/run\/server.log" -w -t 600 -o /);
  assert.match(script, /-c archive_mode=off/);
  assert.match(script, /-c listen_addresses=/);
  assert.equal(spawnSync("sh", ["-n", "-c", script]).status, 0, "start script is valid sh");
  for (const s of [emptyScript(pg.dir, "pgbackrest"), cleanupScript(pg.dir), startScript(walg, 10)])
    assert.equal(spawnSync("sh", ["-n", "-c", s]).status, 0, s);
});

test("empty dir empties only the scratch directory, and refuses one where a server runs", () => {
  const dir = mkdtempSync(path.join(scratch, "dir-"));
  const me = execFileSync("id", ["-un"], { encoding: "utf8" }).trim();
  writeFileSync(path.join(dir, "old"), "x");
  execFileSync("mkdir", ["-p", path.join(dir, "data", "base")]);
  const bin = mkdtempSync(path.join(scratch, "bin-"));
  // chown to root needs root: the test runs the script as it is, with chown a no-op when not root
  writeFileSync(path.join(bin, "chown"), '#!/bin/sh\n[ "$(id -u)" = 0 ] && exec /bin/chown "$@"; exit 0\n');
  chmodSync(path.join(bin, "chown"), 0o755);
  const env = { PATH: `${bin}:/usr/bin:/bin` };
  const ok = spawnSync("sh", ["-c", emptyScript(dir, me)], { env, encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(execFileSync("ls", ["-A", dir], { encoding: "utf8" }).split("\n").filter(Boolean), [
    "data",
  ]);
  // a postmaster.pid naming a live process (this test's): refused, nothing removed
  writeFileSync(path.join(dir, "data", "postmaster.pid"), `${process.pid}\n${dir}/data\n`);
  const refused = spawnSync("sh", ["-c", emptyScript(dir, me)], { env, encoding: "utf8" });
  assert.equal(refused.status, 3);
  assert.match(
    refused.stderr,
    /names process \d+, which is running: a PostgreSQL server runs in the scratch directory/,
  );
  assert.equal(
    readFileSync(path.join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0],
    String(process.pid),
  );
  // a stale one (no such process) is removed with the rest
  writeFileSync(path.join(dir, "data", "postmaster.pid"), "999999999\n");
  assert.equal(spawnSync("sh", ["-c", emptyScript(dir, me)], { env }).status, 0);
  assert.deepEqual(execFileSync("ls", ["-A", path.join(dir, "data")], { encoding: "utf8" }), "");
});

test("pgBackRest info: the newest set by default, a named one with --set, a missing one listing those held", () => {
  assert.deepEqual(choosePgbackrest(INFO_THREE_BACKUPS, "main"), {
    label: "20261206-195816F_20261206-195823I",
    type: "incr",
    stop: "2026-12-06T19:58:24Z",
    wal: { start: "000000010000000000000005", stop: "000000010000000000000006" },
  });
  assert.deepEqual(choosePgbackrest(INFO_THREE_BACKUPS, "main", "20261206-195816F"), {
    label: "20261206-195816F",
    type: "full",
    stop: "2026-12-06T19:58:20Z",
    wal: { start: "000000010000000000000002", stop: "000000010000000000000002" },
  });
  assert.equal(
    choosePgbackrest(INFO_THREE_BACKUPS, "main", "20200101-000000F"),
    "stanza main has no backup set 20200101-000000F; its sets are 20261206-195816F, 20261206-195816F_20261206-195821D, 20261206-195816F_20261206-195823I",
  );
  assert.equal(
    choosePgbackrest(INFO_MISSING_STANZA, "main"),
    'stanza main has no backup to restore (pgbackrest says "missing stanza path")',
  );
  assert.equal(
    choosePgbackrest(INFO_THREE_BACKUPS, "other"),
    "pgbackrest info printed no stanza other in the list",
  );
  assert.match(choosePgbackrest("ERROR: [055]", "main") as string, /^pgbackrest info printed not JSON/);
});

test("WAL-G list: the newest finished backup (what LATEST fetches), or the named one", () => {
  assert.deepEqual(chooseWalg(WALG_LIST_JSON, "app"), {
    label: "base_000000010000000000000007",
    type: "full",
    stop: "2026-05-02T02:04:30Z",
  });
  const delta = chooseWalg(WALG_LIST_JSON, "app", "base_000000010000000000000005_D_000000010000000000000003");
  assert.equal(typeof delta === "object" && delta.type, "delta");
  assert.match(
    chooseWalg(WALG_LIST_JSON, "app", "base_X") as string,
    /^WAL-G backup app has no backup base_X; it holds base_0/,
  );
  assert.equal(chooseWalg("", "app"), "WAL-G backup app has no backup to restore");
});

test("the point in time line: replay timestamp or none, recovery state, archive_mode", () => {
  assert.deepEqual(parsePointInTime("2026-12-06T10:15:03Z|f|off\n"), {
    replayed: "2026-12-06T10:15:03Z",
    recovering: false,
    archiveMode: "off",
  });
  assert.deepEqual(parsePointInTime("|f|off"), { recovering: false, archiveMode: "off" });
  assert.match(parsePointInTime("psql: error") as string, /^not the expected/);
});

const passed: RehearsalRun = {
  tool: "pgbackrest",
  backup: "main",
  chosen: { label: "20261206-101500F", type: "full", stop: "2026-12-06T10:15:03Z" },
  major: "15",
  pointInTime: { at: "2026-12-06T10:15:03Z", source: "backup-stop" },
  recoveryMs: 14_200,
  totalMs: 19_000,
  queries: [{ sql: "select count(*) from pg_class", rows: 1 }],
};

test("a rehearsal that passed: what was restored, to when, in how long, and the queries", () => {
  const o = judgeRehearsal(passed);
  assert.equal(o.status, "pass");
  assert.equal(o.message, "restored 20261206-101500F (full) to 2026-12-06T10:15:03Z in 14 s; 1 query ok");
  assert.deepEqual(o.observed, {
    backup: "main",
    tool: "pgbackrest",
    set: "20261206-101500F",
    type: "full",
    pointInTime: "2026-12-06T10:15:03Z",
    pointInTimeSource: "backup-stop",
    durationSec: 14,
    totalSec: 19,
    postgres: "15",
    queries: [{ sql: "select count(*) from pg_class", rows: 1 }],
  });
  assert.match(judgeRehearsal({ ...passed, queries: [] }).message, /; no sanity query declared$/);
});

test("a failing step fails naming it; one that means the rehearsal could not run is an error; a failed clean-up is said", () => {
  const failed = judgeRehearsal({
    ...passed,
    pointInTime: undefined,
    recoveryMs: undefined,
    queries: [],
    failure: { step: "restore", text: "pgbackrest restore exited with 29: ERROR: [029]: …" },
  });
  assert.equal(failed.status, "fail");
  assert.equal(
    failed.message,
    'restore rehearsal of stanza main failed at step "restore": pgbackrest restore exited with 29: ERROR: [029]: …',
  );
  assert.equal(failed.observed?.step, "restore");
  assert.equal(failed.observed?.durationSec, null);
  const cannot = judgeRehearsal({ ...passed, failure: { step: "empty dir", text: "…", cannotRun: true } });
  assert.equal(cannot.status, "error");
  assert.match(cannot.message, /could not run at step "empty dir"/);
  const dirty = judgeRehearsal({ ...passed, cleanup: "exit 1: rm: cannot remove" });
  assert.equal(dirty.status, "fail");
  assert.match(dirty.message, /; cleaning up failed too: exit 1: rm: cannot remove$/);
  assert.equal(tailExcerpt(`${"x".repeat(400)} FATAL: the end`, 20), "…xxxxx FATAL: the end");
});

/** A prober answering each step by the first pattern its command matches; records the commands. */
function scripted(answers: [RegExp, Partial<ExecResult>][]) {
  const commands: string[] = [];
  const prober = {
    async sshExec(_t: SshTarget, command: string) {
      commands.push(command);
      const hit = answers.find(([re]) => re.test(command));
      return { code: 0, stdout: "", stderr: "", ...(hit?.[1] ?? {}) };
    },
  } as unknown as Prober;
  return { prober, commands };
}

const spec = (p: BackupRehearsalParams): CheckSpec =>
  ({
    id: "backup-1/backup.rehearsal/main",
    kind: "backup.rehearsal",
    host: "backup-1",
    vantage: "admin",
    params: p,
  }) as CheckSpec;
const ctx = (prober: Prober) => ({
  prober,
  timeoutMs: REHEARSAL_TIMEOUT_MS,
  signal: new AbortController().signal,
});

const healthy: [RegExp, Partial<ExecResult>][] = [
  [/output=json/, { stdout: INFO_THREE_BACKUPS }],
  [/pg_ctl.* start/, { stdout: "keel-server postgres 15\n" }],
  [/pg_last_xact_replay_timestamp/, { stdout: "|f|off\n" }],
  [/ROW_COUNT/, { stdout: "1\n" }],
];

test("the steps run in order, the server as the restored data's owner; the dir is emptied at the end", async () => {
  const { prober, commands } = scripted(healthy);
  const o = await runCheck(spec(pg), ctx(prober));
  assert.equal(o.status, "pass", o.message);
  assert.match(
    o.message,
    /^restored 20261206-195816F_20261206-195823I \(incr\) to 2026-12-06T19:58:24Z in \d+ s; 1 query ok$/,
  );
  assert.equal(o.observed?.pointInTimeSource, "backup-stop");
  const order = [
    /postmaster\.pid/,
    /output=json/,
    /--set=20261206-195816F_20261206-195823I/,
    /archive-get 000000010000000000000005 .*archive-get 000000010000000000000006 /s,
    /pg_ctl.* start/,
    /pg_is_in_recovery/,
    /replay_timestamp/,
    /ROW_COUNT/,
    /-m fast/,
    /^timeout .*find .* -mindepth 1/,
  ];
  assert.equal(commands.length, order.length);
  for (const [i, c] of commands.entries()) assert.match(c, order[i]!, `step ${i + 1}`);
  assert.ok(
    commands.every((c) => c.startsWith("timeout -k 5 ")),
    "as root, each within its time",
  );
  assert.ok(
    commands.slice(5, 9).every((c) => c.includes("runuser -u postgres")),
    "psql and pg_ctl as postgres",
  );
});

test("a step that fails is named, the server stopped and the data removed; a refusal cleans nothing", async () => {
  const damaged = scripted([
    [
      / restore'/,
      { code: 29, stdout: "", stderr: "ERROR: [029]: raised from local-1 protocol: zlib threw error\n" },
    ],
    ...healthy,
  ]);
  const o = await runCheck(spec(pg), ctx(damaged.prober));
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    'restore rehearsal of stanza main failed at step "restore": pgbackrest restore exited with 29: ERROR: [029]: raised from local-1 protocol: zlib threw error',
  );
  assert.match(damaged.commands.at(-1)!, /pg_ctl.*-m immediate/, "the clean-up ran last");

  const query = scripted([
    [/nope/, { code: 1, stderr: 'ERROR:  relation "nope" does not exist\n' }],
    ...healthy,
  ]);
  const q = await runCheck(spec({ ...pg, queries: ["select 1", "select * from nope"] }), ctx(query.prober));
  assert.equal(q.status, "fail");
  assert.match(
    q.message,
    /failed at step "query 2": psql \(select \* from nope\) exited with 1: ERROR: relation "nope" does not exist$/,
  );
  assert.deepEqual(q.observed?.queries, [{ sql: "select 1", rows: 1 }, { sql: "select * from nope" }]);

  const busy = scripted([
    [/postmaster\.pid/, { code: 3, stderr: "/x/data/postmaster.pid names process 42, which is running: …" }],
  ]);
  const b = await runCheck(spec(pg), ctx(busy.prober));
  assert.equal(b.status, "error");
  assert.match(b.message, /could not run at step "empty dir": emptying .* exited with 3: .*names process 42/);
  assert.equal(busy.commands.length, 1, "nothing else ran, not even the clean-up");

  const nosudo = scripted([[/./, { code: 1, stderr: "sudo: a password is required\n" }]]);
  const n = await runCheck(spec({ ...pg, target: { ...root, user: "admin" } }), ctx(nosudo.prober));
  assert.equal(n.status, "error");
  assert.match(n.message, /cannot run as root on backup-1 with sudo -n: sudo: a password is required/);
  assert.match(nosudo.commands[0]!, /^sudo -n timeout/);

  const noTool = scripted([
    [/output=json/, { code: 127, stderr: "sh: 1: pgbackrest: not found\n" }],
    ...healthy,
  ]);
  const t = await runCheck(spec(pg), ctx(noTool.prober));
  assert.equal(t.status, "error");
  assert.match(t.message, /step "list backups": pgbackrest is not installed on backup-1/);
});

test("a failed login is an error at the first step; a step cut off at its deadline fails naming it", async () => {
  const refused = {
    async sshExec() {
      throw new ProbeError(
        "login as root@10.20.0.40:22 with id_test failed: All configured authentication methods failed",
      );
    },
  } as unknown as Prober;
  const o = await runCheck(spec(pg), ctx(refused));
  assert.equal(o.status, "error");
  assert.match(o.message, /could not run at step "empty dir": cannot log in to backup-1: login as root@/);

  const commands: string[] = [];
  const slow = {
    async sshExec(_t: SshTarget, command: string) {
      commands.push(command);
      if (/ restore'/.test(command))
        throw new ProbeError(
          `"${command.slice(0, 20)}…" on root@10.20.0.40:22 did not finish within 1000 ms`,
        );
      return { code: 0, stdout: INFO_THREE_BACKUPS, stderr: "" };
    },
  } as unknown as Prober;
  const s = await runCheck(spec(pg), ctx(slow));
  assert.equal(s.status, "fail");
  assert.match(s.message, /failed at step "restore": .* did not finish within 1000 ms/);
  assert.match(commands.at(-1)!, /pg_ctl.*-m immediate/, "cleaned up");

  // the remote timeout ended the step (coreutils timeout exits 124)
  const ended = scripted([[/ restore'/, { code: 124, stderr: "" }], ...healthy]);
  const e = await runCheck(spec(pg), ctx(ended.prober));
  assert.match(
    e.message,
    /failed at step "restore": pgbackrest restore did not finish within the 30 min a rehearsal may take/,
  );
});

test("archive_mode on or a server still recovering fails the rehearsal", async () => {
  const on = scripted([[/replay_timestamp/, { stdout: "|f|on\n" }], ...healthy]);
  const o = await runCheck(spec(pg), ctx(on.prober));
  assert.equal(o.status, "fail");
  assert.match(o.message, /step "read point in time": the server runs with archive_mode on; expected off/);
});

test("derived only on demand, on the rehearsal host, with the rehearsal's interval, a 30 min deadline and failAfter 1", () => {
  const inv = parseInventory(
    `
keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hosts:
  db-1: { address: { lan: 10.20.0.30 } }
  backup-1: { address: { lan: 10.20.0.40 } }
backups:
  pgbackrest:
    main:
      repository: backup-1
      user: pgbackrest
      postgres: [{ host: db-1, data: /var/lib/postgresql/15/main }]
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
      rehearsal:
        host: backup-1
        dir: /var/tmp/keel-rehearsal/
        interval: 2d
        queries: ["select 1"]
  walg:
    app:
      host: db-1
      data: /var/lib/postgresql/16/app
      env: envdir /run/etc/wal-e.d/env
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
      rehearsal: { host: backup-1, dir: /var/tmp/keel-app }
`,
    "keel.yaml",
  );
  assert.equal(
    deriveChecks(inv).filter((c) => c.kind === "backup.rehearsal").length,
    0,
    "keel verify derives none",
  );
  const checks = deriveChecks(inv, { onDemand: true }).filter((c) => c.kind === "backup.rehearsal");
  assert.deepEqual(
    checks.map((c) => [c.id, c.intervalMs, c.timeoutMs, c.failAfter]),
    [
      ["backup-1/backup.rehearsal/main", 2 * 86_400_000, 30 * 60_000, 1],
      ["backup-1/backup.rehearsal/app", 7 * 86_400_000, 30 * 60_000, 1],
    ],
  );
  const { target, ...main } = checks[0]!.params as BackupRehearsalParams;
  assert.equal(target.address, "10.20.0.40");
  assert.deepEqual(main, {
    kind: "backup.rehearsal",
    tool: "pgbackrest",
    backup: "main",
    dir: "/var/tmp/keel-rehearsal",
    user: "pgbackrest",
    queries: ["select 1"],
  });
  const { target: _t, ...app } = checks[1]!.params as BackupRehearsalParams;
  assert.deepEqual(app, {
    kind: "backup.rehearsal",
    tool: "walg",
    backup: "app",
    dir: "/var/tmp/keel-app",
    env: "envdir /run/etc/wal-e.d/env",
    queries: [],
  });
});

test("docs/backup.md's table of steps lists every step, in order", () => {
  const doc = readFileSync(path.resolve(import.meta.dirname, "../../../docs/backup.md"), "utf8");
  const rows = doc
    .split("\n")
    .filter((l) => /^\| `[^`]+`( |,)/.test(l))
    .map((l) => /^\| `([^`]+)`/.exec(l)![1]!)
    .filter((name) => !name.startsWith("--"));
  assert.deepEqual(
    rows,
    REHEARSAL_STEPS.map((s) => (s === "query N" ? "query 1" : s)),
  );
});
