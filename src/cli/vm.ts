/**
 * `keel vm start|stop|reboot|snapshot|status FILE HOST`: day-2 actions on one machine, through
 * the same code (`provision/actions.ts`) and journal as `keel apply` and the actions of `keel
 * serve` (contract `docs/vm.md`). `stop` asks the guest to shut down (ACPI) and powers it off
 * after `--shutdown-timeout`; `reboot` is a stop and a start, so a changed definition takes
 * effect; `snapshot` takes a Keel snapshot (the machine shut down for it and started again) and
 * prunes the oldest beyond `vm.keep_snapshots`. `status` prints the machine's power state and
 * managed fields as the hypervisor reports them.
 *
 * Exit status: 0 done; 1 a step failed or the hypervisor could not be read; 2 an invalid
 * inventory or command line, an unknown host, or the lock is held.
 */
import { Argument, type Command, Option } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import { ActionFailed, runMachineAction } from "../provision/actions.js";
import { locate } from "../provision/session.js";
import { reportingProviderErrors } from "./confirm.js";
import { durationFlag } from "./options.js";

const ACTIONS = ["start", "stop", "reboot", "snapshot", "status"] as const;
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
  try {
    const r = await runMachineAction(inv, host, action, {
      log,
      shutdownGraceS: Math.ceil(flags.shutdownTimeout / 1000),
    });
    process.stdout.write(`${host}: ${r.action === "snapshot" ? r.message : `${action} done`}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ActionFailed)) throw e;
    process.stdout.write(
      `${host}: ${action} FAILED: ${e.message.replace(`${host}: ${action} failed: `, "")}\n`,
    );
    return 1;
  }
}

/** Registers `keel vm`. */
export function register(program: Command): void {
  program
    .command("vm")
    .description("start, stop, reboot or snapshot a machine, or show its state")
    .addArgument(new Argument("<action>", "start, stop, reboot, snapshot or status").choices(ACTIONS))
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
