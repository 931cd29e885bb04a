/**
 * `backup.rehearsal`: a restore rehearsal. Over SSH on the rehearsal host of a pgBackRest stanza
 * or WAL-G backup (`backups.*.NAME.rehearsal`), in named steps: empty the scratch directory,
 * choose the backup (`pgbackrest info --output=json`, `wal-g backup-list --json --detail`),
 * restore it into `DIR/data`, start a private PostgreSQL on it (no TCP listener, its socket in
 * `DIR/run`, `archive_mode=off`) that recovers to the end of the backup and promotes, read the
 * point in time reached, run the declared sanity queries, stop the server and remove the data.
 * Any failing step fails the rehearsal, named, with an excerpt of what the tool said; the server
 * is stopped and the data removed on failure too.
 *
 * Sources: pgBackRest 2.45 command reference (`pgbackrest help restore`: `--set`, `--type=immediate`,
 * `--target-action=promote`, `--pg1-path`; `pgbackrest help info`: `--output=json`), WAL-G's
 * docs/PostgreSQL.md ("backup-fetch", "wal-fetch", commit e1b173077f18d7b6e2189d0fbe6cfd9c09ca8fab),
 * PostgreSQL 15's manual ("Recovering Using a Continuous Archive Backup": `recovery.signal`,
 * `restore_command`; "Recovery Target": `recovery_target = 'immediate'`,
 * `recovery_target_action`; `pg_last_xact_replay_timestamp()`; pg_ctl(1); psql(1): `ON_ERROR_STOP`,
 * `ROW_COUNT`).
 */
import type { BackupRehearsal, Inventory } from "../../inventory/model.js";
import type { CheckContext, CheckKindDefinition, CheckOutcome, ExecResult, SshTarget } from "../kind.js";
import { ProbeError, VantageError } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { humanAge, instant } from "./backup-common.js";
import { parsePgBackRestInfo } from "./backup-pgbackrest.js";
import { parseWalgList } from "./backup-walg.js";

/** How long a rehearsal may take, restore to clean-up, in ms: 30 minutes (the check's timeout). */
export const REHEARSAL_TIMEOUT_MS = 30 * 60_000;
/** Time kept back from the steps for the clean-up after a failure, in ms (at most a quarter of the timeout). */
export const CLEANUP_RESERVE_MS = 60_000;
/**
 * The port of the rehearsal's server. With `listen_addresses = ''` it opens no TCP port: the
 * number only names its socket, `DIR/run/.s.PGSQL.5432`, in a directory of its own, which no
 * other server uses, so it is always free.
 */
export const REHEARSAL_PORT = 5432;
/** The role the point-in-time read and the sanity queries connect as, in database `postgres`. */
export const REHEARSAL_ROLE = "postgres";
/** The system user the server runs as when the restored files belong to root. */
export const POSTGRES_USER = "postgres";

/** The backup tools a rehearsal restores with. */
export type RehearsalTool = "pgbackrest" | "walg";

/** The params of a `backup.rehearsal` check: derived for each declared rehearsal on its host. */
export interface BackupRehearsalParams {
  kind: "backup.rehearsal";
  target: SshTarget;
  tool: RehearsalTool;
  /** The stanza (pgBackRest) or the name under `backups.walg` (WAL-G). */
  backup: string;
  /** The scratch directory (`rehearsal.dir`), canonical. */
  dir: string;
  /** The user the backup tool runs as (the stanza's or WAL-G backup's `user`); absent: the SSH user. */
  user?: string;
  /** WAL-G only: the words put before each `wal-g` command, as written in the inventory. */
  env?: string;
  /** The sanity queries, in order. */
  queries: string[];
  /** The backup to restore (a pgBackRest set label, a WAL-G backup name); absent: the newest. */
  set?: string;
}

/** The steps of a rehearsal, in order (`query N` stands for each query). */
export const REHEARSAL_STEPS = [
  "empty dir",
  "list backups",
  "restore",
  "fetch WAL",
  "start server",
  "wait for queries",
  "read point in time",
  "query N",
  "stop server",
  "remove data",
] as const;

/** The backup a rehearsal restores, as the tool's list shows it. */
export interface ChosenBackup {
  /** pgBackRest's set label (`20261206-101500F`), WAL-G's backup name (`base_…`). */
  label: string;
  /** `full`, `diff`, `incr` (pgBackRest), `full` or `delta` (WAL-G). */
  type: string;
  /** When the backup ended, ISO 8601 to the second (UTC); absent when the list does not say. */
  stop?: string;
  /** pgBackRest: the first and last WAL segment the backup needs to be consistent (`archive.start`, `archive.stop`). */
  wal?: { start: string; stop: string };
}

/** One sanity query and, when it succeeded, the rows it returned or affected (psql's `ROW_COUNT`). */
export interface QueryRun {
  sql: string;
  rows?: number;
}

/** Everything a rehearsal saw, handed to `judgeRehearsal`. */
export interface RehearsalRun {
  tool: RehearsalTool;
  backup: string;
  chosen?: ChosenBackup;
  /** The server's major version (`PG_VERSION` of the restored data). */
  major?: string;
  /** The point in time reached: ISO 8601 to the second (UTC), and where it was read. */
  pointInTime?: { at: string; source: "replay" | "backup-stop" };
  /** Restore start → the server accepts queries, in ms. */
  recoveryMs?: number;
  /** The whole rehearsal, clean-up included, in ms. */
  totalMs: number;
  queries: QueryRun[];
  /** The step that failed, what went wrong, and whether it means the rehearsal could not run at all. */
  failure?: { step: string; text: string; cannotRun?: boolean };
  /** What went wrong while cleaning up, when something did. */
  cleanup?: string;
}

// ---------------------------------------------------------------------------------------------
// Command builders: POSIX sh, run as root (`sudo -n` when the SSH user is not root)

/**
 * The command that runs `script` (POSIX sh) as root on the host: as it is when the SSH user is
 * root, else through `sudo -n` (never asking for a password), and within `timeout -k 5 SECS`
 * (coreutils), which ends the script's whole process group when its time is up.
 */
export function asRoot(sshUser: string, script: string, seconds: number): string {
  const sudo = sshUser === "root" ? "" : "sudo -n ";
  return `${sudo}timeout -k 5 ${Math.max(1, Math.floor(seconds))} sh -c ${shellQuote(script)}`;
}

/**
 * `commandLine` run as `user` from a root shell: as it is for root, else
 * `runuser -u USER -- sh -c …` (util-linux; the line may use shell syntax, such as WAL-G's
 * `env` words).
 */
export function asUser(user: string, commandLine: string): string {
  return user === "root" ? commandLine : `runuser -u ${shellQuote(user)} -- sh -c ${shellQuote(commandLine)}`;
}

/** The words put before `wal-g`: the inventory's `env` and a space, or nothing. */
function envPrefix(env: string | undefined): string {
  return env !== undefined && env.trim() !== "" ? `${env.trim()} ` : "";
}

/** The user the backup tool runs as: the declared `user`, else the SSH user. */
export function toolUser(p: Pick<BackupRehearsalParams, "user" | "target">): string {
  return p.user ?? p.target.user;
}

/**
 * Step `empty dir`: refuses (exit 3) when `DIR` is a symbolic link or when `DIR/postmaster.pid`
 * or `DIR/data/postmaster.pid` names a live process (a server runs there); else creates `DIR`,
 * removes everything in it (not crossing into other file systems), makes it root's, mode 755,
 * and makes `DIR/data` (mode 700) for the backup tool's user.
 */
export function emptyScript(dir: string, user: string): string {
  const d = shellQuote(dir);
  return [
    `d=${d}`,
    `if [ -L "$d" ]; then echo "$d is a symbolic link; expected a directory" >&2; exit 3; fi`,
    `for f in "$d/postmaster.pid" "$d/data/postmaster.pid"; do`,
    `  [ -f "$f" ] || continue`,
    `  pid=$(head -n 1 "$f")`,
    `  case "$pid" in ''|*[!0-9]*) continue;; esac`,
    `  if kill -0 "$pid" 2>/dev/null; then echo "$f names process $pid, which is running: a PostgreSQL server runs in the scratch directory; stop it first" >&2; exit 3; fi`,
    `done`,
    `mkdir -p -- "$d" || exit 1`,
    `find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} + || exit 1`,
    `chown 0:0 "$d" && chmod 755 "$d" || exit 1`,
    `mkdir -m 700 "$d/data" && chown ${shellQuote(user)}: "$d/data"`,
  ].join("\n");
}

/** Step `list backups`: the backups the tool's repository holds, as JSON. */
export function listScript(p: BackupRehearsalParams): string {
  const user = toolUser(p);
  if (p.tool === "pgbackrest")
    return asUser(user, `pgbackrest --stanza=${shellQuote(p.backup)} --output=json info`);
  return asUser(user, `${envPrefix(p.env)}wal-g backup-list --json --detail`);
}

/** WAL segments per log file of 16 MiB segments (PostgreSQL's default `wal_segment_size`): `0x100000000 / 16 MiB`. */
const SEGMENTS_PER_LOG = 0x100;
/** The most segments `walSegments` lists: a backup needing more is fetched by its `restore_command`. */
export const MAX_PREFETCH_SEGMENTS = 256;

/**
 * The WAL segments from `start` to `stop` (24 hex digits: timeline, log, segment), both
 * included, counting 16 MiB segments; with another segment size, names in between may not exist
 * (their absence is tolerated). Only `start` and `stop` when they lie on different timelines, are
 * not segment names, or span more than `MAX_PREFETCH_SEGMENTS`.
 */
export function walSegments(start: string, stop: string): string[] {
  const re = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
  const a = re.exec(start);
  const b = re.exec(stop);
  const ends = start === stop ? [start] : [start, stop];
  if (!a || !b || a[1] !== b[1]) return ends;
  const at = (m: RegExpExecArray) =>
    Number.parseInt(m[2]!, 16) * SEGMENTS_PER_LOG + Number.parseInt(m[3]!, 16);
  const from = at(a);
  const to = at(b);
  if (to < from || to - from >= MAX_PREFETCH_SEGMENTS) return ends;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return Array.from({ length: to - from + 1 }, (_, i) => {
    const n = from + i;
    return `${a[1]}${hex(Math.floor(n / SEGMENTS_PER_LOG))}${hex(n % SEGMENTS_PER_LOG)}`;
  });
}

/**
 * Step `fetch WAL` (pgBackRest): the WAL the backup needs to become consistent, from its first to
 * its last segment, fetched with `pgbackrest archive-get SEGMENT DIR/data/pg_wal/SEGMENT` as the
 * backup tool's user into the restored `pg_wal`, and given to the owner of the restored data
 * (plus the timeline's history file past timeline 1, when the archive has it). PostgreSQL looks
 * in `pg_wal` for what its `restore_command` does not bring (PostgreSQL 15's manual, "Recovering
 * Using a Continuous Archive Backup"), so the rehearsal does not depend on the server's user
 * reaching the repository. A segment strictly between the two that the archive lacks is passed
 * over (it may not exist with another segment size); the first and the last must be fetched.
 */
export function fetchWalScript(p: BackupRehearsalParams, start: string, stop: string): string {
  const data = `${p.dir}/data`;
  const user = toolUser(p);
  const segments = walSegments(start, stop);
  const get = (name: string) =>
    asUser(
      user,
      `pgbackrest --stanza=${shellQuote(p.backup)} --pg1-path=${shellQuote(data)} archive-get ${name} ${shellQuote(`${data}/pg_wal/${name}`)}`,
    );
  const timeline = start.slice(0, 8);
  const lines = [`cd /; w=${shellQuote(`${data}/pg_wal`)}`];
  for (const [i, seg] of segments.entries()) {
    const end = i === 0 || i === segments.length - 1;
    lines.push(
      end
        ? `${get(seg)} || { echo "cannot fetch WAL segment ${seg}, which the backup needs" >&2; exit 1; }`
        : `${get(seg)} || [ $? -eq 1 ] || exit 1`,
    );
  }
  if (/^[0-9A-F]{8}$/.test(timeline) && timeline !== "00000001")
    lines.push(`${get(`${timeline}.history`)} || [ $? -eq 1 ] || exit 1`);
  lines.push(`chown --reference=${shellQuote(data)} "$w"/* || exit 1`);
  return lines.join("\n");
}

/**
 * Step `restore`: pgBackRest `restore` of the set `label` into `DIR/data`, recovering only until
 * consistent and then promoting (pgBackRest writes `recovery.signal` and the recovery settings
 * into `postgresql.auto.conf`, `restore_command` among them); WAL-G `backup-fetch DIR/data LABEL`.
 * As the backup tool's user.
 */
export function restoreScript(p: BackupRehearsalParams, label: string): string {
  const data = `${p.dir}/data`;
  const user = toolUser(p);
  if (p.tool === "pgbackrest")
    return asUser(
      user,
      [
        "pgbackrest",
        `--stanza=${shellQuote(p.backup)}`,
        `--pg1-path=${shellQuote(data)}`,
        `--set=${shellQuote(label)}`,
        "--type=immediate",
        "--target-action=promote",
        "restore",
      ].join(" "),
    );
  return asUser(user, `${envPrefix(p.env)}wal-g backup-fetch ${shellQuote(data)} ${shellQuote(label)}`);
}

/**
 * The settings of the rehearsal's server, given on its command line so that they override
 * `postgresql.auto.conf` (which comes with the backup and may hold `ALTER SYSTEM` settings of
 * the original server): no TCP listener, the socket in `DIR/run`, no WAL archiving (a rehearsal
 * must never push WAL into the real repository), no hot standby (it accepts queries only once
 * promoted), no synchronous standby to wait for, its log in `DIR/run/server.log`, and Keel's own
 * configuration files in `DIR`. For WAL-G, the recovery settings too: `restore_command` through
 * `wal-g wal-fetch`, `recovery_target = 'immediate'`, `recovery_target_action = 'promote'`.
 */
export function serverSettings(p: BackupRehearsalParams): [string, string][] {
  const settings: [string, string][] = [
    ["config_file", `${p.dir}/postgresql.conf`],
    ["hba_file", `${p.dir}/pg_hba.conf`],
    ["ident_file", `${p.dir}/pg_ident.conf`],
    ["listen_addresses", ""],
    ["port", String(REHEARSAL_PORT)],
    ["unix_socket_directories", `${p.dir}/run`],
    ["archive_mode", "off"],
    ["hot_standby", "off"],
    ["synchronous_standby_names", ""],
    ["logging_collector", "off"],
  ];
  if (p.tool === "walg")
    settings.push(
      ["restore_command", `${envPrefix(p.env)}wal-g wal-fetch "%f" "%p"`],
      ["recovery_target", "immediate"],
      ["recovery_target_action", "promote"],
    );
  return settings;
}

/**
 * Step `start server`: finds the server binaries of the restored data's major version
 * (`PG_VERSION`, `/usr/lib/postgresql/MAJOR/bin`), gives the data to `postgres` when it belongs
 * to root (a restore run as root), writes Keel's `postgresql.conf`, `pg_hba.conf` (local
 * connections, trusted: the socket directory is the server user's alone, mode 700) and
 * `pg_ident.conf`, adds `recovery.signal` for WAL-G, and starts the server with `pg_ctl start -w`
 * as the data's owner. Prints `keel-server USER MAJOR` on success, the end of the server's log on
 * failure.
 */
export function startScript(p: BackupRehearsalParams, waitSeconds: number): string {
  const d = shellQuote(p.dir);
  const opts = serverSettings(p)
    .map(([k, v]) => `-c ${shellQuote(`${k}=${v}`)}`)
    .join(" ");
  return [
    `d=${d}; data="$d/data"`,
    `v=$(cat "$data/PG_VERSION" 2>/dev/null) || { echo "$data/PG_VERSION is missing: the restore left no PostgreSQL data directory" >&2; exit 1; }`,
    `bin="/usr/lib/postgresql/$v/bin"`,
    `[ -x "$bin/pg_ctl" ] || { echo "the backup is of PostgreSQL $v, and $bin/pg_ctl is missing (Debian package postgresql-$v)" >&2; exit 1; }`,
    `owner=$(stat -c %U "$data") || exit 1`,
    `if [ "$owner" = root ]; then chown -R ${POSTGRES_USER}: "$data" || exit 1; owner=${POSTGRES_USER}; fi`,
    `mkdir -m 700 "$d/run" && chown "$owner": "$d/run" || exit 1`,
    `printf '%s\\n' "# keel backup rehearsal: the settings are on the server's command line" > "$d/postgresql.conf"`,
    `printf '%s\\n' "local all all trust" > "$d/pg_hba.conf"`,
    `: > "$d/pg_ident.conf"`,
    `chmod 644 "$d/postgresql.conf" "$d/pg_hba.conf" "$d/pg_ident.conf"`,
    ...(p.tool === "walg"
      ? [`runuser -u "$owner" -- touch "$data/recovery.signal" 2>/dev/null || touch "$data/recovery.signal"`]
      : []),
    `cd /`,
    `if ! runuser -u "$owner" -- "$bin/pg_ctl" -D "$data" -l "$d/run/server.log" -w -t ${Math.max(1, Math.floor(waitSeconds))} -o ${shellQuote(opts)} start >"$d/run/pg_ctl.out" 2>&1; then`,
    `  cat "$d/run/pg_ctl.out" >&2; tail -n 20 "$d/run/server.log" >&2; exit 1`,
    `fi`,
    `echo "keel-server $owner $v"`,
  ].join("\n");
}

/** `psql` of the rehearsal's server as `owner`, with `args` after the connection options. */
function psql(dir: string, major: string, args: string): string {
  return `/usr/lib/postgresql/${major}/bin/psql -X -h ${shellQuote(`${dir}/run`)} -p ${REHEARSAL_PORT} -U ${REHEARSAL_ROLE} -d postgres ${args}`;
}

/**
 * Step `wait for queries`: asks the server every half second whether it still recovers
 * (`select pg_is_in_recovery()`) until it answers `f`, within `seconds`; fails with the end of
 * its log when the server stops or time runs out. As the server's user.
 */
export function waitScript(dir: string, owner: string, major: string, seconds: number): string {
  const d = shellQuote(dir);
  const ask = asUser(owner, `${psql(dir, major, "-Atc 'select pg_is_in_recovery()'")} 2>/dev/null`);
  const status = asUser(
    owner,
    `/usr/lib/postgresql/${major}/bin/pg_ctl -D ${shellQuote(`${dir}/data`)} status >/dev/null 2>&1`,
  );
  return [
    `d=${d}; cd /`,
    `end=$(( $(date +%s) + ${Math.max(1, Math.floor(seconds))} ))`,
    `while :; do`,
    `  [ "$(${ask})" = f ] && exit 0`,
    `  if ! ${status}; then echo "the server stopped while recovering:" >&2; tail -n 20 "$d/run/server.log" >&2; exit 1; fi`,
    `  if [ "$(date +%s)" -ge "$end" ]; then echo "the server accepted no query within ${Math.floor(seconds)} s:" >&2; tail -n 20 "$d/run/server.log" >&2; exit 1; fi`,
    `  sleep 0.5`,
    `done`,
  ].join("\n");
}

/**
 * Step `read point in time`: `pg_last_xact_replay_timestamp()` in UTC (empty when recovery
 * replayed no transaction), whether the server still recovers, and its `archive_mode`, as
 * `TIMESTAMP|f|off`.
 */
export function pointInTimeScript(dir: string, owner: string, major: string): string {
  const sql =
    "select coalesce(to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), pg_is_in_recovery(), current_setting('archive_mode')";
  return `cd / && ${asUser(owner, psql(dir, major, `-v ON_ERROR_STOP=1 -At -c ${shellQuote(sql)}`))}`;
}

/**
 * Step `query N`: runs `sql` (one psql command, `ON_ERROR_STOP`), throws its rows away and
 * prints psql's `ROW_COUNT` (rows returned or affected).
 */
export function queryScript(dir: string, owner: string, major: string, sql: string): string {
  return `cd / && ${asUser(owner, psql(dir, major, `-q -v ON_ERROR_STOP=1 -o /dev/null -c ${shellQuote(sql)} -c ${shellQuote("\\echo :ROW_COUNT")}`))}`;
}

/** Step `stop server`: `pg_ctl stop -m fast`, waiting at most `seconds`. */
export function stopScript(dir: string, owner: string, major: string, seconds: number): string {
  return `cd / && ${asUser(owner, `/usr/lib/postgresql/${major}/bin/pg_ctl -D ${shellQuote(`${dir}/data`)} -m fast -w -t ${Math.max(1, Math.floor(seconds))} stop`)}`;
}

/** Step `remove data`: removes everything in `DIR`, leaving it empty. */
export function removeScript(dir: string): string {
  return `find ${shellQuote(dir)} -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +`;
}

/**
 * The clean-up after a failure: when `DIR/data/postmaster.pid` names a live process, stops that
 * server (`pg_ctl stop -m fast`, then `-m immediate`, then SIGKILL), then empties `DIR`. Runs
 * only after `empty dir` succeeded, so the server it stops is the rehearsal's own.
 */
export function cleanupScript(dir: string): string {
  return [
    `d=${shellQuote(dir)}; data="$d/data"; cd /`,
    `if [ -f "$data/postmaster.pid" ]; then`,
    `  pid=$(head -n 1 "$data/postmaster.pid")`,
    `  case "$pid" in ''|*[!0-9]*) pid=;; esac`,
    `  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then`,
    `    owner=$(stat -c %U "$data"); bin="/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin"`,
    `    runuser -u "$owner" -- "$bin/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 ||`,
    `      runuser -u "$owner" -- "$bin/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||`,
    `      kill -KILL "$pid"`,
    `  fi`,
    `fi`,
    removeScript(dir),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Parsing the tools' lists

/**
 * Chooses the backup to restore from `pgbackrest info --output=json` of `stanza` (read by
 * `parsePgBackRestInfo` of the `backup.pgbackrest` check): the set labelled `set`, else the
 * newest finished (what `restore` picks by default), with the WAL range it needs.
 *
 * @returns the backup, or a string saying why none can be chosen.
 */
export function choosePgbackrest(text: string, stanza: string, set?: string): ChosenBackup | string {
  const info = parsePgBackRestInfo(text, stanza);
  if (typeof info === "string") return `pgbackrest info printed ${info}`;
  const of = (b: (typeof info.backups)[number]): ChosenBackup => ({
    label: b.label,
    type: b.type,
    stop: instant(b.finishedMs),
    ...(b.wal ? { wal: b.wal } : {}),
  });
  if (info.backups.length === 0)
    return `stanza ${stanza} has no backup to restore (pgbackrest says "${info.statusMessage}")`;
  if (set === undefined) return of(info.backups[0]!);
  const b = info.backups.find((x) => x.label === set);
  return b
    ? of(b)
    : `stanza ${stanza} has no backup set ${set}; its sets are ${info.backups
        .map((x) => x.label)
        .reverse()
        .join(", ")}`;
}

/**
 * Chooses the WAL-G backup to restore from `wal-g backup-list --json --detail`: the one named
 * `set`, else the newest finished (what `backup-fetch … LATEST` restores).
 *
 * @returns the backup, or a string saying why none can be chosen.
 */
export function chooseWalg(text: string, name: string, set?: string): ChosenBackup | string {
  const list = parseWalgList(text);
  if (typeof list === "string") return `wal-g backup-list printed ${list}`;
  if (list.length === 0) return `WAL-G backup ${name} has no backup to restore`;
  const of = (b: (typeof list)[number]): ChosenBackup => ({
    label: b.name,
    type: b.full ? "full" : "delta",
    stop: instant(b.finishedMs),
  });
  if (set === undefined) return of(list[0]!);
  const b = list.find((x) => x.name === set);
  return b
    ? of(b)
    : `WAL-G backup ${name} has no backup ${set}; it holds ${list.map((x) => x.name).join(", ")}`;
}

/**
 * Reads the `read point in time` step's `TIMESTAMP|f|off` line.
 *
 * @returns the replay timestamp (undefined when none was replayed), whether the server still
 *   recovers and its archive_mode; a string when the line is not that.
 */
export function parsePointInTime(
  text: string,
): { replayed?: string; recovering: boolean; archiveMode: string } | string {
  const line = text.trim().split("\n").at(-1) ?? "";
  const m = /^([0-9T:Z-]*)\|([tf])\|(\S+)$/.exec(line);
  if (!m) return `not the expected TIMESTAMP|RECOVERING|ARCHIVE_MODE line: ${JSON.stringify(line)}`;
  return { ...(m[1] ? { replayed: m[1] } : {}), recovering: m[2] === "t", archiveMode: m[3]! };
}

// ---------------------------------------------------------------------------------------------
// Judging

/** The end of `text` with whitespace collapsed, cut to `max` characters from the start with `…`. */
export function tailExcerpt(text: string, max = 300): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `…${one.slice(one.length - max)}` : one;
}

/** `stanza main`, `WAL-G backup app`. */
function subject(tool: RehearsalTool, backup: string): string {
  return tool === "pgbackrest" ? `stanza ${backup}` : `WAL-G backup ${backup}`;
}

/**
 * The verdict on a rehearsal: `pass` when every step succeeded (message `restored SET (TYPE) to
 * POINT in N s; K queries ok`), `fail` naming the failing step and what the tool said, `error`
 * when the rehearsal could not run at all (a server already running in the scratch directory,
 * no sudo, a tool missing). A failed clean-up is added to the message, and fails a rehearsal
 * that had passed.
 */
export function judgeRehearsal(run: RehearsalRun): CheckOutcome {
  const observed: Record<string, unknown> = {
    backup: run.backup,
    tool: run.tool,
    set: run.chosen?.label ?? null,
    type: run.chosen?.type ?? null,
    pointInTime: run.pointInTime?.at ?? null,
    pointInTimeSource: run.pointInTime?.source ?? null,
    durationSec: run.recoveryMs === undefined ? null : Math.round(run.recoveryMs / 1000),
    totalSec: Math.round(run.totalMs / 1000),
    ...(run.major !== undefined ? { postgres: run.major } : {}),
    ...(run.failure ? { step: run.failure.step } : {}),
    queries: run.queries.map((q) => (q.rows === undefined ? { sql: q.sql } : { sql: q.sql, rows: q.rows })),
    ...(run.cleanup ? { cleanup: run.cleanup } : {}),
  };
  const cleanup = run.cleanup ? `; cleaning up failed too: ${run.cleanup}` : "";
  if (run.failure) {
    const { step, text, cannotRun } = run.failure;
    return {
      status: cannotRun ? "error" : "fail",
      message: `restore rehearsal of ${subject(run.tool, run.backup)} ${cannotRun ? "could not run" : "failed"} at step "${step}": ${text}${cleanup}`,
      observed,
    };
  }
  const n = run.queries.length;
  const chosen = run.chosen ? `${run.chosen.label} (${run.chosen.type})` : run.backup;
  const took = humanAge(run.recoveryMs ?? 0);
  const queries = n === 0 ? "no sanity query declared" : `${n} quer${n === 1 ? "y" : "ies"} ok`;
  return {
    status: run.cleanup ? "fail" : "pass",
    message: `restored ${chosen} to ${run.pointInTime?.at ?? "an unknown point in time"} in ${took}; ${queries}${cleanup}`,
    observed,
  };
}

// ---------------------------------------------------------------------------------------------
// Running

/** A step that went wrong: its name, the text for the message, and whether the rehearsal could not run. */
class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly text: string,
    readonly cannotRun = false,
  ) {
    super(`${step}: ${text}`);
  }
}

/** True when `r` says sudo wanted a password or is missing (the rehearsal cannot run as root). */
function sudoRefused(r: ExecResult): boolean {
  return /^sudo: /m.test(r.stderr) || (r.code === 127 && /\bsudo\b.*not found/.test(r.stderr));
}

/** The tool a step runs, for "not installed" messages. */
function missingTool(r: ExecResult): string | undefined {
  if (r.code !== 127) return undefined;
  const m = /(?:^|\s)([\w.-]+): (?:command )?not found/m.exec(r.stderr);
  return m?.[1] ?? "a command";
}

/** Runs a rehearsal's steps over `ctx.prober`, cleaning up on failure; returns what it saw. */
export async function rehearse(
  p: BackupRehearsalParams,
  host: string,
  ctx: CheckContext,
): Promise<RehearsalRun> {
  const t0 = Date.now();
  const reserve = Math.min(CLEANUP_RESERVE_MS, Math.floor(ctx.timeoutMs / 4));
  const stepsEnd = t0 + ctx.timeoutMs - reserve;
  const run: RehearsalRun = { tool: p.tool, backup: p.backup, totalMs: 0, queries: [] };
  let emptied = false;

  /** Runs step `step`'s script as root within the time left; throws StepFailed when it fails. */
  const step = async (name: string, script: (seconds: number) => string, what: string): Promise<string> => {
    const left = stepsEnd - Date.now();
    if (left < 1000)
      throw new StepFailed(name, `no time left of the ${humanAge(ctx.timeoutMs)} a rehearsal may take`);
    const seconds = Math.floor(left / 1000);
    let r: ExecResult;
    try {
      r = await ctx.prober.sshExec(
        p.target,
        asRoot(p.target.user, script(seconds), seconds),
        left,
        ctx.signal,
      );
    } catch (e) {
      throw stepError(name, e, host);
    }
    if (r.code === 0) return r.stdout;
    const said = tailExcerpt(r.stderr.trim() || r.stdout.trim()) || "(no output)";
    if (sudoRefused(r))
      throw new StepFailed(name, `cannot run as root on ${host} with sudo -n: ${said}`, true);
    const missing = missingTool(r);
    if (missing) throw new StepFailed(name, `${missing} is not installed on ${host}: ${said}`, true);
    if (r.code === 124 || r.code === 137)
      throw new StepFailed(
        name,
        `${what} did not finish within the ${humanAge(ctx.timeoutMs)} a rehearsal may take: ${said}`,
      );
    throw new StepFailed(
      name,
      `${what} exited with ${r.code ?? "a signal"}: ${said}`,
      name === "empty dir" && r.code === 3,
    );
  };

  try {
    await step("empty dir", () => emptyScript(p.dir, toolUser(p)), `emptying ${p.dir}`);
    emptied = true;
    const list = await step(
      "list backups",
      () => listScript(p),
      p.tool === "pgbackrest" ? "pgbackrest info" : "wal-g backup-list",
    );
    const chosen =
      p.tool === "pgbackrest" ? choosePgbackrest(list, p.backup, p.set) : chooseWalg(list, p.backup, p.set);
    if (typeof chosen === "string") throw new StepFailed("list backups", chosen);
    run.chosen = chosen;
    const restoreStart = Date.now();
    await step(
      "restore",
      () => restoreScript(p, chosen.label),
      p.tool === "pgbackrest" ? "pgbackrest restore" : "wal-g backup-fetch",
    );
    if (p.tool === "pgbackrest" && chosen.wal) {
      const { start, stop } = chosen.wal;
      await step("fetch WAL", () => fetchWalScript(p, start, stop), "pgbackrest archive-get");
    }
    const started = await step("start server", (s) => startScript(p, s), "pg_ctl start");
    // the user and the version go into later commands: a user name and a version number only
    const m = /^keel-server ([a-z_][a-z0-9_.-]*) (\d+(?:\.\d+)?)$/im.exec(started);
    if (!m) throw new StepFailed("start server", `unexpected output: ${tailExcerpt(started)}`);
    const [, owner, major] = m as unknown as [string, string, string];
    run.major = major;
    await step("wait for queries", (s) => waitScript(p.dir, owner, major, s), "waiting for the server");
    run.recoveryMs = Date.now() - restoreStart;
    const pit = parsePointInTime(
      await step("read point in time", () => pointInTimeScript(p.dir, owner, major), "psql"),
    );
    if (typeof pit === "string") throw new StepFailed("read point in time", pit);
    if (pit.archiveMode !== "off")
      throw new StepFailed(
        "read point in time",
        `the server runs with archive_mode ${pit.archiveMode}; expected off`,
      );
    if (pit.recovering) throw new StepFailed("read point in time", "the server is still in recovery");
    run.pointInTime = pit.replayed
      ? { at: pit.replayed, source: "replay" }
      : chosen.stop
        ? { at: chosen.stop, source: "backup-stop" }
        : undefined;
    for (const [i, sql] of p.queries.entries()) {
      const q: QueryRun = { sql };
      run.queries.push(q);
      const out = await step(`query ${i + 1}`, () => queryScript(p.dir, owner, major, sql), `psql (${sql})`);
      const rows = Number(out.trim().split("\n").at(-1));
      if (Number.isInteger(rows)) q.rows = rows;
    }
    await step("stop server", (s) => stopScript(p.dir, owner, major, s), "pg_ctl stop");
    await step("remove data", () => removeScript(p.dir), `emptying ${p.dir}`);
  } catch (e) {
    run.failure = failureOf(e);
    if (emptied) run.cleanup = await cleanUp(p, ctx, reserve);
  }
  run.totalMs = Date.now() - t0;
  return run;
}

/**
 * What an SSH command of step `step` threw, as the step's failure: a refused host key, a missing
 * identity or a failed login mean the rehearsal could not run; a command cut off at its
 * deadline, or an interrupted run, fail the step.
 */
function stepError(step: string, e: unknown, host: string): StepFailed {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof VantageError) return new StepFailed(step, msg, true);
  if (e instanceof ProbeError && !/did not finish within|aborted/.test(msg))
    return new StepFailed(step, `cannot log in to ${host}: ${msg}`, true);
  return new StepFailed(step, msg);
}

/** The `failure` of a rehearsal for what a step threw. */
function failureOf(e: unknown): NonNullable<RehearsalRun["failure"]> {
  if (e instanceof StepFailed)
    return { step: e.step, text: e.text, ...(e.cannotRun ? { cannotRun: true } : {}) };
  return { step: "rehearsal", text: e instanceof Error ? e.message : String(e) };
}

/** Stops the rehearsal's server and empties its directory; returns what went wrong, if anything. */
async function cleanUp(
  p: BackupRehearsalParams,
  ctx: CheckContext,
  reserve: number,
): Promise<string | undefined> {
  // the run's signal may have fired (an interrupted run): the clean-up still gets its reserve
  const ms = Math.max(5000, reserve);
  try {
    const r = await ctx.prober.sshExec(
      p.target,
      asRoot(p.target.user, cleanupScript(p.dir), ms / 1000),
      ms,
      new AbortController().signal,
    );
    return r.code === 0 ? undefined : `exit ${r.code}: ${tailExcerpt(r.stderr || r.stdout) || "(no output)"}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The check's params for a declared rehearsal once the SSH target is known. */
function paramsOf(
  tool: RehearsalTool,
  backup: string,
  r: BackupRehearsal,
  user: string | undefined,
  env: string | undefined,
  target: SshTarget,
): BackupRehearsalParams {
  return {
    kind: "backup.rehearsal",
    target,
    tool,
    backup,
    dir: r.dir,
    ...(user !== undefined ? { user } : {}),
    ...(env !== undefined ? { env } : {}),
    queries: [...r.queries],
  };
}

/** Every declared rehearsal whose host is `host`: tool, backup name, rehearsal, user and env. */
export function rehearsalsOn(
  inv: Inventory,
  host: string,
): { tool: RehearsalTool; backup: string; rehearsal: BackupRehearsal; user?: string; env?: string }[] {
  return [
    ...inv.backups.pgbackrest.flatMap((s) =>
      s.rehearsal?.host === host
        ? [
            {
              tool: "pgbackrest" as const,
              backup: s.stanza,
              rehearsal: s.rehearsal,
              ...(s.user ? { user: s.user } : {}),
            },
          ]
        : [],
    ),
    ...inv.backups.walg.flatMap((w) =>
      w.rehearsal?.host === host
        ? [
            {
              tool: "walg" as const,
              backup: w.name,
              rehearsal: w.rehearsal,
              ...(w.user ? { user: w.user } : {}),
              ...(w.env ? { env: w.env } : {}),
            },
          ]
        : [],
    ),
  ];
}

/** Restores the newest backup on the rehearsal host, starts a server on it, queries it; `judgeRehearsal` decides. */
export const backupRehearsal: CheckKindDefinition<"backup.rehearsal", BackupRehearsalParams> = {
  kind: "backup.rehearsal",
  transport: "ssh",
  scope: "on-host",
  onDemand: true,
  derive(h, ctx) {
    return rehearsalsOn(ctx.inv, h.name).map((r) => ({
      service: r.backup,
      make: (target: SshTarget) => paramsOf(r.tool, r.backup, r.rehearsal, r.user, r.env, target),
      intervalMs: r.rehearsal.intervalMs,
      timeoutMs: REHEARSAL_TIMEOUT_MS,
      // a rehearsal runs days apart: its one failure is news
      failAfter: 1,
    }));
  },
  async run(spec, ctx) {
    return judgeRehearsal(await rehearse(spec.params, spec.host, ctx));
  },
};
