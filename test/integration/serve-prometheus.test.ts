/**
 * Prometheus discovers the lab twin through Keel (root only): a real Prometheus, configured
 * with nothing but `http_sd_configs` pointing at the built `keel serve`'s `/sd/prometheus` (with
 * a bearer token), finds every monitored host's node_exporter of the twin and scrapes it, with
 * the site, host, service and tag labels Keel gives. Discovery without the token is refused,
 * and the token reaches neither Keel's output nor its answers. The lab uses 10.30.0.0/24 (lan)
 * and 10.31.0.0/24 (vpn), used by no other test.
 *
 * Needs `npm run build` (dist/cli), the lab's Debian packages and prometheus (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadInventory } from "../../src/inventory/load.js";
import { labDown, labUp } from "../../src/lab/lab.js";
import type { Lab } from "../../src/lab/twin.js";
import { freePort, waitForPrometheusReady } from "../helpers/daemons.js";
import { type ServeProcess, spawnServe } from "../helpers/serve.js";

const OCTET = 30;
const TOKEN = `prom-sd-${process.pid}-${Date.now()}`;
const site = `sd${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "keel-serve-prom-"));
const root = join(import.meta.dirname, "../..");
const file = join(dir, "keel.yaml");
let lab: Lab | undefined;
let keel: ServeProcess | undefined;
let prom: ChildProcess | undefined;
let promPort = 0;
let promLog = "";

interface Target {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

/** The example site with this test's site name and prefixes, and the token Prometheus sends. */
function inventory(): string {
  const example = readFileSync(join(root, "examples/lab/keel.yaml"), "utf8");
  return `${example
    .replace(/^site: lab$/m, `site: ${site}`)
    .replaceAll("10.20.0.", `10.${OCTET}.0.`)
    .replaceAll("10.99.0.", `10.${OCTET + 1}.0.`)}
serve:
  tokens:
    - { name: prometheus, role: viewer, token: "\${KEEL_SD_TEST_TOKEN}" }
`;
}

before(async () => {
  process.env.KEEL_SD_TEST_TOKEN = TOKEN; // the inventory's token reference, for loadInventory and serve
  writeFileSync(file, inventory());
  lab = await labUp(loadInventory(file), { timeoutMs: 40_000 });
  keel = await spawnServe(file, { args: ["--db", join(dir, "keel.db")] });
  const keelPort = Number(new URL(keel.url).port);

  promPort = await freePort();
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "900ms" },
    scrape_configs: [
      {
        job_name: "keel",
        http_sd_configs: [
          {
            url: `http://127.0.0.1:${keelPort}/sd/prometheus`,
            refresh_interval: "5s",
            authorization: { type: "Bearer", credentials: TOKEN },
          },
        ],
        // Keel's meta labels are there for relabelling: keep the tag list as a label
        relabel_configs: [{ source_labels: ["__meta_keel_tags"], target_label: "keel_tags" }],
      },
    ],
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config));
  prom = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "prom-data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  prom.stderr?.on("data", (b: Buffer) => {
    promLog = (promLog + b.toString()).slice(-20_000);
  });
  await waitForPrometheusReady(promPort, 30_000);
});

after(async () => {
  if (prom && prom.exitCode === null) {
    const exited = new Promise((r) => prom?.once("exit", r));
    prom.kill("SIGTERM");
    await exited;
  }
  await keel?.stop();
  if (lab) await labDown(lab.dir);
  rmSync(dir, { recursive: true, force: true });
  delete process.env.KEEL_SD_TEST_TOKEN;
});

async function targets(): Promise<Target[]> {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets?state=active`);
  const body = (await res.json()) as { data: { activeTargets: Target[] } };
  return body.data.activeTargets;
}

test("Prometheus discovers every monitored node_exporter of the twin through Keel and scrapes it", async () => {
  const lan = (n: number) => `10.${OCTET}.0.${n}`;
  const expected = [
    ["gpu", `${lan(10)}:9100`],
    ["gw-vpn", `${lan(2)}:9100`],
    ["mon", `${lan(3)}:9100`],
    ["svc-1", `${lan(20)}:9100`],
  ];
  let seen: Target[] = [];
  const until = Date.now() + 60_000;
  for (;;) {
    seen = await targets();
    if (seen.length === expected.length && seen.every((t) => t.health === "up")) break;
    if (Date.now() > until)
      assert.fail(`targets not all up after 60 s: ${JSON.stringify(seen, null, 1)}\n${promLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const byHost = [...seen].sort((a, b) => (a.labels.host! < b.labels.host! ? -1 : 1));
  assert.deepEqual(
    byHost.map((t) => [t.labels.host, t.labels.instance]),
    expected,
  );
  for (const t of byHost) {
    assert.equal(t.scrapePool, "keel");
    assert.equal(t.labels.job, "keel");
    assert.equal(t.labels.site, site);
    assert.equal(t.labels.service, "node_exporter");
    assert.equal(t.scrapeUrl, `http://${t.labels.instance}/metrics`);
    assert.equal(t.discoveredLabels.__meta_keel_tag_monitored, "true");
    assert.equal(t.discoveredLabels.__meta_keel_kind, "node_exporter");
    assert.equal(t.lastError, "");
  }
  assert.equal(byHost.find((t) => t.labels.host === "gw-vpn")?.labels.keel_tags, ",monitored,vpn-gateway,");
  assert.equal(
    byHost.find((t) => t.labels.host === "gw-vpn")?.discoveredLabels.__meta_keel_tag_vpn_gateway,
    "true",
  );

  // the scraped samples are in Prometheus with Keel's labels
  const q = await fetch(
    `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('count by (host) (node_load1{job="keel"})')}`,
  );
  const result = ((await q.json()) as { data: { result: { metric: { host: string } }[] } }).data.result;
  assert.deepEqual(result.map((r) => r.metric.host).sort(), ["gpu", "gw-vpn", "mon", "svc-1"]);
});

test("discovery needs the token; the token is in none of keel serve's answers or output", async () => {
  // so the targets above were found by authenticated requests
  const anonymous = await fetch(`${keel!.url}/sd/prometheus`);
  assert.equal(anonymous.status, 401);
  const authed = await fetch(`${keel!.url}/sd/prometheus`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(authed.status, 200);
  assert.equal((await authed.text()).includes(TOKEN), false, "the token is in the SD answer");
  const metrics = await (
    await fetch(`${keel!.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  assert.equal(metrics.includes(TOKEN), false, "the token is in /metrics");
  assert.equal(await keel!.stop(), 0, keel!.stderr());
  assert.equal(
    keel!.stderr().includes(TOKEN),
    false,
    `the token is in keel serve's output: ${keel!.stderr()}`,
  );
});
