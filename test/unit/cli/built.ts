/** Makes sure `dist/` is built from the current sources before tests run the real CLI. */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Path of the built CLI entry point, relative to the repository root. */
export const CLI = "dist/cli/main.js";

/** Runs `npm run build` when dist/cli/main.js is missing or older than any file under src/. */
export function ensureBuilt(): void {
  const built = existsSync(CLI) ? statSync(CLI).mtimeMs : 0;
  const stale = readdirSync("src", { recursive: true, encoding: "utf8" }).some(
    (f) => statSync(join("src", f)).mtimeMs > built,
  );
  if (stale) execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
}
