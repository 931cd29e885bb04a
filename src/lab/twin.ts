/**
 * The handle of a lab twin that is up (`Lab`: inventory, plan, state directory, state record)
 * and the lookups every part of the lab shares: where a host's files live, which namespaces a
 * host runs in, persisting the state record, stopping at an abort.
 */
import { join } from "node:path";
import { UserError } from "../errors.js";
import type { Inventory } from "../inventory/model.js";
import type { LabPlan } from "./plan.js";
import { LabError, type Place } from "./run.js";
import { type LabState, writeState } from "./state.js";

/** A lab that is up: the inventory it twins, its plan, its state directory and state record. */
export interface Lab {
  inventory: Inventory;
  plan: LabPlan;
  /** `<inventory dir>/.keel/lab`. */
  dir: string;
  state: LabState;
}

/** Throws a LabError when `signal` was aborted. */
export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError("interrupted; the partial lab was removed");
}

/** Persists the lab's state file. */
export function saveLab(lab: Lab): void {
  writeState(lab.dir, lab.state);
}

/** The place (network + mount namespace) of a host, or null for the root namespace. */
export function hostPlace(lab: Lab, host: string | null): Place | null {
  if (host === null) return null;
  const h = lab.state.hosts.find((x) => x.host === host);
  if (!h) throw new UserError(`the lab has no host "${host}"`);
  return { ns: h.ns, mnt: h.mnt, uts: h.uts };
}

/** Per-host file directory inside the lab directory. */
export function hostDir(lab: Lab, host: string | null): string {
  return join(lab.dir, "hosts", host ?? "_root");
}
