/**
 * The backups of the served inventory as one picture, built from the engine's latest results of
 * the backup check kinds (no probing of its own): what `GET /api/backups`, the dashboard's
 * Backups view and the `keel_backup_*` / `keel_wal_*` metrics show.
 *
 * Per backup (a pgBackRest stanza or a WAL-G backup of `backups:`), the checks it is made of
 * (ids `HOST/KIND/NAME`, derived on the host each runs on):
 * - `backup.pgbackrest` on the stanza's repository host (`pgbackrest info --output=json`):
 *   `observed` `{ stanza, status, backups, newest, byType: { full?, diff?, incr? }, objectiveSec,
 *   walObjectiveSec, archive, lock }`, each backup `{ label, type, started, finished, ageSec }`;
 * - `backup.pgbackrest-check` on the repository host (`pgbackrest check`): `{ stanza, durationSec }`;
 * - `backup.walg` on the WAL-G backup's host (`wal-g backup-list`): `{ backups, newest, newestFull,
 *   recent, objectiveSec? }`, each backup `{ name, type: "full" | "delta", finished, ageSec }`;
 * - `backup.wal-archive` on the primary: `{ backup, tool, ready, oldestReady, archivedCount,
 *   failedCount, lastArchivedWal, lastArchived, lastFailedWal, lastFailed, walBytes, freeBytes,
 *   filesystemBytes, walObjectiveSec, … }`;
 * - `backup.rehearsal` on the rehearsal host: `{ backup, tool, set, pointInTime, durationSec,
 *   step? }`, the result's time being the rehearsal's.
 *
 * Ages are recomputed at `nowMs` from the instants the checks saw (so a fact observed an hour ago
 * is shown as old as it is now). A fact that no result carries is `null`: not yet observed,
 * never taken as met.
 */

import type { CheckKind } from "../inventory/check-kinds.js";
import {
  type BackupObjectives,
  type BackupRehearsal,
  type Inventory,
  PGBACKREST_BACKUP_TYPES,
  WALG_BACKUP_TYPES,
} from "../inventory/model.js";
import { humanAge } from "../verify/checks/backup-common.js";
import type { CheckStatus } from "../verify/types.js";
import type { CheckState, HardState } from "./types.js";

/** The backup tools Keel knows (`backups.pgbackrest`, `backups.walg`). */
export type BackupTool = "pgbackrest" | "walg";

/** The check kinds a backup is made of (names as in `src/inventory/check-kinds.ts`). */
export const BACKUP_CHECK_KINDS = {
  pgbackrest: "backup.pgbackrest",
  pgbackrestCheck: "backup.pgbackrest-check",
  walg: "backup.walg",
  walArchive: "backup.wal-archive",
  rehearsal: "backup.rehearsal",
} as const satisfies Record<string, CheckKind>;

/** The latest state of one underlying check, as the backup view lists it. */
export interface BackupCheck {
  id: string;
  kind: CheckKind;
  host: string;
  /** Latest result's status; null before the first result (or when the check is not served). */
  status: CheckStatus | null;
  state: HardState;
  message: string;
  /** When the latest result arrived (ISO 8601); null before the first. */
  lastRunAt: string | null;
  /** False when the served inventory derives no such check (the kind is not served). */
  served: boolean;
}

/** One backup seen in the repository: the newest of its type (or of any type). */
export interface SeenBackup {
  /** pgBackRest's label (`20261206-010000F`) or WAL-G's backup name (`base_…`). */
  label: string;
  /** `full`, `diff`, `incr` (pgBackRest) or `full`, `delta` (WAL-G). */
  type: string;
  /** When it finished (ISO 8601). */
  finished: string;
  /** Seconds from `finished` to now. */
  ageSec: number;
}

/** The repository's backups as the tool's check saw them. */
export interface BackupSet {
  /** When the check that saw them last ran (ISO 8601); null when not yet observed. */
  observedAt: string | null;
  /** Backups in the repository; null when not observed. */
  count: number | null;
  /** The newest good backup of any type; null when there is none or when not observed. */
  newest: SeenBackup | null;
  /** Per backup type of the tool, largest first: its schedule and its newest backup. */
  types: { type: string; scheduleSec: number | null; newest: SeenBackup | null }[];
  /**
   * A backup running when the check looked (pgBackRest's stanza lock held), with how long the
   * lock had been held in seconds (null when unknown); null when none ran or the tool does not say.
   */
  running: { forSec: number | null } | null;
}

/** The WAL archive of the primary, as `backup.wal-archive` saw it; absent facts are null. */
export interface WalArchive {
  /** The primary's host. */
  host: string;
  /** When the check last ran with facts (ISO 8601); null when not yet observed (all else null then). */
  observedAt: string | null;
  lastArchivedWal: string | null;
  /** When the last segment was archived (ISO 8601). */
  lastArchived: string | null;
  /** Archive lag: seconds since `lastArchived`. */
  lagSec: number | null;
  lastFailedWal: string | null;
  lastFailed: string | null;
  /** True when the last failure is newer than the last success (archiving is failing now). */
  failing: boolean | null;
  /** Segments waiting to be archived (`.ready` files in `pg_wal/archive_status`). */
  ready: number | null;
  /** mtime of the oldest `.ready` file (ISO 8601); null when none waits. */
  oldestReady: string | null;
  oldestReadyAgeSec: number | null;
  /** Size of `pg_wal`, bytes. */
  walBytes: number | null;
  /** Free and total bytes of the filesystem holding `pg_wal`. */
  freeBytes: number | null;
  filesystemBytes: number | null;
}

/** The last restore rehearsal of a backup that declares `rehearsal`. */
export interface Rehearsal {
  host: string;
  /** `rehearsal.interval`, seconds. */
  intervalSec: number;
  /** When it ran (ISO 8601); null when none ran yet. */
  at: string | null;
  /** Its status; null when none ran yet. */
  status: CheckStatus | null;
  message: string | null;
  /** The backup set restored (pgBackRest label, WAL-G name). */
  set: string | null;
  /** The recovery point the restored server reached (ISO 8601). */
  pointInTime: string | null;
  /** Measured recovery time, seconds. */
  durationSec: number | null;
  /** The step that failed, when one did. */
  step: string | null;
  /** True when the last rehearsal is older than twice the interval; null when none ran. */
  overdue: boolean | null;
}

/** One objective and whether it is met now: null when the facts are not yet observed. */
export interface ObjectiveState {
  /** The objective, seconds (inventory `objectives.backup` / `objectives.wal`). */
  objectiveSec: number;
  met: boolean | null;
  /** Why, in words. */
  reason: string;
}

/** One backup of the inventory with everything Keel observed of it. */
export interface BackupView {
  tool: BackupTool;
  /** Stanza name (pgBackRest) or the name declared under `backups.walg`. */
  name: string;
  hosts: {
    /** The primary PostgreSQL server's host (where the WAL archive is watched). */
    primary: string;
    /** pgBackRest's repository host; null for WAL-G. */
    repository: string | null;
    /** Every PostgreSQL host of the backup, primary and standbys. */
    postgres: string[];
    /** The rehearsal host; null without `rehearsal`. */
    rehearsal: string | null;
  };
  backups: BackupSet;
  wal: WalArchive;
  /** Null when the backup declares no `rehearsal`. */
  rehearsal: Rehearsal | null;
  objectives: { backup: ObjectiveState; wal: ObjectiveState };
  checks: BackupCheck[];
}

/** What the view reads of the engine: the state of a check by id (`Engine.state`). */
export type StateLookup = (id: string) => CheckState | undefined;

/** An age or interval for people, seconds: `45 s`, `12 min`, `3 h 12 min`, `26 h`, `7 d 1 h` (the checks' `humanAge`). */
export function humanSeconds(sec: number): string {
  return humanAge(sec * 1000);
}

type Obs = Record<string, unknown>;

const numOf = (o: Obs | undefined, k: string): number | null =>
  typeof o?.[k] === "number" && Number.isFinite(o[k]) ? (o[k] as number) : null;
const strOf = (o: Obs | undefined, k: string): string | null =>
  typeof o?.[k] === "string" ? (o[k] as string) : null;
const objOf = (o: Obs | undefined, k: string): Obs | undefined =>
  typeof o?.[k] === "object" && o[k] !== null && !Array.isArray(o[k]) ? (o[k] as Obs) : undefined;

/** Epoch ms of an ISO instant, or null. */
function ms(iso: string | null): number | null {
  if (iso === null) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

/** Whole seconds from `iso` to `nowMs` (never negative), or null. */
function ageOf(iso: string | null, nowMs: number): number | null {
  const t = ms(iso);
  return t === null ? null : Math.max(0, Math.round((nowMs - t) / 1000));
}

/** A backup of `observed` (pgBackRest's `{ label, type, finished }`, WAL-G's `{ name, type, finished }`). */
function seen(o: Obs | undefined, nowMs: number): SeenBackup | null {
  if (!o) return null;
  const label = strOf(o, "label") ?? strOf(o, "name");
  const type = strOf(o, "type");
  const finished = strOf(o, "finished");
  const ageSec = ageOf(finished, nowMs);
  if (label === null || type === null || finished === null || ageSec === null) return null;
  return { label, type, finished, ageSec };
}

function checkOf(lookup: StateLookup, kind: CheckKind, host: string, name: string): BackupCheck {
  const id = `${host}/${kind}/${name}`;
  const s = lookup(id);
  if (!s)
    return {
      id,
      kind,
      host,
      status: null,
      state: "unknown",
      message: "not among the served checks",
      lastRunAt: null,
      served: false,
    };
  return {
    id,
    kind,
    host,
    status: s.status,
    state: s.state,
    message: s.message,
    lastRunAt: s.lastRunAt,
    served: true,
  };
}

/** The observed facts of a check when its latest result carries them (and, given `tool`, is about it). */
function factsOf(lookup: StateLookup, c: BackupCheck, tool?: BackupTool): Obs | undefined {
  const o = lookup(c.id)?.observed;
  if (!o) return undefined;
  if (tool !== undefined && o.tool !== undefined && o.tool !== tool) return undefined;
  return o;
}

/** Why there are no facts from check `c`, in words. */
function unobserved(c: BackupCheck): string {
  if (!c.served) return `not yet observed: ${c.id} is not among the served checks`;
  if (c.status === null) return `not yet observed: ${c.id} has no result yet`;
  return `not observed: the latest result of ${c.id} (${c.status}) carries no facts: ${c.message}`;
}

/**
 * The backup objective judged from `set`. `toolSays`: what the tool reported beside its list
 * when it was not fine (pgBackRest's stanza status), given with a missing backup.
 */
function backupObjective(
  set: BackupSet,
  objectives: BackupObjectives,
  c: BackupCheck,
  toolSays?: string,
): ObjectiveState {
  const objectiveSec = objectives.backupMs / 1000;
  const limit = humanSeconds(objectiveSec);
  if (set.observedAt === null) return { objectiveSec, met: null, reason: unobserved(c) };
  const n = set.newest;
  if (n === null)
    return {
      objectiveSec,
      met: false,
      reason: `no backup in the repository${toolSays ? ` (${toolSays})` : ""}; objective ${limit}`,
    };
  const what = `newest backup ${n.label} (${n.type}) finished ${humanSeconds(n.ageSec)} ago`;
  return n.ageSec <= objectiveSec
    ? { objectiveSec, met: true, reason: `${what}, within the objective ${limit}` }
    : { objectiveSec, met: false, reason: `${what}, over the objective ${limit}` };
}

function walObjective(w: WalArchive, objectives: BackupObjectives, c: BackupCheck): ObjectiveState {
  const objectiveSec = objectives.walMs / 1000;
  const limit = humanSeconds(objectiveSec);
  if (w.observedAt === null) return { objectiveSec, met: null, reason: unobserved(c) };
  if (w.lagSec === null)
    return { objectiveSec, met: false, reason: `no archived WAL segment is reported; objective ${limit}` };
  const last = `last WAL segment archived ${humanSeconds(w.lagSec)} ago`;
  if (w.lagSec > objectiveSec)
    return { objectiveSec, met: false, reason: `${last}, over the objective ${limit}` };
  // a segment waiting longer than the objective holds changes the archive does not have
  if (w.oldestReadyAgeSec !== null && w.oldestReadyAgeSec > objectiveSec)
    return {
      objectiveSec,
      met: false,
      reason: `oldest of ${w.ready} segments waiting to be archived is ${humanSeconds(w.oldestReadyAgeSec)} old, over the objective ${limit}`,
    };
  return { objectiveSec, met: true, reason: `${last}, within the objective ${limit}` };
}

function walArchiveOf(
  lookup: StateLookup,
  c: BackupCheck,
  tool: BackupTool,
  host: string,
  nowMs: number,
): WalArchive {
  const o = factsOf(lookup, c, tool);
  const lastArchived = strOf(o, "lastArchived");
  const lastFailed = strOf(o, "lastFailed");
  const oldestReady = strOf(o, "oldestReady");
  const okAt = ms(lastArchived);
  const failAt = ms(lastFailed);
  return {
    host,
    observedAt: o ? c.lastRunAt : null,
    lastArchivedWal: strOf(o, "lastArchivedWal"),
    lastArchived,
    lagSec: ageOf(lastArchived, nowMs),
    lastFailedWal: strOf(o, "lastFailedWal"),
    lastFailed,
    failing: o ? failAt !== null && (okAt === null || failAt > okAt) : null,
    ready: numOf(o, "ready"),
    oldestReady,
    oldestReadyAgeSec: ageOf(oldestReady, nowMs),
    walBytes: numOf(o, "walBytes"),
    freeBytes: numOf(o, "freeBytes"),
    filesystemBytes: numOf(o, "filesystemBytes"),
  };
}

function rehearsalOf(
  lookup: StateLookup,
  r: BackupRehearsal | undefined,
  c: BackupCheck | undefined,
  tool: BackupTool,
  nowMs: number,
): Rehearsal | null {
  if (!r || !c) return null;
  const ran = c.status !== null && c.status !== "skip" && c.lastRunAt !== null;
  const o = ran ? factsOf(lookup, c, tool) : undefined;
  const intervalSec = r.intervalMs / 1000;
  const age = ran ? ageOf(c.lastRunAt, nowMs) : null;
  return {
    host: r.host,
    intervalSec,
    at: ran ? c.lastRunAt : null,
    status: ran ? c.status : null,
    message: ran ? c.message : null,
    set: strOf(o, "set"),
    pointInTime: strOf(o, "pointInTime"),
    durationSec: numOf(o, "durationSec"),
    step: strOf(o, "step"),
    overdue: age === null ? null : age > 2 * intervalSec,
  };
}

/** pgBackRest's stanza status (`info`'s `status: { code, message }`) when it is not 0 (ok). */
function stanzaStatus(status: Obs | undefined): string | undefined {
  const code = numOf(status, "code");
  if (code === null || code === 0) return undefined;
  return `pgBackRest status ${code}: ${strOf(status, "message") ?? "?"}`;
}

/**
 * Every backup of `inv` (pgBackRest stanzas, then WAL-G backups, in declaration order) with what
 * the latest results read through `lookup` say of it, ages counted at `nowMs` (epoch ms).
 */
export function backupViews(inv: Inventory, lookup: StateLookup, nowMs: number): BackupView[] {
  const out: BackupView[] = [];
  for (const s of inv.backups.pgbackrest) {
    const name = s.stanza;
    const info = checkOf(lookup, BACKUP_CHECK_KINDS.pgbackrest, s.repository, name);
    const check = checkOf(lookup, BACKUP_CHECK_KINDS.pgbackrestCheck, s.repository, name);
    const archive = checkOf(lookup, BACKUP_CHECK_KINDS.walArchive, s.primary, name);
    const rehearse = s.rehearsal
      ? checkOf(lookup, BACKUP_CHECK_KINDS.rehearsal, s.rehearsal.host, name)
      : undefined;
    const o = factsOf(lookup, info);
    const byType = objOf(o, "byType");
    const backups: BackupSet = {
      observedAt: o ? info.lastRunAt : null,
      count: numOf(o, "backups"),
      newest: seen(objOf(o, "newest"), nowMs),
      running: objOf(o, "lock")?.held === true ? { forSec: numOf(objOf(o, "lock"), "ageSec") } : null,
      types: PGBACKREST_BACKUP_TYPES.map((type) => ({
        type,
        scheduleSec: s.schedule[type] !== undefined ? s.schedule[type] / 1000 : null,
        newest: seen(objOf(byType, type), nowMs),
      })),
    };
    const wal = walArchiveOf(lookup, archive, "pgbackrest", s.primary, nowMs);
    out.push({
      tool: "pgbackrest",
      name,
      hosts: {
        primary: s.primary,
        repository: s.repository,
        postgres: s.postgres.map((p) => p.host),
        rehearsal: s.rehearsal?.host ?? null,
      },
      backups,
      wal,
      rehearsal: rehearsalOf(lookup, s.rehearsal, rehearse, "pgbackrest", nowMs),
      objectives: {
        backup: backupObjective(backups, s.objectives, info, stanzaStatus(objOf(o, "status"))),
        wal: walObjective(wal, s.objectives, archive),
      },
      checks: [info, check, archive, ...(rehearse ? [rehearse] : [])],
    });
  }
  for (const w of inv.backups.walg) {
    const name = w.name;
    const list = checkOf(lookup, BACKUP_CHECK_KINDS.walg, w.host, name);
    const archive = checkOf(lookup, BACKUP_CHECK_KINDS.walArchive, w.host, name);
    const rehearse = w.rehearsal
      ? checkOf(lookup, BACKUP_CHECK_KINDS.rehearsal, w.rehearsal.host, name)
      : undefined;
    const o = factsOf(lookup, list);
    const newest = seen(objOf(o, "newest"), nowMs);
    const newestFull = seen(objOf(o, "newestFull"), nowMs);
    const backups: BackupSet = {
      observedAt: o ? list.lastRunAt : null,
      count: numOf(o, "backups"),
      newest,
      running: null,
      types: WALG_BACKUP_TYPES.map((type) => ({
        type,
        scheduleSec: w.schedule[type] !== undefined ? w.schedule[type] / 1000 : null,
        newest:
          type === "full"
            ? newestFull
            : newest?.type === "delta"
              ? newest
              : seen(
                  (Array.isArray(o?.recent) ? (o.recent as Obs[]) : []).find((b) => b?.type === "delta"),
                  nowMs,
                ),
      })),
    };
    const wal = walArchiveOf(lookup, archive, "walg", w.host, nowMs);
    out.push({
      tool: "walg",
      name,
      hosts: { primary: w.host, repository: null, postgres: [w.host], rehearsal: w.rehearsal?.host ?? null },
      backups,
      wal,
      rehearsal: rehearsalOf(lookup, w.rehearsal, rehearse, "walg", nowMs),
      objectives: {
        backup: backupObjective(backups, w.objectives, list),
        wal: walObjective(wal, w.objectives, archive),
      },
      checks: [list, archive, ...(rehearse ? [rehearse] : [])],
    });
  }
  return out;
}
