import assert from "node:assert/strict";
import { test } from "node:test";
import {
  judgeTargets,
  parseTargets,
  targetMatchesHost,
} from "../../../src/verify/checks/prometheus-targets.js";

/** Shape of Prometheus 2.x `GET /api/v1/targets?state=active`. */
function answer(targets: object[]): string {
  return JSON.stringify({ status: "success", data: { activeTargets: targets, droppedTargets: [] } });
}
const target = (address: string, health: string, labels: Record<string, string> = {}, lastError = "") => ({
  discoveredLabels: { __address__: address, __metrics_path__: "/metrics", __scheme__: "http", job: "node" },
  labels: { instance: address, job: "node", ...labels },
  scrapePool: "node",
  scrapeUrl: `http://${address}/metrics`,
  globalUrl: `http://${address}/metrics`,
  lastError,
  lastScrape: "2026-11-23T10:00:00.000Z",
  lastScrapeDuration: 0.01,
  health,
  scrapeInterval: "15s",
  scrapeTimeout: "10s",
});

const monitored = [
  { host: "gw-vpn", addresses: ["10.20.0.2", "10.99.0.1"] },
  { host: "gpu", addresses: ["10.20.0.10"] },
  { host: "v6", addresses: ["fd00::10"] },
];

test("targets match a host by labels.host, instance address or __address__", () => {
  assert.equal(targetMatchesHost(target("10.99.0.1:9100", "up"), "gw-vpn", monitored[0]!.addresses), true);
  assert.equal(targetMatchesHost(target("gpu.lab.internal:9100", "up"), "gpu", []), true);
  assert.equal(targetMatchesHost(target("node-x:9100", "up", { host: "gpu" }), "gpu", []), true);
  assert.equal(targetMatchesHost(target("[fd00:0::10]:9100", "up"), "v6", ["fd00::10"]), true);
  assert.equal(targetMatchesHost(target("10.20.0.100:9100", "up"), "gpu", ["10.20.0.10"]), false);
});

test("with the node_exporter port given, a host's other exporters do not stand in for it", () => {
  const blackbox = target("10.20.0.10:9115", "up", { job: "blackbox" });
  assert.equal(targetMatchesHost(blackbox, "gpu", ["10.20.0.10"], 9100), false);
  assert.equal(targetMatchesHost(blackbox, "gpu", ["10.20.0.10"]), true, "without a port, by host alone");
  assert.equal(targetMatchesHost(target("10.20.0.10:9100", "up"), "gpu", ["10.20.0.10"], 9100), true);
  // labels.host matches only on the right port too
  assert.equal(targetMatchesHost(target("node-x:9115", "up", { host: "gpu" }), "gpu", [], 9100), false);
  assert.equal(targetMatchesHost(target("[fd00::10]:9100", "up"), "v6", ["fd00::10"], 9100), true);
  // a blackbox ICMP job: instance and discovered address name the host without a port, the
  // scrape URL (after relabelling) is the blackbox exporter's
  const icmp = {
    discoveredLabels: { __address__: "10.20.0.10", job: "icmp" },
    labels: { instance: "10.20.0.10", job: "icmp" },
    scrapeUrl: "http://127.0.0.1:9115/probe?module=icmp&target=10.20.0.10",
    health: "up",
  };
  assert.equal(targetMatchesHost(icmp, "gpu", ["10.20.0.10"], 9100), false);
  assert.equal(
    targetMatchesHost({ ...icmp, scrapeUrl: "http://blackbox/probe" }, "gpu", ["10.20.0.10"], 80),
    true,
  );
  assert.equal(
    targetMatchesHost({ ...icmp, scrapeUrl: undefined }, "gpu", ["10.20.0.10"], 9100),
    true,
    "no port anywhere: by host",
  );
  const o = judgeTargets(parseTargets(answer([blackbox])), [
    { host: "gpu", addresses: ["10.20.0.10"], port: 9100 },
  ]);
  assert.equal(o.status, "fail");
  assert.equal(o.message, "not active targets: gpu:9100");
  assert.deepEqual((o.observed as { missingHosts: string[] }).missingHosts, ["gpu"]);
});

test("judgeTargets passes when every monitored host is up and none is down", () => {
  const t = parseTargets(
    answer([
      target("10.20.0.2:9100", "up"),
      target("10.20.0.10:9100", "up"),
      target("[fd00::10]:9100", "up"),
    ]),
  );
  const o = judgeTargets(t, monitored);
  assert.equal(o.status, "pass", o.message);
});

test("judgeTargets lists missing hosts and down targets with lastError", () => {
  const t = parseTargets(
    answer([
      target("10.20.0.2:9100", "up"),
      target(
        "10.20.0.10:9100",
        "down",
        {},
        'Get "http://10.20.0.10:9100/metrics": dial tcp: connection refused',
      ),
      target("10.20.0.77:9100", "down", {}, "context deadline exceeded"),
    ]),
  );
  const o = judgeTargets(t, monitored);
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "not active targets: v6; no target up for gpu (down); " +
      '10.20.0.10:9100 (job node) is down: Get "http://10.20.0.10:9100/metrics": dial tcp: connection refused; ' +
      "10.20.0.77:9100 (job node) is down: context deadline exceeded",
  );
  const obs = o.observed as { missingHosts: string[]; down: unknown[] };
  assert.deepEqual(obs.missingHosts, ["v6"]);
  assert.equal(obs.down.length, 2);
});

test("a target not scraped yet (unknown) does not count as up", () => {
  const o = judgeTargets(parseTargets(answer([target("10.20.0.10:9100", "unknown")])), [monitored[1]!]);
  assert.equal(o.status, "fail");
  assert.equal(o.message, "no target up for gpu (unknown)");
});

test("parseTargets rejects non-JSON and error answers with a reason", () => {
  assert.throws(() => parseTargets("<html>"), /not JSON/);
  assert.throws(
    () => parseTargets(JSON.stringify({ status: "error", error: "bad" })),
    /API status "error": bad/,
  );
});
