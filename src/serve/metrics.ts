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

/**
 * Builds the registry for `engine`: per-check gauges are filled from `engine.states()` at each
 * scrape; counters follow the engine's events from now on.
 */
export function createMetrics(engine: Engine): KeelMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "keel_" });

  // Per-check samples follow the engine's events (a scrape of 50,000 checks then only
  // serialises); after a reload, and at start, they are refilled from engine.states().
  let refill = true;
  const labelsOf = (s: CheckState) => ({
    id: s.id,
    kind: s.kind,
    host: s.host,
    service: s.service ?? "",
    vantage: s.vantage ?? "",
  });
  const setCheck = (s: CheckState) => {
    if (s.status === null) return;
    const labels = labelsOf(s);
    status.set(labels, STATUS_CODE[s.status]);
    duration.set(labels, s.durationMs / 1000);
    hard.set(labels, s.state === "hard" ? 1 : 0);
  };
  const fillChecks = () => {
    if (!refill) return;
    refill = false;
    status.reset();
    duration.reset();
    hard.reset();
    for (const s of engine.states()) setCheck(s);
  };
  // registered first, so its collect runs before the other two are read
  const status = new Gauge({
    name: "keel_check_status",
    help: "Latest result of each check: 0 pass, 1 fail, 2 error, 3 skip (Nagios plugin return codes)",
    labelNames: CHECK_LABELS,
    registers: [registry],
    collect: fillChecks,
  });
  const duration = new Gauge({
    name: "keel_check_duration_seconds",
    help: "Duration of each check's latest run, in seconds",
    labelNames: CHECK_LABELS,
    registers: [registry],
  });
  const hard = new Gauge({
    name: "keel_check_hard_failing",
    help: "1 when the check is hard-failing (failed fail_after times in a row), else 0",
    labelNames: CHECK_LABELS,
    registers: [registry],
  });

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
      for (const s of engine.states()) counts[s.state]++;
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
      if (!refill) setCheck(e.state);
      results.inc({ kind: e.result.kind, status: e.result.status });
      runDuration.observe({ kind: e.result.kind }, e.result.durationMs / 1000);
    } else if (e.type === "state") {
      if (!refill) setCheck(e.state);
    } else if (e.type === "reload") {
      if (e.ok) refill = true;
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
