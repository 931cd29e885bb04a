/// <reference lib="dom" />
/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core), against the
 * fixture server of test/web/ that serves the API of docs/serve.md from fixed data: token
 * prompt and 401, overview with failing checks first, live updates without reloading, the
 * host page's posture matrix, the check history chart, server-side filtering of a
 * virtualised list of 5,000 hosts, Run now for operators and its 403 for viewers, and the
 * inventory's validation errors. Every test saves screenshots in test-results/screenshots/.
 * The overview, a fault as a failing check, the broken posture cell and the viewer's 403 are
 * also tested against the real `keel serve` on the lab twin: test/integration/serve.test.ts.
 *
 * Needs `npm run build` (dist/web) and /usr/bin/chromium (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";
import { bigSite, LAB_HARD, LAB_SOFT, labSite } from "../web/data.js";
import { type FixtureServer, startFixtureServer, TOKENS } from "../web/server.js";

const root = path.resolve(import.meta.dirname, "../..");
let browser: Browser;
let fx: FixtureServer;

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

before(async () => {
  assert.ok(existsSync(path.join(root, "dist/web/index.html")), "dist/web is missing: run npm run build");
  browser = await launch();
  fx = await startFixtureServer(labSite());
});

after(async () => {
  await browser?.close();
  await fx?.close();
});

describe("dashboard against the fixture server", { concurrency: false }, () => {
  test("asks for a token, refuses a wrong one, opens the overview with failing checks first", async () => {
    const page = await browser.page();
    await page.goto(fx.url);
    await page.getByTestId("token-prompt").waitFor();
    await page.getByTestId("token-input").fill("not-a-token");
    await page.getByTestId("token-submit").click();
    assert.match(
      await page.getByTestId("token-error").innerText(),
      /token refused: missing or unknown token/,
    );
    await screenshot(page, "fixture-token-refused");

    await page.getByTestId("token-input").fill(TOKENS.viewer);
    await page.getByTestId("token-submit").click();
    await page.getByTestId("counts").waitFor();
    assert.equal(await page.getByTestId("count-checks").locator("b").innerText(), "63");
    assert.equal(await page.getByTestId("count-hard").locator("b").innerText(), "1");
    assert.equal(await page.getByTestId("count-soft").locator("b").innerText(), "1");
    const rows = page.getByTestId("failing").getByTestId("check-row");
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-check"))), [
      LAB_HARD,
      LAB_SOFT,
    ]);
    await page.getByTestId("host-link").first().waitFor();
    assert.deepEqual(await page.getByTestId("host-link").allInnerTexts(), ["gw-vpn", "mon", "gpu", "svc-1"]);
    assert.equal(await page.getByTestId("site").innerText(), "lab-fixture");
    await screenshot(page, "fixture-overview");

    // the token is kept for the tab only: a new tab of the same profile shares sessionStorage
    // only when opened from this one, so a reload keeps it and a wrong token brings the prompt back
    await page.reload();
    await page.getByTestId("counts").waitFor();
    await page.evaluate(() => sessionStorage.setItem("keel.token", "revoked-token"));
    await page.reload();
    await page.getByTestId("token-prompt").waitFor();
    assert.match(await page.getByTestId("token-prompt").innerText(), /refused the token \(401\)/);
    await screenshot(page, "fixture-token-401");
    await page.close();
  });

  test("a check that starts failing appears on the overview and the host page without reloading", async () => {
    const page = await browser.page();
    await signIn(page, fx.url, TOKENS.viewer);
    await waitLive(page);
    await markNoReload(page);
    const id = "svc-1/port.open/web@admin";
    const t0 = Date.now();
    fx.update(id, "fail", "hard", "10.32.0.20:8080/tcp is refused; expected open", { state: "refused" });
    await page
      .locator(`[data-testid="failing"] [data-check="${id}"][data-state="hard"]`)
      .waitFor({ timeout: 5000 });
    const seenMs = Date.now() - t0;
    // counts are refetched after live events (at most every 2 s)
    await page.waitForFunction(
      () => document.querySelector('[data-testid="count-hard"] b')?.textContent === "2",
      undefined,
      { timeout: 5000 },
    );
    await assertNotReloaded(page);
    assert.ok(seenMs < 3000, `the failing check showed after ${seenMs} ms`);
    await screenshot(page, "fixture-live-overview");

    await page.goto(`${fx.url}#/host/svc-1`);
    const cell = page.getByTestId("posture-web-admin");
    await cell.waitFor();
    assert.equal(await cell.getAttribute("data-ok"), "false");
    assert.equal(await cell.innerText(), "refused ✗ expected open");
    await waitLive(page);
    await markNoReload(page);
    fx.update(id, "pass", "ok", "10.32.0.20:8080/tcp is open", { state: "open" });
    await page.locator('[data-testid="posture-web-admin"][data-ok="true"]').waitFor({ timeout: 5000 });
    assert.equal(await cell.innerText(), "open (expected open)");
    await page.locator(`[data-testid="host-checks"] [data-check="${id}"][data-state="ok"]`).waitFor();
    await assertNotReloaded(page);
    await screenshot(page, "fixture-live-host");
    await page.close();
  });

  test("host page: services, posture matrix with the broken cell, checks and their timeline", async () => {
    const page = await browser.page();
    await signIn(page, fx.url, TOKENS.viewer);
    await page.goto(`${fx.url}#/host/gpu`);
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
    assert.equal(await page.getByTestId("host-checks").getByTestId("check-row").count(), 12);
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
    assert.equal(await page.getByTestId("timeline-row").count(), 12);
    await screenshot(page, "fixture-host-gpu");
    await page.close();
  });

  test("check page: history chart of raw points, and buckets over 7 days", async () => {
    const page = await browser.page();
    await signIn(page, fx.url, TOKENS.viewer);
    await page.goto(`${fx.url}#/check/${encodeURIComponent(LAB_HARD)}`);
    const chart = page.getByTestId("history-chart");
    await chart.waitFor();
    assert.equal(await page.getByTestId("check-state").getAttribute("data-state"), "hard");
    // spans of the last 24 h: passing, failing now (and an earlier outage when the seed says so)
    assert.ok(Number(await chart.getAttribute("data-points")) >= 2, "spans of raw results are drawn");
    assert.ok((await page.getByTestId("failed-point").count()) > 0, "failed spans are marked");
    assert.ok((await page.getByTestId("changes").locator("tbody tr").count()) >= 2);
    await screenshot(page, "fixture-check-24h");
    await page.getByRole("button", { name: "7d" }).click();
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[data-testid="history-chart"]')?.getAttribute("data-buckets")) > 100,
    );
    await screenshot(page, "fixture-check-7d");
    await page.close();
  });

  test("Run now: a viewer token is refused with the server's 403, an operator's runs", async () => {
    const page = await browser.page();
    await signIn(page, fx.url, TOKENS.viewer);
    await page.goto(`${fx.url}#/host/gpu`);
    await page.getByTestId("run-now").click();
    const err = page.getByTestId("run-error");
    await err.waitFor();
    assert.match(await err.innerText(), /^refused \(403\): running checks needs an operator token/);
    await screenshot(page, "fixture-run-viewer-403");
    await page.close();

    const op = await browser.page();
    await signIn(op, fx.url, TOKENS.operator);
    await op.goto(`${fx.url}#/host/gpu`);
    await op.getByTestId("run-now").click();
    await op.getByTestId("run-result").waitFor();
    assert.equal(await op.getByTestId("run-result").innerText(), "ran 12 check(s), 1 failing");
    await op.goto(`${fx.url}#/check/${encodeURIComponent(LAB_HARD)}`);
    await op.getByTestId("run-now").click();
    await op.getByTestId("run-result").waitFor();
    assert.equal(await op.getByTestId("run-result").innerText(), "ran 1 check(s), 1 failing");
    await screenshot(op, "fixture-run-operator");
    await op.close();
  });

  test("inventory validation errors appear live as a banner and on the problems page", async () => {
    const page = await browser.page();
    await signIn(page, fx.url, TOKENS.viewer);
    await waitLive(page);
    await markNoReload(page);
    fx.setProblems([
      {
        pos: { file: "/srv/keel/keel.yaml", line: 12, col: 9 },
        message: "hosts.gpu.services.web.port: 70000 is not a port; expected 1-65535",
      },
    ]);
    const banner = page.getByTestId("problems-banner");
    await banner.waitFor({ timeout: 5000 });
    assert.match(
      await banner.innerText(),
      /\/srv\/keel\/keel\.yaml:12:9: hosts\.gpu\.services\.web\.port: 70000/,
    );
    await assertNotReloaded(page);
    await screenshot(page, "fixture-problems-banner");
    await page.goto(`${fx.url}#/problems`);
    await page.getByTestId("problems").waitFor();
    assert.match(await page.getByTestId("problems").innerText(), /keel\.yaml:12:9/);
    await screenshot(page, "fixture-problems-page");
    fx.setProblems([]);
    await page.close();
  });
});

describe("dashboard with 5,000 hosts and 50,000 checks", { concurrency: false }, () => {
  let big: FixtureServer;
  before(async () => {
    big = await startFixtureServer(bigSite(5000));
  });
  after(async () => {
    await big?.close();
  });

  test("the hosts list is virtualised and filtered server-side", async () => {
    const page = await browser.page();
    await signIn(page, big.url, TOKENS.viewer);
    assert.equal(await page.getByTestId("count-checks").locator("b").innerText(), "50,000");
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
    const failing = new Set(
      big.data.states.filter((s) => s.state === "hard" || s.state === "soft").map((s) => s.host),
    ).size;
    await page
      .getByTestId("hosts-total")
      .getByText(`${failing.toLocaleString("en")} hosts`)
      .waitFor();
    await screenshot(page, "big-hosts-failing");
    await page.close();
  });
});
