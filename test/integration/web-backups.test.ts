/// <reference lib="dom" />
/**
 * The dashboard's Backups view in a real browser (Debian's Chromium driven by playwright-core)
 * against the real API server and the real engine of `keel serve`, served in this process: the
 * backup checks' results enter through the engine's public path (`runNow`), run by check kinds
 * that answer with the `observed` shapes of the backup kinds (pgBackRest, WAL-G, WAL archive,
 * rehearsal), since a loopback site has no pgBackRest repository or WAL-G storage to read.
 * Before any result every objective shows as not observed; after a run the view updates
 * without reloading: objectives met and missed with their reasons, newest backups by type with
 * their age, WAL lag, backlog and a failing archiver, the rehearsal and its recovery time.
 *
 * Needs `npm run build` (dist/web) and /usr/bin/chromium (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer, DEFAULT_WEB_ROOT } from "../../src/serve/api.js";
import { sha256Hex } from "../../src/serve/auth.js";
import { KeelEngine } from "../../src/serve/engine.js";
import type { CheckKindModule, CheckOutcome, CheckSpec } from "../../src/verify/types.js";
import {
  backupSpecs,
  backupsInventory,
  pgbrObserved,
  rehearsalObserved,
  walgObserved,
  walObserved,
} from "../serve/backups.js";
import { MemoryStore } from "../serve/memory.js";
import { unusedProber } from "../unit/serve/fake.js";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";

const VIEWER = `backups-view-${process.pid}-${Date.now()}`;
const pos = { file: "keel.yaml", line: 1, col: 1 };
const dir = mkdtempSync(path.join(tmpdir(), "keel-web-backups-"));
let browser: Browser;
let engine: KeelEngine;
let app: FastifyInstance;
let url = "";

/** What each backup check answers, by check id (computed when it runs: ages from that moment). */
function outcomeOf(spec: CheckSpec): CheckOutcome {
  const now = Date.now();
  switch (spec.id) {
    case "mon/backup.pgbackrest/main":
      return { status: "pass", message: "newest incr 2 h old", observed: pgbrObserved(now, 7200) };
    case "mon/backup.pgbackrest-check/main":
      return {
        status: "pass",
        message: "pgbackrest check passed",
        observed: { stanza: "main", durationSec: 3 },
      };
    case "gpu/backup.wal-archive/main":
      return {
        status: "pass",
        message: "archiving",
        observed: walObserved(now, {
          backup: "main",
          tool: "pgbackrest",
          lastArchivedAgeSec: 60,
          ready: 2,
          oldestReadyAgeSec: 30,
        }),
      };
    case "gw-vpn/backup.rehearsal/main":
      return { status: "pass", message: "restored and queried", observed: rehearsalObserved(now, 420) };
    case "mon/backup.walg/app":
      return { status: "fail", message: "newest backup 30 h old", observed: walgObserved(now, 30 * 3600) };
    case "mon/backup.wal-archive/app":
      return {
        status: "fail",
        message: "archive_command failing",
        observed: walObserved(now, {
          backup: "app",
          tool: "walg",
          lastArchivedAgeSec: 1200,
          lastFailedAgeSec: 60,
          ready: 20,
          oldestReadyAgeSec: 1150,
        }),
      };
    default:
      return { status: "pass", message: "ok" };
  }
}

before(async () => {
  assert.ok(existsSync(path.join(DEFAULT_WEB_ROOT, "index.html")), "npm run build first (dist/web)");
  const inv = backupsInventory();
  inv.serve.tokens = [{ name: "wall", role: "viewer", sha256: sha256Hex(VIEWER), pos }];
  const specs = backupSpecs(inv);
  const kinds: Record<string, CheckKindModule> = {};
  for (const s of specs) kinds[s.kind] = { kind: s.kind, run: async (spec) => outcomeOf(spec as CheckSpec) };
  engine = new KeelEngine({
    file: path.join(dir, "keel.yaml"),
    inventory: inv,
    derive: () => specs,
    kinds,
    probers: () => () => unusedProber,
    alerts: false,
    log: () => undefined,
  });
  app = await buildServer({ engine, store: new MemoryStore(), auditFile: path.join(dir, "audit.log") });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  url = `http://127.0.0.1:${port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Backups view", () => {
  test("not observed before any result; objectives, newest backups, WAL archive and rehearsal once the checks ran, without reloading", async () => {
    const page = await browser.page();
    await signIn(page, url, VIEWER);
    await page.getByTestId("nav-backups").click();
    const main = page.getByTestId("backup-pgbackrest-main");
    const walg = page.getByTestId("backup-walg-app");
    await main.waitFor();
    for (const card of [main, walg])
      for (const k of ["backup", "wal"]) {
        const row = card.getByTestId(`objective-${k}`);
        assert.equal(await row.getAttribute("data-met"), "none");
        assert.match(await row.getByTestId("reason").innerText(), /^not yet observed: .* has no result yet$/);
      }
    assert.match(await main.innerText(), /Backups: not yet observed/);
    assert.match(await main.getByTestId("rehearsal").innerText(), /none yet/);
    await screenshot(page, "backups-not-observed");

    await page.evaluate(() => {
      (window as unknown as { keelNoReload: boolean }).keelNoReload = true;
    });
    await page.locator('[data-testid="live"][data-status="live"]').waitFor({ timeout: 10_000 });
    const results = await engine.runNow({ glob: "*/backup.*/*" });
    assert.equal(results.length, 6);

    await main.locator('[data-testid="objective-backup"][data-met="true"]').waitFor({ timeout: 10_000 });
    assert.equal(
      await page.evaluate(() => (window as unknown as { keelNoReload?: boolean }).keelNoReload === true),
      true,
      "the page reloaded",
    );
    assert.match(
      await main.getByTestId("objective-backup").getByTestId("reason").innerText(),
      /newest backup 20261201-010000F_20261206-190000I \(incr\) finished 2 h ago, within the objective 26 h/,
    );
    assert.equal(await main.getByTestId("objective-wal").getAttribute("data-met"), "true");
    assert.equal(await main.getByTestId("newest-full").getByTestId("age").innerText(), "5 d");
    assert.equal(await main.getByTestId("newest-diff").getByTestId("age").innerText(), "20 h");
    assert.equal(await main.getByTestId("newest-incr").getByTestId("age").innerText(), "2 h");
    assert.match(await main.getByTestId("wal-lag").innerText(), /^1 min since 000000010000000000000042/);
    // ages count on from the run to the view's fetch (throttled to 3 s after the events)
    assert.match(
      await main.getByTestId("wal-backlog").innerText(),
      /^2 segments waiting, oldest (3\d|4\d) s$/,
    );
    assert.equal(
      await main.getByTestId("wal-space").innerText(),
      "1.0 GiB, 37.3 GiB free of 93.1 GiB (40% free)",
    );
    assert.equal(await main.getByTestId("rehearsal-duration").innerText(), "7 min");
    assert.match(await main.getByTestId("rehearsal").innerText(), /20261201-010000F_20261206-010000D/);

    assert.equal(await walg.getByTestId("objective-backup").getAttribute("data-met"), "false");
    assert.match(
      await walg.getByTestId("objective-backup").getByTestId("reason").innerText(),
      /finished 30 h ago, over the objective 26 h$/,
    );
    assert.equal(await walg.getByTestId("objective-wal").getAttribute("data-met"), "false");
    assert.match(
      await walg.getByTestId("wal-failing").innerText(),
      /archiving failing: 000000010000000000000043 failed 1 min ago/i,
    );
    assert.match(await walg.getByTestId("wal-backlog").innerText(), /^20 segments waiting, oldest 19 min$/);
    assert.match(await walg.innerText(), /No restore rehearsal is declared/);
    assert.match(await page.locator("h1").innerText(), /2 declared, 1 missing an objective/);
    await screenshot(page, "backups-observed");
  });
});
