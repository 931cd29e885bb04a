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
import type { RenderContext, RenderedFile } from "../../../src/render/types.js";
import { contractExample } from "../../helpers/inventory.js";

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
