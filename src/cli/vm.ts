/**
 * `keel vm start|stop|reboot|status FILE HOST`: day-2 power actions on one machine, through the
 * same provider code and journal as `keel apply` (contract `docs/vm.md`). `stop` asks the guest
 * to shut down (ACPI) and powers it off after `--shutdown-timeout`; `reboot` is a stop and a
 * start, so a changed definition takes effect. `status` prints the machine's power state and
 * managed fields as the hypervisor reports them.
 *
 * Exit status: 0 done; 1 a step failed or the hypervisor could not be read; 2 an invalid
 * inventory or command line, an unknown host, or the lock is held.
 */
import { Argument, type Command, Option } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { PowerOp } from "../provision/provider.js";
import { locate, withSession } from "../provision/session.js";
import { reportingProviderErrors } from "./confirm.js";
import { durationFlag } from "./options.js";

const ACTIONS = ["start", "stop", "reboot", "status"] as const;
type VmAction = (typeof ACTIONS)[number];

/** Runs `keel vm ACTION`; returns the exit status. */
export async function vm(
  action: VmAction,
  file: string,
  host: string,
  flags: { json?: boolean; shutdownTimeout: number },
): Promise<number> {
  const inv = loadInventory(file);
  if (action === "status") {
    const where = await locate(inv, host);
    if (where === undefined) throw new UserError(`${host}: no such machine in ${file} or on its hypervisors`);
    const d = where.domain;
    const status = {
      host,
      hypervisor: where.hypervisor,
      exists: d !== undefined,
      power: d?.power ?? "absent",
      managedByKeel: d?.keel !== undefined,
      ...(d ? { actual: d.actual } : {}),
    };
    if (flags.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else if (!d) process.stdout.write(`${host} on ${where.hypervisor}: no domain\n`);
    else {
      const a = d.actual;
      process.stdout.write(
        `${host} on ${where.hypervisor}: ${d.power}; ${a.vcpus ?? "?"} vcpus, ${a.memoryMiB ?? "?"} MiB, ${a.diskGiB ?? "?"} GiB; autostart ${a.autostart ? "on" : "off"}; mac ${a.mac ?? "?"} on bridge ${a.bridge ?? "?"}\n`,
      );
    }
    return 0;
  }
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  return withSession(
    inv,
    { log, shutdownGraceS: Math.ceil(flags.shutdownTimeout / 1000) },
    async (session) => {
      const where = await locate(inv, host);
      if (where?.domain === undefined)
        throw new UserError(`${host}: no machine to ${action}: it has no domain (keel apply creates it)`);
      try {
        await session.providers
          .get(where.hypervisor)!
          .power(host, action as PowerOp, session.recorder(where.hypervisor));
      } catch (e) {
        process.stdout.write(`${host}: ${action} FAILED: ${(e as Error).message}\n`);
        return 1;
      }
      process.stdout.write(`${host}: ${action} done\n`);
      return 0;
    },
  );
}

/** Registers `keel vm`. */
export function register(program: Command): void {
  program
    .command("vm")
    .description("start, stop, reboot a machine, or show its state")
    .addArgument(new Argument("<action>", "start, stop, reboot or status").choices(ACTIONS))
    .argument("<file>", "inventory file (keel.yaml)")
    .argument("<host>", "the host whose machine it is")
    .option("--json", "status: print as JSON")
    .addOption(
      new Option(
        "--shutdown-timeout <duration>",
        "how long the machine gets to shut down before it is powered off",
      )
        .argParser(durationFlag())
        .default(120_000, "2m"),
    )
    .action(
      async (
        action: VmAction,
        file: string,
        host: string,
        flags: { json?: boolean; shutdownTimeout: number },
      ) => {
        process.exitCode = await reportingProviderErrors(() => vm(action, file, host, flags));
      },
    );
}
