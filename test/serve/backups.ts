/**
 * Backups for the tests of `GET /api/backups`, the backup metrics and the Backups view: the
 * contract example with a pgBackRest stanza `main` (repository `mon`, primary `gpu`, standby
 * `ns1`, rehearsed on `gw-vpn`) and a WAL-G backup `app` on `mon` (no rehearsal), the specs of
 * their checks, and results with the `observed` shapes the backup kinds produce.
 *
 * The specs are the derived ones, as `keel serve` derives them (with the on-demand rehearsals).
 */
import type { Inventory } from "../../src/inventory/model.js";
import { deriveChecks } from "../../src/verify/derive.js";
import type { CheckKind, CheckResult, CheckSpec, CheckStatus } from "../../src/verify/types.js";
import { contractExample } from "../helpers/inventory.js";

const pos = { file: "keel.yaml", line: 1, col: 1 };
const H = 3_600_000;

/** The contract example with backups `main` (pgBackRest) and `app` (WAL-G). */
export function backupsInventory(base: Inventory = contractExample()): Inventory {
  base.backups = {
    pgbackrest: [
      {
        stanza: "main",
        repository: "mon",
        user: "pgbackrest",
        postgres: [
          { index: 1, host: "gpu", data: "/var/lib/postgresql/15/main", port: 5432, role: "primary", pos },
          { index: 2, host: "ns1", data: "/var/lib/postgresql/15/main", port: 5432, role: "standby", pos },
        ],
        primary: "gpu",
        schedule: { full: 168 * H, diff: 24 * H, incr: H },
        graceMs: H,
        objectives: { backupMs: 26 * H, walMs: 15 * 60_000 },
        checkIntervalMs: 6 * H,
        rehearsal: {
          host: "gw-vpn",
          dir: "/var/tmp/keel-rehearsal",
          intervalMs: 168 * H,
          queries: [],
          pos,
        },
        pos,
      },
    ],
    walg: [
      {
        name: "app",
        host: "mon",
        data: "/var/lib/postgresql/15/main",
        port: 5432,
        user: "postgres",
        schedule: { full: 24 * H },
        graceMs: H,
        objectives: { backupMs: 26 * H, walMs: 15 * 60_000 },
        pos,
      },
    ],
  };
  return base;
}

/** The checks of the backups of {@link backupsInventory}: [kind, host, name]. */
export const BACKUP_CHECKS: readonly [string, string, string][] = [
  ["backup.pgbackrest", "mon", "main"],
  ["backup.pgbackrest-check", "mon", "main"],
  ["backup.wal-archive", "gpu", "main"],
  ["backup.rehearsal", "gw-vpn", "main"],
  ["backup.walg", "mon", "app"],
  ["backup.wal-archive", "mon", "app"],
];

/**
 * The checks `keel serve` derives for `inv` (on-demand kinds included).
 * @throws Error when one of {@link BACKUP_CHECKS} is not among them (the fixture and the kinds disagree)
 */
export function backupSpecs(inv: Inventory): CheckSpec[] {
  const specs = deriveChecks(inv, { onDemand: true });
  const ids = new Set(specs.map((s) => s.id));
  for (const [kind, host, name] of BACKUP_CHECKS)
    if (!ids.has(`${host}/${kind}/${name}`)) throw new Error(`no check ${host}/${kind}/${name} is derived`);
  return specs;
}

/** An ISO instant `sec` seconds before `nowMs`. */
export const before = (nowMs: number, sec: number): string => new Date(nowMs - sec * 1000).toISOString();

/** A result of check `HOST/KIND/NAME`. */
export function result(
  kind: string,
  host: string,
  name: string,
  status: CheckStatus,
  message: string,
  observed?: Record<string, unknown>,
): CheckResult {
  return {
    id: `${host}/${kind}/${name}`,
    kind: kind as CheckKind,
    host,
    service: name,
    vantage: "admin",
    status,
    message,
    ...(observed ? { observed } : {}),
    durationMs: 40,
  };
}

/** A backup as `backup.pgbackrest` reports it, finished `ageSec` before `nowMs`. */
export function pgbrSeen(nowMs: number, label: string, type: "full" | "diff" | "incr", ageSec: number) {
  return {
    label,
    type,
    started: before(nowMs, ageSec + 600),
    finished: before(nowMs, ageSec),
    ageSec,
  };
}

/** `backup.pgbackrest`'s observed facts of stanza `main`: newest incr `incrAgeSec` old. */
export function pgbrObserved(nowMs: number, incrAgeSec: number) {
  const full = pgbrSeen(nowMs, "20261201-010000F", "full", 5 * 86_400);
  const diff = pgbrSeen(nowMs, "20261201-010000F_20261206-010000D", "diff", 20 * 3600);
  const incr = pgbrSeen(nowMs, "20261201-010000F_20261206-190000I", "incr", incrAgeSec);
  return {
    stanza: "main",
    status: { code: 0, message: "ok" },
    backups: 12,
    newest: incr,
    byType: { full, diff, incr },
    objectiveSec: 26 * 3600,
    walObjectiveSec: 900,
    archive: { min: "000000010000000000000001", max: "000000010000000000000042" },
    lock: { held: false, ageSec: null },
  };
}

/** `backup.wal-archive`'s observed facts. */
export function walObserved(
  nowMs: number,
  o: {
    backup: string;
    tool: "pgbackrest" | "walg";
    lastArchivedAgeSec: number | null;
    lastFailedAgeSec?: number | null;
    ready?: number;
    oldestReadyAgeSec?: number | null;
    walBytes?: number;
    freeBytes?: number;
  },
) {
  const at = (s: number | null | undefined) => (s === null || s === undefined ? null : before(nowMs, s));
  return {
    backup: o.backup,
    tool: o.tool,
    data: "/var/lib/postgresql/15/main",
    ready: o.ready ?? 0,
    oldestReady: at(o.oldestReadyAgeSec),
    oldestReadyAgeSec: o.oldestReadyAgeSec ?? null,
    archivedCount: 420,
    failedCount: o.lastFailedAgeSec != null ? 3 : 0,
    lastArchivedWal: o.lastArchivedAgeSec === null ? null : "000000010000000000000042",
    lastArchived: at(o.lastArchivedAgeSec),
    lastArchivedAgeSec: o.lastArchivedAgeSec,
    lastFailedWal: o.lastFailedAgeSec != null ? "000000010000000000000043" : null,
    lastFailed: at(o.lastFailedAgeSec),
    lastFailedAgeSec: o.lastFailedAgeSec ?? null,
    walBytes: o.walBytes ?? 1_073_741_824,
    freeBytes: o.freeBytes ?? 40e9,
    filesystemBytes: 100e9,
    walObjectiveSec: 900,
  };
}

/** `backup.rehearsal`'s observed facts. */
export function rehearsalObserved(nowMs: number, durationSec: number, step?: string) {
  return {
    backup: "main",
    tool: "pgbackrest",
    set: "20261201-010000F_20261206-010000D",
    pointInTime: before(nowMs, 3600),
    durationSec,
    ...(step ? { step } : {}),
  };
}

/** `backup.walg`'s observed facts: newest full `ageSec` old. */
export function walgObserved(nowMs: number, ageSec: number) {
  const b = { name: "base_000000010000000000000010", type: "full", finished: before(nowMs, ageSec), ageSec };
  return { backups: 3, newest: b, newestFull: b, recent: [b], objectiveSec: 26 * 3600 };
}
