/**
 * The parts of the serve API on their own: bearer tokens (hash, env references, startup errors),
 * /metrics (parsed back from the text format), Prometheus HTTP SD target groups, and the speed
 * of the API at 5,000 hosts and 50,000 checks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import type { Inventory } from "../../../src/inventory/model.js";
import { scrapeTargets, tagLabelName } from "../../../src/render/targets.js";
import { buildServer } from "../../../src/serve/api.js";
import { roleAllows, sha256Hex, TokenTable } from "../../../src/serve/auth.js";
import { createMetrics } from "../../../src/serve/metrics.js";
import type { CheckKind, CheckSpec } from "../../../src/verify/types.js";
import { contractExample, host } from "../../helpers/inventory.js";
import { MemoryEngine } from "../../serve/memory.js";

const pos = { file: "site/keel.yaml", line: 12, col: 9 };
const dir = mkdtempSync(join(tmpdir(), "keel-serve-parts-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("tokens", () => {
  test("sha256 tokens and env tokens authenticate with their name and role; others do not", () => {
    const table = new TokenTable(
      [
        { name: "alice", role: "operator", sha256: sha256Hex("s3cret").toUpperCase(), pos },
        { name: "grafana", role: "viewer", env: "GRAFANA_TOKEN", pos },
      ],
      { GRAFANA_TOKEN: "from-env" },
    );
    assert.equal(table.size, 2);
    assert.deepEqual(table.authenticate("Bearer s3cret"), { name: "alice", role: "operator" });
    assert.deepEqual(table.authenticate("BEARER from-env"), { name: "grafana", role: "viewer" });
    for (const bad of [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      "Bearer s3cre",
      "Basic s3cret",
      "s3cret",
      "Bearer a b",
    ])
      assert.equal(table.authenticate(bad), null, String(bad));
    // the hash, not the token, would have to be presented to match a hash: it is not the token
    assert.equal(table.authenticate(`Bearer ${sha256Hex("s3cret")}`), null);
  });

  test("printf %s TOKEN | sha256sum gives the hash Keel compares", () => {
    assert.equal(sha256Hex("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  });

  test("a missing env variable or a malformed hash is a startup error naming the token, the variable and where", () => {
    assert.throws(
      () =>
        new TokenTable(
          [
            { name: "grafana", role: "viewer", env: "KEEL_NOT_SET_ANYWHERE", pos },
            { name: "bob", role: "operator", sha256: "abc", pos: { ...pos, line: 14 } },
          ],
          {},
        ),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.problems.length, 2);
        assert.equal(
          err.message.split("\n")[0],
          "site/keel.yaml:12:9: serve.tokens: token grafana: environment variable KEEL_NOT_SET_ANYWHERE is not set; expected the token in it",
        );
        assert.match(
          err.message.split("\n")[1]!,
          /^site\/keel.yaml:14:9: .*token bob: sha256 must be 64 hex digits/,
        );
        return true;
      },
    );
    assert.throws(
      () => new TokenTable([{ name: "g", role: "viewer", env: "EMPTY", pos }], { EMPTY: "" }),
      UserError,
    );
  });

  test("roles: operator includes viewer, viewer does not include operator", () => {
    assert.ok(roleAllows("operator", "operator"));
    assert.ok(roleAllows("operator", "viewer"));
    assert.ok(roleAllows("viewer", "viewer"));
    assert.ok(!roleAllows("viewer", "operator"));
  });
});

/** Samples of the Prometheus text format: `name{labels} value` lines, comments skipped. */
function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[k!] = v!.replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

describe("metrics", () => {
  test("per-check status, duration and hard-failing with id/kind/host/service/vantage; Keel's own counters", async () => {
    const engine = new MemoryEngine(contractExample());
    engine.outcome = (spec) =>
      spec.id === "gpu/port.open/node_exporter@admin"
        ? { status: "fail", message: "refused", durationMs: 1500 }
        : spec.kind === "reachable"
          ? { status: "error", message: "no route", durationMs: 20 }
          : { status: "pass", message: "ok", durationMs: 250 };
    const m = createMetrics(engine);
    const empty = parseMetrics(await m.render());
    assert.equal(
      empty.filter((s) => s.name === "keel_check_status").length,
      0,
      "no samples before the first run",
    );
    for (let i = 0; i < 3; i++) await engine.runNow({ all: true });
    engine.reload([{ pos, message: "bad" }]);
    const text = await m.render();
    let streamed = "";
    for await (const piece of m.stream()) streamed += piece;
    // the process's own samples (CPU, memory) move between the two; everything else is the same
    const steady = (t: string) =>
      t
        .split("\n")
        .filter((l) => !/^keel_(process|nodejs)_/.test(l))
        .join("\n");
    assert.equal(steady(streamed), steady(text), "stream() writes render()'s text");
    assert.match(m.registry.contentType, /^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(text);
    const find = (name: string, labels: Record<string, string>) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    const id = "gpu/port.open/node_exporter@admin";
    const [status] = find("keel_check_status", { id });
    assert.deepEqual(status?.labels, {
      id,
      kind: "port.open",
      host: "gpu",
      service: "node_exporter",
      vantage: "admin",
    });
    assert.equal(status?.value, 1);
    assert.equal(find("keel_check_duration_seconds", { id })[0]?.value, 1.5);
    assert.equal(find("keel_check_hard_failing", { id })[0]?.value, 1);
    assert.equal(find("keel_check_status", { id: "gpu/ssh.key-only@admin" })[0]?.value, 0);
    assert.equal(find("keel_check_hard_failing", { id: "gpu/ssh.key-only@admin" })[0]?.value, 0);
    const reach = find("keel_check_status", { kind: "reachable" }).filter(
      (s) => engine.state(s.labels.id!)?.state !== "skipped",
    );
    assert.ok(reach.length > 0, "reachable checks have samples");
    for (const s of reach) assert.deepEqual([s.value, s.labels.service], [2, ""], s.labels.id);
    const skipped = engine.states().filter((s) => s.state === "skipped");
    assert.ok(skipped.length > 0, "the lan-probe vantage skips its own host");
    assert.equal(find("keel_check_status", { id: skipped[0]!.id })[0]?.value, 3);
    const perCheck = samples.filter((s) => s.name === "keel_check_status").length;
    assert.equal(perCheck, engine.states().length);
    assert.equal(find("keel_results_total", { kind: "port.open", status: "fail" })[0]?.value, 3);
    const total = samples.filter((s) => s.name === "keel_results_total").reduce((a, s) => a + s.value, 0);
    assert.equal(total, engine.states().length * 3);
    assert.equal(
      find("keel_check_run_duration_seconds_count", { kind: "port.open" })[0]?.value,
      engine.states().filter((s) => s.kind === "port.open").length * 3,
    );
    assert.equal(
      find("keel_checks", { state: "hard" })[0]?.value,
      engine.states().filter((s) => s.state === "hard").length,
    );
    assert.equal(find("keel_hosts", {})[0]?.value, 4);
    assert.equal(find("keel_last_reload_success", {})[0]?.value, 0);
    assert.ok(Math.abs(find("keel_last_reload_timestamp_seconds", {})[0]!.value - Date.now() / 1000) < 60);
    assert.equal(find("keel_inventory_problems", {})[0]?.value, 1);
    assert.ok(
      find("keel_process_cpu_seconds_total", {}).length === 1,
      "default process metrics, keel_ prefix",
    );
    m.close();
  });
});

describe("Prometheus HTTP SD", () => {
  test("node_exporter targets of the inventory with site, host, service and tag labels", () => {
    const groups = scrapeTargets(contractExample());
    assert.deepEqual(
      groups.map((g) => g.targets),
      [["10.20.0.2:9100"], ["10.20.0.3:9100"], ["10.20.0.10:9100"]],
    );
    assert.deepEqual(groups[0]!.labels, {
      site: "lab",
      host: "gw-vpn",
      service: "node_exporter",
      __meta_keel_kind: "node_exporter",
      __meta_keel_network: "lan",
      __meta_keel_tags: ",monitored,vpn-gateway,",
      __meta_keel_tag_monitored: "true",
      __meta_keel_tag_vpn_gateway: "true",
    });
    for (const g of groups)
      for (const name of Object.keys(g.labels)) assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/);
    assert.equal(tagLabelName("a.b-c"), "__meta_keel_tag_a_b_c");
  });

  test("kinds and network choose what is listed and at which address", () => {
    const inv = contractExample();
    const vpn = scrapeTargets(inv, { network: "vpn" });
    assert.deepEqual(
      vpn.map((g) => [g.labels.host, g.targets[0], g.labels.__meta_keel_network]),
      [
        ["gw-vpn", "10.99.0.1:9100", "vpn"],
        ["mon", "10.99.0.3:9100", "vpn"],
      ],
    );
    const prom = scrapeTargets(inv, { kinds: ["prometheus", "grafana"] });
    assert.deepEqual(
      prom.map((g) => [g.labels.service, g.targets[0]]),
      [
        ["prometheus", "10.20.0.3:9090"],
        ["grafana", "10.20.0.3:3000"],
      ],
    );
    const v6: Inventory = { ...inv, hosts: [host("v6", { lan: "fd00::5" }, { services: [] })] };
    v6.hosts[0]!.services.push({ ...inv.hosts[0]!.services.at(-1)!, name: "node_exporter" });
    assert.deepEqual(scrapeTargets(v6)[0]!.targets, ["[fd00::5]:9100"]);
  });

  test("/sd/prometheus answers the target groups; unknown kind or network is a 400", async () => {
    const inv = contractExample();
    inv.serve.tokens = [{ name: "prom", role: "viewer", sha256: sha256Hex("t0k"), pos }];
    const engine = new MemoryEngine(inv);
    const app = await buildServer({ engine, store: engine.store, auditFile: join(dir, "a.log") });
    const headers = { authorization: "Bearer t0k" };
    const res = await app.inject({ url: "/sd/prometheus", headers });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^application\/json/);
    assert.deepEqual(res.json(), scrapeTargets(inv));
    const both = await app.inject({
      url: "/sd/prometheus?kind=node_exporter,prometheus&network=vpn",
      headers,
    });
    assert.deepEqual(
      both.json(),
      scrapeTargets(inv, { kinds: ["node_exporter", "prometheus"], network: "vpn" }),
    );
    const badKind = await app.inject({ url: "/sd/prometheus?kind=ssh", headers });
    assert.equal(badKind.statusCode, 400);
    assert.match(badKind.json().error, /kind: "ssh" is not one of node_exporter, prometheus, grafana/);
    const badNet = await app.inject({ url: "/sd/prometheus?network=dmz", headers });
    assert.equal(badNet.statusCode, 400);
    assert.match(badNet.json().error, /no network named "dmz"; the inventory declares lan, vpn/);
    await app.close();
  });
});

describe("scale", () => {
  test("5,000 hosts and 50,000 checks: pages, host pages, filters and /metrics stay fast", async () => {
    const inv = contractExample();
    inv.serve.tokens = [{ name: "v", role: "viewer", sha256: sha256Hex("v"), pos }];
    inv.hosts = [];
    const specs: CheckSpec[] = [];
    const kinds: CheckKind[] = ["reachable", "ssh.key-only", "port.open", "port.closed", "sysctl"];
    for (let i = 0; i < 5000; i++) {
      const name = `h${i}`;
      inv.hosts.push(
        host(name, { lan: `10.${(i >> 8) & 255}.${i & 255}.1` }, { tags: i % 2 ? ["odd"] : [] }),
      );
      for (let j = 0; j < 10; j++) {
        const kind = kinds[j % kinds.length]!;
        specs.push({
          id: `${name}/${kind}/s${j}@admin`,
          kind,
          host: name,
          service: `s${j}`,
          vantage: "admin",
          params: { kind: "reachable", address: "10.0.0.1", tcpPorts: [] },
        });
      }
    }
    const engine = new MemoryEngine(inv, specs);
    engine.outcome = (spec) =>
      spec.host === "h4321" && spec.kind === "sysctl"
        ? { status: "fail", message: "wrong" }
        : { status: "pass", message: "ok" };
    await engine.runNow({ all: true });
    const app = await buildServer({ engine, store: engine.store, auditFile: join(dir, "s.log") });
    const headers = { authorization: "Bearer v" };
    const timed = async (url: string) => {
      const t = performance.now();
      const res = await app.inject({ url, headers });
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
      return { ms: performance.now() - t, body: res.json() as { total: number } };
    };
    await timed("/api/hosts"); // builds the indexes once
    // a result changes one host: the next host list recomputes that host only
    await engine.runNow({ host: "h4321" });
    const hosts = await timed("/api/hosts?status=failing");
    assert.equal(hosts.body.total, 1);
    let hostPage = 0;
    for (let i = 0; i < 50; i++) hostPage += (await timed(`/api/hosts/h${i * 97}`)).ms;
    const byHost = await timed("/api/checks?host=h4321&status=fail");
    assert.equal(byHost.body.total, 2);
    const glob = await timed(`/api/checks?q=${encodeURIComponent("h43*/sysctl/**")}&limit=1000`);
    assert.equal(glob.body.total, 111 * 2);
    const overview = await timed("/api/overview");
    let t = performance.now();
    await app.inject({ url: "/metrics", headers }); // fills the per-check samples once
    const metricsFirstMs = performance.now() - t;
    await engine.runNow({ host: "h4321" });
    t = performance.now();
    const metrics = await app.inject({ url: "/metrics", headers }); // then they follow the results
    const metricsMs = performance.now() - t;
    assert.match(metrics.body, /keel_results_total\{kind="sysctl",status="fail"\} 4/);
    assert.equal(metrics.statusCode, 200);
    assert.equal(metrics.body.match(/^keel_check_status\{/gm)?.length, 50_000);
    for (const family of ["keel_check_status", "keel_check_duration_seconds", "keel_check_hard_failing"])
      assert.equal(metrics.body.match(new RegExp(`^# (HELP|TYPE) ${family} `, "gm"))?.length, 2, family);
    assert.equal(metrics.body.match(/^keel_check_hard_failing\{/gm)?.length, 50_000);
    const times = {
      hostsFailing: hosts.ms,
      hostPageAvg: hostPage / 50,
      checksByHost: byHost.ms,
      checksGlob: glob.ms,
      overview: overview.ms,
      metricsFirst: metricsFirstMs,
      metrics: metricsMs,
    };
    // generous bounds for a shared 2-core machine; typical times are a tenth of these
    assert.ok(times.hostsFailing < 250, JSON.stringify(times));
    assert.ok(times.hostPageAvg < 25, JSON.stringify(times));
    assert.ok(times.checksByHost < 25, JSON.stringify(times));
    assert.ok(times.checksGlob < 500, JSON.stringify(times));
    assert.ok(times.overview < 500, JSON.stringify(times));
    assert.ok(times.metricsFirst < 10000, JSON.stringify(times));
    assert.ok(times.metrics < 5000, JSON.stringify(times));
    console.log(
      `# scale timings (ms): ${JSON.stringify(times, (_k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`,
    );
    await app.close();
  });
});
