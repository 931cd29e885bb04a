import assert from "node:assert/strict";
import { test } from "node:test";
import { progressLine, renderJUnit, renderText } from "../../../src/verify/report.js";
import type { Report } from "../../../src/verify/types.js";

const report: Report = {
  inventory: "examples/lab/keel.yaml",
  startedAt: "2026-11-23T10:00:00.000Z",
  durationMs: 812,
  summary: { pass: 1, fail: 1, error: 1, skip: 1 },
  checks: [
    {
      id: "a/reachable@admin",
      kind: "reachable",
      host: "a",
      vantage: "admin",
      status: "pass",
      message: "echo reply",
      durationMs: 2,
    },
    {
      id: "gpu/port.closed/node_exporter@lan-probe",
      kind: "port.closed",
      host: "gpu",
      service: "node_exporter",
      vantage: "lan-probe",
      status: "fail",
      message: "10.20.0.10:9100/tcp is open; allow admits only mon, vpn",
      observed: { state: "open" },
      durationMs: 3,
    },
    {
      id: "b/listeners",
      kind: "listeners",
      host: "b",
      status: "error",
      message: "cannot log in to b <&>",
      durationMs: 5,
    },
    {
      id: "c/ssh.login@x",
      kind: "ssh.login",
      host: "c",
      status: "skip",
      message: "vantage x runs on c itself",
      durationMs: 0,
    },
  ],
};

test("text report lists failures first with message and observed, then the totals", () => {
  const text = renderText(report, { color: false, verbose: false });
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "FAIL  gpu/port.closed/node_exporter@lan-probe");
  assert.equal(lines[1], "      10.20.0.10:9100/tcp is open; allow admits only mon, vpn");
  assert.equal(lines[2], "      observed: state=open");
  assert.equal(lines[3], "ERROR b/listeners");
  assert.ok(!text.includes("a/reachable@admin"), "passing checks are not listed unless verbose");
  assert.equal(lines.at(-1), "FAILED: 4 checks in 0.8 s: 1 pass, 1 fail, 1 error, 1 skip");
  assert.ok(renderText(report, { color: false, verbose: true }).includes("PASS  a/reachable@admin"));
});

test("JUnit XML has one suite per host and failure/error/skipped elements, escaped", async () => {
  const xml = await renderJUnit(report);
  assert.match(
    xml,
    /<testsuites name="keel verify examples\/lab\/keel.yaml" tests="4" failures="1" errors="1" skipped="1"/,
  );
  assert.match(xml, /<testsuite name="gpu" tests="1" failures="1" errors="0" skipped="0"/);
  assert.match(
    xml,
    /<failure message="10.20.0.10:9100\/tcp is open; allow admits only mon, vpn" type="port.closed">/,
  );
  assert.match(xml, /<error message="cannot log in to b &lt;&amp;&gt;" type="listeners">/);
  assert.match(xml, /<skipped message="vantage x runs on c itself"\/>/);
});

test("the live progress line counts done, failures and errors, and names the last check", () => {
  const last = report.checks[1]!;
  assert.equal(
    progressLine(7, 120, { fail: 2, error: 1 }, last),
    "[   7/120 ] 2 fail, 1 error  gpu/port.closed/node_exporter@lan-probe",
  );
});
