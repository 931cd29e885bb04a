/**
 * Faults and observations for the backups twin (`keel lab up` of a site with
 * `backups.pgbackrest`, see docs/lab.md "Backups"), for tests of Keel's backup checks. They act on
 * a lab that is up, found through its inventory file and state file (so a lab brought up by the
 * built `keel lab up` command works), and reach hosts either over the lab's SSH as root (the
 * inventory's identity and known_hosts, strict host key checking: what Keel's checks do) or by
 * nsenter into a host's namespaces. Each fault returns an undo.
 */

import { join } from "node:path";
import { loadInventory, resolveIdentityPath } from "../../src/inventory/load.js";
import { psqlOnPrimary, runAs } from "../../src/lab/backups.js";
import { killProcess, serviceProcess, spawnDaemon } from "../../src/lab/daemons.js";
import { planStanza, type StanzaLabPlan } from "../../src/lab/pgbackrest.js";
import { planLab } from "../../src/lab/plan.js";
import { listening } from "../../src/lab/readiness.js";
import { type RunResult, run, runAt, sleep } from "../../src/lab/run.js";
import { readState } from "../../src/lab/state.js";
import { hostPlace, type Lab, saveLab } from "../../src/lab/twin.js";

/** Restores what a fault changed; resolves once it is restored. */
export type Undo = () => Promise<void>;

/** A backups twin that is up: the lab handle and the plan of one stanza. */
export interface BackupsTwin {
  lab: Lab;
  stanza: StanzaLabPlan;
}

/**
 * Opens the lab of an inventory file that `keel lab up` brought up, for stanza `stanza`
 * (default `main`).
 * @throws Error when the lab is not up or the inventory has no such stanza
 */
export function openBackupsTwin(file: string, stanza = "main"): BackupsTwin {
  const inventory = loadInventory(file);
  const dir = join(inventory.dir, ".keel", "lab");
  const state = readState(dir);
  if (!state) throw new Error(`no lab is up for ${file}`);
  const s = inventory.backups.pgbackrest.find((x) => x.stanza === stanza);
  if (!s) throw new Error(`${file} has no pgBackRest stanza ${stanza}`);
  const lab: Lab = { inventory, plan: planLab(inventory), dir, state };
  return { lab, stanza: planStanza(inventory, s) };
}

/** The address of a host that the root namespace reaches (on a network of a local vantage, else its first). */
function addressOf(lab: Lab, host: string): string {
  const h = lab.inventory.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host}`);
  const nets = new Set(lab.plan.rootLinks.map((l) => l.network));
  return (h.addresses.find((a) => nets.has(a.network)) ?? h.addresses[0]!).address;
}

/**
 * Runs a shell command as root on a lab host over SSH, as Keel's checks do: `ssh -i IDENTITY
 * -o UserKnownHostsFile=KNOWN_HOSTS -o StrictHostKeyChecking=yes root@ADDRESS COMMAND`. Never
 * throws on the exit status.
 */
export function sshRoot(lab: Lab, host: string, command: string, timeoutMs = 120_000): Promise<RunResult> {
  const inv = lab.inventory;
  const h = inv.hosts.find((x) => x.name === host);
  const identity = h?.ssh?.identity ?? inv.defaults.ssh.identity;
  return run(
    "ssh",
    [
      ...(identity ? ["-i", resolveIdentityPath(inv, identity), "-o", "IdentitiesOnly=yes"] : []),
      "-o",
      `UserKnownHostsFile=${inv.defaults.knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=5",
      "-p",
      String(h?.ssh?.port ?? 22),
      `root@${addressOf(lab, host)}`,
      command,
    ],
    { timeoutMs },
  );
}

/** Runs `cmd ARGS` as root inside a lab host's namespaces (nsenter); never throws on the exit status. */
export function nsRoot(
  lab: Lab,
  host: string,
  cmd: string,
  args: string[],
  timeoutMs = 120_000,
): Promise<RunResult> {
  return runAt(hostPlace(lab, host), cmd, args, { timeoutMs });
}

/** Throws an Error quoting a failed command's output. */
function ok(what: string, r: RunResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** One backup in `pgbackrest info --output=json` (pgBackRest's info command, JSON output). */
export interface InfoBackup {
  label: string;
  type: "full" | "diff" | "incr";
  error?: boolean;
  timestamp: { start: number; stop: number };
  archive: { start: string; stop: string };
}

/** One stanza in `pgbackrest info --output=json`. */
export interface InfoStanza {
  name: string;
  status: { code: number; message: string };
  archive: { id: string; min?: string; max?: string }[];
  backup: InfoBackup[];
}

/** `pgbackrest --stanza=NAME --output=json info` on the repository host over SSH, parsed. */
export async function pgbackrestInfo(t: BackupsTwin): Promise<InfoStanza> {
  const r = await sshRoot(
    t.lab,
    t.stanza.repository,
    `pgbackrest --stanza=${t.stanza.stanza} --output=json info`,
  );
  const parsed = JSON.parse(ok("pgbackrest info", r)) as InfoStanza[];
  const s = parsed.find((x) => x.name === t.stanza.stanza);
  if (!s) throw new Error(`pgbackrest info shows no stanza ${t.stanza.stanza}: ${r.stdout}`);
  return s;
}

/** Runs SQL on the primary with `psql` as postgres through the default socket; its unaligned output. */
export async function psql(t: BackupsTwin, sql: string): Promise<string> {
  return ok(`psql ${sql}`, await psqlOnPrimary(t.lab, t.stanza, sql)).trim();
}

/** `pg_stat_archiver` of the primary: segments archived and failed, the last of each. */
export async function archiverStats(
  t: BackupsTwin,
): Promise<{ archived: number; failed: number; lastArchived: string; lastFailed: string }> {
  const out = await psql(
    t,
    "select archived_count, failed_count, coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') from pg_stat_archiver",
  );
  const [archived, failed, lastArchived, lastFailed] = out.split("|");
  return {
    archived: Number(archived),
    failed: Number(failed),
    lastArchived: lastArchived ?? "",
    lastFailed: lastFailed ?? "",
  };
}

/**
 * Writes a little and switches to a new WAL segment (`pg_switch_wal()` switches only after
 * activity); returns the name of the segment that was completed, which the archiver then archives.
 */
export async function switchWal(t: BackupsTwin): Promise<string> {
  await psql(
    t,
    "create table if not exists keel_lab_activity (at timestamptz); insert into keel_lab_activity values (now())",
  );
  return psql(t, "select pg_walfile_name(pg_switch_wal())");
}

/** Polls `test` every 200 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, test: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * Takes a backup of `type` on the repository host (as the stanza's user there, root without
 * one), as a scheduled job would; returns its label (the newest in `pgbackrest info`).
 * @throws Error quoting pgBackRest's output when the backup fails
 */
export async function takeBackup(t: BackupsTwin, type: "full" | "diff" | "incr"): Promise<string> {
  const user = t.stanza.runners[t.stanza.repository] ?? "root";
  const r = await runAs(
    t.lab,
    t.stanza.repository,
    user,
    "pgbackrest",
    [`--stanza=${t.stanza.stanza}`, `--type=${type}`, "backup"],
    300_000,
  );
  ok(`pgbackrest --type=${type} backup`, r);
  const info = await pgbackrestInfo(t);
  const last = info.backup[info.backup.length - 1];
  if (!last) throw new Error("pgbackrest info shows no backup after a backup");
  return last.label;
}

/** True when something listens on tcp `port` in a host's network namespace. */
async function listens(lab: Lab, host: string, port: number): Promise<boolean> {
  return (await listening(hostPlace(lab, host))).has(`tcp:${port}`);
}

/** Stops the repository host's sshd (the lab's process record); undo starts it again and waits until it listens. */
export async function stopRepositorySshd(t: BackupsTwin): Promise<Undo> {
  const host = t.stanza.repository;
  const { lab } = t;
  const p = lab.state.processes.find((x) => x.host === host && x.daemon === "sshd" && !x.fault);
  if (!p) throw new Error(`the lab runs no sshd on ${host}`);
  const port = p.port ?? 22;
  await killProcess(p);
  await until(`sshd on ${host} to stop`, async () => !(await listens(lab, host, port)));
  return async () => {
    lab.state.processes = lab.state.processes.filter((x) => x !== p);
    saveLab(lab);
    const hp = lab.plan.hosts.find((h) => h.host === host);
    const sp = hp?.services.find((s) => s.service === p.service);
    spawnDaemon(lab, (hp && sp ? serviceProcess(lab, hp, sp) : null) ?? { ...p });
    await until(`sshd on ${host} to listen`, () => listens(lab, host, port));
  };
}

/** The nftables table `blockArchivePath` adds in the repository's namespace. */
export const BLOCK_TABLE = "keel-backups-block";

/**
 * Blocks SSH from the primary to the repository host: table `inet keel-backups-block` in the
 * repository's namespace rejects tcp to its SSH port from each of the primary's addresses with a
 * TCP reset, so archive-push fails at once as against a stopped sshd rather than waiting out
 * ssh's connect timeout (the
 * rendered `inet keel` table is left alone). Undo deletes the table.
 */
export async function blockArchivePath(t: BackupsTwin): Promise<Undo> {
  const { lab, stanza } = t;
  const h = lab.inventory.hosts.find((x) => x.name === stanza.repository);
  const port = h?.ssh?.port ?? 22;
  const v4 = stanza.primary.listen.filter((a) => !a.includes(":"));
  const v6 = stanza.primary.listen.filter((a) => a.includes(":"));
  const rules = [
    ...(v4.length ? [`    ip saddr { ${v4.join(", ")} } tcp dport ${port} reject with tcp reset`] : []),
    ...(v6.length ? [`    ip6 saddr { ${v6.join(", ")} } tcp dport ${port} reject with tcp reset`] : []),
  ];
  const ruleset = `table inet ${BLOCK_TABLE} {\n  chain input {\n    type filter hook input priority -10; policy accept;\n${rules.join("\n")}\n  }\n}\n`;
  const place = hostPlace(lab, stanza.repository);
  ok("nft -f (block)", await runAt(place, "nft", ["-f", "-"], { input: ruleset }));
  return async () => {
    ok("nft delete table", await runAt(place, "nft", ["delete", "table", "inet", BLOCK_TABLE]));
  };
}

/**
 * Breaks WAL archiving on the primary: `ALTER SYSTEM SET archive_command` to `command` (default
 * `false`, which always fails), `pg_reload_conf()`, then a WAL switch so the archiver tries (and
 * fails) at once. Undo resets archive_command (`ALTER SYSTEM RESET`, reload), after which the
 * archiver retries the pending segments with the working command.
 */
export async function breakArchiveCommand(t: BackupsTwin, command = "false"): Promise<Undo> {
  const q = (v: string) => `'${v.replaceAll("'", "''")}'`;
  await psql(t, `alter system set archive_command = ${q(command)}`);
  await psql(t, "select pg_reload_conf()");
  await until(
    "archive_command to change",
    async () => (await psql(t, "show archive_command")) === command,
    10_000,
  );
  await switchWal(t);
  return async () => {
    await psql(t, "alter system reset archive_command");
    await psql(t, "select pg_reload_conf()");
    await until(
      "archive_command to be restored",
      async () => (await psql(t, "show archive_command")).includes("archive-push"),
      10_000,
    );
  };
}

/** The repository path of a backup's copy of the data directory. */
export function backupDataDir(t: BackupsTwin, label: string): string {
  return `/var/lib/pgbackrest/backup/${t.stanza.stanza}/${label}/pg_data`;
}

/**
 * Damages a backup in the repository (inside the repository host's namespace, where
 * /var/lib/pgbackrest is the lab's repository): the largest file under its `pg_data`, or the one
 * named by `relative`, is truncated to zero bytes (`truncate`) or has its first 4 KiB overwritten
 * with zeros (`overwrite`, size kept). Returns the damaged file's path as seen on the host.
 */
export async function damageBackup(
  t: BackupsTwin,
  label: string,
  how: "truncate" | "overwrite" = "truncate",
  relative?: string,
): Promise<string> {
  const dir = backupDataDir(t, label);
  let file: string;
  if (relative) file = `${dir}/${relative}`;
  else {
    const r = ok(
      "find the largest backup file",
      await nsRoot(t.lab, t.stanza.repository, "find", [dir, "-type", "f", "-printf", "%s %p\\n"]),
    );
    const files = r
      .trim()
      .split("\n")
      .map((l) => [Number(l.slice(0, l.indexOf(" "))), l.slice(l.indexOf(" ") + 1)] as const)
      .sort((a, b) => b[0] - a[0]);
    if (!files[0]) throw new Error(`no file under ${dir}`);
    file = files[0][1];
  }
  const args =
    how === "truncate"
      ? ["truncate", ["-s", "0", file]]
      : ["dd", ["if=/dev/zero", `of=${file}`, "bs=4096", "count=1", "conv=notrunc", "status=none"]];
  ok(`${how} ${file}`, await nsRoot(t.lab, t.stanza.repository, args[0] as string, args[1] as string[]));
  return file;
}
