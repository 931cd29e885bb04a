/**
 * `/metrics` of `keel serve` in the Prometheus text exposition format (prom-client, on a
 * Registry of its own, never the global one).
 *
 * Per check (labels `id`, `kind`, `host`, `service`, `vantage`; `service`/`vantage` are `""`
 * when the check has none; checks that have not run yet have no samples):
 * - `keel_check_status`: the latest result as a number, following Nagios' plugin return codes:
 *   0 pass, 1 fail, 2 error, 3 skip. Alert on `keel_check_hard_failing` instead of this.
 * - `keel_check_duration_seconds`: duration of the latest run.
 * - `keel_check_hard_failing`: 1 when the check's state is `hard` (failing for real), else 0.
 *
 * Keel itself:
 * - `keel_results_total{kind,status}` counter of results since start;
 * - `keel_check_run_duration_seconds{kind}` histogram of check run durations since start;
 * - `keel_checks{state}` number of checks per state (ok, soft, hard, unknown, skipped);
 * - `keel_hosts` hosts in the served inventory;
 * - `keel_last_reload_success` 1 when the last inventory reload succeeded, else 0;
 * - `keel_last_reload_timestamp_seconds` Unix time of the last reload attempt (start counts);
 * - `keel_inventory_problems` problems of the last rejected inventory (0 when the file is valid);
 * - prom-client's default process metrics with the `keel_` prefix (`keel_process_cpu_seconds_total`, …).
 *
 * Backups (one series per backup of `backups:`, labels `backup` (stanza or WAL-G name) and
 * `tool` (`pgbackrest`, `walg`); the WAL ones also `host`, the primary's), read from the latest
 * results of the backup checks when scraped (`backups.ts`). Instants are Unix timestamps, not
 * ages (Prometheus' practice: `time() - x` is the age, and a stale sample does not look young).
 * A fact no result carries has no sample.
 * - `keel_backup_objective_seconds{objective="backup"|"wal"}`: the inventory's objectives
 *   (always present for a declared backup: the anchor of the "not observed" alerts);
 * - `keel_backup_last_finished_timestamp_seconds{type}`: when the newest good backup of each type
 *   finished (`full`, `diff`, `incr`, `delta`) and of any type (`type="any"`);
 * - `keel_wal_archive_last_archived_timestamp_seconds`, `keel_wal_archive_last_failed_timestamp_seconds`:
 *   the last successful and failed archiving of a WAL segment;
 * - `keel_wal_archive_failing`: 1 when the last failure is newer than the last success, else 0;
 * - `keel_wal_archive_ready_files`: segments waiting to be archived (`.ready` files);
 * - `keel_wal_archive_oldest_ready_timestamp_seconds`: mtime of the oldest of them (no sample when none waits);
 * - `keel_wal_directory_bytes`: size of `pg_wal`; `keel_wal_filesystem_free_bytes` and
 *   `keel_wal_filesystem_size_bytes`: free and total bytes of its filesystem;
 * - `keel_backup_rehearsal_interval_seconds`: the inventory's `rehearsal.interval`;
 * - `keel_backup_rehearsal_last_timestamp_seconds`: when the last restore rehearsal ran;
 * - `keel_backup_rehearsal_last_success`: 1 when it passed, else 0;
 * - `keel_backup_rehearsal_duration_seconds`: its measured recovery time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { CheckStatus } from "../verify/types.js";
import { type BackupView, backupViews } from "./backups.js";
import type { CheckStateView, Engine, HardState } from "./types.js";

/** `keel_check_status` values (Nagios plugin return codes: OK, WARNING→fail, CRITICAL→error, UNKNOWN→skip). */
export const STATUS_CODE: Record<CheckStatus, number> = { pass: 0, fail: 1, error: 2, skip: 3 };

const CHECK_LABELS = ["id", "kind", "host", "service", "vantage"] as const;
const STATES: HardState[] = ["ok", "soft", "hard", "unknown", "skipped"];

/** The metrics of one `keel serve`; `close()` stops listening to the engine. */
export interface KeelMetrics {
  registry: Registry;
  /** Prometheus text format (`registry.contentType`). */
  render(): Promise<string>;
  /** The same text as `render()`, in pieces (for the HTTP answer: bounded memory). */
  stream(): AsyncGenerator<string>;
  close(): void;
}

/** Names of the per-check families, which `stream()` writes in chunks. */
const CHECK_FAMILIES = new Set([
  "keel_check_status",
  "keel_check_duration_seconds",
  "keel_check_hard_failing",
]);
/** Checks per chunk of a per-check family in `stream()`. */
const CHUNK = 2000;

/**
 * A per-check gauge whose samples are read from the engine's states when it is scraped, so no
 * series of 50,000 checks is kept between scrapes (prom-client keeps a label hash, a labels
 * object and a value object per series and gauge: tens of MB, rewritten with every result).
 * Serialisation stays prom-client's.
 */
class CheckGauge extends Gauge<(typeof CHECK_LABELS)[number]> {
  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly states: () => readonly Readonly<CheckStateView>[],
    private readonly value: (s: Readonly<CheckStateView>) => number,
  ) {
    super({ name, help, labelNames: CHECK_LABELS, registers: [registry] });
  }

  /** prom-client's answer (name, help, type) with the values of `states()` (checks that have run). */
  override async get() {
    const states = this.states(); // before any await: `stream()` sets what it reads synchronously
    const metric = await super.get(); // no series of its own: values []
    const value = this.value;
    metric.values = states.map((s) => ({
      labels: { id: s.id, kind: s.kind, host: s.host, service: s.service ?? "", vantage: s.vantage ?? "" },
      value: value(s),
    }));
    return metric;
  }
}

/**
 * Builds the registry for `engine`: per-check gauges are read from the engine's states at each
 * scrape; counters follow the engine's events from now on.
 */
export function createMetrics(engine: Engine): KeelMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "keel_" });

  /** The states of the checks that have run, in derivation order (live objects). */
  const ran = (): Readonly<CheckStateView>[] => {
    const out: Readonly<CheckStateView>[] = [];
    engine.forEachState((s) => {
      if (s.status !== null) out.push(s);
    });
    return out;
  };
  // What the per-check gauges serialise: every check that has run (render), or one chunk (stream).
  let chunk: readonly Readonly<CheckStateView>[] | undefined;
  const states = () => chunk ?? ran();
  new CheckGauge(
    "keel_check_status",
    "Latest result of each check: 0 pass, 1 fail, 2 error, 3 skip (Nagios plugin return codes)",
    registry,
    states,
    (s) => STATUS_CODE[s.status!],
  );
  new CheckGauge(
    "keel_check_duration_seconds",
    "Duration of each check's latest run, in seconds",
    registry,
    states,
    (s) => s.durationMs / 1000,
  );
  new CheckGauge(
    "keel_check_hard_failing",
    "1 when the check is hard-failing (failed fail_after times in a row), else 0",
    registry,
    states,
    (s) => (s.state === "hard" ? 1 : 0),
  );

  /**
   * `render()`'s text in pieces: each family of Keel's own metrics whole, each per-check family
   * in chunks of CHUNK checks (their HELP and TYPE once), so a scrape of 50,000 checks never
   * holds the whole 17 MB text and its 150,000 lines at once.
   */
  async function* stream(): AsyncGenerator<string> {
    let first = true;
    for (const metric of registry.getMetricsAsArray()) {
      const name = metric.name;
      yield first ? "" : "\n";
      first = false;
      if (!CHECK_FAMILIES.has(name)) {
        yield `${await registry.getSingleMetricAsString(name)}\n`;
        continue;
      }
      const all = ran();
      for (let i = 0; i === 0 || i < all.length; i += CHUNK) {
        // the gauge's `get` reads `chunk` synchronously, within this call
        chunk = all.slice(i, i + CHUNK);
        const pending = registry.getSingleMetricAsString(name);
        chunk = undefined;
        const text = await pending;
        // HELP and TYPE lead the family's first chunk only
        yield `${i === 0 ? text : text.slice(text.indexOf("\n", text.indexOf("\n") + 1) + 1)}\n`;
      }
    }
  }

  const results = new Counter({
    name: "keel_results_total",
    help: "Check results since keel serve started, by kind and status",
    labelNames: ["kind", "status"] as const,
    registers: [registry],
  });
  const runDuration = new Histogram({
    name: "keel_check_run_duration_seconds",
    help: "Durations of check runs since keel serve started, in seconds",
    labelNames: ["kind"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: "keel_checks",
    help: "Checks by state (ok, soft, hard, unknown, skipped)",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<HardState, number>;
      engine.forEachState((s) => {
        counts[s.state]++;
      });
      for (const st of STATES) this.set({ state: st }, counts[st]);
    },
  });
  new Gauge({
    name: "keel_hosts",
    help: "Hosts in the served inventory",
    registers: [registry],
    collect() {
      this.set(engine.inventory().hosts.length);
    },
  });
  const reloadOk = new Gauge({
    name: "keel_last_reload_success",
    help: "1 when the last inventory reload succeeded, else 0",
    registers: [registry],
  });
  const reloadAt = new Gauge({
    name: "keel_last_reload_timestamp_seconds",
    help: "Unix time of the last inventory reload attempt (or of the start)",
    registers: [registry],
  });
  new Gauge({
    name: "keel_inventory_problems",
    help: "Problems of the last rejected inventory; 0 when the file on disk is valid",
    registers: [registry],
    collect() {
      this.set(engine.problems().length);
    },
  });
  backupGauges(registry, () => backupViews(engine.inventory(), (id) => engine.state(id), Date.now()));
  reloadOk.set(engine.problems().length === 0 ? 1 : 0);
  reloadAt.set(Date.now() / 1000);

  const unsubscribe = engine.subscribe((e) => {
    if (e.type === "result") {
      results.inc({ kind: e.result.kind, status: e.result.status });
      runDuration.observe({ kind: e.result.kind }, e.result.durationMs / 1000);
    } else if (e.type === "reload") {
      reloadOk.set(e.ok ? 1 : 0);
      reloadAt.set(Date.now() / 1000);
    }
  });

  return {
    registry,
    render: () => registry.metrics(),
    stream,
    close: unsubscribe,
  };
}

/** Unix seconds of an ISO 8601 instant, or null. */
function seconds(iso: string | null): number | null {
  if (iso === null) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t / 1000 : null;
}

type Sample = [labels: Record<string, string>, value: number | null];

/**
 * The backup families (see the module doc): gauges that read `views()` when scraped, each set
 * anew (`reset`) so that a backup removed from the inventory leaves no series behind.
 */
function backupGauges(registry: Registry, views: () => BackupView[]): void {
  const gauge = (name: string, help: string, labelNames: string[], samples: (b: BackupView) => Sample[]) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const b of views())
          for (const [labels, value] of samples(b)) if (value !== null) this.set(labels, value);
      },
    });
  const id = (b: BackupView) => ({ backup: b.name, tool: b.tool });
  const wal = (b: BackupView) => ({ ...id(b), host: b.wal.host });
  const BACKUP = ["backup", "tool"];
  const WAL = ["backup", "tool", "host"];
  gauge(
    "keel_backup_objective_seconds",
    "Recovery-point objectives of each declared backup, in seconds: objective=backup (newest backup) or wal (newest archived WAL)",
    [...BACKUP, "objective"],
    (b) => [
      [{ ...id(b), objective: "backup" }, b.objectives.backup.objectiveSec],
      [{ ...id(b), objective: "wal" }, b.objectives.wal.objectiveSec],
    ],
  );
  gauge(
    "keel_backup_last_finished_timestamp_seconds",
    "Unix time the newest good backup of each type (and type=any) finished, as the backup tool's check last saw it",
    [...BACKUP, "type"],
    (b) => [
      [{ ...id(b), type: "any" }, seconds(b.backups.newest?.finished ?? null)],
      ...b.backups.types.map(
        (t): Sample => [{ ...id(b), type: t.type }, seconds(t.newest?.finished ?? null)],
      ),
    ],
  );
  gauge(
    "keel_wal_archive_last_archived_timestamp_seconds",
    "Unix time the primary last archived a WAL segment successfully",
    WAL,
    (b) => [[wal(b), seconds(b.wal.lastArchived)]],
  );
  gauge(
    "keel_wal_archive_last_failed_timestamp_seconds",
    "Unix time archiving a WAL segment last failed on the primary",
    WAL,
    (b) => [[wal(b), seconds(b.wal.lastFailed)]],
  );
  gauge(
    "keel_wal_archive_failing",
    "1 when the primary's last failed archiving is newer than its last successful one, else 0",
    WAL,
    (b) => [[wal(b), b.wal.failing === null ? null : b.wal.failing ? 1 : 0]],
  );
  gauge(
    "keel_wal_archive_ready_files",
    "WAL segments waiting to be archived on the primary (.ready files in pg_wal/archive_status)",
    WAL,
    (b) => [[wal(b), b.wal.ready]],
  );
  gauge(
    "keel_wal_archive_oldest_ready_timestamp_seconds",
    "Unix time (mtime) of the oldest WAL segment waiting to be archived; no sample when none waits",
    WAL,
    (b) => [[wal(b), seconds(b.wal.oldestReady)]],
  );
  gauge("keel_wal_directory_bytes", "Size of the primary's pg_wal directory, in bytes", WAL, (b) => [
    [wal(b), b.wal.walBytes],
  ]);
  gauge(
    "keel_wal_filesystem_free_bytes",
    "Free bytes of the filesystem holding the primary's pg_wal",
    WAL,
    (b) => [[wal(b), b.wal.freeBytes]],
  );
  gauge(
    "keel_wal_filesystem_size_bytes",
    "Size in bytes of the filesystem holding the primary's pg_wal",
    WAL,
    (b) => [[wal(b), b.wal.filesystemBytes]],
  );
  gauge(
    "keel_backup_rehearsal_interval_seconds",
    "The declared interval between two restore rehearsals, in seconds",
    BACKUP,
    (b) => [[id(b), b.rehearsal?.intervalSec ?? null]],
  );
  gauge(
    "keel_backup_rehearsal_last_timestamp_seconds",
    "Unix time of the last restore rehearsal",
    BACKUP,
    (b) => [[id(b), seconds(b.rehearsal?.at ?? null)]],
  );
  gauge(
    "keel_backup_rehearsal_last_success",
    "1 when the last restore rehearsal passed, else 0",
    BACKUP,
    (b) => [[id(b), b.rehearsal?.status == null ? null : b.rehearsal.status === "pass" ? 1 : 0]],
  );
  gauge(
    "keel_backup_rehearsal_duration_seconds",
    "Measured recovery time of the last restore rehearsal, in seconds",
    BACKUP,
    (b) => [[id(b), b.rehearsal?.durationSec ?? null]],
  );
}
