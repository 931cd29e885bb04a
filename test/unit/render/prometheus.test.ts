/**
 * The Prometheus renderer, judged by promtool itself: the configuration and its file SD targets
 * pass `promtool check config`, the rules `promtool check rules`, and the rendered unit tests
 * `promtool test rules`. The unit tests are shown to have teeth: with any one alert's expression
 * made unable to fire, or the load rule's `on(instance)` matching removed, they fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import { writeRender } from "../../../src/cli/render.js";
import { prometheusRenderer } from "../../../src/render/prometheus.js";
import { BACKUP_ALERTS, KEEL_TOKEN_FILE, WAL_FS_FREE_MIN } from "../../../src/render/prometheus-backups.js";
import type { RenderContext, RenderedFile } from "../../../src/render/types.js";
import { createMetrics } from "../../../src/serve/metrics.js";
import { MIN_FREE_FRACTION } from "../../../src/verify/checks/backup-wal-archive.js";
import { contractExample } from "../../helpers/inventory.js";
import { backupSpecs, backupsInventory } from "../../serve/backups.js";
import { MemoryEngine } from "../../serve/memory.js";

const PROMTOOL = "/usr/bin/promtool";
const dir = mkdtempSync(join(tmpdir(), "keel-render-prom-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx: RenderContext = { now: new Date("2026-11-23T10:00:00Z"), previous: () => undefined };

async function render(): Promise<RenderedFile[]> {
  return prometheusRenderer.render(contractExample(), ctx);
}

function promtool(args: string[], cwd: string) {
  return spawnSync(PROMTOOL, args, { cwd, encoding: "utf8" });
}

interface Rule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
}

describe("prometheus renderer", async () => {
  const files = await render();
  writeRender(dir, files, ["prometheus"]);
  const prom = join(dir, "prometheus");

  test("promtool check config accepts prometheus.yml and its file SD target files", () => {
    const r = promtool(["check", "config", "prometheus.yml"], prom);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const config = parse(readFileSync(join(prom, "prometheus.yml"), "utf8"));
    assert.deepEqual(
      config.scrape_configs.map((j: { job_name: string; file_sd_configs: { files: string[] }[] }) => [
        j.job_name,
        j.file_sd_configs[0]!.files,
      ]),
      [
        ["node", ["targets/node.json"]],
        ["prometheus", ["targets/prometheus.json"]],
        ["grafana", ["targets/grafana.json"]],
      ],
    );
  });

  test("node targets: every monitored host's node_exporter, at its address on the network Prometheus shares", () => {
    const groups = JSON.parse(readFileSync(join(prom, "targets/node.json"), "utf8"));
    assert.deepEqual(
      groups.map((g: { targets: string[]; labels: Record<string, string> }) => [
        g.targets,
        g.labels.site,
        g.labels.host,
        g.labels.service,
        g.labels.tags,
      ]),
      [
        [["10.20.0.2:9100"], "lab", "gw-vpn", "node_exporter", ",monitored,vpn-gateway,"],
        [["10.20.0.3:9100"], "lab", "mon", "node_exporter", ",monitored,"],
        [["10.20.0.10:9100"], "lab", "gpu", "node_exporter", ",monitored,"],
      ],
    );
    const grafana = JSON.parse(readFileSync(join(prom, "targets/grafana.json"), "utf8"));
    assert.deepEqual(grafana[0].targets, ["10.20.0.3:3000"]);
  });

  test("promtool check rules accepts the fleet rules; the load rule uses on(instance) matching", () => {
    const r = promtool(["check", "rules", "rules/keel-fleet.rules.yml"], prom);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const rules: Rule[] = parse(readFileSync(join(prom, "rules/keel-fleet.rules.yml"), "utf8")).groups[0]
      .rules;
    const names = new Set(rules.map((x) => x.alert));
    for (const a of [
      "HostDown",
      "HostRebootingOften",
      "HostFilesystemSpaceLow",
      "HostFilesystemSpaceCritical",
      "HostMemoryPressure",
      "HostLoadHigh",
      "HostClockSkew",
      "NodeMetricAbsent",
    ])
      assert.ok(names.has(a), a);
    assert.match(rules.find((x) => x.alert === "HostLoadHigh")!.expr, /on\(instance\)/);
    // Every metric the rules read has an absent() companion.
    const absent = new Set(rules.filter((x) => x.alert === "NodeMetricAbsent").map((x) => x.labels.metric));
    for (const x of rules)
      for (const m of x.expr.matchAll(/\b(node_[A-Za-z0-9_]+|up)\b/g)) assert.ok(absent.has(m[1]!), m[1]);
  });

  test("promtool test rules: each alert fires when it should and stays quiet when it should not", () => {
    const r = promtool(["test", "rules", "rules/keel-fleet.test.yml"], prom);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test("the unit tests catch a rule that cannot fire, one that fires too often, and the load rule without on()", () => {
    const rulesText = readFileSync(join(prom, "rules/keel-fleet.rules.yml"), "utf8");
    const doc = parse(rulesText);
    const rules: Rule[] = doc.groups[0].rules;
    const scratch = mkdtempSync(join(dir, "mutant-"));
    // Each mutant is judged by the test groups about its alert only (promtool costs ~0.1 s a group).
    const testDoc = parse(readFileSync(join(prom, "rules/keel-fleet.test.yml"), "utf8"));
    const testsOf = (alert: string) => ({
      ...testDoc,
      tests: testDoc.tests.filter((t: { alert_rule_test: { alertname: string }[] }) =>
        t.alert_rule_test.some((a) => a.alertname === alert),
      ),
    });
    const mutants: [string, (x: Rule) => void, number][] = rules.map((x, i) => [
      `${x.alert}${x.labels.metric ? `{metric=${x.labels.metric}}` : ""} never firing`,
      (y) => {
        y.expr = "vector(1) == 0";
      },
      i,
    ]);
    const load = rules.findIndex((x) => x.alert === "HostLoadHigh");
    mutants.push([
      "HostLoadHigh without on(instance) group_left",
      (y) => {
        y.expr = y.expr.replace("on(instance) group_left ", "");
      },
      load,
    ]);
    mutants.push([
      "HostLoadHigh at 1 per CPU (the 4-CPU host must stay quiet)",
      (y) => {
        y.expr = y.expr.replace(/> 2$/, "> 1");
      },
      load,
    ]);
    mutants.push([
      "HostFilesystemSpaceLow without its critical bound (must stay quiet when critical fires)",
      (y) => {
        y.expr = y.expr.replace(/ >= 0\.05$/, "");
      },
      rules.findIndex((x) => x.alert === "HostFilesystemSpaceLow"),
    ]);
    for (const [label, mutate, i] of mutants) {
      const copy = parse(rulesText);
      mutate(copy.groups[0].rules[i]);
      writeFileSync(join(scratch, "keel-fleet.rules.yml"), JSON.stringify(copy));
      writeFileSync(join(scratch, "keel-fleet.test.yml"), JSON.stringify(testsOf(rules[i]!.alert)));
      const r = promtool(["test", "rules", "keel-fleet.test.yml"], scratch);
      assert.notEqual(r.status, 0, `${label}: promtool test rules still passes`);
      assert.match(r.stdout + r.stderr, /FAILED/, label);
    }
  });

  test("rendering is deterministic: same inventory, same bytes", async () => {
    const again = await render();
    assert.deepEqual(
      again.map((f) => [f.path, f.content]),
      files.map((f) => [f.path, f.content]),
    );
  });
});

describe("prometheus renderer: backups", async () => {
  const inv = backupsInventory();
  inv.serve.listen = "10.20.0.3:8484"; // mon's address on lan: keel serve runs on mon
  const files = await prometheusRenderer.render(inv, ctx);
  const out = mkdtempSync(join(dir, "backups-"));
  writeRender(out, files, ["prometheus"]);
  const prom = join(out, "prometheus");

  test("without backups: no backup rules, no keel job", () => {
    const paths = (prometheusRenderer.render(contractExample(), ctx) as RenderedFile[]).map((f) => f.path);
    assert.ok(!paths.some((p) => p.includes("keel-backups")), paths.join(" "));
  });

  test("with backups: rule_files lists the backup rules, and keel serve is scraped with a bearer token, labelled site only", () => {
    // the operator puts a viewer token there; Prometheus (and promtool) read it
    writeFileSync(join(prom, KEEL_TOKEN_FILE), "viewer-token\n");
    const r = promtool(["check", "config", "prometheus.yml"], prom);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const config = parse(readFileSync(join(prom, "prometheus.yml"), "utf8"));
    assert.deepEqual(config.rule_files, ["rules/keel-fleet.rules.yml", "rules/keel-backups.rules.yml"]);
    const keel = config.scrape_configs.find((j: { job_name: string }) => j.job_name === "keel");
    assert.deepEqual(keel, {
      job_name: "keel",
      metrics_path: "/metrics",
      authorization: { type: "Bearer", credentials_file: KEEL_TOKEN_FILE },
      static_configs: [{ targets: ["10.20.0.3:8484"], labels: { site: "lab" } }],
    });
  });

  test("keel serve on a loopback address: no keel job (the inventory does not say which host)", async () => {
    const local = backupsInventory();
    const rendered = await prometheusRenderer.render(local, ctx);
    const config = parse(rendered.find((f) => f.path === "prometheus/prometheus.yml")!.content as string);
    assert.equal(local.serve.listen, "127.0.0.1:8484");
    assert.ok(!config.scrape_configs.some((j: { job_name: string }) => j.job_name === "keel"));
    assert.ok(config.rule_files.includes("rules/keel-backups.rules.yml"));
  });

  test("every keel_ metric the backup rules read is one keel serve's /metrics exports", async () => {
    const e = new MemoryEngine(inv, backupSpecs(inv));
    const metrics = createMetrics(e);
    const exported = new Set([...(await metrics.render()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    metrics.close();
    const rules: Rule[] = parse(readFileSync(join(prom, "rules/keel-backups.rules.yml"), "utf8")).groups[0]
      .rules;
    const read = new Set(rules.flatMap((x) => [...x.expr.matchAll(/\bkeel_[a-z_]+/g)].map((m) => m[0])));
    assert.ok(read.size >= 10, [...read].join(" "));
    for (const m of read) assert.ok(exported.has(m), `${m} is not exported by keel serve`);
  });

  test("WalDiskFilling fires at the free fraction the backup.wal-archive check fails at", () => {
    assert.equal(WAL_FS_FREE_MIN, MIN_FREE_FRACTION);
  });

  test("promtool check rules accepts the backup rules, and each alert is there", () => {
    const r = promtool(["check", "rules", "rules/keel-backups.rules.yml"], prom);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const rules: Rule[] = parse(readFileSync(join(prom, "rules/keel-backups.rules.yml"), "utf8")).groups[0]
      .rules;
    assert.deepEqual(
      rules.map((x) => x.alert),
      [
        "BackupTooOld",
        "BackupNotSeen",
        "WalArchiveLagging",
        "WalArchiveFailing",
        "WalArchiveBacklog",
        "WalDiskFilling",
        "WalArchiveNotSeen",
        "BackupRehearsalFailed",
        "BackupRehearsalStale",
        "BackupRehearsalMissing",
        "KeelBackupMetricsAbsent",
      ],
    );
  });

  test("promtool test rules: each backup alert fires when it should and stays quiet when it should not", () => {
    const r = promtool(["test", "rules", "keel-backups.test.yml"], join(prom, "rules"));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test("the unit tests catch each backup rule made unable to fire, or made to fire for every backup", () => {
    const rulesText = readFileSync(join(prom, "rules/keel-backups.rules.yml"), "utf8");
    const rules: Rule[] = parse(rulesText).groups[0].rules;
    const testDoc = parse(readFileSync(join(prom, "rules/keel-backups.test.yml"), "utf8"));
    const scratch = mkdtempSync(join(out, "mutant-"));
    const testsOf = (alert: string) => ({
      ...testDoc,
      tests: testDoc.tests.filter((t: { alert_rule_test: { alertname: string }[] }) =>
        t.alert_rule_test.some((a) => a.alertname === alert),
      ),
    });
    const mutants: [string, number, string][] = [];
    rules.forEach((x, i) => {
      mutants.push([`${x.alert} never firing`, i, "vector(1) == 0"]);
      // the first series the rule reads, unfiltered: every backup that has it
      const first = /keel_[a-z_]+(\{[^}]*\})?/.exec(x.expr)![0];
      mutants.push([`${x.alert} firing for every series of ${first}`, i, first]);
    });
    // WalDiskFilling's second condition (pg_wal holding more than is free) is tested on its own
    const disk = rules.findIndex((x) => x.alert === "WalDiskFilling");
    mutants.push(["WalDiskFilling on free space only", disk, rules[disk]!.expr.replace(/ or .*$/, "")]);
    // BackupTooOld must read type="any" only (an old full backup of a fresh stanza is fine)
    const tooOld = rules.findIndex((x) => x.alert === "BackupTooOld");
    mutants.push(["BackupTooOld over every type", tooOld, rules[tooOld]!.expr.replace('{type="any"}', "")]);
    for (const [label, i, expr] of mutants) {
      const copy = parse(rulesText);
      copy.groups[0].rules[i].expr = expr;
      writeFileSync(join(scratch, "keel-backups.rules.yml"), JSON.stringify(copy));
      writeFileSync(join(scratch, "keel-backups.test.yml"), JSON.stringify(testsOf(rules[i]!.alert)));
      const r = promtool(["test", "rules", "keel-backups.test.yml"], scratch);
      assert.notEqual(r.status, 0, `${label}: promtool test rules still passes`);
      assert.match(r.stdout + r.stderr, /FAILED/, label);
    }
    assert.equal(rules.length, BACKUP_ALERTS.length);
  });
});
