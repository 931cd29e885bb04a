/**
 * The machine plan (pure): the inventory's machines against what the hypervisors hold. One
 * action per machine, the fields that change from → to, changes made outside Keel (drift) apart,
 * and whether a rollback point can be taken first. Contract: `docs/plan.md`.
 *
 * What each managed field's change takes (libvirt keeps a running domain on the definition it
 * started with, so a changed definition is applied by a shutdown and a start):
 *
 * | field | change |
 * | --- | --- |
 * | hypervisor, image, image digest | `replace`: a new root disk |
 * | disk | larger: `update` (the volume grows, online); smaller: `replace` (a disk never shrinks in place) |
 * | vcpus, memory, cloud-init instance | `reboot`: redefined, shut down, started |
 * | mac, bridge | `stop-start`: the NIC is changed while the machine is off |
 * | autostart, cloud-init seed | `update` in place (a new seed is read when the instance changes) |
 *
 * A machine's action is the most disruptive of its fields'. Before a `reboot` or `stop-start`,
 * apply takes a snapshot when the root disk can hold one (qcow2); otherwise the plan says "no
 * rollback point". A `replace` or `delete` removes the disk with its snapshots: the plan says
 * "no rollback point" for them too. `finish` is a machine with no difference that an earlier
 * apply did not finish (the journal says so): apply makes sure of every step again.
 */
import { createHash } from "node:crypto";
import type { ObservedDomain, ObservedHypervisor } from "./provider.js";
import { type DesiredMachine, type MachineSpec, SPEC_FIELDS, type SpecField } from "./spec.js";

/** Plan actions, from the least to the most disruptive (`nothing` first, `delete` last). */
export const ACTIONS = [
  "nothing",
  "finish",
  "update",
  "reboot",
  "stop-start",
  "replace",
  "create",
  "delete",
] as const;
export type Action = (typeof ACTIONS)[number];

/** One field that changes: its value now (on the hypervisor, else Keel's record) and the inventory's. */
export interface FieldChange {
  field: SpecField;
  from: string | number | boolean;
  to: string | number | boolean;
  /** True when the value now was set outside Keel (the hypervisor differs from Keel's record). */
  drift: boolean;
}

/** A field the hypervisor reports differently from what Keel last applied. */
export interface Drift {
  host: string;
  hypervisor: string;
  field: SpecField;
  /** What Keel applied (its record on the domain). */
  recorded: string | number | boolean;
  /** What the hypervisor holds now. */
  actual: string | number | boolean;
}

/** What the plan does to one machine. */
export interface MachinePlan {
  host: string;
  /** The hypervisor the machine is (to be) on; for `delete`, the one it is on now. */
  hypervisor: string;
  action: Action;
  /** For `replace` on another hypervisor: where the machine is now. */
  from?: string;
  changes: FieldChange[];
  /** The full spec (absent for `delete`). */
  spec?: MachineSpec;
  /** `NETWORK=ADDRESS` of the machine's addresses (absent for `delete`). */
  addresses: string[];
  /** The domain's power state now, when it exists. */
  power?: ObservedDomain["power"];
  /** Why, when the action comes from the journal rather than a difference (`finish`, a leftover `delete`). */
  note?: string;
  /**
   * For an action that disrupts an existing machine: `snapshot` (taken before), or `none` (the
   * storage cannot snapshot: "no rollback point"). Absent otherwise.
   */
  rollback?: "snapshot" | "none";
  /** Why there is no rollback point (with `rollback: "none"`). */
  rollbackWhy?: string;
}

/** A machine an earlier apply did not finish (from the journal): where, and why in words. */
export interface Unfinished {
  hypervisor: string;
  why: string;
  /**
   * The run that stopped was creating the machine (its `machine.create` step): what exists of it
   * may still look like its source (a Proxmox VE clone before its config is set), so the plan
   * finishes the creation rather than comparing fields.
   */
  creating?: boolean;
}

/** A machine the plan cannot decide. */
export interface Blocked {
  host: string;
  hypervisor: string;
  /** Why, in words: an unreachable hypervisor, a domain of that name Keel did not make. */
  reason: string;
}

/** The whole plan. */
export interface Plan {
  site: string;
  machines: MachinePlan[];
  drift: Drift[];
  blocked: Blocked[];
  /** Hypervisors that could not be read, with why: machines there are unknown, so is what to delete there. */
  unreachable: { hypervisor: string; reason: string }[];
  /**
   * SHA-256 (hex) of what the hypervisors held when the plan was made: `keel apply` refuses a
   * plan whose hypervisors changed since.
   */
  observed: string;
  /** Number of machines per action. */
  counts: Record<Action, number>;
}

/** Replace and delete remove the root disk, and its snapshots with it. */
const DISK_DELETED = { rollback: "none", rollbackWhy: "the machine's disk is deleted" } as const;

/** The rollback point of a change that shuts `d` down: a snapshot when its root disk can hold one. */
function rollbackOf(d: ObservedDomain): Pick<MachinePlan, "rollback" | "rollbackWhy"> {
  return d.snapshots
    ? { rollback: "snapshot" }
    : { rollback: "none", rollbackWhy: "the root disk cannot hold snapshots (it is not qcow2)" };
}

/** What changing `field` from `from` to `to` takes. */
export function fieldAction(field: SpecField, from: unknown, to: unknown): Action {
  switch (field) {
    case "hypervisor":
    case "image":
    case "imageDigest":
      return "replace";
    case "diskGiB":
      return (to as number) > (from as number) ? "update" : "replace";
    case "vcpus":
    case "memoryMiB":
    case "instance":
      return "reboot";
    case "mac":
    case "bridge":
      return "stop-start";
    case "autostart":
    case "seed":
      return "update";
  }
}

/** The more disruptive of two actions. */
function worse(a: Action, b: Action): Action {
  return ACTIONS.indexOf(a) >= ACTIONS.indexOf(b) ? a : b;
}

/** The fields of `d` that differ from `want`, with Keel's record telling drift apart; and the drift itself. */
function compare(
  host: string,
  hypervisor: string,
  want: MachineSpec,
  d: ObservedDomain,
): { changes: FieldChange[]; drift: Drift[] } {
  const record = d.keel!.spec;
  const changes: FieldChange[] = [];
  const drift: Drift[] = [];
  for (const field of SPEC_FIELDS) {
    const actual = (d.actual as Partial<MachineSpec>)[field];
    const recorded = record[field];
    const drifted = actual !== undefined && recorded !== undefined && actual !== recorded;
    if (drifted) drift.push({ host, hypervisor, field, recorded, actual });
    const now = actual ?? recorded;
    if (now === undefined || now === want[field]) continue;
    changes.push({ field, from: now, to: want[field], drift: drifted });
  }
  return { changes, drift };
}

/**
 * The plan for `desired` (from `desiredMachines`) of site `site` against `observed` (one entry
 * per hypervisor that could be read) and `unreachable` (hypervisor name → why). Machines are in
 * inventory order, then deletions in hypervisor and domain order.
 */
export function planMachines(
  site: string,
  desired: readonly DesiredMachine[],
  observed: readonly ObservedHypervisor[],
  unreachable: ReadonlyMap<string, string> = new Map(),
  unfinished: ReadonlyMap<string, Unfinished> = new Map(),
): Plan {
  const byHypervisor = new Map(
    observed.map((o) => [o.hypervisor, new Map(o.domains.map((d) => [d.name, d]))]),
  );
  // Keel's domains of this site, wherever they are: host → [hypervisor, domain]
  const ours = new Map<string, { hypervisor: string; domain: ObservedDomain }[]>();
  for (const o of observed)
    for (const d of o.domains)
      if (d.keel?.site === site) {
        const list = ours.get(d.keel.host) ?? [];
        list.push({ hypervisor: o.hypervisor, domain: d });
        ours.set(d.keel.host, list);
      }
  const machines: MachinePlan[] = [];
  const drift: Drift[] = [];
  const blocked: Blocked[] = [];
  const accounted = new Set<ObservedDomain>();
  for (const m of desired) {
    const hv = m.spec.hypervisor;
    const base = { host: m.host, hypervisor: hv, spec: m.spec, addresses: m.addresses };
    const elsewhere = (ours.get(m.host) ?? []).filter((x) => x.hypervisor !== hv);
    const why = unreachable.get(hv);
    if (why !== undefined) {
      blocked.push({ host: m.host, hypervisor: hv, reason: `hypervisor "${hv}" is unreachable: ${why}` });
      for (const x of elsewhere) accounted.add(x.domain);
      continue;
    }
    const d = byHypervisor.get(hv)?.get(m.host);
    if (d !== undefined && (d.keel === undefined || d.keel.site !== site || d.keel.host !== m.host)) {
      accounted.add(d);
      const owner =
        d.keel === undefined
          ? "Keel did not make it"
          : `Keel made it for site "${d.keel.site}" host "${d.keel.host}"`;
      blocked.push({
        host: m.host,
        hypervisor: hv,
        reason: `a domain named "${m.host}" already exists on "${hv}" and ${owner}; rename or remove it, or rename the host`,
      });
      continue;
    }
    if (d === undefined) {
      const moved = elsewhere[0];
      for (const x of elsewhere) accounted.add(x.domain);
      if (moved !== undefined)
        machines.push({
          ...base,
          action: "replace",
          from: moved.hypervisor,
          changes: [{ field: "hypervisor", from: moved.hypervisor, to: hv, drift: false }],
          power: moved.domain.power,
          ...DISK_DELETED,
        });
      else {
        const late = unfinished.get(m.host);
        machines.push({
          ...base,
          action: "create",
          changes: [],
          ...(late !== undefined ? { note: late.why } : {}),
        });
      }
      continue;
    }
    accounted.add(d);
    for (const x of elsewhere) accounted.add(x.domain); // a stray copy elsewhere goes with the plan's delete below
    const late = unfinished.get(m.host);
    const compared = compare(m.host, hv, m.spec, d);
    // what an interrupted apply left differs from Keel's record because Keel stopped half-way,
    // not because someone changed it: no drift is claimed for an unfinished machine
    const changes =
      late === undefined ? compared.changes : compared.changes.map((c) => ({ ...c, drift: false }));
    if (late === undefined) drift.push(...compared.drift);
    const action = changes.reduce<Action>((a, c) => worse(a, fieldAction(c.field, c.from, c.to)), "nothing");
    const finishing = late?.creating === true;
    const rollback = finishing
      ? {}
      : action === "replace"
        ? DISK_DELETED
        : action === "reboot" || action === "stop-start"
          ? rollbackOf(d)
          : {};
    machines.push({
      ...base,
      // finishing makes sure of every create step, starts the machine and gates it: it covers
      // an in-place update too (a machine stopped half-way may not be running yet)
      action:
        late !== undefined && (late.creating === true || action === "nothing" || action === "update")
          ? "finish"
          : action,
      changes,
      power: d.power,
      ...rollback,
      ...(late !== undefined ? { note: late.why } : {}),
    });
    for (const x of elsewhere)
      machines.push({
        host: m.host,
        hypervisor: x.hypervisor,
        action: "delete",
        changes: [],
        addresses: [],
        power: x.domain.power,
        ...DISK_DELETED,
      });
  }
  for (const o of observed)
    for (const d of o.domains)
      if (d.keel?.site === site && !accounted.has(d))
        machines.push({
          host: d.keel.host,
          hypervisor: o.hypervisor,
          action: "delete",
          changes: [],
          addresses: [],
          power: d.power,
          ...DISK_DELETED,
        });
  // what an earlier apply left of machines no longer declared (volumes without a domain)
  const planned = new Set(machines.map((m) => m.host));
  const declared = new Set(desired.map((m) => m.host));
  for (const [host, late] of unfinished)
    if (!planned.has(host) && !declared.has(host) && !unreachable.has(late.hypervisor))
      machines.push({
        host,
        hypervisor: late.hypervisor,
        action: "delete",
        changes: [],
        addresses: [],
        note: late.why,
      });
  const counts = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<Action, number>;
  for (const m of machines) counts[m.action]++;
  return {
    site,
    machines,
    drift,
    blocked,
    unreachable: [...unreachable].map(([hypervisor, reason]) => ({ hypervisor, reason })),
    observed: observedDigest(observed),
    counts,
  };
}

/** SHA-256 (hex) of the observed state, independent of the order domains were listed in. */
export function observedDigest(observed: readonly ObservedHypervisor[]): string {
  const canonical = [...observed]
    .sort((a, b) => a.hypervisor.localeCompare(b.hypervisor))
    .map((o) => ({
      hypervisor: o.hypervisor,
      domains: [...o.domains].sort((a, b) => a.name.localeCompare(b.name)),
    }));
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}

/** True when the plan changes nothing: every machine's action is `nothing` (blocked ones aside). */
export function isEmpty(plan: Plan): boolean {
  return plan.machines.every((m) => m.action === "nothing");
}
