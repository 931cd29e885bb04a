/**
 * `backup.pgbackrest`: a pgBackRest stanza declared in `backups.pgbackrest` has fresh backups.
 * Over SSH on its repository host, `pgbackrest --stanza=NAME --output=json info` (pgBackRest
 * command reference, "Info Command"; its maintainers' advice is to compute a backup's age from
 * it, since pgBackRest itself never says a backup is too old) gives the stanza's status code,
 * its backups with their type, stop time and `error` flag, the archive's WAL range and whether a
 * backup holds the stanza's lock. The check fails on a status other than ok (named: missing
 * stanza path, no valid backups, …), on a scheduled type whose newest backup without errors is
 * older than its interval plus grace (a full backup also counts as a diff, and any backup as an
 * incr, as each restores at least as far), on a newest backup older than the `backup`
 * objective, on an archive without WAL, and on a backup lock held longer than the shortest
 * scheduled interval (a backup that hangs blocks every later one).
 */
import type { PgBackRestBackupType, PgBackRestStanza } from "../../inventory/model.js";
import type { CheckKindDefinition, CheckOutcome, SshTarget } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { humanAge, instant, scheduleLimit, splitClock, sudoPrefix } from "./backup-common.js";
import { excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `backup.pgbackrest` check: derived for each stanza on its repository host. */
export interface BackupPgBackRestParams {
  kind: "backup.pgbackrest";
  target: SshTarget;
  stanza: string;
  /** Run as `sudo -n -u USER`; absent: as the SSH user. */
  user?: string;
  /** `schedule`: interval per declared type, ms. */
  schedule: Partial<Record<PgBackRestBackupType, number>>;
  graceMs: number;
  /** `objectives.backup`, ms. */
  objectiveMs: number;
  /** `objectives.wal`, ms (judged by `backup.wal-archive` on the primary; carried for the view). */
  walObjectiveMs: number;
}

/**
 * pgBackRest's stanza status codes and their messages (its info command: `status.code`,
 * `status.message`), as named in Keel's messages.
 */
export const PGBACKREST_STATUS: Readonly<Record<number, string>> = {
  0: "ok",
  1: "missing stanza path",
  2: "no valid backups",
  3: "missing stanza data",
  4: "different across repos",
  5: "database mismatch across repos",
  6: "requested backup not found",
  99: "other",
};

/** Where pgBackRest keeps its lock files unless `lock-path` is set (command reference, "lock-path"). */
export const PGBACKREST_LOCK_PATH = "/tmp/pgbackrest";

/** One backup of `info`, as far as the check reads it. */
export interface PgBackRestListedBackup {
  label: string;
  type: PgBackRestBackupType;
  /** `timestamp.start` and `timestamp.stop`, ms since the epoch. */
  startedMs: number;
  finishedMs: number;
  /** `error`: pgBackRest found page checksum errors while copying (absent before 2.36: false). */
  error: boolean;
  /** `archive.start` and `archive.stop`: the first and last WAL segment the backup needs to be consistent. */
  wal?: { start: string; stop: string };
}

/** One stanza of `info`, as far as the check reads it. */
export interface PgBackRestInfo {
  name: string;
  statusCode: number;
  statusMessage: string;
  lockHeld: boolean;
  /** Newest finished first. */
  backups: PgBackRestListedBackup[];
  /** The archive's oldest and newest WAL segment of the current database, null when none. */
  archiveMin: string | null;
  archiveMax: string | null;
}

/**
 * The command run on the repository host: `[sudo -n -u USER] pgbackrest --stanza=NAME
 * --output=json info`, its output, a line `lock MTIME` (the Unix time of the stanza's backup lock
 * file in the default lock path, `-` when there is none), then the host's clock (`date +%s`).
 * POSIX sh; keeps pgbackrest's exit status (127 when it is missing).
 */
export function pgbackrestInfoCommand(stanza: string, user: string | undefined): string {
  const lock = shellQuote(`${PGBACKREST_LOCK_PATH}/${stanza}-backup.lock`);
  return [
    `out=$(${sudoPrefix(user)}pgbackrest --stanza=${shellQuote(stanza)} --output=json info) || exit $?`,
    `printf '%s\\n' "$out"`,
    `printf 'lock %s\\n' "$(stat -c %Y ${lock} 2>/dev/null || echo -)"`,
    "date +%s",
  ].join("; ");
}

const TYPES: readonly string[] = ["full", "diff", "incr"];

/**
 * Parses `pgbackrest --output=json info` for stanza `stanza`: an array of stanzas, each with
 * `name`, `status.code`/`message`/`lock.backup.held`, `backup[]` (`label`, `type`,
 * `timestamp.start`/`stop` in Unix seconds, `error`, `archive.start`/`stop`) and `archive[]`
 * (`id`, `min`, `max`).
 *
 * @returns the stanza; a string saying what is wrong when the text is not that, or lists no
 *   such stanza.
 */
export function parsePgBackRestInfo(text: string, stanza: string): PgBackRestInfo | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return `not JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  if (!Array.isArray(data)) return "JSON that is not a list of stanzas";
  const s = data.find(
    (x) => typeof x === "object" && x !== null && (x as { name?: unknown }).name === stanza,
  ) as Record<string, unknown> | undefined;
  if (!s) return `no stanza ${stanza} in the list`;
  const status = s.status as
    | { code?: unknown; message?: unknown; lock?: { backup?: { held?: unknown } } }
    | undefined;
  if (typeof status?.code !== "number") return `stanza ${stanza} has no status.code`;
  const backups: PgBackRestListedBackup[] = [];
  for (const [i, b] of (Array.isArray(s.backup) ? s.backup : []).entries()) {
    const { label, type, timestamp, error, archive } = (b ?? {}) as Record<string, unknown>;
    const ts = (timestamp ?? {}) as { start?: unknown; stop?: unknown };
    const segs = (archive ?? {}) as { start?: unknown; stop?: unknown };
    if (typeof label !== "string" || typeof type !== "string" || !TYPES.includes(type))
      return `backup ${i + 1} has no label or a type other than full, diff, incr`;
    if (typeof ts.start !== "number" || typeof ts.stop !== "number")
      return `backup ${label} has no timestamp`;
    backups.push({
      label,
      type: type as PgBackRestBackupType,
      startedMs: ts.start * 1000,
      finishedMs: ts.stop * 1000,
      error: error === true,
      ...(typeof segs.start === "string" && typeof segs.stop === "string"
        ? { wal: { start: segs.start, stop: segs.stop } }
        : {}),
    });
  }
  backups.sort((a, b) => b.finishedMs - a.finishedMs);
  // the archive of the current database is the last listed (`archive[].id` is VERSION-DBID)
  const archives = Array.isArray(s.archive) ? (s.archive as Record<string, unknown>[]) : [];
  const current = archives.at(-1);
  const wal = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    name: stanza,
    statusCode: status.code,
    statusMessage:
      typeof status.message === "string" ? status.message : (PGBACKREST_STATUS[status.code] ?? "other"),
    lockHeld: status.lock?.backup?.held === true,
    backups,
    archiveMin: wal(current?.min),
    archiveMax: wal(current?.max),
  };
}

/** The limits a stanza is judged by (the params' durations). */
export type PgBackRestLimits = Pick<
  BackupPgBackRestParams,
  "schedule" | "graceMs" | "objectiveMs" | "walObjectiveMs"
>;

/** The backup types that restore at least as far as a backup of `type` (a full also serves as a diff). */
const SERVES: Record<PgBackRestBackupType, readonly PgBackRestBackupType[]> = {
  full: ["full"],
  diff: ["diff", "full"],
  incr: ["incr", "diff", "full"],
};

/**
 * Judges stanza `info` at `nowMs` (the repository host's clock). `lockSinceMs` is when the
 * backup lock file was last written (the running backup's start), when known.
 */
export function judgePgBackRest(
  info: PgBackRestInfo,
  nowMs: number,
  limits: PgBackRestLimits,
  lockSinceMs?: number,
): CheckOutcome {
  const good = info.backups.filter((b) => !b.error);
  const seen = (b: PgBackRestListedBackup) => ({
    label: b.label,
    type: b.type,
    started: instant(b.startedMs),
    finished: instant(b.finishedMs),
    ageSec: Math.round((nowMs - b.finishedMs) / 1000),
  });
  const newest = good[0];
  const byType: Partial<Record<PgBackRestBackupType, ReturnType<typeof seen>>> = {};
  for (const t of ["full", "diff", "incr"] as const) {
    const b = good.find((x) => x.type === t);
    if (b) byType[t] = seen(b);
  }
  const lockAgeMs = info.lockHeld && lockSinceMs !== undefined ? Math.max(0, nowMs - lockSinceMs) : undefined;
  const observed = {
    stanza: info.name,
    status: { code: info.statusCode, message: info.statusMessage },
    backups: info.backups.length,
    withErrors: info.backups.filter((b) => b.error).map((b) => b.label),
    newest: newest ? seen(newest) : null,
    byType,
    objectiveSec: Math.round(limits.objectiveMs / 1000),
    walObjectiveSec: Math.round(limits.walObjectiveMs / 1000),
    archive: { min: info.archiveMin, max: info.archiveMax },
    lock: { held: info.lockHeld, ageSec: lockAgeMs === undefined ? null : Math.round(lockAgeMs / 1000) },
  };
  const named = PGBACKREST_STATUS[info.statusCode] ?? info.statusMessage;
  if (info.statusCode !== 0) {
    return {
      status: "fail",
      message: `stanza ${info.name}: pgBackRest status ${info.statusCode} (${named}); expected 0 (ok)`,
      observed,
    };
  }
  const age = (b: PgBackRestListedBackup) => nowMs - b.finishedMs;
  const finished = (what: string, b: PgBackRestListedBackup) =>
    `${what} ${b.label} finished ${humanAge(age(b))} ago (${instant(b.finishedMs)})`;
  const problems: string[] = [];
  for (const t of ["full", "diff", "incr"] as const) {
    const interval = limits.schedule[t];
    if (interval === undefined) continue;
    const why = scheduleLimit(interval, limits.graceMs, t)!;
    const kinds = SERVES[t].join(" or ");
    const b = good.find((x) => SERVES[t].includes(x.type));
    if (!b) problems.push(`no ${kinds} backup without errors; expected one at most ${why} old`);
    else if (age(b) > interval + limits.graceMs)
      problems.push(`${finished(`newest ${kinds} backup`, b)}; expected at most ${why}`);
  }
  if (newest && age(newest) > limits.objectiveMs)
    problems.push(
      `${finished("newest backup", newest)}; expected at most ${humanAge(limits.objectiveMs)} (objective)`,
    );
  if (info.archiveMax === null)
    problems.push("the archive holds no WAL segment; expected the WAL since the oldest backup");
  const scheduled = Object.values(limits.schedule).filter((v): v is number => v !== undefined);
  const shortest = Math.min(...scheduled);
  if (lockAgeMs !== undefined && scheduled.length > 0 && lockAgeMs > shortest)
    problems.push(
      `a backup has held the stanza's lock for ${humanAge(lockAgeMs)}; expected at most ${humanAge(shortest)} (the shortest scheduled interval)`,
    );
  const errors = observed.withErrors.length
    ? `; ${observed.withErrors.length} backup${observed.withErrors.length > 1 ? "s" : ""} with errors not counted (${observed.withErrors.join(", ")})`
    : "";
  if (problems.length > 0)
    return { status: "fail", message: `stanza ${info.name}: ${problems.join("; ")}${errors}`, observed };
  const running = info.lockHeld ? "; a backup is running" : "";
  return {
    status: "pass",
    message: `stanza ${info.name}: ${finished(`newest backup (${newest!.type})`, newest!)}; ${info.backups.length} backup${info.backups.length > 1 ? "s" : ""}, WAL archived to ${info.archiveMax}${running}${errors}`,
    observed,
  };
}

/** The check's params for stanza `s` once the SSH target is known. */
function paramsOf(s: PgBackRestStanza, target: SshTarget): BackupPgBackRestParams {
  return {
    kind: "backup.pgbackrest",
    target,
    stanza: s.stanza,
    ...(s.user !== undefined ? { user: s.user } : {}),
    schedule: s.schedule,
    graceMs: s.graceMs,
    objectiveMs: s.objectives.backupMs,
    walObjectiveMs: s.objectives.walMs,
  };
}

/** Runs `pgbackrest info` on the stanza's repository host and judges it with `judgePgBackRest`. */
export const backupPgBackRest: CheckKindDefinition<"backup.pgbackrest", BackupPgBackRestParams> = {
  kind: "backup.pgbackrest",
  transport: "ssh",
  scope: "on-host",
  derive(h, ctx) {
    return ctx.inv.backups.pgbackrest
      .filter((s) => s.repository === h.name)
      .map((s) => ({ service: s.stanza, make: (target: SshTarget) => paramsOf(s, target) }));
  },
  async run(spec, ctx) {
    const p = spec.params;
    try {
      const r = await ctx.prober.sshExec(
        p.target,
        pgbackrestInfoCommand(p.stanza, p.user),
        ctx.timeoutMs,
        ctx.signal,
      );
      if (toolMissing(r, "pgbackrest")) return undecided(`pgbackrest is not installed on ${spec.host}`);
      if (r.code !== 0)
        return undecided(
          `pgbackrest info failed on ${spec.host} (exit ${r.code}): ${excerpt(r.stderr || r.stdout, 200) || "(no output)"}`,
        );
      const { printed, nowMs } = splitClock(r.stdout);
      if (nowMs === undefined)
        return undecided(`cannot read the clock of ${spec.host}: read ${JSON.stringify(excerpt(r.stdout))}`);
      const lines = printed.split("\n");
      const lockLine = lines.at(-1) ?? "";
      const lockSince = /^lock \d+$/.test(lockLine) ? Number(lockLine.slice(5)) * 1000 : undefined;
      const json = lockLine.startsWith("lock ") ? lines.slice(0, -1).join("\n") : printed;
      const info = parsePgBackRestInfo(json, p.stanza);
      if (typeof info === "string")
        return undecided(
          `pgbackrest info --output=json on ${spec.host} printed ${info}, not pgBackRest's stanza list: read ${JSON.stringify(excerpt(json))}`,
        );
      return judgePgBackRest(info, nowMs, p, lockSince);
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};
