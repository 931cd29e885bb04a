/**
 * `keel lab up|down|status FILE`: the lab twin of an inventory, as network namespaces running
 * real daemons on this machine (root required). See src/lab/lab.ts for the layout.
 *
 * - `up`: builds the twin (replacing a lab already up for FILE), waits until every daemon is
 *   ready (`--timeout MS`, default 30000) and prints the status; exit 1 naming what did not
 *   come up (the partial lab is removed unless `--keep`). Ctrl-C (SIGINT/SIGTERM) stops it at the
 *   next step and removes the partial lab (exit 130).
 * - `down`: removes everything `up` recorded; safe to run twice (exit 0 either way).
 * - `status [--json]`: each host namespace, its addresses and daemons (running/stopped,
 *   real/stand-in); exit 0 when all run, 1 otherwise (or when the lab is not up).
 */
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { loadInventory } from "../inventory/load.js";
import { labDown, labUp } from "../lab/lab.js";
import { LabError } from "../lab/run.js";
import { formatStatus, labStatus } from "../lab/status.js";
import { intFlag } from "./options.js";

/** Lab state directory for an inventory file, without loading it (down/status must work on a broken file). */
function dirOf(file: string): string {
  return join(dirname(resolve(file)), ".keel", "lab");
}

function fail(err: unknown): void {
  if (!(err instanceof LabError)) throw err;
  process.stderr.write(`keel lab: ${err.message}\n`);
  process.exitCode = 1;
}

async function printStatus(dir: string, json = false): Promise<void> {
  const s = await labStatus(dir);
  if (json) process.stdout.write(`${JSON.stringify(s ?? { up: false }, null, 2)}\n`);
  else process.stdout.write(s ? formatStatus(s) : "the lab is not up\n");
  process.exitCode = s?.healthy ? 0 : 1;
}

/** Registers `keel lab up|down|status FILE`. */
export function register(program: Command): void {
  const lab = program
    .command("lab")
    .description("the lab twin: an inventory as network namespaces running real daemons (needs root)");
  lab
    .command("up")
    .description("build the twin of FILE (replacing one already up) and wait until every daemon is ready")
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--timeout <ms>", "how long to wait for readiness", intFlag(1000, 600_000), 30_000)
    .option("--keep", "on failure, leave the partial lab in place for inspection (`down` removes it)")
    .option("-q, --quiet", "print no progress")
    .action(async (file: string, opts: { timeout: number; keep?: boolean; quiet?: boolean }) => {
      const inv = loadInventory(file);
      // Ctrl-C or SIGTERM: stop at the next step and remove the partial lab instead of leaving it
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const up = await labUp(inv, {
          timeoutMs: opts.timeout,
          keepOnFailure: opts.keep === true,
          signal: interrupt.signal,
          log: opts.quiet ? () => {} : (l) => process.stderr.write(`${l}\n`),
        });
        await printStatus(up.dir);
      } catch (err) {
        fail(err);
        if (interrupt.signal.aborted) process.exitCode = 130;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
  lab
    .command("down")
    .description("remove everything `up` created for FILE; safe to run when the lab is not up")
    .argument("<file>", "inventory file (keel.yaml)")
    .action(async (file: string) => {
      try {
        const was = await labDown(dirOf(file), (l) => process.stdout.write(`${l}\n`));
        if (!was) process.stdout.write("the lab is not up; nothing to remove\n");
      } catch (err) {
        fail(err);
      }
    });
  lab
    .command("status")
    .description("list host namespaces, addresses and daemons; exit 0 when all run")
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--json", 'print the status as JSON (`{"up": false}` when the lab is not up)')
    .action(async (file: string, opts: { json?: boolean }) => {
      await printStatus(dirOf(file), opts.json === true);
    });
}
