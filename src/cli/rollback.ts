/**
 * `keel rollback FILE HOST [--to NAME] [--yes] [--gate-timeout DURATION]`: reverts host HOST's
 * machine to a snapshot (the newest by default), starts it and runs its verify gate again
 * (contract `docs/snapshots.md`). libvirt restores the definition saved with the snapshot too,
 * so a change made since (memory, vCPUs) is undone as well: the next `keel plan` shows it again
 * until the inventory says otherwise.
 *
 * Exit status: 0 reverted and the gate passed; 1 a step or the gate failed; 2 an invalid
 * inventory or command line, an unknown host or snapshot, or the lock is held.
 */
import { type Command, Option } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import { ActionFailed, chooseSnapshot, revertAndGate } from "../provision/actions.js";
import type { Snapshot } from "../provision/provider.js";
import { withSession } from "../provision/session.js";
import { desiredMachines } from "../provision/spec.js";
import { confirmOrYes, reportingProviderErrors } from "./confirm.js";
import { durationFlag } from "./options.js";

interface RollbackFlags {
  to?: string;
  yes?: boolean;
  gateTimeout: number;
}

/** Runs `keel rollback`; returns the exit status. */
export async function rollback(file: string, host: string, flags: RollbackFlags): Promise<number> {
  const inv = loadInventory(file);
  const m = desiredMachines(inv).find((x) => x.host === host);
  if (m === undefined) throw new UserError(`${host}: not a host of ${file} with vm.hypervisor`);
  const hv = m.spec.hypervisor;
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  return withSession(inv, { log }, async (session) => {
    let snap: Snapshot;
    try {
      snap = await chooseSnapshot(session, hv, host, flags.to);
    } catch (e) {
      if (e instanceof UserError && flags.to !== undefined)
        throw new UserError(`--to ${flags.to}: ${e.message}`);
      throw e;
    }
    process.stdout.write(
      `~ ${host} on ${hv}: revert to ${snap.name} (${snap.createdAt}, ${snap.description})\n`,
    );
    if (!(await confirmOrYes(flags.yes === true, `roll ${host} back? only 'yes' is accepted: `))) return 1;
    try {
      const message = await revertAndGate(session, inv, hv, host, snap.name, flags.gateTimeout);
      process.stdout.write(`${host}: ${message}\n`);
      return 0;
    } catch (e) {
      if (!(e instanceof ActionFailed)) throw e;
      process.stdout.write(`${host}: FAILED: ${e.message}\n`);
      return 1;
    }
  });
}

/** Registers `keel rollback`. */
export function register(program: Command): void {
  program
    .command("rollback")
    .description("revert a machine to a snapshot (the newest by default) and run its verify gate")
    .argument("<file>", "inventory file (keel.yaml)")
    .argument("<host>", "the host whose machine is reverted")
    .option("--to <name>", "the snapshot to revert to (keel snapshots lists them)")
    .option("--yes", "do not ask (for automation)")
    .addOption(
      new Option("--gate-timeout <duration>", "how long the machine gets to accept the SSH login")
        .argParser(durationFlag())
        .default(300_000, "5m"),
    )
    .action(async (file: string, host: string, flags: RollbackFlags) => {
      process.exitCode = await reportingProviderErrors(() => rollback(file, host, flags));
    });
}
