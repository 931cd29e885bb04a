/**
 * The built `keel serve` (dist/cli/main.js, run as an executable) as a child process, for tests that exercise the
 * command itself: spawned on a free loopback port, ready once it logs `listening on URL`,
 * stopped with SIGTERM (its exit status is returned).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { eventually } from "./alertmanager.js";
import { freePort } from "./daemons.js";

/** The built CLI. */
export const CLI = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

/** A running `keel serve`. */
export interface ServeProcess {
  child: ChildProcess;
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
  /** SIGTERM, then resolves with the exit status (null when killed by a signal). */
  stop: () => Promise<number | null>;
}

/** Options of {@link spawnServe}. */
export interface SpawnServeOptions {
  /** Flags after `serve FILE` (`--listen` is added on a free port unless given here). */
  args?: string[];
  /** Environment added to this process's. */
  env?: NodeJS.ProcessEnv;
  /** Longest wait for `listening on`, ms (default 20,000). */
  timeoutMs?: number;
}

/**
 * Spawns `keel serve FILE` and waits until it listens.
 * @throws Error when dist/cli is missing, or the process exits or stays silent before listening.
 */
export async function spawnServe(file: string, o: SpawnServeOptions = {}): Promise<ServeProcess> {
  if (!existsSync(CLI)) throw new Error("dist/cli is missing: run npm run build");
  const args = [...(o.args ?? [])];
  if (!args.includes("--listen")) args.push("--listen", `127.0.0.1:${await freePort()}`);
  // the executable itself, by its interpreter line, as an operator runs it
  const child = spawn(CLI, ["serve", file, ...args], {
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let url: string;
  try {
    url = await eventually(
      "keel serve listening",
      () => {
        if (child.exitCode !== null) throw new Error(`keel serve exited ${child.exitCode}: ${stderr}`);
        return /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      },
      o.timeoutMs ?? 20_000,
    );
  } catch (err) {
    if (child.exitCode === null) child.kill("SIGKILL");
    throw err;
  }
  return {
    child,
    url,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
