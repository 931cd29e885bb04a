import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeGrafana } from "../../../src/verify/checks/grafana.js";
import { judgeHttp } from "../../../src/verify/checks/http.js";
import { judgeNodeExporter, nodeMetricNames } from "../../../src/verify/checks/node-exporter.js";
import { judgeSysctl, normaliseSysctl } from "../../../src/verify/checks/sysctl.js";

const res = (status: number, body: string) => ({ status, headers: {}, body });
const URL = "http://10.20.0.3:9090/-/healthy";

test("http passes on the expected status and a matching body", () => {
  assert.equal(judgeHttp(URL, 200, undefined, res(200, "Prometheus is Healthy.\n")).status, "pass");
  assert.equal(judgeHttp(URL, 200, "Healthy", res(200, "Prometheus is Healthy.\n")).status, "pass");
});

test("http fails with got/expected status and a short body excerpt", () => {
  const o = judgeHttp(URL, 200, undefined, res(503, `Service   Unavailable\n${"x".repeat(500)}`));
  assert.equal(o.status, "fail");
  assert.match(
    o.message,
    /^GET http:\/\/10\.20\.0\.3:9090\/-\/healthy: got 503, expected 200; body: "Service Unavailable x+…"$/,
  );
  assert.ok(o.message.length < 200);
  const b = judgeHttp(URL, 200, "^ok$", res(200, "not ok"));
  assert.equal(b.status, "fail");
  assert.match(b.message, /body does not match \/\^ok\$\/; body: "not ok"/);
});

test("grafana passes only on database ok", () => {
  const u = "http://10.20.0.3:3000/api/health";
  assert.equal(
    judgeGrafana(u, res(200, '{"commit":"abc","database":"ok","version":"10.4.1"}')).status,
    "pass",
  );
  const f = judgeGrafana(u, res(503, '{"database":"failing"}'));
  assert.equal(f.status, "fail");
  assert.equal(f.message, `GET ${u}: got 503, database is "failing"; expected "ok"`);
  assert.match(judgeGrafana(u, res(200, "<html>")).message, /not JSON/);
});

test("node_exporter passes on node_ metric lines, not on comments or other metrics", () => {
  const body = [
    "# HELP go_goroutines Number of goroutines that currently exist.",
    "# TYPE go_goroutines gauge",
    "go_goroutines 8",
    "# HELP node_load1 1m load average.",
    "node_load1 0.21",
    'node_cpu_seconds_total{cpu="0",mode="idle"} 1234.5',
  ].join("\n");
  assert.deepEqual(nodeMetricNames(body), ["node_load1", "node_cpu_seconds_total"]);
  assert.equal(judgeNodeExporter("u", res(200, body)).status, "pass");
  const other = "# HELP node_fake only a comment\nmyapp_requests_total 3\n";
  const o = judgeNodeExporter("u", res(200, other));
  assert.equal(o.status, "fail");
  assert.match(o.message, /no node_ metrics/);
  assert.equal(judgeNodeExporter("u", res(500, body)).status, "fail");
});

test("sysctl compares after whitespace normalisation and reports missing keys", () => {
  assert.equal(normaliseSysctl("4096\t87380\t6291456\n"), "4096 87380 6291456");
  const ok = judgeSysctl("gpu", "net.ipv4.tcp_rmem", "4096 87380  6291456", {
    code: 0,
    stdout: "4096\t87380\t6291456\n",
    stderr: "",
  });
  assert.equal(ok?.status, "pass");
  const bad = judgeSysctl("gpu", "net.ipv4.ip_forward", "1", { code: 0, stdout: "0\n", stderr: "" });
  assert.deepEqual([bad?.status, bad?.message], ["fail", "net.ipv4.ip_forward is 0; expected 1"]);
  const missing = judgeSysctl("gpu", "net.foo", "1", {
    code: 255,
    stdout: "",
    stderr: "sysctl: cannot stat /proc/sys/net/foo: No such file or directory\n",
  });
  assert.deepEqual(
    [missing?.status, missing?.message],
    ["fail", "net.foo does not exist on gpu; expected 1"],
  );
  assert.equal(
    judgeSysctl("gpu", "kernel.x", "1", { code: 1, stdout: "", stderr: "permission denied" }),
    undefined,
  );
});
