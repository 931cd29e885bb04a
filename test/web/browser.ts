/**
 * Debian's Chromium (/usr/bin/chromium, installed by scripts/setup.sh) driven by
 * playwright-core: headless, no sandbox (tests run as root), nothing that talks to the
 * network on its own, and a fresh profile in a temporary --user-data-dir removed on close.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Flags besides --headless and --user-data-dir, which playwright passes itself. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser with its own profile; `close` ends it and removes the profile. */
export interface Browser {
  context: BrowserContext;
  page: () => Promise<Page>;
  close: () => Promise<void>;
}

/** Starts headless Chromium with a fresh profile. */
export async function launch(viewport = { width: 1400, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), "keel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    timeout: 30_000,
  });
  return {
    context,
    page: () => context.newPage(),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where tests save screenshots (gitignored). */
export const SCREENSHOTS = path.resolve(import.meta.dirname, "../../test-results/screenshots");

/** Saves a full-page screenshot as test-results/screenshots/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Opens the dashboard at `url` and enters `token` in the prompt; resolves once the overview shows. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId("token-input").fill(token);
  await page.getByTestId("token-submit").click();
  await page.getByTestId("counts").waitFor();
}
