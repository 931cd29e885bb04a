/**
 * What every command that changes machines shares: the apply lock held for the whole command,
 * one journal run, a provider per hypervisor, and finding which hypervisor a host's machine is
 * on. `keel apply`, `destroy`, `rollback` and `vm` all go through it, so each of their steps is
 * recorded the same way and no two of them run at once on one inventory.
 */
import type { Inventory } from "../inventory/model.js";
import { journalRecorder } from "./apply.js";
import { type Journal, openJournal } from "./journal.js";
import { acquireLock } from "./lock.js";
import {
  HypervisorUnreachable,
  type MachineProvider,
  type ObservedDomain,
  type ProviderOptions,
  type StepRecorder,
} from "./provider.js";
import { observeAll, providerFor } from "./providers.js";

/** An open session: the journal, the providers by hypervisor name, and a recorder per hypervisor. */
export interface Session {
  journal: Journal;
  providers: Map<string, MachineProvider>;
  recorder(hypervisor: string): StepRecorder;
  /** A note to show when a dead owner's lock was broken to open the session. */
  brokenLock?: string;
}

/**
 * Runs `fn` holding the apply lock of `inv`'s directory with one journal run open; closes the
 * journal (with `fn`'s error, if it threw) and releases the lock whatever happens.
 * @throws UserError when another apply holds the lock; what `fn` throws.
 */
export async function withSession<T>(
  inv: Inventory,
  opts: ProviderOptions & { log?: (line: string) => void },
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(inv.dir);
  try {
    const journal = openJournal(inv.dir);
    const providerOpts = { ...opts, warn: opts.warn ?? opts.log };
    const providers = new Map(inv.hypervisors.map((h) => [h.name, providerFor(h, inv.site, providerOpts)]));
    const session: Session = {
      journal,
      providers,
      recorder: (hv) => journalRecorder(journal, hv, opts.log),
      ...(lock.broken ? { brokenLock: lock.broken.message } : {}),
    };
    try {
      const value = await fn(session);
      journal.close();
      return value;
    } catch (e) {
      journal.close((e as Error).message);
      throw e;
    }
  } finally {
    await lock.release();
  }
}

/** Where host `host`'s machine is: its hypervisor and, when it exists, its domain. */
export interface Located {
  hypervisor: string;
  domain?: ObservedDomain;
}

/**
 * Finds host `host`'s machine: on the hypervisor its `vm:` names, or (for a host no longer
 * declared) wherever a domain Keel made for it on this site is.
 * @returns undefined when neither the inventory nor any hypervisor knows it.
 */
export async function locate(inv: Inventory, host: string): Promise<Located | undefined> {
  const declared = inv.hosts.find((h) => h.name === host)?.vm?.machine?.hypervisor;
  const { observed, unreachable } = await observeAll(inv);
  for (const o of observed)
    for (const d of o.domains)
      if (
        d.keel?.site === inv.site &&
        d.keel.host === host &&
        (declared === undefined || o.hypervisor === declared)
      )
        return { hypervisor: o.hypervisor, domain: d };
  if (declared !== undefined) {
    const why = unreachable.get(declared);
    if (why !== undefined) throw new HypervisorUnreachable(declared, why);
    return { hypervisor: declared };
  }
  return undefined;
}
