/**
 * Running the real tools the lab is made of (`ip`, `nft`, `wg`, `ssh-keygen`, `sysctl`, `ss`),
 * in the root namespace or inside a lab namespace (`ip netns exec NS ...`).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** Error raised when the lab cannot be built, inspected or torn down (not a user mistake). */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LabError";
  }
}

/** Outcome of one finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Text written to the command's standard input. */
  input?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the command after this many milliseconds (default 20 s). */
  timeoutMs?: number;
}

/** Runs a command to completion and returns its exit code and output; never throws on exit status. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      timeout: opts.timeoutMs ?? 20_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs a command and returns its standard output; throws a LabError quoting stderr if it fails. */
export async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new LabError(
      `${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** True when `pid` names a live (not zombie) process. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces, the state follows the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}

/** The command line of a live process (NUL-separated argv joined by spaces), or "" if gone. */
export function pidCommand(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where lab commands run: a host's network namespace plus its private mount and UTS namespaces. */
export interface Place {
  /** Network namespace name (under /run/netns). */
  ns: string;
  /** Bind-mounted mount namespace file, giving the host its own /run/wireguard. */
  mnt: string;
  /** Bind-mounted UTS namespace file (the host's own hostname). */
  uts?: string;
}

/** Command and arguments that run `cmd` inside a place (or the root namespace when null). */
export function placeCmd(place: Place | null, cmd: string, args: string[]): [string, string[]] {
  if (place === null) return [cmd, args];
  const uts = place.uts ? [`--uts=${place.uts}`] : [];
  return ["nsenter", [`--net=/run/netns/${place.ns}`, `--mount=${place.mnt}`, ...uts, "--", cmd, ...args]];
}

/** Like {@link must}, inside a place. */
export function mustAt(
  place: Place | null,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<string> {
  const [c, a] = placeCmd(place, cmd, args);
  return must(c, a, opts);
}

/** Like {@link run}, inside a place. */
export function runAt(
  place: Place | null,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [c, a] = placeCmd(place, cmd, args);
  return run(c, a, opts);
}
