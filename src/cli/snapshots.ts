/**
 * `keel snapshots FILE [HOST] [--json]`: the snapshots of each machine (or of HOST's), oldest
 * first, with when they were taken and why (contract `docs/snapshots.md`). Keel names its own
 * `keel-YYYYMMDDTHHMMSSZ` and describes them `keel: before changing HOST`.
 *
 * Exit status: 0; 1 a hypervisor could not be read; 2 an invalid inventory, command line or host.
 */
import type { Command } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Snapshot } from "../provision/provider.js";
import { providerFor } from "../provision/providers.js";
import { desiredMachines } from "../provision/spec.js";
import { reportingProviderErrors } from "./confirm.js";

/** Runs `keel snapshots`; returns the exit status. */
export async function snapshots(
  file: string,
  host: string | undefined,
  flags: { json?: boolean },
): Promise<number> {
  const inv = loadInventory(file);
  const machines = desiredMachines(inv).filter((m) => host === undefined || m.host === host);
  if (host !== undefined && machines.length === 0)
    throw new UserError(
      `${host}: not a host of ${file} with vm.hypervisor; expected one of: ${
        desiredMachines(inv)
          .map((m) => m.host)
          .join(", ") || "(none)"
      }`,
    );
  const byHost: Record<string, Snapshot[]> = {};
  let status = 0;
  for (const m of machines) {
    const h = inv.hypervisors.find((x) => x.name === m.spec.hypervisor)!;
    try {
      byHost[m.host] = await providerFor(h, inv.site).snapshots(m.host);
    } catch (e) {
      process.stderr.write(`keel: ${m.host} on ${h.name}: ${(e as Error).message}\n`);
      status = 1;
    }
  }
  if (flags.json)
    process.stdout.write(`${JSON.stringify({ inventory: file, snapshots: byHost }, null, 2)}\n`);
  else
    for (const [h, list] of Object.entries(byHost)) {
      if (list.length === 0) process.stdout.write(`${h}: no snapshots\n`);
      for (const s of list) process.stdout.write(`${h}  ${s.name}  ${s.createdAt}  ${s.description}\n`);
    }
  return status;
}

/** Registers `keel snapshots`. */
export function register(program: Command): void {
  program
    .command("snapshots")
    .description("list the machines' snapshots (Keel's rollback points)")
    .argument("<file>", "inventory file (keel.yaml)")
    .argument("[host]", "only this host's machine")
    .option("--json", "print as JSON")
    .action(async (file: string, host: string | undefined, flags: { json?: boolean }) => {
      process.exitCode = await reportingProviderErrors(() => snapshots(file, host, flags));
    });
}
