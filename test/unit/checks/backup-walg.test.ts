/**
 * The `backup.walg` check against WAL-G's documented output (test/fixtures/walg-backup-list.ts
 * cites the documents): WAL-G is neither a Debian nor an npm package, so no test runs it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseInventory } from "../../../src/inventory/load.js";
import { humanAge } from "../../../src/verify/checks/backup-common.js";
import { parseWalgList, walgCommand } from "../../../src/verify/checks/backup-walg.js";
import { runCheck } from "../../../src/verify/checks/index.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import type { CheckSpec, ExecResult, Prober, SshTarget } from "../../../src/verify/types.js";
import { WALG_LIST, WALG_LIST_JSON, WALG_NO_BACKUPS_STDERR } from "../../fixtures/walg-backup-list.js";

const target: SshTarget = { address: "10.20.0.30", port: 22, user: "root", identity: "id_test" } as SshTarget;
const H = 3_600_000;
const params = {
  kind: "backup.walg" as const,
  target,
  backup: "app",
  user: "postgres",
  env: "envdir /run/etc/wal-e.d/env",
  fullIntervalMs: 24 * H,
  graceMs: H,
  objectiveMs: 26 * H,
};
const spec = (p: Partial<typeof params> = {}): CheckSpec =>
  ({
    id: "db-3/backup.walg/app",
    kind: "backup.walg",
    host: "db-3",
    params: { ...params, ...p },
  }) as CheckSpec;

/** Runs the check on a prober whose one SSH command answers `r`, the host's clock at `now`. */
async function run(now: string, r: Partial<ExecResult>, p: Partial<typeof params> = {}) {
  const commands: string[] = [];
  const prober = {
    async sshExec(_t: SshTarget, command: string) {
      commands.push(command);
      const clock = `${Math.floor(Date.parse(now) / 1000)}\n`;
      return { code: 0, stderr: "", ...r, stdout: r.code ? (r.stdout ?? "") : `${r.stdout ?? ""}\n${clock}` };
    },
  } as unknown as Prober;
  const outcome = await runCheck(spec(p), { prober, timeoutMs: 1000, signal: new AbortController().signal });
  return { outcome, commands };
}

test("the documented list parses, newest finished first, deltas told by _D_ in their name", () => {
  const list = parseWalgList(WALG_LIST_JSON);
  assert.ok(Array.isArray(list));
  assert.deepEqual(
    list.map((b) => [b.name, b.full]),
    [
      ["base_000000010000000000000007", true],
      ["base_000000010000000000000005_D_000000010000000000000003", false],
      ["base_000000010000000000000003", true],
    ],
  );
  assert.equal(list[0]!.finishedMs, Date.parse("2026-05-02T02:04:30.450981Z"));
  // --pretty output is the same JSON, indented
  assert.deepEqual(parseWalgList(JSON.stringify(WALG_LIST, null, 4)), list);
});

test("a fresh archive passes, with the newest backups' names and ages observed", async () => {
  const { outcome } = await run("2026-05-02T05:16:30Z", { stdout: WALG_LIST_JSON });
  assert.equal(outcome.status, "pass", outcome.message);
  assert.equal(
    outcome.message,
    "newest backup (full) base_000000010000000000000007 finished 3 h 12 min ago (2026-05-02T02:04:30Z); 3 backups",
  );
  const observed = outcome.observed as { newest: { name: string; ageSec: number }; recent: unknown[] };
  assert.equal(observed.newest.name, "base_000000010000000000000007");
  assert.equal(observed.newest.ageSec, 3 * 3600 + 12 * 60);
  assert.equal(observed.recent.length, 3);
});

test("a stale full backup fails with its age and the limit (schedule.full + grace)", async () => {
  // the newest backup is a delta, within the objective; the newest full is 2 d old
  const list = JSON.stringify(WALG_LIST.slice(0, 2));
  const { outcome } = await run("2026-05-03T02:03:13Z", { stdout: list }, { objectiveMs: 40 * H });
  assert.equal(outcome.status, "fail");
  assert.equal(
    outcome.message,
    "newest full backup base_000000010000000000000003 finished 2 d ago (2026-05-01T02:03:12Z); expected at most 25 h (schedule.full 24 h + grace 1 h)",
  );
});

test("a newest backup older than the backup objective fails, saying (objective)", async () => {
  // the full schedule is weekly, so only the objective is broken
  const { outcome } = await run(
    "2026-05-03T06:04:30Z",
    { stdout: WALG_LIST_JSON },
    { fullIntervalMs: 7 * 24 * H },
  );
  assert.equal(outcome.status, "fail");
  assert.equal(
    outcome.message,
    "newest backup base_000000010000000000000007 finished 28 h ago (2026-05-02T02:04:30Z); expected at most 26 h (objective)",
  );
});

test("an empty archive fails: WAL-G's 'No backups found', and an empty list", async () => {
  const { outcome } = await run("2026-05-02T09:00:00Z", { stdout: "", stderr: WALG_NO_BACKUPS_STDERR });
  assert.equal(outcome.status, "fail");
  assert.equal(
    outcome.message,
    'WAL-G backup app has no backup: wal-g says "No backups found"; expected a full backup at most 25 h (schedule.full 24 h + grace 1 h) old',
  );
  assert.deepEqual((outcome.observed as { backups: number }).backups, 0);
  const empty = await run("2026-05-02T09:00:00Z", { stdout: "[]" });
  assert.equal(empty.outcome.status, "fail");
  assert.match(empty.outcome.message, /^WAL-G backup app has no backup; expected/);
});

test("output that is not the documented JSON, and a failing wal-g, are error saying what was read", async () => {
  const text = await run("2026-05-02T09:00:00Z", { stdout: "name modified wal_segment_backup_start" });
  assert.equal(text.outcome.status, "error");
  assert.match(text.outcome.message, /printed not JSON .*read "name modified wal_segment_backup_start"/);
  const noDetail = await run("2026-05-02T09:00:00Z", {
    stdout: JSON.stringify([{ backup_name: "base_000000010000000000000003", time: "2026-05-01T02:03:12Z" }]),
  });
  assert.equal(noDetail.outcome.status, "error");
  assert.match(noDetail.outcome.message, /backup base_000000010000000000000003 has no finish_time/);
  const object = await run("2026-05-02T09:00:00Z", { stdout: "{}" });
  assert.equal(object.outcome.status, "error");
  assert.match(object.outcome.message, /JSON that is not a list of backups/);
  const failed = await run("2026-05-02T09:00:00Z", {
    code: 1,
    stderr: "ERROR: 2026/05/02 09:00:00.1 failed to list s3 folder: AccessDenied\n",
  });
  assert.equal(failed.outcome.status, "error");
  assert.match(failed.outcome.message, /^wal-g backup-list failed on db-3 \(exit 1\): ERROR: .*AccessDenied/);
  const missing = await run("2026-05-02T09:00:00Z", { code: 127, stderr: "sh: 1: wal-g: not found\n" });
  assert.equal(missing.outcome.message, "wal-g is not installed on db-3");
});

test("the command: the env prefix as written, as the declared user with sudo, the host's clock after", async () => {
  assert.equal(
    walgCommand("postgres", "envdir /run/etc/wal-e.d/env"),
    `out=$(sudo -n -u postgres envdir /run/etc/wal-e.d/env wal-g backup-list --json --detail) || exit $?; printf '%s\\n' "$out"; date +%s`,
  );
  assert.equal(
    walgCommand(undefined, undefined),
    `out=$(wal-g backup-list --json --detail) || exit $?; printf '%s\\n' "$out"; date +%s`,
  );
  assert.match(walgCommand("pg admin", undefined), /^out=\$\(sudo -n -u 'pg admin' wal-g /);
  const { commands } = await run("2026-05-02T05:16:30Z", { stdout: WALG_LIST_JSON });
  assert.deepEqual(commands, [walgCommand("postgres", "envdir /run/etc/wal-e.d/env")]);
});

test("ages read in human units", () => {
  assert.deepEqual(
    [45_000, 12 * 60_000, 3 * H + 12 * 60_000, 26 * H, 7 * 24 * H + H, 3 * 24 * H].map(humanAge),
    ["45 s", "12 min", "3 h 12 min", "26 h", "7 d 1 h", "3 d"],
  );
});

test("each backups.walg entry derives one check on its host, named by the backup", () => {
  const inv = parseInventory(
    `
keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hosts:
  db-3:
    address: { lan: 10.20.0.30 }
backups:
  walg:
    app:
      host: db-3
      data: /var/lib/postgresql/16/main
      user: postgres
      env: envdir /run/etc/wal-e.d/env
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
`,
    "keel.yaml",
  );
  const checks = deriveChecks(inv).filter((c) => c.kind === "backup.walg");
  assert.equal(checks.length, 1);
  assert.equal(checks[0]!.id, "db-3/backup.walg/app");
  const { target: _t, ...p } = checks[0]!.params as typeof params;
  assert.deepEqual(p, {
    kind: "backup.walg",
    backup: "app",
    user: "postgres",
    env: "envdir /run/etc/wal-e.d/env",
    fullIntervalMs: 24 * H,
    graceMs: H,
    objectiveMs: 26 * H,
  });
});
