/**
 * Makes docs/img/dashboard.png, the manual's picture of the dashboard: the built `keel serve` on
 * the loopback lab site of the browser tests (test/web/site.ts: the lab's hosts on 127.0.0.x,
 * answered by this process's listeners, with one real hard failure and one soft one, and 7 days
 * of history), once every check has a result, opened in Chromium (test/web/browser.ts) and saved
 * as a 1400×900 PNG of the overview.
 *
 *   npm run build && node --import tsx scripts/screenshot.ts [OUT.png]
 *
 * Needs dist/ (cli and web) and /usr/bin/chromium (scripts/setup.sh); no root, no namespaces.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eventually } from "../test/helpers/alertmanager.js";
import { spawnServe } from "../test/helpers/serve.js";
import { launch, signIn } from "../test/web/browser.js";
import { seedHistory, startLabSite, TOKENS } from "../test/web/site.js";

const out = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, "../docs/img/dashboard.png"));
const dir = mkdtempSync(path.join(tmpdir(), "keel-screenshot-"));
const file = path.join(dir, "keel.yaml");
const db = path.join(dir, "keel.db");

const site = await startLabSite();
try {
  writeFileSync(file, site.yaml);
  await seedHistory(file, db);
  const keel = await spawnServe(file, { args: ["--db", db, "--audit", path.join(dir, "audit.log")] });
  try {
    await eventually(
      "every check has a result, and the site's hard and soft failures show",
      async () => {
        const res = await fetch(`${keel.url}/api/overview`, {
          headers: { authorization: `Bearer ${TOKENS.viewer}` },
        });
        const o = (await res.json()) as { counts: Record<string, number> };
        return o.counts.unknown === 0 && o.counts.hard === 1 && o.counts.soft === 1;
      },
      60_000,
    );
    const browser = await launch({ width: 1400, height: 900 });
    try {
      const page = await browser.page();
      await signIn(page, `${keel.url}/`, TOKENS.viewer);
      await page.locator('[data-testid="live"][data-status="live"]').waitFor({ timeout: 10_000 });
      await page.getByTestId("failing").waitFor();
      await page.getByTestId("host-link").first().waitFor();
      await page.waitForTimeout(500); // let the last fetches paint
      mkdirSync(path.dirname(out), { recursive: true });
      await page.screenshot({ path: out });
      process.stdout.write(`${out}\n`);
    } finally {
      await browser.close();
    }
  } finally {
    await keel.stop();
  }
} finally {
  await site.close();
  rmSync(dir, { recursive: true, force: true });
}
