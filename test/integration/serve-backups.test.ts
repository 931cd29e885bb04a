/**
 * The backups pane end to end (root only): the built `keel lab up` on a copy of
 * examples/backups/keel.yaml (own site name and prefixes) runs PostgreSQL 15 archiving to
 * pgBackRest 2.45; the built `keel serve` runs the real backup checks on it, and
 * `GET /api/backups` and `/metrics` show what pgBackRest and PostgreSQL say: the full backup
 * `keel lab up` took (label and finish time as `pgbackrest info` gives them), the WAL archive,
 * both objectives met; a restore rehearsal (run now through `POST /api/runs`), with the set it
 * restored; then,
 * with PostgreSQL's archive_command broken, the archive as failing.
 *
 * Needs `npm run build` (dist/cli).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { sha256Hex } from "../../src/serve/auth.js";
import type { BackupView } from "../../src/serve/backups.js";
import { eventually } from "../helpers/alertmanager.js";
import {
  type BackupsTwin,
  breakArchiveCommand,
  openBackupsTwin,
  pgbackrestInfo,
  type Undo,
} from "../helpers/lab-backups.js";
import { CLI, type ServeProcess, spawnServe } from "../helpers/serve.js";

const root = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(tmpdir(), "keel-serve-backups-"));
const file = path.join(dir, "keel.yaml");
const octet = 10 + (process.pid % 50) * 2;
const site = `p${process.pid % 100000}`;
const TOKEN = `serve-backups-${process.pid}-${Date.now()}`;
const OPERATOR = `serve-backups-op-${process.pid}-${Date.now()}`;
let t: BackupsTwin;
let keel: ServeProcess | undefined;
let undo: Undo | undefined;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 300_000 });
}

async function get(route: string): Promise<Response> {
  const res = await fetch(`${keel!.url}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, route);
  return res;
}

async function stanza(): Promise<BackupView> {
  const body = (await (await get("/api/backups")).json()) as { items: BackupView[] };
  return body.items.find((b) => b.tool === "pgbackrest" && b.name === "main")!;
}

/** The value of one sample of `/metrics`, by its exact labels text; undefined when absent. */
async function sample(name: string, labels: string): Promise<number | undefined> {
  const text = await (await get("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

before(() => {
  const text = readFileSync(path.join(root, "examples/backups/keel.yaml"), "utf8")
    .replace(/^site: bak$/m, `site: ${site}`)
    .replaceAll("10.30.0.", `10.${octet}.0.`)
    .replaceAll("10.31.0.", `10.${octet + 1}.0.`);
  writeFileSync(
    file,
    `${text}
serve:
  tokens:
    - { name: wall, role: viewer, sha256: ${sha256Hex(TOKEN)} }
    - { name: ops, role: operator, sha256: ${sha256Hex(OPERATOR)} }
  checks:
    backup.pgbackrest: { interval: 5s }
    backup.wal-archive: { interval: 5s }
`,
  );
});

after(async () => {
  await undo?.();
  await keel?.stop();
  cli("lab", "down", file);
  rmSync(dir, { recursive: true, force: true });
});

test("keel lab up brings the backups twin up", () => {
  const r = cli("lab", "up", file, "--timeout", "60000");
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t = openBackupsTwin(file);
});

test("GET /api/backups and /metrics show the stanza as pgBackRest and PostgreSQL report it", async () => {
  keel = await spawnServe(file);
  const info = await pgbackrestInfo(t);
  const full = info.backup.find((b) => b.type === "full")!;
  const main = await eventually(
    "the backup checks' first results",
    async () => {
      const s = await stanza();
      return s.backups.observedAt !== null && s.wal.observedAt !== null ? s : undefined;
    },
    60_000,
  );
  assert.deepEqual(main.hosts, {
    primary: "db-1",
    repository: "backup-1",
    postgres: ["db-1"],
    rehearsal: "restore-1",
  });
  assert.equal(main.backups.count, info.backup.length);
  const newestFull = main.backups.types.find((x) => x.type === "full")!.newest!;
  assert.equal(newestFull.label, full.label);
  assert.equal(Date.parse(newestFull.finished) / 1000, full.timestamp.stop);
  assert.equal(main.objectives.backup.met, true, main.objectives.backup.reason);
  assert.match(main.wal.lastArchivedWal ?? "", /^[0-9A-F]{24}$/);
  assert.equal(main.wal.failing, false);
  assert.ok((main.wal.filesystemBytes ?? 0) > 0);
  assert.equal(main.objectives.wal.met, true, main.objectives.wal.reason);
  assert.deepEqual(
    main.checks
      .filter((c) => c.kind === "backup.pgbackrest" || c.kind === "backup.wal-archive")
      .map((c) => [c.id, c.status]),
    [
      ["backup-1/backup.pgbackrest/main", "pass"],
      ["db-1/backup.wal-archive/main", "pass"],
    ],
    JSON.stringify(main.checks),
  );

  const labels = '{backup="main",tool="pgbackrest"';
  assert.equal(
    await sample("keel_backup_last_finished_timestamp_seconds", `${labels},type="full"}`),
    full.timestamp.stop,
  );
  assert.equal(await sample("keel_backup_objective_seconds", `${labels},objective="wal"}`), 900);
  assert.equal(await sample("keel_wal_archive_failing", `${labels},host="db-1"}`), 0);
});

test("a restore rehearsal run through the API shows with its set, point in time and recovery time", async () => {
  const info = await pgbackrestInfo(t);
  // keel serve rehearses at the check's slot within its 7-day interval; an operator runs it now
  const run = await fetch(`${keel!.url}/api/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${OPERATOR}`, "content-type": "application/json" },
    body: JSON.stringify({ glob: "restore-1/backup.rehearsal/main" }),
  });
  assert.equal(run.status, 200, await run.clone().text());
  const r = await eventually(
    "the first rehearsal",
    async () => {
      const s = await stanza();
      return s.rehearsal?.at ? s.rehearsal : undefined;
    },
    240_000,
  );
  assert.equal(r.status, "pass", r.message ?? "");
  assert.equal(r.host, "restore-1");
  assert.equal(r.set, info.backup.at(-1)!.label);
  assert.ok(
    r.pointInTime && Date.parse(r.pointInTime) >= info.backup.at(-1)!.timestamp.stop * 1000,
    r.pointInTime ?? "",
  );
  assert.ok(r.durationSec !== null && r.durationSec >= 0);
  assert.equal(r.overdue, false);
  const labels = '{backup="main",tool="pgbackrest"}';
  assert.equal(await sample("keel_backup_rehearsal_last_success", labels), 1);
  assert.equal(await sample("keel_backup_rehearsal_duration_seconds", labels), r.durationSec);
  assert.equal(await sample("keel_backup_rehearsal_interval_seconds", labels), 7 * 86400);
});

test("with archive_command broken, the archive shows as failing in the API and the metrics", async () => {
  undo = await breakArchiveCommand(t);
  const main = await eventually(
    "the WAL archive to show as failing",
    async () => {
      const s = await stanza();
      return s.wal.failing === true ? s : undefined;
    },
    60_000,
  );
  assert.match(main.wal.lastFailedWal ?? "", /^[0-9A-F]{24}$/);
  assert.equal(main.checks.find((c) => c.kind === "backup.wal-archive")?.status, "fail");
  assert.equal(await sample("keel_wal_archive_failing", '{backup="main",tool="pgbackrest",host="db-1"}'), 1);
});
