/** Runs `apply-child.ts` in a process of its own, and kills it the hard way. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const SCRIPT = path.join(import.meta.dirname, "apply-child.ts");

/** Starts `apply-child.ts DIR MODE` and resolves once it printed `ready`. */
export async function startChild(dir: string, mode: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, dir, mode], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready\n")) resolve();
    });
    child.on("exit", (code, signal) =>
      reject(new Error(`apply-child ${mode} exited (${code ?? signal}) before it was ready: ${err}`)),
    );
  });
  return child;
}

/** Sends SIGKILL to `child` and resolves when it is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}
