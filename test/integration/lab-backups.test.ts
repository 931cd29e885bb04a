/**
 * The backups twin end to end (root only): the built `keel lab up` on a copy of
 * examples/backups/keel.yaml (own site name and prefixes) runs PostgreSQL 15 and pgBackRest 2.45
 * for real; over the lab's SSH as root, as Keel's checks log in, the repository holds a full
 * backup, the primary answers psql on its default socket and archives WAL to the repository, a
 * differential backup can be taken; each fault helper of test/helpers/lab-backups.ts does what
 * it says, seen directly; `keel lab down` leaves no process, mount, namespace or mount point.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { pidAlive } from "../../src/lab/run.js";
import {
  archiverStats,
  type BackupsTwin,
  BLOCK_TABLE,
  blockArchivePath,
  breakArchiveCommand,
  damageBackup,
  nsRoot,
  openBackupsTwin,
  pgbackrestInfo,
  sshRoot,
  stopRepositorySshd,
  switchWal,
  takeBackup,
  until,
} from "../helpers/lab-backups.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "keel-lab-backups-"));
const file = path.join(dir, "keel.yaml");
const octet = 120 + (process.pid % 60) * 2;
const site = `b${process.pid % 100000}`;
const DATA = "/var/lib/postgresql/15/main";
let t: BackupsTwin;

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 300_000 });
  assert.equal(r.stderr.includes("    at "), false, `no stack trace expected: ${r.stderr}`);
  return r;
}

/** Lines of `mount` in the root namespace (`pattern`: default, the paths the twin binds in its hosts). */
function rootMounts(
  pattern = /pgbackrest|postgresql|keel-lab-backups|\/etc\/shadow|\/root\/\.ssh/,
): string[] {
  const out = spawnSync("mount", [], { encoding: "utf8" }).stdout;
  return out.split("\n").filter((l) => pattern.test(l));
}

/** A file's sha256, "dir" for a directory, "absent" when missing. */
function sha(f: string): string {
  if (!existsSync(f)) return "absent";
  if (statSync(f).isDirectory()) return "dir";
  return createHash("sha256").update(readFileSync(f)).digest("hex");
}
/** Files of the machine the twin binds over in its hosts and must never change. */
const machineFiles = ["/etc/pgbackrest.conf", "/etc/shadow"];
const before_ = { mounts: [] as string[], files: {} as Record<string, string> };

before(() => {
  const text = readFileSync(path.join(root, "examples/backups/keel.yaml"), "utf8")
    .replace(/^site: bak$/m, `site: ${site}`)
    .replaceAll("10.30.0.", `10.${octet}.0.`)
    .replaceAll("10.31.0.", `10.${octet + 1}.0.`);
  writeFileSync(file, text);
  before_.mounts = rootMounts();
  for (const f of machineFiles) {
    before_.files[f] = sha(f);
  }
});

after(() => {
  keel("lab", "down", file);
  rmSync(dir, { recursive: true, force: true });
});

test("keel lab up brings the backups twin up: PostgreSQL 15, a stanza, a full backup", () => {
  const r = keel("lab", "up", file, "--timeout", "60000");
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr + r.stdout, /pgbackrest --type=full backup on backup-1/);
  const s = keel("lab", "status", file, "--json");
  assert.equal(s.status, 0, s.stdout);
  const status = JSON.parse(s.stdout) as {
    daemons: { host: string; daemon: string; running: boolean; real: boolean }[];
  };
  const pg = status.daemons.find((d) => d.daemon === "postgres");
  assert.deepEqual(pg && { host: pg.host, running: pg.running, real: pg.real }, {
    host: "db-1",
    running: true,
    real: true,
  });
  t = openBackupsTwin(file);
});

test("the binds live in the hosts' mount namespaces only: the machine's mounts and files are unchanged", () => {
  assert.deepEqual(rootMounts(), before_.mounts);
  assert.equal(sha("/etc/pgbackrest.conf"), before_.files["/etc/pgbackrest.conf"]);
  assert.equal(sha("/etc/shadow"), before_.files["/etc/shadow"]);
});

test("pgbackrest info on the repository (over SSH as root): status ok, one full backup", async () => {
  const info = await pgbackrestInfo(t);
  assert.equal(info.status.code, 0, info.status.message);
  assert.deepEqual(
    info.backup.map((b) => b.type),
    ["full"],
  );
  assert.equal(info.backup[0]!.error ?? false, false);
  assert.match(info.archive[0]?.max ?? "", /^[0-9A-F]{24}$/);
});

test("each host sees its own pgBackRest configuration at the default path", async () => {
  const repo = await sshRoot(t.lab, "backup-1", "cat /etc/pgbackrest.conf; hostname");
  assert.match(repo.stdout, /^repo1-path=\/var\/lib\/pgbackrest$/m);
  assert.match(repo.stdout, new RegExp(`^pg1-host=10\\.${octet}\\.0\\.10$`, "m"));
  assert.match(repo.stdout, /^pg1-host-user=postgres$/m);
  assert.match(repo.stdout, /^backup-1$/m);
  const db = await sshRoot(t.lab, "db-1", "cat /etc/pgbackrest.conf");
  assert.match(db.stdout, new RegExp(`^repo1-host=10\\.${octet}\\.0\\.20$`, "m"));
  assert.match(db.stdout, new RegExp(`^pg1-path=${DATA}$`, "m"));
  const rest = await sshRoot(t.lab, "restore-1", "cat /etc/pgbackrest.conf; pgbackrest --stanza=main info");
  assert.match(rest.stdout, new RegExp(`^repo1-host=10\\.${octet}\\.0\\.20$`, "m"));
  assert.match(rest.stdout, /status: ok/);
});

test("psql on the primary works through the default socket; archive_mode is on", async () => {
  const r = await sshRoot(
    t.lab,
    "db-1",
    "psql -U postgres -XAtc 'show archive_mode' && psql -U postgres -XAtc 'show data_directory'",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["on", DATA]);
  const ls = await sshRoot(t.lab, "db-1", `ls ${DATA}/pg_wal/archive_status`);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /\.done$/m);
});

test("pgbackrest check passes on the primary and on the repository", async () => {
  for (const host of ["db-1", "backup-1"]) {
    const r = await sshRoot(t.lab, host, "pgbackrest --stanza=main check");
    assert.equal(r.code, 0, `${host}: ${r.stdout}${r.stderr}`);
  }
});

test("after pg_switch_wal() the segment reaches the repository", async () => {
  const before = await archiverStats(t);
  const seg = await switchWal(t);
  await until(`segment ${seg} archived`, async () => (await archiverStats(t)).lastArchived >= seg);
  assert.ok((await archiverStats(t)).archived > before.archived);
  const info = await pgbackrestInfo(t);
  assert.ok((info.archive[0]?.max ?? "") >= seg, `archive max ${info.archive[0]?.max} < ${seg}`);
  const inRepo = await nsRoot(t.lab, "backup-1", "sh", [
    "-c",
    `ls /var/lib/pgbackrest/archive/main/15-1/*/ | grep -c '^${seg}-'`,
  ]);
  assert.equal(inRepo.stdout.trim(), "1");
});

test("takeBackup: a differential backup is taken and listed", async () => {
  const label = await takeBackup(t, "diff");
  assert.match(label, /^\d{8}-\d{6}F_\d{8}-\d{6}D$/);
  const info = await pgbackrestInfo(t);
  assert.deepEqual(
    info.backup.map((b) => b.type),
    ["full", "diff"],
  );
  assert.equal(info.backup[1]!.label, label);
});

test("the rehearsal host restores the newest backup and PostgreSQL 15 starts on it (WAL by archive-get)", async () => {
  const script = [
    "set -e",
    "cd /",
    "D=/var/tmp/keel-rehearsal S=/var/tmp/keel-rehearsal-socket",
    "mkdir -p $D $S && chown postgres:postgres $D $S && chmod 700 $D",
    "pgbackrest --stanza=main --pg1-path=$D --delta restore",
    'sudo -n -u postgres /usr/lib/postgresql/15/bin/pg_ctl -D $D -l $S/log -o "-p 5544 -k $S -c listen_addresses= -c archive_mode=off" -w -t 60 start >/dev/null',
    'sudo -n -u postgres psql -h $S -p 5544 -U postgres -XAtc "select count(*) > 0 from keel_lab_activity"',
    "sudo -n -u postgres /usr/lib/postgresql/15/bin/pg_ctl -D $D -m fast stop >/dev/null",
    "rm -rf $D $S",
  ].join("\n");
  const r = await sshRoot(t.lab, "restore-1", script);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // consistent (hot standby accepts queries), with the rows written before the diff backup
  assert.equal(r.stdout.trim(), "t");
  assert.doesNotMatch(r.stderr, /unable to resolve host/);
});

test("sshRoot and nsRoot run as root on the host", async () => {
  const s = await sshRoot(t.lab, "db-1", "id -un; hostname");
  assert.deepEqual(s.stdout.trim().split("\n"), ["root", "db-1"]);
  const n = await nsRoot(t.lab, "backup-1", "sh", ["-c", "id -un; hostname"]);
  assert.deepEqual(n.stdout.trim().split("\n"), ["root", "backup-1"]);
});

test("stopRepositorySshd: the repository refuses SSH until undone", async () => {
  const undo = await stopRepositorySshd(t);
  const down = await sshRoot(t.lab, "backup-1", "true");
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /refused/);
  await undo();
  const up = await sshRoot(t.lab, "backup-1", "hostname");
  assert.equal(up.stdout.trim(), "backup-1");
});

test("blockArchivePath: the primary cannot reach the repository's SSH; others still can", async () => {
  const repo = `10.${octet}.0.20`;
  const probe = (host: string) => nsRoot(t.lab, host, "nc", ["-z", "-w", "2", repo, "22"]);
  assert.equal((await probe("db-1")).code, 0);
  const undo = await blockArchivePath(t);
  try {
    assert.notEqual((await probe("db-1")).code, 0);
    assert.equal((await probe("restore-1")).code, 0);
    const tables = await nsRoot(t.lab, "backup-1", "nft", ["list", "tables"]);
    assert.match(tables.stdout, new RegExp(`inet ${BLOCK_TABLE}`));
  } finally {
    await undo();
  }
  assert.equal((await probe("db-1")).code, 0);
});

test("breakArchiveCommand: segments fail to archive until undone, then they reach the repository", async () => {
  const before = await archiverStats(t);
  const undo = await breakArchiveCommand(t);
  await until("a failed archive attempt", async () => (await archiverStats(t)).failed > before.failed);
  const broken = await archiverStats(t);
  assert.equal(broken.archived, before.archived);
  const stuck = broken.lastFailed;
  await undo();
  await until(
    `segment ${stuck} archived after the undo`,
    async () => (await archiverStats(t)).lastArchived >= stuck,
    90_000,
  );
  const info = await pgbackrestInfo(t);
  assert.ok((info.archive[0]?.max ?? "") >= stuck);
});

test("damageBackup: a file of the backup is truncated, and pgbackrest verify finds it", async () => {
  const info = await pgbackrestInfo(t);
  const label = info.backup[0]!.label;
  // pgbackrest verify exits 0 either way; it reports a stanza only when something is wrong, naming each bad file
  const verify = () =>
    nsRoot(t.lab, "backup-1", "pgbackrest", ["--stanza=main", "--log-level-console=info", "verify"]);
  const clean = await verify();
  assert.match(clean.stdout, /verify command end: completed successfully/, clean.stdout + clean.stderr);
  assert.doesNotMatch(clean.stdout, /status: error|invalid/);
  const damaged = await damageBackup(t, label, "truncate");
  assert.ok(damaged.startsWith(`/var/lib/pgbackrest/backup/main/${label}/pg_data/`), damaged);
  const size = await nsRoot(t.lab, "backup-1", "stat", ["-c", "%s", damaged]);
  assert.equal(size.stdout.trim(), "0");
  const bad = await verify();
  assert.match(bad.stdout, /status: error/);
  const rel = damaged.slice("/var/lib/pgbackrest/backup/main/".length);
  assert.ok(bad.stdout.includes(`invalid checksum '${rel}'`), bad.stdout);
});

test("keel lab down stops PostgreSQL and leaves no process, mount, namespace or mount point", () => {
  const pids = t.lab.state.processes.map((p) => p.pid);
  const r = keel("lab", "down", file);
  assert.equal(r.status, 0, r.stderr);
  for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} still runs`);
  const ps = spawnSync("pgrep", ["-f", `keel-${site}-|${dir}`], { encoding: "utf8" }).stdout.trim();
  assert.equal(ps, "");
  assert.deepEqual(rootMounts(), before_.mounts);
  assert.deepEqual(rootMounts(new RegExp(`keel-${site}-`)), []);
  const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(ns, new RegExp(`keel-${site}-`));
  assert.equal(existsSync(`/run/keel-lab/keel-${site}-db-1`), false);
  for (const f of machineFiles) assert.equal(sha(f), before_.files[f], f);
  // the mount points up created on the machine are gone (unless something else has used one since)
  for (const m of t.lab.state.mountpoints ?? []) {
    const reused = existsSync(m) && statSync(m).isDirectory() && readdirSync(m).length > 0;
    assert.ok(!existsSync(m) || reused, `${m} is left behind, empty`);
  }
  assert.equal(existsSync(path.join(dir, ".keel/lab/hosts")), false);
});

test("a PostgreSQL that cannot start: up exits 1 naming it with its log, and removes the partial lab", () => {
  // a stand-in web service already holds db-1's PostgreSQL port
  const text = readFileSync(file, "utf8").replace(
    "{ name: postgres, port: 5432, allow: [lan] }",
    "{ name: web, kind: http, port: 5432, allow: [lan] }",
  );
  assert.match(text, /name: web, kind: http, port: 5432/);
  writeFileSync(file, text);
  const r = keel("lab", "up", file, "--timeout", "10000");
  assert.equal(r.status, 1, r.stderr);
  // named by the readiness wait (it exited before the daemons were all up: its last log line), or
  // by the backups steps (it exited after: the end of its log)
  assert.match(
    r.stderr,
    /db-1\/postgres: postgres exited \(.*FATAL: {2}could not create any TCP\/IP sockets\)|backups: stanza main: PostgreSQL on db-1 exited:\n.*could not bind IPv4 address/,
  );
  assert.doesNotMatch(
    spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout,
    new RegExp(`keel-${site}-`),
  );
  assert.deepEqual(rootMounts(), before_.mounts);
  for (const f of machineFiles) assert.equal(sha(f), before_.files[f], f);
});

test("a stanza user (postgres): pgbackrest runs as it, Keel's `sudo -n -u postgres pgbackrest` works", async () => {
  const text = readFileSync(file, "utf8")
    .replace(
      "{ name: web, kind: http, port: 5432, allow: [lan] }",
      "{ name: postgres, port: 5432, allow: [lan] }",
    )
    .replace(
      "    main: # the stanza (--stanza=main)\n",
      "    main: # the stanza (--stanza=main)\n      user: postgres\n",
    );
  assert.match(text, /^ {6}user: postgres$/m);
  writeFileSync(file, text);
  const r = keel("lab", "up", file, "--timeout", "60000");
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const u = openBackupsTwin(file);
  assert.equal(u.stanza.runners["backup-1"], "postgres");
  const info = await sshRoot(
    u.lab,
    "backup-1",
    "sudo -n -u postgres pgbackrest --stanza=main --output=json info",
  );
  assert.equal(info.code, 0, info.stderr);
  const [stanza] = JSON.parse(info.stdout) as { status: { code: number }; backup: { type: string }[] }[];
  assert.equal(stanza?.status.code, 0);
  assert.deepEqual(
    stanza?.backup.map((b) => b.type),
    ["full"],
  );
  const owner = await sshRoot(u.lab, "backup-1", "stat -c %U /var/lib/pgbackrest/backup/main");
  assert.equal(owner.stdout.trim(), "postgres");
  const check = await sshRoot(u.lab, "db-1", "sudo -n -u postgres pgbackrest --stanza=main check");
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal(keel("lab", "down", file).status, 0);
});
