/**
 * `keel destroy FILE HOST [--yes]`: removes host HOST's machine now: stops the domain,
 * undefines it (with its NVRAM and snapshots), deletes its volumes and its cidata image (contract
 * `docs/destroy.md`). While the host stays in the inventory, the next `keel apply` creates it
 * again; remove it from the inventory to also free its `keel.lock` entries and DNS records.
 *
 * Exit status: 0 removed (or nothing was there); 1 a step failed or the hypervisor could not be
 * read; 2 an invalid inventory or command line, an unknown host, or the lock is held.
 */
import type { Command } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import { pruneLocalSeeds } from "../provision/artifacts.js";
import { locate, withSession } from "../provision/session.js";
import { desiredMachines } from "../provision/spec.js";
import { confirmOrYes, reportingProviderErrors } from "./confirm.js";

/** Runs `keel destroy`; returns the exit status. */
export async function destroy(file: string, host: string, flags: { yes?: boolean }): Promise<number> {
  const inv = loadInventory(file);
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  return withSession(inv, { log }, async (session) => {
    const where = await locate(inv, host);
    if (where === undefined)
      throw new UserError(
        `${host}: no such machine: not a host of ${file} with vm.hypervisor, and no hypervisor holds a machine Keel made for it`,
      );
    if (where.domain === undefined)
      process.stdout.write(`${host} on ${where.hypervisor}: no domain; removing what is left of it\n`);
    else
      process.stdout.write(
        `- ${host} on ${where.hypervisor}: delete (${where.domain.power})\n    no rollback point: the machine's disk is deleted\n`,
      );
    if (!(await confirmOrYes(flags.yes === true, `destroy ${host}? only 'yes' is accepted: `))) return 1;
    const rec = session.recorder(where.hypervisor);
    try {
      await session.providers.get(where.hypervisor)!.remove(host, rec);
      await rec.step(host, "machine.removed", {}, async () => undefined);
    } catch (e) {
      process.stdout.write(`${host}: FAILED: ${(e as Error).message}\n`);
      return 1;
    }
    const keep = new Set(
      desiredMachines(inv)
        .filter((m) => m.host !== host)
        .map((m) => m.spec.seed),
    );
    pruneLocalSeeds(inv.dir, keep);
    process.stdout.write(`${host}: removed: domain, volumes, snapshots and cidata image\n`);
    return 0;
  });
}

/** Registers `keel destroy`. */
export function register(program: Command): void {
  program
    .command("destroy")
    .description("remove a host's machine now: domain, volumes, snapshots and cidata image")
    .argument("<file>", "inventory file (keel.yaml)")
    .argument("<host>", "the host whose machine goes")
    .option("--yes", "do not ask (for automation)")
    .action(async (file: string, host: string, flags: { yes?: boolean }) => {
      process.exitCode = await reportingProviderErrors(() => destroy(file, host, flags));
    });
}
