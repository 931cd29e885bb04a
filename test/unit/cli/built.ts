/** Makes sure `dist/` is built from the current sources before tests run the real CLI. */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

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

/** What a run of the CLI gave: exit status, stdout and stderr. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node dist/cli/main.js ARGS…`), building it first when stale. */
export async function runKeel(...args: string[]): Promise<CliRun> {
  ensureBuilt();
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
