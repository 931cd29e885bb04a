/**
 * The `backups:` section: pgBackRest stanzas and WAL-G backups. The rules the schema cannot
 * express (hosts that exist and have SSH, one primary per stanza, no host twice in a stanza,
 * normal absolute paths, durations above zero, a schedule whose types run each more often than
 * the ones above it, objectives that can be met and mean something, a rehearsal that can harm no
 * declared server), and the normalised `Backups`: durations in ms, defaults filled in.
 */
import { posix } from "node:path";
import type { CheckContext } from "./context.js";
import { parseDuration } from "./duration.js";
import {
  type BackupObjectives,
  type BackupRehearsal,
  type Backups,
  PGBACKREST_BACKUP_TYPES,
  type PgBackRestStanza,
  type PostgresRole,
  WALG_BACKUP_TYPES,
  type WalgBackup,
} from "./model.js";
import type {
  RawBackupObjectives,
  RawBackupRehearsal,
  RawInventory,
  RawPgBackRestStanza,
  RawWalgBackup,
  Segment,
} from "./raw.js";
import { didYouMean, show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Default `grace`: 1 hour. */
export const DEFAULT_GRACE_MS = 3_600_000;
/** Default `check_interval` of a stanza: 6 hours. */
export const DEFAULT_CHECK_INTERVAL_MS = 6 * 3_600_000;
/** Shortest `check_interval`: 1 minute (each `pgbackrest check` forces a WAL switch, a new segment). */
export const MIN_CHECK_INTERVAL_MS = 60_000;
/** Default `rehearsal.interval`: 7 days. */
export const DEFAULT_REHEARSAL_INTERVAL_MS = 7 * 86_400_000;
/** Shortest `rehearsal.interval`: 1 hour (a rehearsal restores a whole cluster). */
export const MIN_REHEARSAL_INTERVAL_MS = 3_600_000;
/** Default port of a PostgreSQL server (`pgN-port`, PGPORT). */
export const DEFAULT_POSTGRES_PORT = 5432;

const DATA_EXAMPLE = "/var/lib/postgresql/16/main";

/** One declared data directory, for the rehearsal's `dir` rule. */
interface DataDir {
  host: string;
  dir: string;
  /** `pg1 of stanza "main"`, `WAL-G backup "app"`. */
  what: string;
}

/** Rules of `backups:` the schema cannot express. */
export function checkBackups(ctx: CheckContext): void {
  const backups = ctx.raw.backups;
  if (!backups) return;
  const dataDirs: DataDir[] = [];
  for (const [stanza, s] of Object.entries(backups.pgbackrest ?? {})) checkStanza(ctx, stanza, s, dataDirs);
  for (const [name, w] of Object.entries(backups.walg ?? {})) checkWalg(ctx, name, w, dataDirs);
  // a rehearsal empties its directory: it must not be, hold or lie in any declared data directory
  const rehearsals: [Segment[], string, RawBackupRehearsal | undefined][] = [
    ...Object.entries(backups.pgbackrest ?? {}).map(
      ([n, s]): [Segment[], string, RawBackupRehearsal | undefined] => [
        ["backups", "pgbackrest", n, "rehearsal"],
        `stanza "${n}"`,
        s.rehearsal,
      ],
    ),
    ...Object.entries(backups.walg ?? {}).map(
      ([n, w]): [Segment[], string, RawBackupRehearsal | undefined] => [
        ["backups", "walg", n, "rehearsal"],
        `WAL-G backup "${n}"`,
        w.rehearsal,
      ],
    ),
  ];
  for (const [segs, what, r] of rehearsals) {
    if (!r) continue;
    const dir = canonical(r.dir);
    if (dir === undefined || dir === "/") continue;
    const clash = dataDirs.find((d) => d.host === r.host && (within(dir, d.dir) || within(d.dir, dir)));
    if (clash)
      ctx.problem(
        [...segs, "dir"],
        `rehearsal.dir ${show(r.dir)} of ${what} ${clash.dir === dir ? "is" : within(dir, clash.dir) ? "lies inside" : "holds"} the data directory ${clash.dir} of ${clash.what} on host "${r.host}", and a rehearsal empties its directory; expected a scratch directory apart from every data directory, e.g. /var/tmp/keel-rehearsal`,
      );
  }
}

/** The rules of one pgBackRest stanza. */
function checkStanza(ctx: CheckContext, stanza: string, s: RawPgBackRestStanza, dataDirs: DataDir[]): void {
  const segs = ["backups", "pgbackrest", stanza];
  const what = `stanza "${stanza}"`;
  checkHost(ctx, [...segs, "repository"], `repository ${show(s.repository)} of ${what}`, s.repository);
  const hosts = new Map<string, number>();
  const postgres = s.postgres ?? [];
  postgres.forEach((p, i) => {
    const at = [...segs, "postgres", i];
    const pg = `pg${i + 1} of ${what}`;
    checkHost(ctx, [...at, "host"], `host ${show(p.host)} of ${pg}`, p.host);
    const first = hosts.get(p.host);
    if (first !== undefined)
      ctx.problem(
        [...at, "host"],
        `host "${p.host}" is pg${i + 1} of ${what} and already pg${first + 1} (line ${ctx.loc.pos([...segs, "postgres", first, "host"]).line}); expected each PostgreSQL host once in a stanza`,
      );
    else hosts.set(p.host, i);
    if (checkPath(ctx, [...at, "data"], `data ${show(p.data)} of ${pg}`, p.data, DATA_EXAMPLE))
      dataDirs.push({ host: p.host, dir: canonical(p.data)!, what: pg });
  });
  if (postgres.length > 0) {
    const roles = postgres.map((p) => roleOf(p.role, postgres.length));
    const primaries = roles.flatMap((r, i) => (r === "primary" ? [i] : []));
    if (primaries.length === 0)
      ctx.problem(
        [...segs, "postgres"],
        `${what} has no primary among its ${postgres.length} PostgreSQL servers; expected exactly one with role: primary (the others default to standby)`,
        "key",
      );
    for (const i of primaries.slice(1))
      ctx.problem(
        [...segs, "postgres", i, "role"],
        `pg${i + 1} of ${what} is a second primary (pg${primaries[0]! + 1} is one); expected exactly one primary per stanza, the others role: standby`,
      );
  }
  const ordered = checkSchedule(ctx, segs, what, PGBACKREST_BACKUP_TYPES, s.schedule);
  checkObjectives(ctx, segs, what, ordered ? s.schedule : undefined, s.objectives);
  const check = s.check_interval !== undefined ? parseDuration(s.check_interval) : undefined;
  if (check !== undefined && check < MIN_CHECK_INTERVAL_MS)
    ctx.problem(
      [...segs, "check_interval"],
      `check_interval ${s.check_interval} of ${what} is too short: each pgbackrest check forces a WAL switch, archiving a new segment; expected at least 1m (default 6h)`,
    );
  checkRehearsal(
    ctx,
    segs,
    what,
    s.rehearsal,
    postgres.map((p) => p.host),
  );
}

/** The rules of one WAL-G backup. */
function checkWalg(ctx: CheckContext, name: string, w: RawWalgBackup, dataDirs: DataDir[]): void {
  const segs = ["backups", "walg", name];
  const what = `WAL-G backup "${name}"`;
  checkHost(ctx, [...segs, "host"], `host ${show(w.host)} of ${what}`, w.host);
  if (checkPath(ctx, [...segs, "data"], `data ${show(w.data)} of ${what}`, w.data, DATA_EXAMPLE))
    dataDirs.push({ host: w.host, dir: canonical(w.data)!, what });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  const bad = w.env !== undefined ? /[\u0000-\u001f\u007f]/.exec(w.env) : null;
  if (w.env !== undefined && !bad && w.env.trim() === "")
    ctx.problem(
      [...segs, "env"],
      `env of ${what} is blank; expected the words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env, or no env at all`,
    );
  if (bad)
    ctx.problem(
      [...segs, "env"],
      `env of ${what} holds ${bad[0] === "\n" ? "a line break" : `the control character ${JSON.stringify(bad[0])}`}; expected one line of words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env`,
    );
  const ordered = checkSchedule(ctx, segs, what, WALG_BACKUP_TYPES, w.schedule);
  checkObjectives(ctx, segs, what, ordered ? w.schedule : undefined, w.objectives);
  checkRehearsal(ctx, segs, what, w.rehearsal, [w.host]);
}

/** The role of a server whose `role` is `role` in a stanza of `count` servers. */
function roleOf(role: PostgresRole | undefined, count: number): PostgresRole {
  return role ?? (count === 1 ? "primary" : "standby");
}

/** `host` (the value at `segs`, described as `subject`) is a declared host that Keel can reach over SSH. */
function checkHost(ctx: CheckContext, segs: Segment[], subject: string, host: string | undefined): void {
  if (host === undefined) return;
  if (!ctx.hostNames.includes(host)) {
    ctx.problem(
      segs,
      `${subject} is not a declared host${didYouMean(host, ctx.hostNames)}; expected one of ${ctx.hostNames.join(", ") || "(no hosts are declared)"}`,
    );
    return;
  }
  if (ctx.raw.hosts?.[host]?.ssh === false)
    ctx.problem(
      segs,
      `${subject} names host "${host}", which has ssh: false, and Keel runs the backup tools' commands over SSH; expected a host Keel can log in to`,
    );
}

/**
 * The path `p` with `.` and `//` resolved and no trailing `/` (`/` stays `/`), or undefined when it
 * has a `..` segment (which would mean another directory than it seems to).
 */
function canonical(p: string): string | undefined {
  if (p.split("/").includes("..")) return undefined;
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** True when `inner` is `outer` or lies inside it (both canonical). */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`);
}

/** An absolute path (the schema checked the `/`) without `..` and other than `/`; true when it is one. */
function checkPath(
  ctx: CheckContext,
  segs: Segment[],
  subject: string,
  p: string | undefined,
  example: string,
): boolean {
  if (p === undefined) return false;
  const c = canonical(p);
  if (c === undefined) {
    ctx.problem(
      segs,
      `${subject} has a ".." segment; expected an absolute path without one, e.g. ${example}`,
    );
    return false;
  }
  if (c === "/") {
    ctx.problem(segs, `${subject} is the root directory; expected a directory of its own, e.g. ${example}`);
    return false;
  }
  return true;
}

/**
 * Each scheduled interval is above zero and shorter than every larger type's. True when the
 * schedule is whole and sound (nothing of it cut by the schema pass, no problem here), so that
 * the objectives can be compared with it.
 */
function checkSchedule(
  ctx: CheckContext,
  segs: Segment[],
  what: string,
  types: readonly string[],
  schedule: Partial<Record<string, string>> | undefined,
): boolean {
  if (!schedule) return false;
  const at = [...segs, "schedule"].join("/");
  let sound = ![...ctx.pruned.paths].some((p) => p === at || p.startsWith(`${at}/`));
  let larger: { type: string; ms: number; text: string } | undefined;
  for (const type of types) {
    const text = schedule[type];
    if (text === undefined) continue;
    const ms = parseDuration(text);
    if (ms === undefined) continue;
    if (ms === 0) {
      sound = false;
      ctx.problem(
        [...segs, "schedule", type],
        `schedule.${type} of ${what} is 0; expected the interval between two ${type} backups, above zero, e.g. ${type === "full" ? "7d" : "1d"}`,
      );
      continue;
    }
    if (larger && ms >= larger.ms) {
      sound = false;
      ctx.problem(
        [...segs, "schedule", type],
        `schedule.${type} ${text} of ${what} is not shorter than schedule.${larger.type} (${larger.text}), so no ${type} backup would ever be due; expected each type more frequent than the types above it (${types.join(" > ")} in interval)`,
      );
    }
    larger = { type, ms, text };
  }
  return sound;
}

/** The objectives are above zero, `backup` can be met by the schedule, `wal` is at most `backup`. */
function checkObjectives(
  ctx: CheckContext,
  segs: Segment[],
  what: string,
  schedule: Partial<Record<string, string>> | undefined,
  objectives: RawBackupObjectives | undefined,
): void {
  if (!objectives) return;
  const at = [...segs, "objectives"];
  const backup = parseDuration(objectives.backup ?? "");
  const wal = parseDuration(objectives.wal ?? "");
  for (const [key, ms] of [
    ["backup", backup],
    ["wal", wal],
  ] as const)
    if (ms === 0)
      ctx.problem(
        [...at, key],
        `objectives.${key} of ${what} is 0, which no ${key === "backup" ? "backup" : "archive"} can meet; expected the greatest acceptable age, above zero, e.g. ${key === "backup" ? "26h" : "15m"}`,
      );
  const intervals = Object.entries(schedule ?? {})
    .map(([type, text]) => [type, text, parseDuration(text ?? "")] as const)
    .filter((e): e is readonly [string, string, number] => e[2] !== undefined && e[2] > 0);
  const shortest = intervals.sort((a, b) => a[2] - b[2])[0];
  if (backup !== undefined && backup > 0 && shortest && backup < shortest[2])
    ctx.problem(
      [...at, "backup"],
      `objectives.backup ${objectives.backup} of ${what} can never be met: with schedule.${shortest[0]} ${shortest[1]}, the newest backup is up to ${shortest[1]} old; expected at least ${shortest[1]}, plus the time a backup takes`,
    );
  if (wal !== undefined && wal > 0 && backup !== undefined && backup > 0 && wal > backup)
    ctx.problem(
      [...at, "wal"],
      `objectives.wal ${objectives.wal} of ${what} is longer than objectives.backup (${objectives.backup}): every backup archives the WAL it needs, so the newest archived WAL is never older than the newest backup and this objective could never fail; expected at most ${objectives.backup}`,
    );
}

/** The rehearsal host exists, has SSH and is none of `protectedHosts`; its directory and interval. */
function checkRehearsal(
  ctx: CheckContext,
  segs: Segment[],
  what: string,
  r: RawBackupRehearsal | undefined,
  protectedHosts: string[],
): void {
  if (!r) return;
  const at = [...segs, "rehearsal"];
  checkHost(ctx, [...at, "host"], `rehearsal.host ${show(r.host)} of ${what}`, r.host);
  if (r.host !== undefined && protectedHosts.includes(r.host))
    ctx.problem(
      [...at, "host"],
      `rehearsal.host "${r.host}" of ${what} is one of the PostgreSQL hosts it backs up; a rehearsal restores the cluster and starts a second server there, competing with the one it protects; expected another host (the repository host, or a spare one)`,
    );
  checkPath(ctx, [...at, "dir"], `rehearsal.dir ${show(r.dir)} of ${what}`, r.dir, "/var/tmp/keel-rehearsal");
  const interval = r.interval !== undefined ? parseDuration(r.interval) : undefined;
  if (interval !== undefined && interval < MIN_REHEARSAL_INTERVAL_MS)
    ctx.problem(
      [...at, "interval"],
      `rehearsal.interval ${r.interval} of ${what} is too short: a rehearsal restores the whole cluster; expected at least 1h (default 7d)`,
    );
}

/** A duration that passed the checks; `fallback` when absent. */
function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : parseDuration(text)!;
}

/** Scheduled intervals in ms, keyed by type in the order of `types`. */
function scheduleOf<T extends string>(
  types: readonly T[],
  schedule: Partial<Record<T, string>>,
): Partial<Record<T, number>> {
  const out: Partial<Record<T, number>> = {};
  for (const t of types) if (schedule[t] !== undefined) out[t] = parseDuration(schedule[t])!;
  return out;
}

function objectivesOf(o: RawBackupObjectives): BackupObjectives {
  return { backupMs: parseDuration(o.backup)!, walMs: parseDuration(o.wal)! };
}

function rehearsalOf(
  r: RawBackupRehearsal | undefined,
  segs: Segment[],
  loc: Positions,
): BackupRehearsal | undefined {
  if (!r) return undefined;
  return {
    host: r.host,
    dir: canonical(r.dir)!,
    intervalMs: ms(r.interval, DEFAULT_REHEARSAL_INTERVAL_MS),
    queries: [...(r.queries ?? [])],
    pos: loc.pos(segs, "key"),
  };
}

/** `backups:` normalised, in declaration order; empty lists when absent. */
export function normaliseBackups(raw: RawInventory, loc: Positions): Backups {
  const b = raw.backups ?? {};
  const pgbackrest = Object.entries(b.pgbackrest ?? {}).map(([stanza, s]): PgBackRestStanza => {
    const segs = ["backups", "pgbackrest", stanza];
    const postgres = s.postgres.map((p, i) => ({
      index: i + 1,
      host: p.host,
      data: canonical(p.data)!,
      port: p.port ?? DEFAULT_POSTGRES_PORT,
      role: roleOf(p.role, s.postgres.length),
      pos: loc.pos([...segs, "postgres", i]),
    }));
    const rehearsal = rehearsalOf(s.rehearsal, [...segs, "rehearsal"], loc);
    return {
      stanza,
      repository: s.repository,
      ...(s.user !== undefined ? { user: s.user } : {}),
      postgres,
      primary: postgres.find((p) => p.role === "primary")!.host,
      schedule: scheduleOf(PGBACKREST_BACKUP_TYPES, s.schedule),
      graceMs: ms(s.grace, DEFAULT_GRACE_MS),
      objectives: objectivesOf(s.objectives),
      checkIntervalMs: ms(s.check_interval, DEFAULT_CHECK_INTERVAL_MS),
      ...(rehearsal ? { rehearsal } : {}),
      pos: loc.pos(segs, "key"),
    };
  });
  const walg = Object.entries(b.walg ?? {}).map(([name, w]): WalgBackup => {
    const segs = ["backups", "walg", name];
    const rehearsal = rehearsalOf(w.rehearsal, [...segs, "rehearsal"], loc);
    return {
      name,
      host: w.host,
      data: canonical(w.data)!,
      port: w.port ?? DEFAULT_POSTGRES_PORT,
      ...(w.user !== undefined ? { user: w.user } : {}),
      ...(w.env !== undefined ? { env: w.env } : {}),
      schedule: scheduleOf(WALG_BACKUP_TYPES, w.schedule),
      graceMs: ms(w.grace, DEFAULT_GRACE_MS),
      objectives: objectivesOf(w.objectives),
      ...(rehearsal ? { rehearsal } : {}),
      pos: loc.pos(segs, "key"),
    };
  });
  return { pgbackrest, walg };
}
