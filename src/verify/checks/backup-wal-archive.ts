/**
 * `backup.wal-archive`: the WAL archive of a PostgreSQL primary keeps up. Derived on the primary
 * of each pgBackRest stanza and on the host of each WAL-G backup. Over SSH there, as the owner of
 * the data directory (`runuser` when logged in as root, else `sudo -n -u OWNER`), it reads:
 *
 * - `pg_wal/archive_status/*.ready`: the segments PostgreSQL has finished but not yet archived,
 *   their number and the oldest one's time (PostgreSQL docs, "Continuous Archiving": a segment
 *   whose `archive_command` has not succeeded stays, with its `.ready` file, in `pg_wal`). This
 *   sees an archiver that no longer runs at all, which `pg_stat_archiver` cannot;
 * - `pg_stat_archiver` (PostgreSQL docs, "The Statistics Collector"/"Cumulative Statistics"):
 *   archived and failed counts, the last archived and last failed segment and times;
 * - the size of `pg_wal` (`du -sb`) and the free space of its filesystem (`df -B1`).
 *
 * It fails when a `.ready` segment is older than the `wal` objective (the backlog), when the last
 * archiving attempt failed (a failure newer than the last success), when the newest archived
 * segment is older than the `wal` objective, when `archive_mode` is off or the server is in
 * recovery, and when `pg_wal` holds more than its filesystem has free or the filesystem has less
 * than 5 % free (a stuck archive fills the disk and stops the primary).
 */
import type { Inventory } from "../../inventory/model.js";
import type { CheckKindDefinition, CheckOutcome, SshTarget } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { humanAge, instant, splitClock } from "./backup-common.js";
import { excerpt, hostSideError, undecided } from "./common.js";

/** The params of a `backup.wal-archive` check: derived for each primary a backup archives from. */
export interface BackupWalArchiveParams {
  kind: "backup.wal-archive";
  target: SshTarget;
  /** The stanza or WAL-G backup name. */
  backup: string;
  tool: "pgbackrest" | "walg";
  /** The server's data directory (absolute). */
  data: string;
  port: number;
  /** `objectives.wal`, ms. */
  walObjectiveMs: number;
}

/** Below this fraction of free space on pg_wal's filesystem the check fails. */
export const MIN_FREE_FRACTION = 0.05;

/** Exit status of the command when the data directory does not exist. */
const NO_DATA_DIR = 3;

/** The query of `pg_stat_archiver`, one `|`-separated row; times in Unix seconds, -1 for none. */
const ARCHIVER_QUERY = [
  "select archived_count, coalesce(last_archived_wal, ''),",
  "coalesce(extract(epoch from last_archived_time)::bigint, -1), failed_count,",
  "coalesce(last_failed_wal, ''), coalesce(extract(epoch from last_failed_time)::bigint, -1),",
  "current_setting('archive_mode'), pg_is_in_recovery() from pg_stat_archiver",
].join(" ");

/**
 * The command run on the primary (POSIX sh with GNU find, du, df): as the data directory's owner,
 * prints `ready N OLDEST` (OLDEST the oldest `.ready` file's mtime in Unix seconds, `-` for
 * none), `wal BYTES`, `df AVAIL SIZE` and `archiver ROW` (psql on the server's port and default
 * socket), then the host's clock (`date +%s`) whatever happened. Exit 3 when the data directory is
 * missing, else the inner script's status.
 */
export function walArchiveCommand(data: string, port: number): string {
  const inner = [
    'cd "$1/pg_wal/archive_status" || exit 4',
    "find . -maxdepth 1 -name '*.ready' -printf '%T@\\n' | sort -n | awk 'NR==1{o=int($1)} END{print \"ready\", NR, (NR ? o : \"-\")}'",
    'echo "wal $(du -sb "$1/pg_wal/" | cut -f1)"',
    'echo "df $(df -B1 --output=avail,size "$1/pg_wal/" | tail -n 1)"',
    `row=$(psql -X -A -t -F '|' -p "$2" -d postgres -c ${shellQuote(ARCHIVER_QUERY)}) || exit 5`,
    'echo "archiver $row"',
  ].join("; ");
  const args = `_ "$d" ${port}`;
  return [
    `d=${shellQuote(data)}`,
    `owner=$(stat -c %U "$d" 2>/dev/null) || { date +%s; exit ${NO_DATA_DIR}; }`,
    `inner=${shellQuote(inner)}`,
    `if [ "$(id -un)" = "$owner" ]; then sh -c "$inner" ${args}; elif [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- sh -c "$inner" ${args}; else sudo -n -u "$owner" sh -c "$inner" ${args}; fi`,
    "rc=$?",
    "date +%s",
    "exit $rc",
  ].join("; ");
}

/** What the command read on the primary. */
export interface WalArchiveState {
  ready: number;
  /** The oldest `.ready` file's mtime, ms since the epoch; null when there is none. */
  oldestReadyMs: number | null;
  walBytes: number;
  freeBytes: number;
  filesystemBytes: number;
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedMs: number | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedMs: number | null;
  archiveMode: string;
  inRecovery: boolean;
}

/**
 * Parses the lines `walArchiveCommand` prints (without the clock line).
 * @returns the state; a string naming the line that is missing or unreadable.
 */
export function parseWalArchive(text: string): WalArchiveState | string {
  const line = (key: string) =>
    text
      .split("\n")
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1)
      .trim();
  const ready = line("ready")?.split(/\s+/);
  if (ready?.length !== 2 || !/^\d+$/.test(ready[0]!) || !/^(\d+|-)$/.test(ready[1]!))
    return "no readable count of .ready files";
  const wal = line("wal");
  if (!wal || !/^\d+$/.test(wal)) return "no readable size of pg_wal";
  const df = line("df")?.split(/\s+/);
  if (df?.length !== 2 || !df.every((x) => /^\d+$/.test(x)))
    return "no readable free space of pg_wal's filesystem";
  const row = line("archiver")?.split("|");
  if (row?.length !== 8) return "no readable row of pg_stat_archiver";
  const ms = (s: string) => (Number(s) >= 0 ? Number(s) * 1000 : null);
  return {
    ready: Number(ready[0]),
    oldestReadyMs: ready[1] === "-" ? null : Number(ready[1]) * 1000,
    walBytes: Number(wal),
    freeBytes: Number(df[0]),
    filesystemBytes: Number(df[1]),
    archivedCount: Number(row[0]),
    lastArchivedWal: row[1] || null,
    lastArchivedMs: ms(row[2]!),
    failedCount: Number(row[3]),
    lastFailedWal: row[4] || null,
    lastFailedMs: ms(row[5]!),
    archiveMode: row[6]!,
    inRecovery: row[7] === "t",
  };
}

/** `1.5 GiB`, `312 MiB`, `20 KiB`: a size for people (IEC units). */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${units[i]}`;
}

/** Judges the archive of backup `name` on its primary at `nowMs` (the primary's clock). */
export function judgeWalArchive(
  p: Pick<BackupWalArchiveParams, "backup" | "tool" | "data" | "walObjectiveMs">,
  s: WalArchiveState,
  nowMs: number,
): CheckOutcome {
  const sec = (ms: number | null) => (ms === null ? null : Math.round((nowMs - ms) / 1000));
  const iso = (ms: number | null) => (ms === null ? null : instant(ms));
  const observed = {
    backup: p.backup,
    tool: p.tool,
    data: p.data,
    ready: s.ready,
    oldestReady: iso(s.oldestReadyMs),
    oldestReadyAgeSec: sec(s.oldestReadyMs),
    archivedCount: s.archivedCount,
    failedCount: s.failedCount,
    lastArchivedWal: s.lastArchivedWal,
    lastArchived: iso(s.lastArchivedMs),
    lastArchivedAgeSec: sec(s.lastArchivedMs),
    lastFailedWal: s.lastFailedWal,
    lastFailed: iso(s.lastFailedMs),
    lastFailedAgeSec: sec(s.lastFailedMs),
    walBytes: s.walBytes,
    freeBytes: s.freeBytes,
    filesystemBytes: s.filesystemBytes,
    walObjectiveSec: Math.round(p.walObjectiveMs / 1000),
    archiveMode: s.archiveMode,
    inRecovery: s.inRecovery,
  };
  const objective = humanAge(p.walObjectiveMs);
  const ago = (ms: number) => `${humanAge(nowMs - ms)} ago (${instant(ms)})`;
  const problems: string[] = [];
  if (s.archiveMode === "off") problems.push("archive_mode is off: no WAL is archived; expected on");
  if (s.inRecovery) problems.push("the server is in recovery (a standby); expected the primary");
  if (s.oldestReadyMs !== null && nowMs - s.oldestReadyMs > p.walObjectiveMs)
    problems.push(
      `${s.ready} WAL segment${s.ready > 1 ? "s" : ""} wait${s.ready > 1 ? "" : "s"} to be archived, the oldest ready since ${ago(s.oldestReadyMs)}; expected none waiting longer than ${objective} (objectives.wal)`,
    );
  if (s.lastFailedMs !== null && (s.lastArchivedMs === null || s.lastFailedMs > s.lastArchivedMs))
    problems.push(
      `archiving fails: ${s.failedCount} failure${s.failedCount === 1 ? "" : "s"}, the last on ${s.lastFailedWal ?? "?"} ${ago(s.lastFailedMs)}, newer than the last success${s.lastArchivedMs !== null ? ` (${s.lastArchivedWal} ${ago(s.lastArchivedMs)})` : " (none)"}; expected archive_command to succeed`,
    );
  else if (s.lastArchivedMs === null)
    problems.push("no WAL segment archived since pg_stat_archiver was reset; expected the archive to be fed");
  else if (nowMs - s.lastArchivedMs > p.walObjectiveMs)
    problems.push(
      `the newest archived WAL segment ${s.lastArchivedWal} was archived ${ago(s.lastArchivedMs)}; expected at most ${objective} (objectives.wal; on a quiet server set archive_timeout below it)`,
    );
  if (s.walBytes >= s.freeBytes)
    problems.push(
      `pg_wal holds ${humanBytes(s.walBytes)} and its filesystem has ${humanBytes(s.freeBytes)} free: WAL kept for the archive could fill it; expected more free than pg_wal holds`,
    );
  else if (s.filesystemBytes > 0 && s.freeBytes / s.filesystemBytes < MIN_FREE_FRACTION)
    problems.push(
      `pg_wal's filesystem has ${humanBytes(s.freeBytes)} free of ${humanBytes(s.filesystemBytes)}; expected at least ${MIN_FREE_FRACTION * 100} %`,
    );
  const where = `WAL archive of ${p.backup} (${p.data})`;
  if (problems.length > 0) return { status: "fail", message: `${where}: ${problems.join("; ")}`, observed };
  const last =
    s.lastArchivedMs !== null
      ? `last segment ${s.lastArchivedWal} archived ${humanAge(nowMs - s.lastArchivedMs)} ago`
      : "";
  return {
    status: "pass",
    message: `${where}: ${last}; ${s.ready} waiting; pg_wal ${humanBytes(s.walBytes)}, ${humanBytes(s.freeBytes)} free`,
    observed,
  };
}

/** The archives whose primary is host `host`: each stanza's primary and each WAL-G backup's host. */
function archivesOn(inv: Inventory, host: string): Omit<BackupWalArchiveParams, "target">[] {
  const out: Omit<BackupWalArchiveParams, "target">[] = [];
  for (const s of inv.backups.pgbackrest) {
    const pg = s.postgres.find((x) => x.role === "primary" && x.host === host);
    if (pg)
      out.push({
        kind: "backup.wal-archive",
        backup: s.stanza,
        tool: "pgbackrest",
        data: pg.data,
        port: pg.port,
        walObjectiveMs: s.objectives.walMs,
      });
  }
  for (const w of inv.backups.walg)
    if (w.host === host)
      out.push({
        kind: "backup.wal-archive",
        backup: w.name,
        tool: "walg",
        data: w.data,
        port: w.port,
        walObjectiveMs: w.objectives.walMs,
      });
  return out;
}

/** Reads the archive state on the primary and judges it with `judgeWalArchive`. */
export const backupWalArchive: CheckKindDefinition<"backup.wal-archive", BackupWalArchiveParams> = {
  kind: "backup.wal-archive",
  transport: "ssh",
  scope: "on-host",
  derive(h, ctx) {
    return archivesOn(ctx.inv, h.name).map((a) => ({
      service: a.backup,
      make: (target: SshTarget) => ({ ...a, target }),
    }));
  },
  async run(spec, ctx) {
    const p = spec.params;
    try {
      const r = await ctx.prober.sshExec(
        p.target,
        walArchiveCommand(p.data, p.port),
        ctx.timeoutMs,
        ctx.signal,
      );
      const { printed, nowMs } = splitClock(r.stdout);
      if (nowMs === undefined)
        return undecided(`cannot read the clock of ${spec.host}: read ${JSON.stringify(excerpt(r.stdout))}`);
      if (r.code === NO_DATA_DIR)
        return {
          status: "fail",
          message: `the data directory ${p.data} of ${p.backup} does not exist on ${spec.host}; expected the primary's data directory`,
        };
      if (r.code === 4)
        return undecided(
          `cannot read ${p.data}/pg_wal/archive_status on ${spec.host}: ${excerpt(r.stderr, 200)}`,
        );
      if (r.code === 5)
        return undecided(
          `cannot query pg_stat_archiver on ${spec.host} (port ${p.port}): ${excerpt(r.stderr, 200) || "(no output)"}`,
        );
      if (r.code !== 0)
        return undecided(
          `reading the WAL archive state failed on ${spec.host} (exit ${r.code}): ${excerpt(r.stderr, 200)}`,
        );
      const state = parseWalArchive(printed);
      if (typeof state === "string")
        return undecided(
          `the WAL archive state read on ${spec.host} has ${state}: read ${JSON.stringify(excerpt(printed))}`,
        );
      return judgeWalArchive(p, state, nowMs);
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};
