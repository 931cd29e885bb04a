/**
 * `keel backup rehearse` against real PostgreSQL 15 and pgBackRest 2.45 (root only): the built
 * `keel lab up` on a copy of examples/backups/keel.yaml (own site name and prefixes) runs the
 * stanza `main` (primary db-1, repository backup-1, rehearsals on restore-1); the built
 * `keel backup rehearse` then restores its newest backup on restore-1 over the lab's SSH, as
 * against a real site. A healthy rehearsal passes with the set, the point in time and the
 * recovery time, leaves the scratch directory empty, no server running and nothing archived into
 * the repository, and is listed by `keel history`; a sanity query that errors fails naming the
 * query; a damaged backup fails at the restore (pgBackRest checks every file it restores).
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
  damageBackup,
  nsRoot,
  openBackupsTwin,
  pgbackrestInfo,
  sshRoot,
} from "../helpers/lab-backups.js";
import { ensureBuilt } from "../unit/cli/built.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "keel-rehearse-"));
const file = path.join(dir, "keel.yaml");
/** The same site with a second, failing sanity query (same lab: same directory, site and hosts). */
const badQuery = path.join(dir, "bad-query.yaml");
const octet = 40 + (process.pid % 30) * 2;
const site = `r${process.pid % 100000}`;
const SCRATCH = "/var/tmp/keel-rehearsal";
const ID = "restore-1/backup.rehearsal/main";
let t: BackupsTwin;

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 600_000 });
  assert.equal(r.stderr.includes("    at "), false, `no stack trace expected: ${r.stderr}`);
  return r;
}

/** `keel backup rehearse FILE --json ARGS`: exit status and the report. */
function rehearse(
  inventory: string,
  ...args: string[]
): { status: number | null; report: Report; stderr: string } {
  const r = keel("backup", "rehearse", inventory, "--json", ...args);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    assert.fail(`no JSON report (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, report, stderr: r.stderr };
}

/** What restore-1 holds in the scratch directory, and the PostgreSQL servers running there. */
async function leftOnRestoreHost(): Promise<{ files: string; servers: string }> {
  const files = await sshRoot(t.lab, "restore-1", `ls -A ${SCRATCH}`);
  assert.equal(files.code, 0, files.stderr);
  // the lab's hosts share the machine's PID namespace: a rehearsal's postmaster is the one
  // started on the scratch data (pg_ctl execs `postgres -D DIR/data …`)
  const ps = await sshRoot(
    t.lab,
    "restore-1",
    `ps -eo args= | grep -c -- '[/]bin/postgres -D ${SCRATCH}/data' || true`,
  );
  return { files: files.stdout.trim(), servers: ps.stdout.trim() };
}

before(() => {
  ensureBuilt();
  const text = readFileSync(path.join(root, "examples/backups/keel.yaml"), "utf8")
    .replace(/^site: bak$/m, `site: ${site}`)
    .replaceAll("10.30.0.", `10.${octet}.0.`)
    .replaceAll("10.31.0.", `10.${octet + 1}.0.`);
  assert.match(text, /queries: \["select count\(\*\) from pg_class"\]/);
  writeFileSync(file, text);
  writeFileSync(
    badQuery,
    text.replace(
      /queries: \["select count\(\*\) from pg_class"\]/,
      'queries: ["select count(*) from pg_class", "select * from keel_no_such_table"]',
    ),
  );
});

after(() => {
  keel("lab", "down", file);
  rmSync(dir, { recursive: true, force: true });
});

test("keel lab up brings the backups twin up with a full backup", async () => {
  const r = keel("lab", "up", file, "--timeout", "60000");
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t = openBackupsTwin(file);
  const info = await pgbackrestInfo(t);
  assert.deepEqual(
    info.backup.map((b) => b.type),
    ["full"],
  );
});

test("a healthy rehearsal restores the newest set, reaches its point in time, runs the query and cleans up", async () => {
  const info = await pgbackrestInfo(t);
  const newest = info.backup.at(-1)!;
  const t0 = Date.now();
  const { status, report, stderr } = rehearse(file);
  assert.equal(status, 0, `${JSON.stringify(report, null, 2)}\n${stderr}`);
  assert.equal(report.checks.length, 1);
  const c = report.checks[0]!;
  assert.equal(c.id, ID);
  assert.equal(c.status, "pass", c.message);
  const o = c.observed as Record<string, unknown>;
  assert.equal(o.set, newest.label);
  assert.equal(o.tool, "pgbackrest");
  assert.equal(o.type, "full");
  // recovery stops where the backup became consistent: at or after its start, never after now
  const at = Date.parse(String(o.pointInTime));
  assert.ok(at >= newest.timestamp.start * 1000 && at <= t0, `point in time ${o.pointInTime}`);
  assert.ok(o.pointInTimeSource === "replay" || o.pointInTimeSource === "backup-stop");
  if (o.pointInTimeSource === "backup-stop") assert.equal(at, newest.timestamp.stop * 1000);
  assert.equal(typeof o.durationSec, "number");
  assert.ok((o.durationSec as number) <= (o.totalSec as number));
  assert.equal(o.postgres, "15");
  assert.deepEqual(o.queries, [{ sql: "select count(*) from pg_class", rows: 1 }]);
  assert.ok(
    c.message.startsWith(`restored ${newest.label} (full) to ${o.pointInTime} in `) &&
      c.message.endsWith("; 1 query ok"),
    c.message,
  );
  assert.deepEqual(await leftOnRestoreHost(), { files: "", servers: "0" });
  // the promoted server archived nothing: no timeline 2 reached the repository
  const archive = await nsRoot(t.lab, "backup-1", "sh", ["-c", "ls -R /var/lib/pgbackrest/archive/main"]);
  assert.equal(archive.code, 0, archive.stderr);
  assert.doesNotMatch(archive.stdout, /^00000002/m);
});

test("the text report names the backup, the point in time and the recovery time; keel history lists the rehearsal", () => {
  const r = keel("backup", "rehearse", file, "--stanza", "main");
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(
    r.stdout,
    new RegExp(
      `^PASS  stanza main on restore-1 \\(${ID.replaceAll("/", "\\/").replace(".", "\\.")}\\)$`,
      "m",
    ),
  );
  assert.match(
    r.stdout,
    /^ {6}restored \d{8}-\d{6}F \(full\) to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ in \d+ s; 1 query ok$/m,
  );
  assert.match(
    r.stdout,
    /^ {6}backup \d{8}-\d{6}F \(full\) · point in time \S+Z \((end of the backup|last transaction replayed)\) · recovery \d+ s · total \d+ s$/m,
  );
  assert.match(r.stdout, /^ {6}ok \(1 row\): select count\(\*\) from pg_class$/m);
  const h = keel("history", file, "--check", ID, "--json");
  assert.equal(h.status, 0, h.stderr);
  const changes = JSON.parse(h.stdout) as {
    checkId: string;
    from: string | null;
    to: string;
    message: string;
  }[];
  assert.equal(changes.length, 1, h.stdout);
  assert.equal(changes[0]!.checkId, ID);
  assert.equal(changes[0]!.from, null);
  assert.equal(changes[0]!.to, "pass");
  assert.match(changes[0]!.message, /^restored /);
  const text = keel("history", file);
  assert.match(text.stdout, new RegExp(`${ID.replace(".", "\\.")}\\s+first seen pass`));
});

test("a sanity query that errors fails the rehearsal naming the query; the server is stopped and the data removed", async () => {
  const { status, report } = rehearse(badQuery);
  assert.equal(status, 1);
  const c = report.checks[0]!;
  assert.equal(c.status, "fail");
  assert.match(
    c.message,
    /^restore rehearsal of stanza main failed at step "query 2": psql \(select \* from keel_no_such_table\) exited with \d+: .*relation "keel_no_such_table" does not exist/,
  );
  const o = c.observed as Record<string, unknown>;
  assert.equal(o.step, "query 2");
  assert.deepEqual(o.queries, [
    { sql: "select count(*) from pg_class", rows: 1 },
    { sql: "select * from keel_no_such_table" },
  ]);
  assert.deepEqual(await leftOnRestoreHost(), { files: "", servers: "0" });
});

test("a server already running in the scratch directory is refused and left alone", async () => {
  // a server someone started on DIR/data by hand, as a rehearsal's own would run
  const bin = "/usr/lib/postgresql/15/bin";
  const setup = await sshRoot(
    t.lab,
    "restore-1",
    `mkdir -p ${SCRATCH}/data ${SCRATCH}/run && chown postgres: ${SCRATCH}/data ${SCRATCH}/run && cd / && ` +
      `runuser -u postgres -- ${bin}/initdb -D ${SCRATCH}/data -A trust >/dev/null && ` +
      `runuser -u postgres -- ${bin}/pg_ctl -D ${SCRATCH}/data -l ${SCRATCH}/run/log -w ` +
      `-o "-c listen_addresses= -c unix_socket_directories=${SCRATCH}/run" start`,
  );
  assert.equal(setup.code, 0, setup.stdout + setup.stderr);
  try {
    assert.equal((await leftOnRestoreHost()).servers, "1", "the running server is seen");
    const { status, report } = rehearse(file);
    assert.equal(status, 1);
    const c = report.checks[0]!;
    assert.equal(c.status, "error");
    assert.match(
      c.message,
      /^restore rehearsal of stanza main could not run at step "empty dir": .*data\/postmaster\.pid names process \d+, which is running: a PostgreSQL server runs in the scratch directory; stop it first$/,
    );
    const left = await leftOnRestoreHost();
    assert.equal(left.servers, "1", "still running");
    assert.deepEqual(left.files.split("\n").sort(), ["data", "run"]);
  } finally {
    const stop = await sshRoot(
      t.lab,
      "restore-1",
      `cd / && runuser -u postgres -- ${bin}/pg_ctl -D ${SCRATCH}/data -m fast -w stop; rm -rf ${SCRATCH}/data ${SCRATCH}/run`,
    );
    assert.equal(stop.code, 0, stop.stderr);
  }
  assert.deepEqual(await leftOnRestoreHost(), { files: "", servers: "0" });
});

test("a damaged backup fails at the restore step, and the scratch directory is left empty", async () => {
  const info = await pgbackrestInfo(t);
  const label = info.backup.at(-1)!.label;
  await damageBackup(t, label, "overwrite");
  const { status, report } = rehearse(file);
  assert.equal(status, 1);
  const c = report.checks[0]!;
  assert.equal(c.status, "fail");
  assert.match(
    c.message,
    /^restore rehearsal of stanza main failed at step "restore": pgbackrest restore exited with \d+: .*ERROR: \[\d+\]/,
  );
  assert.equal((c.observed as Record<string, unknown>).step, "restore");
  assert.equal((c.observed as Record<string, unknown>).set, label);
  assert.deepEqual(await leftOnRestoreHost(), { files: "", servers: "0" });
  const h = keel("history", file, "--check", ID, "--json");
  const changes = JSON.parse(h.stdout) as { from: string | null; to: string }[];
  assert.deepEqual(
    changes.map((x) => [x.from, x.to]),
    [
      [null, "pass"],
      ["pass", "fail"],
      ["fail", "error"],
      ["error", "fail"],
    ],
  );
});

test("a stanza with user postgres: the restore runs as postgres, and the rehearsal passes", async () => {
  assert.equal(keel("lab", "down", file).status, 0);
  const text = readFileSync(file, "utf8").replace(
    "    main: # the stanza (--stanza=main)\n",
    "    main: # the stanza (--stanza=main)\n      user: postgres\n",
  );
  assert.match(text, /^ {6}user: postgres$/m);
  writeFileSync(file, text);
  const up = keel("lab", "up", file, "--timeout", "60000");
  assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  t = openBackupsTwin(file);
  const { status, report } = rehearse(file, "--stanza", "main", "--no-history");
  const c = report.checks[0]!;
  assert.equal(status, 0, c.message);
  assert.equal(c.status, "pass");
  assert.equal((c.observed as Record<string, unknown>).set, (await pgbackrestInfo(t)).backup.at(-1)!.label);
  // pgBackRest logs each command to a file of its own, as the user it runs as
  const log = await sshRoot(t.lab, "restore-1", "stat -c %U /var/log/pgbackrest/main-restore.log");
  assert.equal(log.stdout.trim(), "postgres", log.stderr);
  assert.deepEqual(await leftOnRestoreHost(), { files: "", servers: "0" });
});
