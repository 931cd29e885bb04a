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
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { CheckStatus } from "../verify/types.js";
import type { CheckState, Engine, HardState } from "./types.js";

/** `keel_check_status` values (Nagios plugin return codes: OK, WARNING→fail, CRITICAL→error, UNKNOWN→skip). */
export const STATUS_CODE: Record<CheckStatus, number> = { pass: 0, fail: 1, error: 2, skip: 3 };

const CHECK_LABELS = ["id", "kind", "host", "service", "vantage"] as const;
const STATES: HardState[] = ["ok", "soft", "hard", "unknown", "skipped"];

/** The metrics of one `keel serve`; `close()` stops listening to the engine. */
export interface KeelMetrics {
  registry: Registry;
  /** Prometheus text format (`registry.contentType`). */
  render(): Promise<string>;
  close(): void;
}

/** Labels of one check's samples. */
type CheckLabels = Record<(typeof CHECK_LABELS)[number], string>;

/** One check's samples of a scrape: its labels (shared by the three gauges) and its state. */
interface CheckRow {
  labels: CheckLabels;
  state: Readonly<CheckState>;
}

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
    private readonly rows: () => CheckRow[],
    private readonly value: (s: Readonly<CheckState>) => number,
  ) {
    super({ name, help, labelNames: CHECK_LABELS, registers: [registry] });
  }

  /** prom-client's answer (name, help, type) with the values of the checks that have run. */
  override async get() {
    const metric = await super.get(); // no series of its own: values []
    const value = this.value;
    metric.values = this.rows().map((r) => ({ labels: r.labels, value: value(r.state) }));
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

  // The checks that have run, with their labels, read once per scrape: the three gauges' `get`
  // run in one synchronous loop of `registry.metrics()`, and the rows are dropped after it.
  let scrape: CheckRow[] | undefined;
  const rows = (): CheckRow[] => {
    if (scrape !== undefined) return scrape;
    const out: CheckRow[] = [];
    engine.forEachState((s) => {
      if (s.status === null) return;
      out.push({
        labels: { id: s.id, kind: s.kind, host: s.host, service: s.service ?? "", vantage: s.vantage ?? "" },
        state: s,
      });
    });
    scrape = out;
    queueMicrotask(() => {
      scrape = undefined;
    });
    return out;
  };
  new CheckGauge(
    "keel_check_status",
    "Latest result of each check: 0 pass, 1 fail, 2 error, 3 skip (Nagios plugin return codes)",
    registry,
    rows,
    (s) => STATUS_CODE[s.status!],
  );
  new CheckGauge(
    "keel_check_duration_seconds",
    "Duration of each check's latest run, in seconds",
    registry,
    rows,
    (s) => s.durationMs / 1000,
  );
  new CheckGauge(
    "keel_check_hard_failing",
    "1 when the check is hard-failing (failed fail_after times in a row), else 0",
    registry,
    rows,
    (s) => (s.state === "hard" ? 1 : 0),
  );

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
    close: unsubscribe,
  };
}
