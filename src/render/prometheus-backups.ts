/**
 * The backup part of `keel render`'s Prometheus output (contract `docs/render.md`), written when
 * the inventory declares `backups:`:
 *
 * - `prometheus/rules/keel-backups.rules.yml`: alerting rules over the backup metrics of
 *   `keel serve`'s `/metrics` (`src/serve/metrics.ts`: instants as Unix timestamps, so an age is
 *   `time() - x`; the objectives and the rehearsal interval are metrics too, so one rule serves
 *   every backup, each compared with its own objective by `on(backup, tool)` matching);
 * - `prometheus/rules/keel-backups.test.yml`: `promtool test rules` unit tests, per alert a
 *   backup that should trip it and one that should not;
 * - the `keel` scrape job of `prometheus.yml` ({@link keelScrapeJob}), when `serve.listen` says
 *   where `keel serve` listens.
 *
 * PromQL and the rule and test file formats follow the Prometheus docs ("Alerting rules",
 * "Unit testing for rules", "Querying: operators", vector matching).
 */

import type { Inventory } from "../inventory/model.js";
import { parseListen } from "../inventory/serve.js";
import { hostPort } from "../net/hostport.js";

/** Label lookups used to write an annotation: a Go template reference in the rule, a value in a test. */
type LabelRef = (name: string) => string;

/** One backup alert. */
interface BackupAlert {
  alert: string;
  expr: string;
  /** Prometheus duration the condition must hold; absent fires at once. */
  for?: string;
  severity: "warning" | "critical";
  summary: (l: LabelRef) => string;
}

/**
 * Free fraction of the WAL filesystem below which WalDiskFilling fires: the limit the
 * `backup.wal-archive` check fails at (its `MIN_FREE_FRACTION`; a test keeps them equal).
 */
export const WAL_FS_FREE_MIN = 0.05;
/** A rehearsal older than this many intervals is stale. */
export const REHEARSAL_STALE_INTERVALS = 2;

const B = "on(backup, tool)";
const name = (l: LabelRef) => `${l("tool")} backup ${l("backup")}`;

/** The backup alerts, in the order they are written. */
export const BACKUP_ALERTS: BackupAlert[] = [
  {
    alert: "BackupTooOld",
    expr: `time() - keel_backup_last_finished_timestamp_seconds{type="any"} > ${B} keel_backup_objective_seconds{objective="backup"}`,
    severity: "critical",
    summary: (l) => `${name(l)}: the newest good backup is older than its backup objective`,
  },
  {
    alert: "BackupNotSeen",
    expr: `keel_backup_objective_seconds{objective="backup"} unless ${B} keel_backup_last_finished_timestamp_seconds{type="any"}`,
    for: "30m",
    severity: "warning",
    summary: (l) =>
      `${name(l)}: keel serve reports no good backup (none in the repository, or its check cannot read it)`,
  },
  {
    alert: "WalArchiveLagging",
    expr: `time() - keel_wal_archive_last_archived_timestamp_seconds > ${B} group_left keel_backup_objective_seconds{objective="wal"}`,
    severity: "critical",
    summary: (l) =>
      `${name(l)}: the last WAL segment archived on ${l("host")} is older than the WAL objective`,
  },
  {
    alert: "WalArchiveFailing",
    expr: "keel_wal_archive_failing == 1",
    for: "10m",
    severity: "warning",
    summary: (l) =>
      `${name(l)}: archiving WAL fails on ${l("host")} (the last failure is newer than the last success)`,
  },
  {
    alert: "WalArchiveBacklog",
    expr: `time() - keel_wal_archive_oldest_ready_timestamp_seconds > ${B} group_left keel_backup_objective_seconds{objective="wal"}`,
    severity: "warning",
    summary: (l) =>
      `${name(l)}: a WAL segment on ${l("host")} has waited longer than the WAL objective to be archived`,
  },
  {
    alert: "WalDiskFilling",
    // as the check: too little free, or less free than pg_wal already holds (both sides
    // arithmetic, so without a metric name: `or` keeps one series per backup)
    expr: `keel_wal_filesystem_free_bytes / keel_wal_filesystem_size_bytes < ${WAL_FS_FREE_MIN} or keel_wal_filesystem_free_bytes - keel_wal_directory_bytes <= 0`,
    for: "5m",
    severity: "critical",
    summary: (l) =>
      `${name(l)}: the filesystem of pg_wal on ${l("host")} has less than ${WAL_FS_FREE_MIN * 100}% free, or less free than pg_wal holds`,
  },
  {
    alert: "WalArchiveNotSeen",
    expr: `keel_backup_objective_seconds{objective="wal"} unless ${B} keel_wal_archive_ready_files`,
    for: "30m",
    severity: "warning",
    summary: (l) => `${name(l)}: keel serve reports nothing of the WAL archive of its primary`,
  },
  {
    alert: "BackupRehearsalFailed",
    expr: "keel_backup_rehearsal_last_success == 0",
    severity: "warning",
    summary: (l) => `${name(l)}: the last restore rehearsal failed`,
  },
  {
    alert: "BackupRehearsalStale",
    expr: `time() - keel_backup_rehearsal_last_timestamp_seconds > ${B} (${REHEARSAL_STALE_INTERVALS} * keel_backup_rehearsal_interval_seconds)`,
    severity: "warning",
    summary: (l) =>
      `${name(l)}: the last restore rehearsal is older than ${REHEARSAL_STALE_INTERVALS} rehearsal intervals`,
  },
  {
    alert: "BackupRehearsalMissing",
    // keel serve runs a rehearsal at its slot within each interval, not at start: none reported
    // although this keel serve has run for twice the interval (its own start time, by instance)
    expr: `(keel_backup_rehearsal_interval_seconds unless ${B} keel_backup_rehearsal_last_timestamp_seconds) < on(instance, job) group_left() ((time() - keel_process_start_time_seconds) / ${REHEARSAL_STALE_INTERVALS})`,
    for: "10m",
    severity: "warning",
    summary: (l) =>
      `${name(l)}: keel serve has run for ${REHEARSAL_STALE_INTERVALS} rehearsal intervals without reporting a restore rehearsal`,
  },
  {
    alert: "KeelBackupMetricsAbsent",
    expr: "absent(keel_backup_objective_seconds)",
    for: "10m",
    severity: "warning",
    summary: () => "no backup metrics of keel serve are scraped: the backup alerts cannot fire",
  },
];

/** The `groups:` document of `keel-backups.rules.yml`. */
export function backupRules(): unknown {
  return {
    groups: [
      {
        name: "keel-backups",
        rules: BACKUP_ALERTS.map((a) => ({
          alert: a.alert,
          expr: a.expr,
          ...(a.for ? { for: a.for } : {}),
          labels: { severity: a.severity },
          annotations: { summary: a.summary((n) => `{{ $labels.${n} }}`) },
        })),
      },
    ],
  };
}

/** Labels of a test series: a backup's metric as scraped from keel serve. */
function keel(backup: string, tool: string, extra: Record<string, string> = {}): Record<string, string> {
  return { backup, tool, instance: "mon:8484", job: "keel", ...extra };
}

function series(metric: string, labels: Record<string, string>): string {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${metric}{${body}}`;
}

/** The labels `on(backup, tool)` one-to-one matching keeps. */
function only(labels: Record<string, string>): Record<string, string> {
  return { backup: labels.backup!, tool: labels.tool! };
}

function expAlert(alert: string, labels: Record<string, string>) {
  const a = BACKUP_ALERTS.find((x) => x.alert === alert)!;
  return {
    exp_labels: { ...labels, severity: a.severity },
    exp_annotations: { summary: a.summary((n) => labels[n] ?? "") },
  };
}

/**
 * The `promtool test rules` file (run in `rules/`): per alert, input series of a backup `bad`
 * that should trip it and of a backup `good` that should not, evaluated before the condition
 * (or its `for`) is met (quiet) and after (firing for `bad` only). Timestamps are series that
 * stay put (an event that does not recur) or grow with the clock (`0+60x…` at a 1m interval:
 * an event that just happened).
 */
export function backupRuleTests(): unknown {
  const tests: unknown[] = [];
  const bad = keel("bad", "pgbackrest");
  const good = keel("good", "walg");
  const objective = (labels: Record<string, string>, kind: "backup" | "wal", sec: number, n = 300) => ({
    series: series("keel_backup_objective_seconds", { ...labels, objective: kind }),
    values: `${sec}x${n}`,
  });
  const now = "0+60x300"; // an instant that keeps up with the clock
  const stuck = "0x300"; // an instant at time 0

  tests.push({
    name: "BackupTooOld fires once the newest backup (type any) is older than the backup objective",
    interval: "1m",
    input_series: [
      objective(bad, "backup", 3600),
      objective(good, "backup", 3600),
      {
        series: series("keel_backup_last_finished_timestamp_seconds", { ...bad, type: "any" }),
        values: stuck,
      },
      {
        series: series("keel_backup_last_finished_timestamp_seconds", { ...good, type: "any" }),
        values: now,
      },
      // the good backup's full backup is old, but only type="any" counts
      {
        series: series("keel_backup_last_finished_timestamp_seconds", { ...good, type: "full" }),
        values: stuck,
      },
    ],
    alert_rule_test: [
      { eval_time: "50m", alertname: "BackupTooOld", exp_alerts: [] },
      {
        eval_time: "70m",
        alertname: "BackupTooOld",
        // one-to-one matching on(backup, tool): the alert carries those labels
        exp_alerts: [expAlert("BackupTooOld", only(bad))],
      },
    ],
  });

  tests.push({
    name: "BackupNotSeen fires after 30m for a declared backup without a newest backup",
    interval: "1m",
    input_series: [
      objective(bad, "backup", 3600),
      objective(good, "backup", 3600),
      {
        series: series("keel_backup_last_finished_timestamp_seconds", { ...good, type: "any" }),
        values: now,
      },
    ],
    alert_rule_test: [
      { eval_time: "20m", alertname: "BackupNotSeen", exp_alerts: [] },
      {
        eval_time: "40m",
        alertname: "BackupNotSeen",
        exp_alerts: [expAlert("BackupNotSeen", { ...bad, objective: "backup" })],
      },
    ],
  });

  const walBad = { ...bad, host: "db-1" };
  const walGood = { ...good, host: "db-2" };
  tests.push({
    name: "WalArchiveLagging fires once the last archived segment is older than the WAL objective",
    interval: "1m",
    input_series: [
      objective(bad, "wal", 900),
      objective(good, "wal", 900),
      objective(bad, "backup", 3600),
      { series: series("keel_wal_archive_last_archived_timestamp_seconds", walBad), values: stuck },
      { series: series("keel_wal_archive_last_archived_timestamp_seconds", walGood), values: now },
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "WalArchiveLagging", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "WalArchiveLagging",
        exp_alerts: [expAlert("WalArchiveLagging", walBad)],
      },
    ],
  });

  tests.push({
    name: "WalArchiveFailing fires after 10m of failing archiving, not while it succeeds",
    interval: "1m",
    input_series: [
      { series: series("keel_wal_archive_failing", walBad), values: "1x30" },
      { series: series("keel_wal_archive_failing", walGood), values: "0x30" },
    ],
    alert_rule_test: [
      { eval_time: "5m", alertname: "WalArchiveFailing", exp_alerts: [] },
      {
        eval_time: "15m",
        alertname: "WalArchiveFailing",
        exp_alerts: [expAlert("WalArchiveFailing", walBad)],
      },
    ],
  });

  tests.push({
    name: "WalArchiveBacklog fires once the oldest waiting segment is older than the WAL objective",
    interval: "1m",
    input_series: [
      objective(bad, "wal", 900),
      objective(good, "wal", 900),
      { series: series("keel_wal_archive_oldest_ready_timestamp_seconds", walBad), values: stuck },
      { series: series("keel_wal_archive_oldest_ready_timestamp_seconds", walGood), values: now },
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "WalArchiveBacklog", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "WalArchiveBacklog",
        exp_alerts: [expAlert("WalArchiveBacklog", walBad)],
      },
    ],
  });

  // bad: 3% free; full: 10% free but pg_wal holds more than that; good: roomy
  const walFull = { ...keel("full", "pgbackrest"), host: "db-3" };
  const disk = (labels: Record<string, string>, free: string, wal: string) => [
    { series: series("keel_wal_filesystem_size_bytes", labels), values: "100e9x30" },
    { series: series("keel_wal_filesystem_free_bytes", labels), values: `${free}x30` },
    { series: series("keel_wal_directory_bytes", labels), values: `${wal}x30` },
  ];
  tests.push({
    name: `WalDiskFilling fires after 5m below ${WAL_FS_FREE_MIN * 100}% free or with less free than pg_wal holds, not with room to spare`,
    interval: "1m",
    input_series: [
      ...disk(walBad, "3e9", "1e9"),
      ...disk(walFull, "10e9", "12e9"),
      ...disk(walGood, "50e9", "1e9"),
    ],
    alert_rule_test: [
      { eval_time: "3m", alertname: "WalDiskFilling", exp_alerts: [] },
      {
        eval_time: "10m",
        alertname: "WalDiskFilling",
        exp_alerts: [expAlert("WalDiskFilling", walBad), expAlert("WalDiskFilling", walFull)],
      },
    ],
  });

  tests.push({
    name: "WalArchiveNotSeen fires after 30m for a declared backup whose WAL archive is not reported",
    interval: "1m",
    input_series: [
      objective(bad, "wal", 900),
      objective(good, "wal", 900),
      { series: series("keel_wal_archive_ready_files", walGood), values: "0x300" },
    ],
    alert_rule_test: [
      { eval_time: "20m", alertname: "WalArchiveNotSeen", exp_alerts: [] },
      {
        eval_time: "40m",
        alertname: "WalArchiveNotSeen",
        exp_alerts: [expAlert("WalArchiveNotSeen", { ...bad, objective: "wal" })],
      },
    ],
  });

  tests.push({
    name: "BackupRehearsalFailed fires at once when the last rehearsal failed, not when it passed",
    interval: "1m",
    input_series: [
      { series: series("keel_backup_rehearsal_last_success", bad), values: "1 0x10" },
      { series: series("keel_backup_rehearsal_last_success", good), values: "1x10" },
    ],
    alert_rule_test: [
      { eval_time: "0m", alertname: "BackupRehearsalFailed", exp_alerts: [] },
      {
        eval_time: "2m",
        alertname: "BackupRehearsalFailed",
        exp_alerts: [expAlert("BackupRehearsalFailed", bad)],
      },
    ],
  });

  // interval 1h: stale after 2h; the good backup was rehearsed at 90m
  tests.push({
    name: `BackupRehearsalStale fires once the last rehearsal is older than ${REHEARSAL_STALE_INTERVALS} intervals`,
    interval: "1m",
    input_series: [
      { series: series("keel_backup_rehearsal_interval_seconds", bad), values: "3600x300" },
      { series: series("keel_backup_rehearsal_interval_seconds", good), values: "3600x300" },
      { series: series("keel_backup_rehearsal_last_timestamp_seconds", bad), values: stuck },
      { series: series("keel_backup_rehearsal_last_timestamp_seconds", good), values: "0x90 5400x210" },
    ],
    alert_rule_test: [
      { eval_time: "110m", alertname: "BackupRehearsalStale", exp_alerts: [] },
      {
        eval_time: "130m",
        alertname: "BackupRehearsalStale",
        exp_alerts: [expAlert("BackupRehearsalStale", only(bad))],
      },
      // 3 h after the good one's rehearsal at 90m it is stale too (both fire)
      {
        eval_time: "215m",
        alertname: "BackupRehearsalStale",
        exp_alerts: [
          expAlert("BackupRehearsalStale", only(bad)),
          expAlert("BackupRehearsalStale", only(good)),
        ],
      },
    ],
  });

  // interval 1h; keel serve started at 0: missing once it has run 2h without a rehearsal
  tests.push({
    name: "BackupRehearsalMissing fires when keel serve has run twice the interval without a rehearsal",
    interval: "1m",
    input_series: [
      {
        series: series("keel_process_start_time_seconds", { instance: "mon:8484", job: "keel" }),
        values: "0x300",
      },
      { series: series("keel_backup_rehearsal_interval_seconds", bad), values: "3600x300" },
      { series: series("keel_backup_rehearsal_interval_seconds", good), values: "3600x300" },
      { series: series("keel_backup_rehearsal_last_timestamp_seconds", good), values: "0x300" },
    ],
    alert_rule_test: [
      { eval_time: "125m", alertname: "BackupRehearsalMissing", exp_alerts: [] },
      {
        eval_time: "140m",
        alertname: "BackupRehearsalMissing",
        exp_alerts: [expAlert("BackupRehearsalMissing", bad)],
      },
    ],
  });

  tests.push({
    name: "KeelBackupMetricsAbsent fires when no backup metric of keel serve is scraped for 10m",
    interval: "1m",
    input_series: [{ series: series("keel_hosts", { instance: "mon:8484", job: "keel" }), values: "4x30" }],
    alert_rule_test: [
      { eval_time: "5m", alertname: "KeelBackupMetricsAbsent", exp_alerts: [] },
      {
        eval_time: "15m",
        alertname: "KeelBackupMetricsAbsent",
        exp_alerts: [expAlert("KeelBackupMetricsAbsent", {})],
      },
    ],
  });
  tests.push({
    name: "KeelBackupMetricsAbsent stays quiet while the objectives are scraped",
    interval: "1m",
    input_series: [objective(good, "backup", 3600, 30)],
    alert_rule_test: [{ eval_time: "15m", alertname: "KeelBackupMetricsAbsent", exp_alerts: [] }],
  });

  return { rule_files: ["keel-backups.rules.yml"], evaluation_interval: "1m", tests };
}

/** Where `prometheus.yml` reads the token of the `keel` job (relative to it): a viewer token of `serve.tokens`. */
export const KEEL_TOKEN_FILE = "keel.token";

/**
 * The scrape job of `keel serve`'s `/metrics`, when the inventory says where it listens:
 * `serve.listen` names an address of a declared host (a loopback or wildcard address says
 * nothing about which host). Bearer authorization from {@link KEEL_TOKEN_FILE}; the target is
 * labelled `site` only, since Keel's own series carry a `host` label (the WAL metrics') that a
 * target label would overwrite. Undefined otherwise (docs/render.md shows the job to add).
 */
export function keelScrapeJob(inv: Inventory): unknown | undefined {
  const listen = parseListen(inv.serve.listen);
  if (!listen) return undefined;
  const owner = inv.hosts.find((h) => h.addresses.some((a) => a.address === listen.host));
  if (!owner) return undefined;
  return {
    job_name: "keel",
    metrics_path: "/metrics",
    authorization: { type: "Bearer", credentials_file: KEEL_TOKEN_FILE },
    static_configs: [{ targets: [hostPort(listen.host, listen.port)], labels: { site: inv.site } }],
  };
}
