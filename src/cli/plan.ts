/**
 * `keel plan FILE [--json]`: what `keel apply` would do to the machines (contract
 * `docs/plan.md`). Reads every hypervisor of the inventory; writes nothing (not even keel.lock:
 * a MAC or address not yet in the lock is shown as it would be allocated).
 *
 * Exit status: 0 no changes; 3 changes pending; 1 a hypervisor could not be read or a machine
 * cannot be planned (a domain of its name that Keel did not make); 2 an invalid inventory or
 * command line.
 */
import { createHash } from "node:crypto";
import type { Command } from "commander";
import { loadInventoryText, readInventoryText } from "../inventory/load.js";
import { formatPlan } from "../provision/format.js";
import { readJournal } from "../provision/journal.js";
import { isEmpty, type Plan, planMachines } from "../provision/plan.js";
import { observeAll } from "../provision/providers.js";
import { desiredMachines } from "../provision/spec.js";
import { unfinishedMachines } from "../provision/unfinished.js";

/** Exit status of `keel plan` when changes are pending (0: none; 1: could not plan; 2: bad input). */
export const EXIT_CHANGES = 3;

interface PlanFlags {
  json?: boolean;
}

/**
 * The plan of the inventory at `file` against its hypervisors, with the inventory's digest.
 * @throws UserError for an invalid inventory; what the providers throw besides an unreachable hypervisor.
 */
export async function makePlan(file: string): Promise<{ plan: Plan; inventoryDigest: string }> {
  const text = readInventoryText(file);
  const inv = loadInventoryText(file, text);
  const desired = desiredMachines(inv);
  const { observed, unreachable } = await observeAll(inv);
  const unfinished = unfinishedMachines(readJournal(inv.dir).records);
  const plan = planMachines(inv.site, desired, observed, unreachable, unfinished);
  return { plan, inventoryDigest: createHash("sha256").update(text).digest("hex") };
}

/** The exit status for `plan`. */
export function planStatus(plan: Plan): number {
  if (plan.blocked.length > 0 || plan.unreachable.length > 0) return 1;
  return isEmpty(plan) ? 0 : EXIT_CHANGES;
}

/** Registers `keel plan`. */
export function register(program: Command): void {
  program
    .command("plan")
    .description("show what apply would create, change or delete on the hypervisors; change nothing")
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--json", "print the plan as JSON")
    .action(async (file: string, flags: PlanFlags) => {
      const { plan, inventoryDigest } = await makePlan(file);
      if (flags.json)
        process.stdout.write(`${JSON.stringify({ inventory: file, inventoryDigest, ...plan }, null, 2)}\n`);
      else process.stdout.write(formatPlan(plan));
      process.exitCode = planStatus(plan);
    });
}
