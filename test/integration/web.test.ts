/// <reference lib="dom" />
/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against the
 * built `keel serve` on loopback sites (test/web/site.ts): hosts on 127.0.0.x answered by
 * listeners of this process, checked by the real engine, with 7 days of history seeded
 * through the store's public API before serve starts. Token prompt and 401, overview with
 * failing checks first, live updates without reloading (a real fault: svc-1's web server
 * stops), the host page's posture matrix, the check history chart, server-side filtering of a
 * virtualised list of 5,000 hosts, Run now for operators and its 403 for viewers, and the
 * inventory's validation errors (an invalid edit of the watched file). Every test saves
 * screenshots in test-results/screenshots/. The lab twin itself is tested in Chromium too:
 * test/integration/serve.test.ts.
 *
 * Needs `npm run build` (dist/cli, dist/web) and /usr/bin/chromium (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import type { CheckState } from "../../src/serve/types.js";
import { eventually } from "../helpers/alertmanager.js";
import { freePort } from "../helpers/daemons.js";
import { type ServeProcess, spawnServe } from "../helpers/serve.js";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";
import {
  bigSiteYaml,
  LAB_HARD,
  LAB_SOFT,
  type LabSite,
  seedHistory,
  startLabSite,
  TOKENS,
} from "../web/site.js";

const root = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(tmpdir(), "keel-web-"));
const file = path.join(dir, "keel.yaml");
let browser: Browser;
let site: LabSite;
let keel: ServeProcess;
/** Base URL of the dashboard, with a trailing slash. */
let url = "";

interface Overview {
  counts: Record<string, number>;
  hosts: { total: number; failing: number };
}

/** GET of keel serve's API with the viewer token. */
async function api<T>(base: string, route: string): Promise<T> {
  const res = await fetch(`${base}${route}`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  assert.equal(res.status, 200, `GET ${route}`);
  return (await res.json()) as T;
}

/** Marks the page so that a reload (which would clear the mark) is detected. */
async function markNoReload(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { keelNoReload: boolean }).keelNoReload = true;
  });
}

async function assertNotReloaded(page: Page): Promise<void> {
  const still = await page.evaluate(
    () => (window as unknown as { keelNoReload?: boolean }).keelNoReload === true,
  );
  assert.equal(still, true, "the page reloaded; live updates must apply without reloading");
}

/** Waits until the event stream of the page is connected (so updates are not missed). */
async function waitLive(page: Page): Promise<void> {
  await page.locator('[data-testid="live"][data-status="live"]').waitFor({ timeout: 10_000 });
}

/**
 * Resolves when keel serve's event stream reports check `id` in `state`, with the time it
 * arrived (performance.now()), so the dashboard's delay can be measured from it.
 */
async function stateEvent(id: string, state: string, ms = 30_000): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${keel.url}/api/events`, {
    headers: { authorization: `Bearer ${TOKENS.viewer}` },
    signal: ac.signal,
  });
  const reader = res.body!.getReader();
  const timer = setTimeout(() => ac.abort(), ms);
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended before ${id} turned ${state}`);
      text += Buffer.from(value).toString();
      for (const m of text.matchAll(/^data: (.*)$/gm)) {
        const e = JSON.parse(m[1]!) as { type: string; state?: CheckState };
        if ((e.type === "result" || e.type === "state") && e.state?.id === id && e.state.state === state)
          return performance.now();
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

before(async () => {
  assert.ok(existsSync(path.join(root, "dist/web/index.html")), "dist/web is missing: run npm run build");
  site = await startLabSite();
  writeFileSync(file, site.yaml);
  const db = path.join(dir, "keel.db");
  await seedHistory(file, db);
  keel = await spawnServe(file, { args: ["--db", db, "--audit", path.join(dir, "audit.log")] });
  url = `${keel.url}/`;
  await eventually(
    "the lab site's failures observed: one hard, one soft",
    async () => {
      const o = await api<Overview>(keel.url, "/api/overview");
      return o.counts.unknown === 0 && o.counts.hard === 1 && o.counts.soft === 1;
    },
    30_000,
  );
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (keel) assert.equal(await keel.stop(), 0, keel.stderr());
  await site?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard against keel serve on a loopback site", { concurrency: false }, () => {
  test("asks for a token, refuses a wrong one, opens the overview with failing checks first", async () => {
    const page = await browser.page();
    await page.goto(url);
    await page.getByTestId("token-prompt").waitFor();
    await page.getByTestId("token-input").fill("not-a-token");
    await page.getByTestId("token-submit").click();
    assert.match(
      await page.getByTestId("token-error").innerText(),
      /token refused: expected a valid API token/,
    );
    await screenshot(page, "web-token-refused");

    await page.getByTestId("token-input").fill(TOKENS.viewer);
    await page.getByTestId("token-submit").click();
    await page.getByTestId("counts").waitFor();
    const { counts } = await api<Overview>(keel.url, "/api/overview");
    const { total } = await api<{ total: number }>(keel.url, "/api/checks?limit=1");
    assert.equal(counts.checks, total);
    assert.equal(await page.getByTestId("count-checks").locator("b").innerText(), String(total));
    assert.equal(await page.getByTestId("count-hard").locator("b").innerText(), "1");
    assert.equal(await page.getByTestId("count-soft").locator("b").innerText(), "1");
    const rows = page.getByTestId("failing").getByTestId("check-row");
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-check"))), [
      LAB_HARD,
      LAB_SOFT,
    ]);
    await page.getByTestId("host-link").first().waitFor();
    assert.deepEqual(await page.getByTestId("host-link").allInnerTexts(), ["gw-vpn", "mon", "gpu", "svc-1"]);
    assert.equal(await page.getByTestId("site").innerText(), "lab-web");
    await screenshot(page, "web-overview");

    // the token is kept for the tab only: a new tab of the same profile shares sessionStorage
    // only when opened from this one, so a reload keeps it and a wrong token brings the prompt back
    await page.reload();
    await page.getByTestId("counts").waitFor();
    await page.evaluate(() => sessionStorage.setItem("keel.token", "revoked-token"));
    await page.reload();
    await page.getByTestId("token-prompt").waitFor();
    assert.match(await page.getByTestId("token-prompt").innerText(), /refused the token \(401\)/);
    await screenshot(page, "web-token-401");
    await page.close();
  });

  test("a check that starts failing appears on the overview and the host page without reloading", async () => {
    const page = await browser.page();
    await signIn(page, url, TOKENS.viewer);
    await waitLive(page);
    await markNoReload(page);
    const id = "svc-1/port.open/web@admin";
    // the fault: svc-1's web server stops, so its port refuses
    const hard = stateEvent(id, "hard");
    await site.stopWeb();
    const t0 = await hard;
    await page
      .locator(`[data-testid="failing"] [data-check="${id}"][data-state="hard"]`)
      .waitFor({ timeout: 5000 });
    const seenMs = performance.now() - t0;
    // counts are refetched after live events (at most every 2 s): they reach what the API says
    // once every check of the dead port has turned (port.open from both vantages; http stays soft)
    await eventually(
      "both port.open checks of svc-1's web hard",
      async () => (await api<Overview>(keel.url, "/api/overview")).counts.hard === 3,
      15_000,
    );
    await page.waitForFunction(
      () => document.querySelector('[data-testid="count-hard"] b')?.textContent === "3",
      undefined,
      { timeout: 5000 },
    );
    await assertNotReloaded(page);
    assert.ok(seenMs < 3000, `the failing check showed after ${seenMs} ms`);
    await screenshot(page, "web-live-overview");

    await page.goto(`${url}#/host/svc-1`);
    const cell = page.getByTestId("posture-web-admin");
    await cell.waitFor();
    assert.equal(await cell.getAttribute("data-ok"), "false");
    assert.equal(await cell.innerText(), "refused ✗ expected open");
    await waitLive(page);
    await markNoReload(page);
    await site.startWeb();
    await page.locator('[data-testid="posture-web-admin"][data-ok="true"]').waitFor({ timeout: 15_000 });
    assert.equal(await cell.innerText(), "open (expected open)");
    await page.locator(`[data-testid="host-checks"] [data-check="${id}"][data-state="ok"]`).waitFor();
    await assertNotReloaded(page);
    await screenshot(page, "web-live-host");
    await page.close();
  });

  test("host page: services, posture matrix with the broken cell, checks and their timeline", async () => {
    const page = await browser.page();
    await signIn(page, url, TOKENS.viewer);
    await page.goto(`${url}#/host/gpu`);
    await page.getByTestId("posture").waitFor();
    assert.deepEqual(await page.getByTestId("services").locator("tbody td:first-child").allInnerTexts(), [
      "ssh",
      "node_exporter",
    ]);
    const broken = page.getByTestId("posture-node_exporter-lan-probe");
    assert.equal(await broken.getAttribute("data-ok"), "false");
    assert.equal(await broken.getAttribute("data-observed"), "open");
    assert.equal(await broken.innerText(), "open ✗ expected closed");
    assert.match(await broken.evaluate((e) => getComputedStyle(e).backgroundColor), /rgb\(255, 235, 233\)/);
    assert.equal(await page.getByTestId("posture-node_exporter-admin").getAttribute("data-ok"), "true");
    const gpuChecks = (await api<{ total: number }>(keel.url, "/api/checks?host=gpu")).total;
    assert.ok(gpuChecks >= 5, `gpu has ${gpuChecks} checks`);
    assert.equal(await page.getByTestId("host-checks").getByTestId("check-row").count(), gpuChecks);
    // the timeline draws the failing check's last segment red (fail), after a passing one
    const row = page.locator(`[data-testid="timeline-row"][data-check="${LAB_HARD}"]`);
    await row.locator('rect[data-value="fail"]').last().waitFor();
    assert.deepEqual(
      await row
        .locator("rect")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-value")))
        .then((v) => v.slice(-2)),
      ["pass", "fail"],
    );
    assert.equal(await page.getByTestId("timeline-row").count(), gpuChecks);
    await screenshot(page, "web-host-gpu");
    await page.close();
  });

  test("check page: history chart of raw points, and buckets over 7 days", async () => {
    const page = await browser.page();
    await signIn(page, url, TOKENS.viewer);
    await page.goto(`${url}#/check/${encodeURIComponent(LAB_HARD)}`);
    const chart = page.getByTestId("history-chart");
    await chart.waitFor();
    assert.equal(await page.getByTestId("check-state").getAttribute("data-state"), "hard");
    // spans of the last 24 h: passing, failing now (and an earlier outage when the seed says so)
    assert.ok(Number(await chart.getAttribute("data-points")) >= 2, "spans of raw results are drawn");
    assert.ok((await page.getByTestId("failed-point").count()) > 0, "failed spans are marked");
    assert.ok((await page.getByTestId("changes").locator("tbody tr").count()) >= 2);
    await screenshot(page, "web-check-24h");
    await page.getByRole("button", { name: "7d" }).click();
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[data-testid="history-chart"]')?.getAttribute("data-buckets")) > 100,
    );
    await screenshot(page, "web-check-7d");
    await page.close();
  });

  test("Run now: a viewer token is refused with the server's 403, an operator's runs", async () => {
    const page = await browser.page();
    await signIn(page, url, TOKENS.viewer);
    await page.goto(`${url}#/host/gpu`);
    await page.getByTestId("run-now").click();
    const err = page.getByTestId("run-error");
    await err.waitFor();
    assert.match(await err.innerText(), /^refused \(403\): token wall has role viewer; this needs operator/);
    await screenshot(page, "web-run-viewer-403");
    await page.close();

    const op = await browser.page();
    await signIn(op, url, TOKENS.operator);
    await op.goto(`${url}#/host/gpu`);
    await op.getByTestId("run-now").click();
    await op.getByTestId("run-result").waitFor();
    // every selected check is reported, the skipped ones too
    const gpuRun = (await api<{ total: number }>(keel.url, "/api/checks?host=gpu")).total;
    assert.equal(await op.getByTestId("run-result").innerText(), `ran ${gpuRun} check(s), 1 failing`);
    await op.goto(`${url}#/check/${encodeURIComponent(LAB_HARD)}`);
    await op.getByTestId("run-now").click();
    await op.getByTestId("run-result").waitFor();
    assert.equal(await op.getByTestId("run-result").innerText(), "ran 1 check(s), 1 failing");
    await screenshot(op, "web-run-operator");
    await op.close();
  });

  test("inventory validation errors appear live as a banner and on the problems page", async () => {
    const page = await browser.page();
    await signIn(page, url, TOKENS.viewer);
    await waitLive(page);
    await markNoReload(page);
    // an invalid edit of the watched inventory: gpu's node_exporter on port 70000
    const lines = site.yaml.split("\n");
    const at = lines.findIndex((l) => l.includes("allow: [mon, vpn]"));
    const col = lines[at]!.indexOf(String(site.ports.node_exporter)) + 1;
    lines[at] = lines[at]!.replace(String(site.ports.node_exporter), "70000");
    writeFileSync(file, lines.join("\n"));
    const banner = page.getByTestId("problems-banner");
    await banner.waitFor({ timeout: 5000 });
    assert.match(
      await banner.innerText(),
      new RegExp(`${file.replaceAll(".", "\\.")}:${at + 1}:${col}: .*port 70000 .*out of range`),
    );
    await assertNotReloaded(page);
    await screenshot(page, "web-problems-banner");
    await page.goto(`${url}#/problems`);
    await page.getByTestId("problems").waitFor();
    assert.match(await page.getByTestId("problems").innerText(), new RegExp(`keel\\.yaml:${at + 1}:${col}`));
    await screenshot(page, "web-problems-page");
    writeFileSync(file, site.yaml);
    await eventually(
      "the fixed inventory reloaded",
      async () => (await api<{ problems: unknown[] }>(keel.url, "/api/overview")).problems.length === 0,
      10_000,
    );
    await page.close();
  });
});

describe("dashboard with 5,000 hosts", { concurrency: false }, () => {
  const HOSTS = 5000;
  let big: ServeProcess;
  let open: Server;
  before(async () => {
    open = createServer((c) => c.end());
    await new Promise<void>((r) => open.listen({ host: "0.0.0.0", port: 0, backlog: 4096 }, r));
    const bigFile = path.join(dir, "big.yaml");
    writeFileSync(bigFile, bigSiteYaml(HOSTS, (open.address() as { port: number }).port, await freePort()));
    big = await spawnServe(bigFile, {
      args: ["--db", path.join(dir, "big.db"), "--audit", path.join(dir, "big-audit.log")],
    });
    await eventually(
      "every check of the big site has a result",
      async () => (await api<Overview>(big.url, "/api/overview")).counts.unknown === 0,
      180_000,
    );
  });
  after(async () => {
    if (big) assert.equal(await big.stop(), 0, big.stderr());
    await new Promise((r) => open?.close(r));
  });

  test("the hosts list is virtualised and filtered server-side", async () => {
    const page = await browser.page();
    await signIn(page, `${big.url}/`, TOKENS.viewer);
    const o = await api<Overview>(big.url, "/api/overview");
    assert.equal(o.hosts.total, HOSTS);
    assert.ok((o.counts.checks ?? 0) >= 3 * HOSTS, `${o.counts.checks} checks`);
    assert.equal(
      await page.getByTestId("count-checks").locator("b").innerText(),
      (o.counts.checks ?? 0).toLocaleString("en"),
    );
    const list = page.getByTestId("hosts-list");
    await page.getByTestId("host-link").first().waitFor();
    assert.equal(await page.getByTestId("hosts-total").innerText(), "5,000 hosts");
    assert.ok((await page.getByTestId("host-link").count()) < 60, "only the visible rows are in the DOM");
    await list.evaluate((e) => {
      e.scrollTop = e.scrollHeight;
    });
    await page.getByText("node-05000", { exact: true }).waitFor();
    assert.ok((await page.getByTestId("host-link").count()) < 60);
    await screenshot(page, "big-hosts-scrolled");

    await page.getByTestId("hosts-filter").fill("node-0420");
    await page.getByTestId("hosts-total").getByText("10 hosts").waitFor();
    assert.equal(await page.getByTestId("host-link").count(), 10);
    await page.getByTestId("hosts-filter").fill("");
    await page.getByTestId("hosts-status").selectOption("failing");
    // every 50th host declares a port nothing listens on
    assert.equal(o.hosts.failing, HOSTS / 50);
    await page
      .getByTestId("hosts-total")
      .getByText(`${o.hosts.failing.toLocaleString("en")} hosts`)
      .waitFor();
    await screenshot(page, "big-hosts-failing");
    await page.close();
  });
});
