/**
 * Day-2 actions on one machine, shared by `keel vm`, `keel rollback` and `keel serve` so the
 * command line and the single pane do exactly the same thing: start, stop (ACPI, then power off
 * after the shutdown grace), reboot (a stop and a start), snapshot (taken with the machine shut
 * down, as `keel apply` takes its rollback points, then pruned to the host's `keep_snapshots`)
 * and rollback (revert to a snapshot, start, and run the host's verify gate again), and on a
 * Proxmox VE cluster migrate (to another node, online when it runs). Each runs in
 * a session (`session.ts`): under the apply lock, every hypervisor call journalled.
 */
import { UserError } from "../errors.js";
import { MACHINE_DEFAULTS } from "../inventory/machines.js";
import type { Inventory } from "../inventory/model.js";
import { pruneSnapshots, snapshotName } from "./apply.js";
import { gate } from "./gate.js";
import {
  HypervisorUnreachable,
  type MachineAction,
  type ObservedDomain,
  type PowerState,
  type ProviderOptions,
  type Snapshot,
} from "./provider.js";
import { providerFor } from "./providers.js";
import { locate, type Session, withSession } from "./session.js";

/**
 * A machine as its hypervisor reports it now. `power` is `absent` when the hypervisor holds no
 * domain for the host, `unknown` (with `error`) when the hypervisor could not be read: Keel then
 * says nothing about the machine.
 */
export interface MachineStatus {
  host: string;
  hypervisor: string;
  power: PowerState | "absent" | "unknown";
  /** True when the domain carries Keel's record for this site and host. */
  managedByKeel: boolean;
  /** The managed fields as the hypervisor holds them (vCPUs, memory MiB, disk GiB, MAC, …). */
  actual?: ObservedDomain["actual"];
  /** The machine's snapshots, oldest first (empty when it has no domain). */
  snapshots: Snapshot[];
  /** Why the hypervisor could not be read (`power` is then `unknown`). */
  error?: string;
  /** Proxmox VE: the machine's VMID and the node it runs on. */
  vmid?: number;
  node?: string;
}

/**
 * The status of host `host`'s machine, read from the one hypervisor its `vm.hypervisor` names.
 * @returns undefined when `host` is not a host of `inv` with `vm.hypervisor`.
 * @throws what the provider throws other than HypervisorUnreachable (e.g. UserError: virsh missing).
 */
export async function machineStatus(inv: Inventory, host: string): Promise<MachineStatus | undefined> {
  const name = inv.hosts.find((h) => h.name === host)?.vm?.machine?.hypervisor;
  const hv = inv.hypervisors.find((h) => h.name === name);
  if (hv === undefined) return undefined;
  const provider = providerFor(hv, inv.site);
  try {
    const d = (await provider.observe()).domains.find(
      (x) => x.keel?.site === inv.site && x.keel.host === host,
    );
    if (d === undefined)
      return { host, hypervisor: hv.name, power: "absent", managedByKeel: false, snapshots: [] };
    return {
      host,
      hypervisor: hv.name,
      power: d.power,
      managedByKeel: true,
      actual: d.actual,
      snapshots: await provider.snapshots(d.name),
      ...(d.vmid !== undefined ? { vmid: d.vmid } : {}),
      ...(d.node !== undefined ? { node: d.node } : {}),
    };
  } catch (e) {
    if (!(e instanceof HypervisorUnreachable)) throw e;
    return {
      host,
      hypervisor: hv.name,
      power: "unknown",
      managedByKeel: false,
      snapshots: [],
      error: e.message,
    };
  }
}

/** Settings of one action. */
export interface ActionOptions extends ProviderOptions {
  /** rollback: the snapshot to revert to (default the newest). */
  to?: string;
  /** rollback: how long the machine gets to pass its gate, in ms (default 300,000). */
  gateDeadlineMs?: number;
  /** Each step as it is recorded (the CLI prints it on stderr). */
  log?: (line: string) => void;
  /** Called once the session is open (the apply lock is held), before any hypervisor call. */
  onStarted?: () => void;
  /** Who asked, written into a snapshot's description (`keel: taken by alice`). */
  who?: string;
  /** migrate: the node to move the machine to. */
  target?: string;
  /** migrate: told the migration task's status after each poll (Proxmox VE task status). */
  onProgress?: (s: { status: string; exitstatus?: string; upid?: string }) => void;
}

/** What an action did. */
export interface ActionResult {
  host: string;
  hypervisor: string;
  action: MachineAction;
  /** snapshot: the snapshot taken; rollback: the one reverted to. */
  snapshot?: string;
  /** migrate: the node the machine runs on now. */
  node?: string;
  /** One line: what was done (rollback: with the gate's verdict). */
  message: string;
}

/**
 * A step of an action failed on the hypervisor, or a rollback's gate did not pass: the
 * machine is left as that step left it (for inspection). The message says which.
 */
export class ActionFailed extends Error {
  override name = "ActionFailed";
}

/**
 * Runs `action` on host `host`'s machine in a session of its own.
 * @throws UserError when `host` has no machine to act on (not declared with `vm.hypervisor` and
 *   no domain of Keel's for it on any hypervisor; no domain yet), a rollback has no such
 *   snapshot, a migrate has no target or its machine is not on a cluster (a provider without
 *   `migrate`), or the session cannot open (LockHeld: another apply runs); HypervisorUnreachable
 *   when the machine's hypervisor cannot be read; ActionFailed when a step or the gate failed.
 */
export async function runMachineAction(
  inv: Inventory,
  host: string,
  action: MachineAction,
  opts: ActionOptions = {},
): Promise<ActionResult> {
  return withSession(inv, { ...opts }, async (session) => {
    opts.onStarted?.();
    const where = await locate(inv, host);
    if (where?.domain === undefined)
      throw new UserError(
        where === undefined
          ? `${host}: no such machine in ${inv.file} or on its hypervisors`
          : `${host}: no machine to ${action}: it has no domain (keel apply creates it)`,
      );
    const hv = where.hypervisor;
    const provider = session.providers.get(hv)!;
    const rec = session.recorder(hv);
    const done = (message: string, snapshot?: string): ActionResult => ({
      host,
      hypervisor: hv,
      action,
      message,
      ...(snapshot !== undefined ? { snapshot } : {}),
    });
    if (action === "rollback") {
      const snap = await chooseSnapshot(session, hv, host, opts.to);
      return done(await revertAndGate(session, inv, hv, host, snap.name, opts.gateDeadlineMs), snap.name);
    }
    if (action === "migrate" && (provider.migrate === undefined || opts.target === undefined))
      throw new UserError(
        provider.migrate === undefined
          ? `${host}: migrate is for machines on a Proxmox VE cluster; hypervisor "${hv}" is not one`
          : `${host}: migrate needs a target node`,
      );
    try {
      if (action === "migrate") {
        const target = opts.target!;
        const from = where.domain.node;
        await provider.migrate!(host, target, rec, opts.onProgress);
        return {
          ...done(
            from === target ? `already on node ${target}` : `migrated from node ${from ?? "?"} to ${target}`,
          ),
          node: target,
        };
      }
      if (action === "snapshot") {
        if (!where.domain.snapshots)
          throw new UserError(`${host}: its root disk cannot hold snapshots (not qcow2): no rollback point`);
        const name = snapshotName();
        const by = opts.who !== undefined ? ` by ${opts.who}` : "";
        await provider.snapshot(host, name, `keel: taken${by}`, rec);
        const keep =
          inv.hosts.find((h) => h.name === host)?.vm?.machine?.keepSnapshots ??
          MACHINE_DEFAULTS.keepSnapshots;
        const pruned = await pruneSnapshots(provider, host, keep, rec);
        const also = pruned.length > 0 ? `; pruned ${pruned.join(", ")} (keep ${keep})` : "";
        return done(`snapshot ${name} taken${also}`, name);
      }
      await provider.power(host, action as "start" | "stop" | "reboot", rec);
      return done(`${action} done`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new ActionFailed(`${host}: ${action} failed: ${(e as Error).message}`);
    }
  });
}

/**
 * The snapshot of `host` named `to`, or its newest.
 * @throws UserError when there is none, or none of that name (listing those there are).
 */
export async function chooseSnapshot(
  session: Session,
  hypervisor: string,
  host: string,
  to: string | undefined,
): Promise<Snapshot> {
  const list = await session.providers.get(hypervisor)!.snapshots(host);
  const snap = to === undefined ? list.at(-1) : list.find((s) => s.name === to);
  if (snap === undefined)
    throw new UserError(
      to === undefined
        ? `${host}: no snapshot to roll back to`
        : `${host} has no snapshot ${to}; expected one of: ${list.map((s) => s.name).join(", ") || "(none)"}`,
    );
  return snap;
}

/**
 * Reverts `host` to snapshot `name` (the provider starts it again), runs its verify gate and
 * records `machine.done` in the journal.
 * @returns the gate's verdict, e.g. `reverted to keel-…; gate: 12 checks passed`.
 * @throws ActionFailed when the revert or the gate failed (the machine is left as it is).
 */
export async function revertAndGate(
  session: Session,
  inv: Inventory,
  hypervisor: string,
  host: string,
  name: string,
  gateDeadlineMs = 300_000,
): Promise<string> {
  const rec = session.recorder(hypervisor);
  try {
    await session.providers.get(hypervisor)!.revert(host, name, rec);
    const verdict = await rec.step(host, "machine.gate", {}, async () => {
      const g = await gate(inv, host, gateDeadlineMs);
      if (!g.ok) throw new Error(g.message);
      return g;
    });
    await rec.step(host, "machine.done", { snapshot: name }, async () => undefined);
    return `reverted to ${name}; gate: ${verdict.message}`;
  } catch (e) {
    throw new ActionFailed(`${host}: rollback to ${name} failed: ${(e as Error).message}`);
  }
}
