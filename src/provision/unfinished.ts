/**
 * What the journal says of earlier runs: for each host, the last run that recorded a step for
 * it must have ended (`run-end`) with every one of that host's steps answered `ok`; otherwise
 * that run stopped half-way (killed, a step failed, the gate failed) and the plan shows the
 * machine as `finish` (or a leftover `delete`). Pure, and light to import: `keel plan` reads it
 * without loading what apply needs.
 */
import type { JournalRecord } from "./journal.js";
import type { Unfinished } from "./plan.js";

/**
 * The journal step apply records before it creates (or finishes creating) a machine: a run that
 * stopped after it was creating that machine.
 */
export const CREATE_STEP = "machine.create";

/**
 * Hosts whose last apply did not finish, by the journal's records (see the module's docstring):
 * host → the hypervisor of its last step and why, in words.
 */
export function unfinishedMachines(records: readonly JournalRecord[]): Map<string, Unfinished> {
  const ended = new Set(records.filter((r) => r.type === "run-end").map((r) => r.run));
  /** Per host: its last run, and that run's intents and results for the host. */
  const last = new Map<
    string,
    { run: string; hypervisor: string; open: Map<number, string>; failed?: string; creating: boolean }
  >();
  for (const r of records) {
    if (r.host === undefined) continue;
    let e = last.get(r.host);
    if (e === undefined || e.run !== r.run) {
      e = { run: r.run, hypervisor: r.hypervisor ?? "", open: new Map(), creating: false };
      last.set(r.host, e);
    }
    if (r.hypervisor !== undefined) e.hypervisor = r.hypervisor;
    if (r.type === "intent") {
      e.open.set(r.seq, r.step ?? "?");
      if (r.step === CREATE_STEP) e.creating = true;
    } else if (r.type === "result") {
      const step = e.open.get(r.seq);
      e.open.delete(r.seq);
      if (r.ok === false)
        e.failed = `${step ?? r.step ?? "a step"} failed: ${r.error ?? "no reason recorded"}`;
    }
  }
  const out = new Map<string, Unfinished>();
  for (const [host, e] of last) {
    const open = [...e.open.values()].filter((s) => s !== CREATE_STEP);
    const creating = e.creating ? { creating: true } : {};
    if (e.failed !== undefined)
      out.set(host, {
        hypervisor: e.hypervisor,
        why: `the last apply did not finish it: ${e.failed}`,
        ...creating,
      });
    else if (open.length > 0)
      out.set(host, {
        hypervisor: e.hypervisor,
        why: `the last apply stopped during ${open.join(", ")}`,
        ...creating,
      });
    else if (!ended.has(e.run))
      out.set(host, {
        hypervisor: e.hypervisor,
        why: "the last apply stopped before recording it done",
        ...creating,
      });
  }
  return out;
}
