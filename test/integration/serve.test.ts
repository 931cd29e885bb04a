/// <reference lib="dom" />
/**
 * The built `keel serve` on the lab twin (root only): a child process serving the example site
 * (its own site name, lan 10.32.0.0/24 and vpn 10.33.0.0/24, used by no other test) with short
 * intervals and thresholds in `serve.checks`, a SQLite store in a temp dir, and a viewer and an
 * operator token declared by their SHA-256.
 *
 * - the process: /healthz without a token, 401 without one elsewhere, /api/overview counts of
 *   the healthy twin, POST /api/runs recorded in GET /api/runs, a SIGHUP reload of an invalid
 *   file showing its located problems while the old inventory keeps running, a clean SIGTERM
 *   (exit 0) leaving the results in the store;
 * - the dashboard in Chromium against it: the overview loads; a fault
 *   injected in the twin (gpu's node_exporter opened to lan) appears as a hard-failing check
 *   within its interval times its failure threshold; the host page shows the broken posture
 *   cell; a viewer token cannot run checks (403 shown). Screenshots in
 *   test-results/screenshots/serve-*.png.
 *
 * Needs `npm run build` (dist/cli, dist/web), the lab's Debian packages and /usr/bin/chromium
 * (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadInventory } from "../../src/inventory/load.js";
import { labDown, labUp } from "../../src/lab/lab.js";
import type { Lab } from "../../src/lab/twin.js";
import { sha256Hex } from "../../src/serve/auth.js";
import type { CheckState } from "../../src/serve/types.js";
import { openStore } from "../../src/store/index.js";
import { eventually } from "../helpers/alertmanager.js";
import { freePort } from "../helpers/daemons.js";
import { openPort, type Undo } from "../lab/faults.js";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "dist/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "keel-serve-it-"));
const file = path.join(dir, "keel.yaml");
const db = path.join(dir, "keel.db");
const LAN = "10.32.0";
const VPN = "10.33.0";
const INTERVAL_S = 3;
const FAIL_AFTER = 2;
const OPERATOR = `op-${process.pid}-${Date.now()}`;
const VIEWER = `view-${process.pid}-${Date.now()}`;
/** The check the fault breaks: gpu's node_exporter must stay closed to lan (allow: mon, vpn). */
const BROKEN = "gpu/port.closed/node_exporter@lan-probe";

let lab: Lab | undefined;
let keel: ChildProcess | undefined;
let exited: Promise<number | null> | undefined;
let stderr = "";
let base = "";
let browser: Browser | undefined;
let valid = "";

/** The example site with this test's prefixes, short intervals and two tokens. */
function inventory(): string {
  const example = readFileSync(path.join(root, "examples/lab/keel.yaml"), "utf8");
  return `${example
    .replace(/^site: lab$/m, `site: s${process.pid}`)
    .replaceAll("10.20.0.", `${LAN}.`)
    .replaceAll("10.99.0.", `${VPN}.`)}
serve:
  checks:
    default: { interval: ${INTERVAL_S}s, fail_after: ${FAIL_AFTER}, recover_after: 1 }
  tokens:
    - { name: ops, role: operator, sha256: ${sha256Hex(OPERATOR)} }
    - { name: wall, role: viewer, sha256: ${sha256Hex(VIEWER)} }
`;
}

async function api<T>(
  route: string,
  token: string | null = VIEWER,
  init: RequestInit = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${route}`, { ...init, headers });
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

interface Overview {
  site: string;
  counts: Record<string, number>;
  hosts: { total: number; failing: number };
  failing: CheckState[];
  problems: { pos?: { file: string; line: number; col: number }; message: string }[];
}

const overview = async () => (await api<Overview>("/api/overview")).body;

before(async () => {
  assert.ok(existsSync(cli), "dist/cli is missing: run npm run build");
  assert.ok(existsSync(path.join(root, "dist/web/index.html")), "dist/web is missing: run npm run build");
  valid = inventory();
  writeFileSync(file, valid);
  lab = await labUp(loadInventory(file), { timeoutMs: 40_000 });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  keel = spawn(process.execPath, [cli, "serve", file, "--listen", `127.0.0.1:${port}`, "--db", db], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  exited = new Promise((resolve) => keel!.once("exit", (code) => resolve(code)));
  keel.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  await eventually(
    "keel serve listening",
    () => {
      if (keel!.exitCode !== null) throw new Error(`keel serve exited ${keel!.exitCode}: ${stderr}`);
      return stderr.includes(`listening on ${base}`);
    },
    20_000,
  );
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (keel && keel.exitCode === null && keel.signalCode === null) {
    keel.kill("SIGTERM");
    await exited;
  }
  if (lab) await labDown(lab.dir);
  rmSync(dir, { recursive: true, force: true });
});

describe("keel serve on the lab twin", { concurrency: false }, () => {
  test("/healthz needs no token; everything else answers 401 without one", async () => {
    const health = await api<{ ok: boolean }>("/healthz", null);
    assert.deepEqual([health.status, health.body], [200, { ok: true }]);
    for (const route of ["/api/overview", "/api/runs", "/metrics", "/sd/prometheus"]) {
      const res = await api<{ error: string }>(route, null);
      assert.equal(res.status, 401, route);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="keel"');
      assert.match(res.body.error, /expected a valid API token/);
    }
    assert.equal((await api("/api/overview", "not-a-token")).status, 401);
    assert.doesNotMatch(stderr, /no serve\.tokens/, "tokens are declared: no warning");
  });

  test("/api/overview counts the healthy twin once every check has run", async () => {
    const o = await eventually(
      "every check has a result",
      async () => {
        const v = await overview();
        return v.counts.unknown === 0 ? v : undefined;
      },
      30_000,
    );
    assert.equal(o.site, `s${process.pid}`);
    assert.equal(o.hosts.total, 4);
    assert.ok(o.counts.checks! >= 50, `the full checklist: ${JSON.stringify(o.counts)}`);
    assert.deepEqual(
      o.failing.map((s) => `${s.id}: ${s.message}`),
      [],
      "nothing fails on the healthy twin",
    );
    assert.equal(o.counts.pass! + o.counts.skip!, o.counts.checks);
    assert.equal(o.counts.ok! + o.counts.skip!, o.counts.checks, "skipped checks are the via host's own");
    assert.equal(o.hosts.failing, 0);
    assert.deepEqual(o.problems, []);
  });

  test("the dashboard's overview loads with a viewer token", async () => {
    const page = await browser!.page();
    await signIn(page, base, VIEWER);
    const checks = (await overview()).counts.checks!;
    assert.equal(await page.getByTestId("count-checks").locator("b").innerText(), String(checks));
    assert.equal(await page.getByTestId("site").innerText(), `s${process.pid}`);
    await page.getByTestId("host-link").first().waitFor();
    assert.deepEqual((await page.getByTestId("host-link").allInnerTexts()).sort(), [
      "gpu",
      "gw-vpn",
      "mon",
      "svc-1",
    ]);
    await page.locator('[data-testid="live"][data-status="live"]').waitFor({ timeout: 10_000 });
    await screenshot(page, "serve-overview");
    await page.close();
  });

  test("a port opened in the twin shows as a hard-failing check, then as the host's broken posture cell", async () => {
    const page = await browser!.page();
    await signIn(page, base, VIEWER);
    await page.locator('[data-testid="live"][data-status="live"]').waitFor({ timeout: 10_000 });
    let undo: Undo | undefined;
    try {
      const t0 = Date.now();
      undo = await openPort(lab!, "gpu", 9100, `${LAN}.0/24`);
      // hard after FAIL_AFTER failing results, one interval apart; the first may come up to an
      // interval after the fault, and a probe over SSH takes up to a few seconds
      const budgetMs = (FAIL_AFTER + 1) * INTERVAL_S * 1000 + 5000;
      await page
        .locator(`[data-testid="failing"] [data-check="${BROKEN}"][data-state="hard"]`)
        .waitFor({ timeout: budgetMs });
      const seenMs = Date.now() - t0;
      assert.ok(seenMs <= budgetMs, `the hard failure showed after ${seenMs} ms`);
      const state = (await api<CheckState>(`/api/checks/${encodeURIComponent(BROKEN)}`)).body;
      assert.equal(state.state, "hard");
      assert.equal(state.status, "fail");
      assert.deepEqual(state.observed, { state: "open" });
      assert.deepEqual(
        (await overview()).failing.map((s) => s.id),
        [BROKEN],
        "only the check of the opened port fails",
      );
      await screenshot(page, "serve-fault-overview");

      await page.goto(`${base}#/host/gpu`);
      const cell = page.getByTestId("posture-node_exporter-lan-probe");
      await cell.waitFor();
      assert.equal(await cell.getAttribute("data-ok"), "false");
      assert.equal(await cell.getAttribute("data-observed"), "open");
      assert.equal(await cell.innerText(), "open ✗ expected closed");
      assert.equal(await page.getByTestId("posture-node_exporter-admin").getAttribute("data-ok"), "true");
      // the state timeline reads the store's history: passing, then failing
      const row = page.locator(`[data-testid="timeline-row"][data-check="${BROKEN}"]`);
      await row.locator('rect[data-value="fail"]').last().waitFor();
      assert.deepEqual(
        (await row.locator("rect").evaluateAll((els) => els.map((e) => e.getAttribute("data-value")))).slice(
          -2,
        ),
        ["pass", "fail"],
      );
      await screenshot(page, "serve-fault-host-gpu");
    } finally {
      await undo?.();
    }
    // healed: the cell turns green again without reloading the page
    await page
      .locator('[data-testid="posture-node_exporter-lan-probe"][data-ok="true"]')
      .waitFor({ timeout: (INTERVAL_S + 5) * 1000 });
    await page.close();
  });

  test("Run now: a viewer gets 403 on the page; an operator's run is recorded in GET /api/runs", async () => {
    const page = await browser!.page();
    await signIn(page, base, VIEWER);
    await page.goto(`${base}#/host/gpu`);
    await page.getByTestId("run-now").click();
    const err = page.getByTestId("run-error");
    await err.waitFor();
    assert.match(await err.innerText(), /^refused \(403\): token wall has role viewer; this needs operator/);
    await screenshot(page, "serve-run-viewer-403");
    await page.close();
    assert.deepEqual((await api<{ items: unknown[] }>("/api/runs")).body.items, []);

    const op = await browser!.page();
    await signIn(op, base, OPERATOR);
    await op.goto(`${base}#/host/gpu`);
    await op.getByTestId("run-now").click();
    await op.getByTestId("run-result").waitFor({ timeout: 30_000 });
    const shown = await op.getByTestId("run-result").innerText();
    const m = /^ran (\d+) check\(s\), 0 failing$/.exec(shown);
    assert.ok(m, shown);
    await screenshot(op, "serve-run-operator");
    await op.close();

    const runs = (
      await api<{
        items: { id: number; inventory: string; summary: Record<string, number> }[];
      }>("/api/runs")
    ).body.items;
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.inventory, file);
    const s = runs[0]!.summary;
    assert.equal(s.pass! + s.skip!, Number(m[1]));
    assert.equal(s.fail! + s.error!, 0);
    const audit = readFileSync(path.join(dir, ".keel", "audit.log"), "utf8")
      .trim()
      .split("\n");
    assert.deepEqual(
      audit.map((l) => {
        const e = JSON.parse(l) as { who: string; action: string; target: string; result: string };
        return [e.who, e.action, e.target, e.result.split(":")[0]];
      }),
      [
        ["wall", "POST /api/runs", "-", "denied"],
        ["ops", "run", "host gpu", "ok"],
      ],
    );
  });

  test("SIGHUP with an invalid file: located problems in /api/overview, the old inventory keeps running", async () => {
    const before = await overview();
    writeFileSync(file, valid.replace(`address: { lan: ${LAN}.10 }`, `address: { lan: ${LAN}.300 }`));
    const line = valid.split("\n").findIndex((l) => l.includes(`${LAN}.10 }`)) + 1;
    const hups = stderr.split("SIGHUP: reloading").length;
    keel!.kill("SIGHUP");
    await eventually("the SIGHUP logged", () => stderr.split("SIGHUP: reloading").length > hups, 5000);
    const o = await eventually(
      "the problems in /api/overview",
      async () => {
        const v = await overview();
        return v.problems.length > 0 ? v : undefined;
      },
      10_000,
    );
    assert.equal(o.problems[0]?.pos?.file, file);
    assert.equal(o.problems[0]?.pos?.line, line);
    assert.match(o.problems[0]!.message, /10\.32\.0\.300/);
    assert.match(stderr, /was not reloaded, the last valid inventory keeps running/);
    assert.equal(o.counts.checks, before.counts.checks, "the old checklist is still served");
    const id = "gpu/reachable@admin";
    const ran = (await api<CheckState>(`/api/checks/${encodeURIComponent(id)}`)).body.lastRunAt!;
    await eventually(
      "the old checks run on",
      async () => (await api<CheckState>(`/api/checks/${encodeURIComponent(id)}`)).body.lastRunAt! > ran,
      (INTERVAL_S + 5) * 1000,
    );
    const page = await browser!.page();
    await signIn(page, base, VIEWER);
    await page.getByTestId("problems-banner").waitFor();
    assert.match(
      await page.getByTestId("problems-banner").innerText(),
      new RegExp(`keel\\.yaml:${line}:\\d+: .*10\\.32\\.0\\.300`),
    );
    await screenshot(page, "serve-reload-problems");
    await page.close();

    writeFileSync(file, valid);
    keel!.kill("SIGHUP");
    await eventually("the problems gone", async () => (await overview()).problems.length === 0, 10_000);
  });

  test("SIGTERM stops cleanly (exit 0) and the results are in the store", async () => {
    keel!.kill("SIGTERM");
    const code = await Promise.race([
      exited!,
      new Promise<string>((r) => setTimeout(() => r("still running after 20 s"), 20_000)),
    ]);
    assert.equal(code, 0, stderr.slice(-2000));
    assert.match(stderr, /SIGTERM: shutting down/);
    assert.doesNotMatch(stderr, / {4}at |internal error|not stored/);
    const store = await openStore(db);
    try {
      const stats = await store.stats();
      assert.equal(stats.runs, 1);
      assert.ok(stats.rawResults > 0);
      const broken = await store.history(BROKEN);
      assert.deepEqual(
        broken.changes.map((c) => c.to),
        ["pass", "fail", "pass"],
        "the fault and its repair are in the history",
      );
    } finally {
      await store.close();
    }
  });
});
