/**
 * Prometheus artifacts of `keel render` (contract `docs/render.md`):
 *
 * - `prometheus/prometheus.yml`: one scrape job per service kind that serves metrics at
 *   `/metrics` (`node` for node_exporter, `prometheus`, `grafana`; a job is written only when it
 *   has targets, except `node`, which is always written), each reading its targets with
 *   `file_sd_configs` from `targets/JOB.json` (paths relative to the configuration file, as
 *   Prometheus resolves them), and `rule_files: [rules/keel-fleet.rules.yml]`.
 * - `prometheus/targets/JOB.json`: file SD target groups (Prometheus docs, "file_sd_config":
 *   `[{ "targets": ["host:port"], "labels": {…} }]`), one group per service, labelled `site`,
 *   `host`, `service`, `tags` (`,a,b,`: comma-separated with a leading and trailing comma, so
 *   `.*,a,.*` matches tag `a`), plus the same `__meta_keel_*` labels as the HTTP SD of
 *   `keel serve` (`src/render/targets.ts`), available to relabelling.
 * - `prometheus/rules/keel-fleet.rules.yml`: the fleet's alerting rules (see {@link FLEET_ALERTS}).
 * - `prometheus/rules/keel-fleet.test.yml`: `promtool test rules` unit tests showing that each
 *   alert fires when it should and stays quiet when it should not.
 * - When the inventory declares `backups:`, `prometheus/rules/keel-backups.rules.yml` and its
 *   `keel-backups.test.yml`, in `rule_files` too, and, when `serve.listen` names a declared host's
 *   address, a `keel` job scraping `keel serve`'s `/metrics` (`./prometheus-backups.ts`).
 *
 * Targets are scraped at the host's address on the first network it shares with the host of the
 * inventory's first `prometheus` service (the Prometheus that will read these files), else at
 * the host's primary address. Only TCP services are scraped.
 */
import type { Host, Inventory } from "../inventory/model.js";
import { backupRules, backupRuleTests, keelScrapeJob } from "./prometheus-backups.js";
import { type SdKind, scrapeTargets, type TargetGroup } from "./targets.js";
import type { RenderedFile, Renderer } from "./types.js";
import { toYaml } from "./yaml.js";

/** Scrape jobs: job name → the service kind whose services it scrapes. */
const JOBS = [
  { job: "node", kind: "node_exporter" },
  { job: "prometheus", kind: "prometheus" },
  { job: "grafana", kind: "grafana" },
] as const satisfies readonly { job: string; kind: SdKind }[];

const HEADER = "# Rendered by keel render from the inventory; edit the inventory, not this file.\n";

/** The address `prom` scrapes `target` at: on the first network they share, else the primary. */
function scrapeAddress(
  prom: Host | undefined,
  target: Host,
): { address: string; network: string } | undefined {
  const shared = prom
    ? target.addresses.find((a) => prom.addresses.some((p) => p.network === a.network))
    : undefined;
  return shared ?? target.addresses[0];
}

/**
 * The file SD target groups of one service kind, in inventory order: the targets and labels of
 * `keel serve`'s HTTP SD ({@link scrapeTargets}), each host scraped at its address on the first
 * network it shares with the Prometheus server, plus the plain `tags` label.
 */
export function fileSdTargets(inv: Inventory, kind: SdKind): TargetGroup[] {
  const prom = inv.hosts.find((h) => h.services.some((s) => s.kind === "prometheus"));
  return scrapeTargets(inv, { kinds: [kind], at: (h) => scrapeAddress(prom, h), tagsLabel: true });
}

/** Label lookups used to write an annotation: a Go template reference in the rule, a value in a test. */
type LabelRef = (name: string) => string;

/** One fleet alert. */
interface FleetAlert {
  alert: string;
  expr: string;
  /** Prometheus duration the condition must hold, e.g. `15m`; absent fires at once. */
  for?: string;
  severity: "warning" | "critical";
  /** Extra static labels of the alert. */
  labels?: Record<string, string>;
  summary: (l: LabelRef) => string;
}

/** Filesystems that are not disks (in-memory, overlays, images): excluded from the space alerts. */
const FS = 'fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs|autofs|iso9660|fuse.lxcfs"';
const FS_RATIO = `node_filesystem_avail_bytes{${FS}} / node_filesystem_size_bytes{${FS}}`;

/** Reboots within a day above which HostRebootingOften fires. */
export const REBOOTS_PER_DAY = 2;
/** Free space fractions: below LOW a warning, below CRITICAL a critical alert (not both). */
export const FS_FREE_LOW = 0.15;
export const FS_FREE_CRITICAL = 0.05;
/** Available memory fraction below which HostMemoryPressure fires. */
export const MEM_AVAILABLE_MIN = 0.1;
/** 5-minute load average per CPU above which HostLoadHigh fires. */
export const LOAD_PER_CPU_MAX = 2;
/** Clock offset in seconds (exporter time vs. scrape time) above which HostClockSkew fires. */
export const CLOCK_SKEW_MAX_S = 30;

/**
 * The metrics the fleet's freshness depends on: each gets a companion `absent()` alert
 * (`NodeMetricAbsent{metric="…"}`), since an alert on a metric that is no longer scraped
 * never fires. Every metric the rules below read is listed, with `up` of the node job.
 */
export const FRESHNESS_METRICS = [
  { metric: "up", selector: 'up{job="node"}' },
  { metric: "node_time_seconds", selector: "node_time_seconds" },
  { metric: "node_boot_time_seconds", selector: "node_boot_time_seconds" },
  { metric: "node_filesystem_avail_bytes", selector: "node_filesystem_avail_bytes" },
  { metric: "node_filesystem_size_bytes", selector: "node_filesystem_size_bytes" },
  { metric: "node_memory_MemAvailable_bytes", selector: "node_memory_MemAvailable_bytes" },
  { metric: "node_memory_MemTotal_bytes", selector: "node_memory_MemTotal_bytes" },
  { metric: "node_load5", selector: "node_load5" },
  { metric: "node_cpu_seconds_total", selector: 'node_cpu_seconds_total{mode="idle"}' },
] as const;

/**
 * The fleet alerts (node_exporter metric names; PromQL as in the Prometheus docs). The load
 * rule divides by the CPU count with `on(instance) group_left`, so a load series (labels job,
 * instance, host…) matches the count (label instance only) and keeps its own labels.
 */
export const FLEET_ALERTS: FleetAlert[] = [
  {
    alert: "HostDown",
    expr: 'up{job="node"} == 0',
    for: "5m",
    severity: "critical",
    summary: (l) => `${l("host")}: node_exporter at ${l("instance")} is not answering scrapes`,
  },
  {
    alert: "HostRebootingOften",
    expr: `changes(node_boot_time_seconds[1d]) > ${REBOOTS_PER_DAY}`,
    severity: "warning",
    summary: (l) => `${l("host")} rebooted more than ${REBOOTS_PER_DAY} times in a day`,
  },
  {
    alert: "HostFilesystemSpaceLow",
    expr: `${FS_RATIO} < ${FS_FREE_LOW} >= ${FS_FREE_CRITICAL}`,
    for: "15m",
    severity: "warning",
    summary: (l) => `${l("host")}: less than ${FS_FREE_LOW * 100}% free on ${l("mountpoint")}`,
  },
  {
    alert: "HostFilesystemSpaceCritical",
    expr: `${FS_RATIO} < ${FS_FREE_CRITICAL}`,
    for: "5m",
    severity: "critical",
    summary: (l) => `${l("host")}: less than ${FS_FREE_CRITICAL * 100}% free on ${l("mountpoint")}`,
  },
  {
    alert: "HostMemoryPressure",
    expr: `node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < ${MEM_AVAILABLE_MIN}`,
    for: "10m",
    severity: "warning",
    summary: (l) => `${l("host")}: less than ${MEM_AVAILABLE_MIN * 100}% of memory available`,
  },
  {
    alert: "HostLoadHigh",
    expr: `node_load5 / on(instance) group_left count by (instance) (node_cpu_seconds_total{mode="idle"}) > ${LOAD_PER_CPU_MAX}`,
    for: "15m",
    severity: "warning",
    summary: (l) => `${l("host")}: 5-minute load above ${LOAD_PER_CPU_MAX} per CPU`,
  },
  {
    alert: "HostClockSkew",
    expr: `abs(node_time_seconds - timestamp(node_time_seconds)) > ${CLOCK_SKEW_MAX_S}`,
    for: "10m",
    severity: "warning",
    summary: (l) => `${l("host")}: clock is more than ${CLOCK_SKEW_MAX_S}s off`,
  },
  ...FRESHNESS_METRICS.map(
    (m): FleetAlert => ({
      alert: "NodeMetricAbsent",
      expr: `absent(${m.selector})`,
      for: "10m",
      severity: "warning",
      labels: { metric: m.metric },
      summary: () => `no series of ${m.metric} is scraped: the fleet's alerts on it cannot fire`,
    }),
  ),
];

/** The `groups:` document of `keel-fleet.rules.yml` (Prometheus docs, "Alerting rules"). */
export function fleetRules(): unknown {
  return {
    groups: [
      {
        name: "keel-fleet",
        rules: FLEET_ALERTS.map((a) => ({
          alert: a.alert,
          expr: a.expr,
          ...(a.for ? { for: a.for } : {}),
          labels: { severity: a.severity, ...a.labels },
          annotations: { summary: a.summary((n) => `{{ $labels.${n} }}`) },
        })),
      },
    ],
  };
}

/** Labels of a test series: a node_exporter target of a made-up host. */
function node(host: string, extra: Record<string, string> = {}): Record<string, string> {
  return { host, instance: `${host}:9100`, job: "node", site: "test", ...extra };
}

function series(name: string, labels: Record<string, string>): string {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${name}{${body}}`;
}

function expAlert(alert: string, labels: Record<string, string>) {
  const a = FLEET_ALERTS.find(
    (x) => x.alert === alert && (!x.labels?.metric || x.labels.metric === labels.metric),
  )!;
  return {
    exp_labels: { ...labels, severity: a.severity },
    exp_annotations: { summary: a.summary((n) => labels[n] ?? "") },
  };
}

/**
 * The `promtool test rules` file (Prometheus docs, "Unit testing for rules"): per alert, input
 * series of a host that should trip it and of one that should not, and evaluations before the
 * `for` duration (quiet), after it (firing for the bad host only). Each absent() companion is
 * tested with its metric missing (fires) and present (quiet).
 */
export function fleetRuleTests(): unknown {
  const tests: unknown[] = [];
  const bad = node("bad");
  const good = node("good");

  tests.push({
    name: "HostDown fires after 5m of failed scrapes, not for a host that answers",
    interval: "1m",
    input_series: [
      { series: series("up", bad), values: "1 0x10" },
      { series: series("up", good), values: "1x10" },
    ],
    alert_rule_test: [
      { eval_time: "3m", alertname: "HostDown", exp_alerts: [] },
      { eval_time: "8m", alertname: "HostDown", exp_alerts: [expAlert("HostDown", bad)] },
    ],
  });

  tests.push({
    name: "HostRebootingOften fires on the third reboot within a day, not on two",
    interval: "5m",
    input_series: [
      { series: series("node_boot_time_seconds", bad), values: "1000x2 2000x2 3000x2 4000x2" },
      { series: series("node_boot_time_seconds", good), values: "1000x2 2000x2 3000x5" },
    ],
    alert_rule_test: [
      { eval_time: "35m", alertname: "HostRebootingOften", exp_alerts: [] },
      {
        eval_time: "50m",
        alertname: "HostRebootingOften",
        exp_alerts: [expAlert("HostRebootingOften", bad)],
      },
    ],
  });

  const fs = (host: string, fstype = "ext4", mountpoint = "/") =>
    node(host, { device: "/dev/vda1", fstype, mountpoint });
  const low = fs("low");
  const crit = fs("crit");
  const roomy = fs("roomy");
  const tmp = fs("tmp", "tmpfs", "/run");
  const size = 100e9;
  tests.push({
    name: "filesystem space: low (<15%) warns, critical (<5%) pages instead, roomy disks and tmpfs stay quiet",
    interval: "1m",
    input_series: [
      { series: series("node_filesystem_size_bytes", low), values: `${size}x30` },
      { series: series("node_filesystem_avail_bytes", low), values: `${0.1 * size}x30` },
      { series: series("node_filesystem_size_bytes", crit), values: `${size}x30` },
      { series: series("node_filesystem_avail_bytes", crit), values: `${0.02 * size}x30` },
      { series: series("node_filesystem_size_bytes", roomy), values: `${size}x30` },
      { series: series("node_filesystem_avail_bytes", roomy), values: `${0.5 * size}x30` },
      { series: series("node_filesystem_size_bytes", tmp), values: `${size}x30` },
      { series: series("node_filesystem_avail_bytes", tmp), values: "0x30" },
    ],
    alert_rule_test: [
      { eval_time: "3m", alertname: "HostFilesystemSpaceCritical", exp_alerts: [] },
      { eval_time: "10m", alertname: "HostFilesystemSpaceLow", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "HostFilesystemSpaceLow",
        exp_alerts: [expAlert("HostFilesystemSpaceLow", low)],
      },
      {
        eval_time: "20m",
        alertname: "HostFilesystemSpaceCritical",
        exp_alerts: [expAlert("HostFilesystemSpaceCritical", crit)],
      },
    ],
  });

  tests.push({
    name: "HostMemoryPressure fires below 10% available for 10m",
    interval: "1m",
    input_series: [
      { series: series("node_memory_MemTotal_bytes", bad), values: "8e9x30" },
      { series: series("node_memory_MemAvailable_bytes", bad), values: "4e8x30" },
      { series: series("node_memory_MemTotal_bytes", good), values: "8e9x30" },
      { series: series("node_memory_MemAvailable_bytes", good), values: "2e9x30" },
    ],
    alert_rule_test: [
      { eval_time: "5m", alertname: "HostMemoryPressure", exp_alerts: [] },
      {
        eval_time: "15m",
        alertname: "HostMemoryPressure",
        exp_alerts: [expAlert("HostMemoryPressure", bad)],
      },
    ],
  });

  // Load 5 on 2 CPUs (2.5 per CPU) fires; load 5 on 4 CPUs (1.25 per CPU) does not.
  const cpus = (labels: Record<string, string>, n: number) =>
    Array.from({ length: n }, (_, cpu) => ({
      series: series("node_cpu_seconds_total", { ...labels, cpu: String(cpu), mode: "idle" }),
      values: "0+60x30",
    }));
  tests.push({
    name: "HostLoadHigh compares the load with the host's CPU count (on(instance) matching)",
    interval: "1m",
    input_series: [
      { series: series("node_load5", bad), values: "5x30" },
      ...cpus(bad, 2),
      { series: series("node_load5", good), values: "5x30" },
      ...cpus(good, 4),
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "HostLoadHigh", exp_alerts: [] },
      { eval_time: "20m", alertname: "HostLoadHigh", exp_alerts: [expAlert("HostLoadHigh", bad)] },
    ],
  });

  tests.push({
    name: "HostClockSkew fires when the exporter's clock is 5 minutes off, not when it is right",
    interval: "1m",
    input_series: [
      { series: series("node_time_seconds", bad), values: "300+60x30" },
      { series: series("node_time_seconds", good), values: "0+60x30" },
    ],
    alert_rule_test: [
      { eval_time: "5m", alertname: "HostClockSkew", exp_alerts: [] },
      { eval_time: "15m", alertname: "HostClockSkew", exp_alerts: [expAlert("HostClockSkew", bad)] },
    ],
  });

  const matchers = (selector: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const m of selector.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
    return out;
  };
  for (const m of FRESHNESS_METRICS) {
    const present = { ...good, ...matchers(m.selector) };
    const others = FRESHNESS_METRICS.filter((x) => x !== m).map((x) => ({
      series: series(x.metric, { ...good, ...matchers(x.selector) }),
      values: "1x30",
    }));
    const absentLabels = { ...matchers(m.selector), metric: m.metric };
    tests.push({
      name: `NodeMetricAbsent{metric="${m.metric}"} fires when no ${m.metric} is scraped for 10m`,
      interval: "1m",
      input_series: others,
      alert_rule_test: [
        { eval_time: "5m", alertname: "NodeMetricAbsent", exp_alerts: [] },
        {
          eval_time: "15m",
          alertname: "NodeMetricAbsent",
          exp_alerts: [expAlert("NodeMetricAbsent", absentLabels)],
        },
      ],
    });
    tests.push({
      name: `NodeMetricAbsent stays quiet while ${m.metric} is scraped`,
      interval: "1m",
      input_series: [...others, { series: series(m.metric, present), values: "1x30" }],
      alert_rule_test: [{ eval_time: "15m", alertname: "NodeMetricAbsent", exp_alerts: [] }],
    });
  }

  return { rule_files: ["keel-fleet.rules.yml"], evaluation_interval: "1m", tests };
}

function yamlDoc(doc: unknown): string {
  return HEADER + toYaml(doc);
}

/** The Prometheus renderer: configuration, file SD targets, fleet rules and their unit tests. */
export const prometheusRenderer: Renderer<RenderedFile> = {
  kind: "prometheus",
  render(inv: Inventory): RenderedFile[] {
    const files: RenderedFile[] = [];
    const jobs: unknown[] = [];
    for (const { job, kind } of JOBS) {
      const groups = fileSdTargets(inv, kind);
      if (groups.length === 0 && job !== "node") continue;
      files.push({ path: `prometheus/targets/${job}.json`, content: `${JSON.stringify(groups, null, 2)}\n` });
      jobs.push({ job_name: job, file_sd_configs: [{ files: [`targets/${job}.json`] }] });
    }
    const backups = inv.backups.pgbackrest.length + inv.backups.walg.length > 0;
    const keel = backups ? keelScrapeJob(inv) : undefined;
    if (keel) jobs.push(keel);
    const config = {
      global: { scrape_interval: "30s", evaluation_interval: "30s" },
      rule_files: ["rules/keel-fleet.rules.yml", ...(backups ? ["rules/keel-backups.rules.yml"] : [])],
      scrape_configs: jobs,
    };
    files.push({ path: "prometheus/prometheus.yml", content: yamlDoc(config) });
    files.push({ path: "prometheus/rules/keel-fleet.rules.yml", content: yamlDoc(fleetRules()) });
    files.push({ path: "prometheus/rules/keel-fleet.test.yml", content: yamlDoc(fleetRuleTests()) });
    if (backups) {
      files.push({ path: "prometheus/rules/keel-backups.rules.yml", content: yamlDoc(backupRules()) });
      files.push({ path: "prometheus/rules/keel-backups.test.yml", content: yamlDoc(backupRuleTests()) });
    }
    return files;
  },
};
