/**
 * `backup.walg`: a WAL-G backup declared in `backups.walg` is fresh. Over SSH on its host,
 * `wal-g backup-list --json --detail` lists the backups (WAL-G's docs/README.md, "backup-list";
 * the fields are those of WAL-G's `BackupTime` and `ExtendedMetadataDto`); the newest full
 * backup (a name without `_D_`; a delta is `base_…_D_…`) must be no older than
 * `schedule.full` + grace, the newest of any kind no older than `schedule.delta` + grace and
 * than the `backup` objective. An empty archive ("No backups found") fails.
 */
import type { WalgBackup } from "../../inventory/model.js";
import type { CheckKindDefinition, CheckOutcome, SshTarget } from "../kind.js";
import { humanAge, instant, scheduleLimit, sudoPrefix } from "./backup-common.js";
import { excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `backup.walg` check: derived for each `backups.walg` entry on its host, run there over SSH. */
export interface BackupWalgParams {
  kind: "backup.walg";
  target: SshTarget;
  /** The name it is declared under in `backups.walg`. */
  backup: string;
  /** Run as `sudo -n -u USER`; absent: as the SSH user. */
  user?: string;
  /** Words put before `wal-g`, as written in the inventory. */
  env?: string;
  /** `schedule.full` in ms, when scheduled. */
  fullIntervalMs?: number;
  /** `schedule.delta` in ms, when scheduled. */
  deltaIntervalMs?: number;
  graceMs: number;
  /** `objectives.backup` in ms: the newest backup of any kind is no older. */
  objectiveMs: number;
}

/** One backup of `wal-g backup-list --json --detail`, as far as the check reads it. */
export interface WalgListedBackup {
  /** `backup_name`: `base_WALSEGMENT`, or `base_WALSEGMENT_D_FROMSEGMENT` for a delta. */
  name: string;
  /** `finish_time`, in ms since the epoch. */
  finishedMs: number;
  /** True when the name has no `_D_` (WAL-G names a delta `base_…_D_BASE`). */
  full: boolean;
}

/** WAL-G's message when the storage holds no backup (logged, exit status 0). */
export const WALG_NO_BACKUPS = "No backups found";

/**
 * The command run on the host: `[sudo -n -u USER] [ENV] wal-g backup-list --json --detail`, its
 * output, then the host's clock (`date +%s`) on a line of its own. POSIX sh; keeps wal-g's exit
 * status (127 when it is missing). `env` is put in as written: it is the inventory's shell words
 * (the inventory refuses line breaks and control characters in it).
 */
export function walgCommand(user: string | undefined, env: string | undefined): string {
  const sudo = sudoPrefix(user);
  const prefix = env !== undefined && env.trim() !== "" ? `${env.trim()} ` : "";
  return `out=$(${sudo}${prefix}wal-g backup-list --json --detail) || exit $?; printf '%s\\n' "$out"; date +%s`;
}

/**
 * Parses the JSON of `wal-g backup-list --json --detail` (pretty or not): an array of objects
 * with a string `backup_name` and an RFC 3339 `finish_time`. Empty text is an empty list.
 *
 * @returns the backups, newest finished first; a string saying what is wrong when the text is
 *   not that.
 */
export function parseWalgList(text: string): WalgListedBackup[] | string {
  if (text.trim() === "") return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return `not JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  if (!Array.isArray(data)) return "JSON that is not a list of backups";
  const out: WalgListedBackup[] = [];
  for (const [i, item] of data.entries()) {
    if (typeof item !== "object" || item === null) return `entry ${i + 1} is not an object`;
    const { backup_name: name, finish_time: finish } = item as Record<string, unknown>;
    if (typeof name !== "string" || name === "") return `entry ${i + 1} has no backup_name`;
    const finishedMs = typeof finish === "string" ? Date.parse(finish) : Number.NaN;
    if (!Number.isFinite(finishedMs))
      return `backup ${name} has no finish_time a date (is --detail supported?)`;
    out.push({ name, finishedMs, full: !name.includes("_D_") });
  }
  return out.sort((a, b) => b.finishedMs - a.finishedMs);
}

/** The limits a WAL-G backup is judged by (the params' durations). */
export type WalgLimits = Pick<
  BackupWalgParams,
  "fullIntervalMs" | "deltaIntervalMs" | "graceMs" | "objectiveMs"
>;

/**
 * Judges the backups `wal-g backup-list` listed for the WAL-G backup `name`, at `nowMs` (the
 * host's clock). Fails when there is none; when the newest full backup is older than
 * `schedule.full` + grace (or there is none and full backups are scheduled); when the newest
 * backup of any kind is older than `schedule.delta` + grace, or than the `backup` objective.
 */
export function judgeWalg(
  name: string,
  backups: readonly WalgListedBackup[],
  nowMs: number,
  limits: WalgLimits,
  noBackupsNote?: string,
): CheckOutcome {
  const seen = (b: WalgListedBackup) => ({
    name: b.name,
    type: b.full ? "full" : "delta",
    finished: instant(b.finishedMs),
    ageSec: Math.round((nowMs - b.finishedMs) / 1000),
  });
  const newest = backups[0];
  const newestFull = backups.find((b) => b.full);
  const observed = {
    backups: backups.length,
    newest: newest ? seen(newest) : null,
    newestFull: newestFull ? seen(newestFull) : null,
    recent: backups.slice(0, 5).map(seen),
    objectiveSec: Math.round(limits.objectiveMs / 1000),
  };
  if (!newest) {
    const said = noBackupsNote ? `: wal-g says "${noBackupsNote}"` : "";
    return {
      status: "fail",
      message: `WAL-G backup ${name} has no backup${said}; expected a full backup at most ${scheduleLimit(limits.fullIntervalMs, limits.graceMs, "full") ?? humanAge(limits.objectiveMs)} old`,
      observed,
    };
  }
  const age = (b: WalgListedBackup) => nowMs - b.finishedMs;
  const finished = (what: string, b: WalgListedBackup) =>
    `${what} ${b.name} finished ${humanAge(age(b))} ago (${instant(b.finishedMs)})`;
  const problems: string[] = [];
  if (limits.fullIntervalMs !== undefined) {
    const max = limits.fullIntervalMs + limits.graceMs;
    const why = scheduleLimit(limits.fullIntervalMs, limits.graceMs, "full")!;
    if (!newestFull) problems.push(`no full backup among ${backups.length}; expected one at most ${why} old`);
    else if (age(newestFull) > max)
      problems.push(`${finished("newest full backup", newestFull)}; expected at most ${why}`);
  }
  if (limits.deltaIntervalMs !== undefined && age(newest) > limits.deltaIntervalMs + limits.graceMs)
    problems.push(
      `${finished("newest backup", newest)}; expected at most ${scheduleLimit(limits.deltaIntervalMs, limits.graceMs, "delta")}`,
    );
  if (age(newest) > limits.objectiveMs)
    problems.push(
      `${finished("newest backup", newest)}; expected at most ${humanAge(limits.objectiveMs)} (objective)`,
    );
  if (problems.length > 0) return { status: "fail", message: problems.join("; "), observed };
  const full = newestFull && newestFull !== newest ? `; ${finished("newest full", newestFull)}` : "";
  return {
    status: "pass",
    message: `${finished(newest.full ? "newest backup (full)" : "newest backup", newest)}${full}; ${backups.length} backup${backups.length > 1 ? "s" : ""}`,
    observed,
  };
}

/** The check's params for the WAL-G backup `w` once the SSH target is known. */
function paramsOf(w: WalgBackup, target: SshTarget): BackupWalgParams {
  return {
    kind: "backup.walg",
    target,
    backup: w.name,
    ...(w.user !== undefined ? { user: w.user } : {}),
    ...(w.env !== undefined ? { env: w.env } : {}),
    ...(w.schedule.full !== undefined ? { fullIntervalMs: w.schedule.full } : {}),
    ...(w.schedule.delta !== undefined ? { deltaIntervalMs: w.schedule.delta } : {}),
    graceMs: w.graceMs,
    objectiveMs: w.objectives.backupMs,
  };
}

/** Runs `wal-g backup-list --json --detail` and `date +%s` on the backup's host and judges with `judgeWalg`. */
export const backupWalg: CheckKindDefinition<"backup.walg", BackupWalgParams> = {
  kind: "backup.walg",
  transport: "ssh",
  scope: "on-host",
  derive(h, ctx) {
    return ctx.inv.backups.walg
      .filter((w) => w.host === h.name)
      .map((w) => ({ service: w.name, make: (target: SshTarget) => paramsOf(w, target) }));
  },
  async run(spec, ctx) {
    const p = spec.params;
    try {
      const r = await ctx.prober.sshExec(p.target, walgCommand(p.user, p.env), ctx.timeoutMs, ctx.signal);
      if (toolMissing(r, "wal-g")) return undecided(`wal-g is not installed on ${spec.host}`);
      if (r.code !== 0)
        return undecided(
          `wal-g backup-list failed on ${spec.host} (exit ${r.code}): ${excerpt(r.stderr) || "(nothing on stderr)"}`,
        );
      const lines = r.stdout.trimEnd().split("\n");
      const now = Number(lines.at(-1));
      if (!/^\d+$/.test(lines.at(-1) ?? "") || now <= 0)
        return undecided(`cannot read the clock of ${spec.host}: read ${JSON.stringify(excerpt(r.stdout))}`);
      const printed = lines.slice(0, -1).join("\n");
      const none = `${r.stderr}\n${printed}`.includes(WALG_NO_BACKUPS) ? WALG_NO_BACKUPS : undefined;
      // WAL-G logs "No backups found" instead of a list; should the log reach stdout, it is no list
      const text = none && !printed.trimStart().startsWith("[") ? "" : printed;
      const backups = parseWalgList(text);
      if (typeof backups === "string")
        return undecided(
          `wal-g backup-list --json --detail on ${spec.host} printed ${backups}, not WAL-G's list of backups: read ${JSON.stringify(excerpt(text))}`,
        );
      return judgeWalg(p.backup, backups, now * 1000, p, none);
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};
