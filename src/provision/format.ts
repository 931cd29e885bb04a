/**
 * The text form of a machine plan (`keel plan`; contract `docs/plan.md`): one line per machine,
 * its changed fields from → to indented under it, drift apart, blocked machines, a summary.
 */
import type { Action, FieldChange, MachinePlan, Plan } from "./plan.js";
import type { SpecField } from "./spec.js";

/** The sign and the words of each action. */
const SHOWN: Record<Action, [string, string]> = {
  nothing: [" ", "no changes"],
  finish: ["~", "finish what an earlier apply started"],
  update: ["~", "update in place"],
  reboot: ["~", "update with reboot"],
  "stop-start": ["~", "update with stop-start"],
  replace: ["±", "replace"],
  create: ["+", "create"],
  delete: ["-", "delete"],
};

/** A field's name as shown. */
const FIELD_NAMES: Record<SpecField, string> = {
  hypervisor: "hypervisor",
  image: "image",
  imageDigest: "image digest",
  vcpus: "vcpus",
  memoryMiB: "memory",
  diskGiB: "disk",
  autostart: "autostart",
  mac: "mac",
  bridge: "bridge",
  instance: "cloud-init instance",
  seed: "cloud-init seed",
};

/** A field's value as shown: units for memory and disk, digests shortened. */
export function showValue(field: SpecField, v: string | number | boolean): string {
  if (field === "memoryMiB") return `${v} MiB`;
  if (field === "diskGiB") return `${v} GiB`;
  if (field === "seed") return String(v).slice(0, 12);
  if (field === "imageDigest") return String(v).replace(/^(\w+:[0-9a-f]{12})[0-9a-f]+$/, "$1…");
  return String(v);
}

function change(c: FieldChange): string {
  const name = FIELD_NAMES[c.field];
  return `${name}: ${showValue(c.field, c.from)} -> ${showValue(c.field, c.to)}${c.drift ? " (changed outside Keel)" : ""}`;
}

/** The line of one machine and its detail lines. */
export function formatMachine(m: MachinePlan): string[] {
  const [sign, words] = SHOWN[m.action];
  const where = m.from !== undefined ? `on ${m.from} -> ${m.hypervisor}` : `on ${m.hypervisor}`;
  const head = `${sign} ${m.host} ${where}: ${words}`;
  const out = [head];
  if (m.action === "create" && m.spec) {
    const s = m.spec;
    out.push(
      `    ${s.vcpus} vcpus, ${s.memoryMiB} MiB, ${s.diskGiB} GiB from image ${s.image}; mac ${s.mac} on bridge ${s.bridge}; ${m.addresses.join(", ")}`,
    );
  }
  for (const c of m.changes) out.push(`    ${change(c)}`);
  if (m.action !== "create" && m.action !== "nothing" && m.addresses.length > 0)
    out.push(`    mac ${m.spec!.mac}; ${m.addresses.join(", ")}`);
  if (m.rollback === "snapshot") out.push("    a snapshot is taken first");
  else if (m.rollback === "none") out.push(`    no rollback point: ${m.rollbackWhy ?? "none can be taken"}`);
  if (m.note !== undefined) out.push(`    ${m.note}`);
  return out;
}

const plural = (n: number, w: string) => `${n} ${w}`;

/** The whole plan as text, ending with a newline. */
export function formatPlan(plan: Plan): string {
  const out: string[] = [];
  for (const m of plan.machines) out.push(...formatMachine(m));
  if (plan.machines.length === 0 && plan.blocked.length === 0 && plan.unreachable.length === 0)
    out.push("no machines are declared (no host has vm.hypervisor)");
  if (plan.drift.length > 0) {
    out.push("", "changed outside Keel (drift): the hypervisor differs from what Keel applied");
    for (const d of plan.drift)
      out.push(
        `  ${d.host} on ${d.hypervisor}: ${FIELD_NAMES[d.field]} is ${showValue(d.field, d.actual)}, Keel applied ${showValue(d.field, d.recorded)}`,
      );
  }
  if (plan.unreachable.length > 0) {
    out.push("", "unreachable hypervisors (their machines are unknown):");
    for (const u of plan.unreachable) out.push(`  ${u.hypervisor}: ${u.reason}`);
  }
  if (plan.blocked.length > 0) {
    out.push("", "cannot plan:");
    for (const b of plan.blocked) out.push(`  ${b.host} on ${b.hypervisor}: ${b.reason}`);
  }
  const c = plan.counts;
  out.push(
    "",
    `plan: ${c.finish ? `${plural(c.finish, "to finish")}, ` : ""}${plural(c.create, "to create")}, ${plural(c.update, "to update in place")}, ${plural(c.reboot, "to reboot")}, ${plural(c["stop-start"], "to stop-start")}, ${plural(c.replace, "to replace")}, ${plural(c.delete, "to delete")}, ${plural(c.nothing, "unchanged")}${plan.blocked.length ? `; ${plan.blocked.length} cannot be planned` : ""}`,
  );
  return `${out.join("\n")}\n`;
}
