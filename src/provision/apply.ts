/**
 * Carries out a machine plan (`plan.ts`): per machine, the provider's steps, each recorded in the
 * journal before and after it runs, then the verify gate (`gate.ts`). Machines run in parallel
 * up to a limit; one machine's failure does not stop the others. Contract: `docs/apply.md`.
 *
 * Every machine apply handles ends with a `machine.done` (or `machine.removed`) step, so a
 * finished machine is always recorded as such (`unfinished.ts` reads the journal for the ones
 * that are not).
 */
import pLimit from "p-limit";
import { MACHINE_DEFAULTS } from "../inventory/machines.js";
import type { Inventory } from "../inventory/model.js";
import { seedFiles } from "../render/cloud-init.js";
import { localImage, localSeed } from "./artifacts.js";
import { forgetHostKeys, gate } from "./gate.js";
import type { Journal } from "./journal.js";
import type { Action, MachinePlan, Plan } from "./plan.js";
import type {
  MachineInput,
  MachineProvider,
  ObservedDomain,
  ObservedHypervisor,
  StepRecorder,
} from "./provider.js";
import { CREATE_STEP } from "./unfinished.js";

/** How one machine ended. */
export type OutcomeStatus = "done" | "failed" | "gate-failed";

/** One machine's result of an apply. */
export interface MachineOutcome {
  host: string;
  hypervisor: string;
  action: Action;
  status: OutcomeStatus;
  /** What happened, in words: the gate's summary, or the error. */
  message: string;
  /** The snapshot taken before the change, when one was. */
  snapshot?: string;
  /** Wall time of the machine's steps and gate, in ms. */
  durationMs: number;
}

/** Options of {@link applyPlan}. */
export interface ApplyOptions {
  /** Machines worked on at once (≥ 1). */
  parallel: number;
  /** How long a created or restarted machine gets to accept the SSH login, in ms. */
  gateDeadlineMs: number;
  /** Progress lines (`web-1: domain.start`). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** A recorder that writes each step's intent and result to `journal`, and logs the step. */
export function journalRecorder(
  journal: Journal,
  hypervisor: string,
  log?: (line: string) => void,
): StepRecorder {
  return {
    async step<T>(
      host: string,
      step: string,
      detail: Record<string, unknown>,
      run: () => Promise<T>,
    ): Promise<T> {
      const seq = journal.intent(step, host, hypervisor, detail);
      log?.(`${host}: ${step}`);
      try {
        const value = await run();
        journal.result(seq, true);
        return value;
      } catch (e) {
        journal.result(seq, false, (e as Error).message);
        throw e;
      }
    },
  };
}

/** A snapshot name for a change made now: `keel-YYYYMMDDTHHMMSSZ`. */
export function snapshotName(now: Date = new Date()): string {
  return `keel-${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

/**
 * Applies `plan` (made from `inv` against `observed`) through `providers` (by hypervisor name),
 * recording every step in `journal`.
 * @returns one outcome per machine whose action is not `nothing`, in plan order.
 */
export async function applyPlan(
  inv: Inventory,
  inventoryDigest: string,
  plan: Plan,
  observed: readonly ObservedHypervisor[],
  providers: ReadonlyMap<string, MachineProvider>,
  journal: Journal,
  opts: ApplyOptions,
): Promise<MachineOutcome[]> {
  const limit = pLimit(Math.max(1, opts.parallel));
  const images = new Map<string, Promise<string>>();
  const hostsByName = new Map(inv.hosts.map((h) => [h.name, h]));
  const domainOf = (hypervisor: string, host: string): ObservedDomain | undefined =>
    observed.find((o) => o.hypervisor === hypervisor)?.domains.find((d) => d.name === host);

  /** What the provider needs for machine `m`, its image verified and its seed image built. */
  const inputOf = async (m: MachinePlan): Promise<MachineInput> => {
    const host = hostsByName.get(m.host)!;
    const spec = m.spec!;
    const image = inv.images.find((i) => i.name === spec.image)!;
    const needsImage = providers.get(m.hypervisor)?.needsImageFile !== false;
    const imageFile = needsImage ? await localImage(image, inv.dir, images) : "";
    const seedIso = await localSeed(seedFiles(inv, host, hostsByName), spec.seed, inv.dir);
    const vmid = host.vm?.machine?.vmid;
    return {
      site: inv.site,
      host: m.host,
      inventory: inventoryDigest,
      spec,
      image,
      imageFile,
      seedIso,
      ...(vmid !== undefined ? { vmid } : {}),
    };
  };

  const one = async (m: MachinePlan): Promise<MachineOutcome> => {
    const started = Date.now();
    const provider = providers.get(m.hypervisor)!;
    const rec = journalRecorder(journal, m.hypervisor, opts.log);
    const outcome = (status: OutcomeStatus, message: string, snapshot?: string): MachineOutcome => ({
      host: m.host,
      hypervisor: m.hypervisor,
      action: m.action,
      status,
      message,
      ...(snapshot !== undefined ? { snapshot } : {}),
      durationMs: Date.now() - started,
    });
    let snapshot: string | undefined;
    try {
      if (m.action === "delete") {
        await provider.remove(m.host, rec);
        await rec.step(m.host, "machine.removed", {}, async () => undefined);
        return outcome("done", "removed: domain, volumes and snapshots");
      }
      const input = await inputOf(m);
      const addresses = m.addresses.map((a) => a.slice(a.indexOf("=") + 1));
      if (m.action === "replace") {
        const from = m.from ?? m.hypervisor;
        await providers.get(from)!.remove(m.host, journalRecorder(journal, from, opts.log));
      }
      if (m.action === "create" || m.action === "replace" || m.action === "finish") {
        if (m.action !== "finish") await forgetHostKeys(inv, addresses);
        await rec.step(m.host, CREATE_STEP, {}, async () => undefined);
        await provider.create(input, rec);
      } else {
        const current = domainOf(m.hypervisor, m.host)!;
        if (m.rollback === "snapshot") snapshot = snapshotName();
        await provider.change(input, current, rec, snapshot);
      }
      const verdict = await rec.step(
        m.host,
        "machine.gate",
        { deadlineS: Math.round(opts.gateDeadlineMs / 1000) },
        async () => {
          const g = await gate(inv, m.host, opts.gateDeadlineMs, opts.signal);
          if (!g.ok) throw new GateFailed(g.message);
          return g;
        },
      );
      await rec.step(
        m.host,
        "machine.done",
        snapshot !== undefined ? { snapshot } : {},
        async () => undefined,
      );
      if (snapshot !== undefined) {
        const keep = hostsByName.get(m.host)?.vm?.machine?.keepSnapshots ?? MACHINE_DEFAULTS.keepSnapshots;
        await pruneSnapshots(provider, m.host, keep, rec);
      }
      return outcome("done", `gate: ${verdict.message}`, snapshot);
    } catch (e) {
      if (e instanceof GateFailed)
        return outcome(
          "gate-failed",
          `gate: ${e.message}; the machine is left as it is for inspection`,
          snapshot,
        );
      return outcome("failed", (e as Error).message, snapshot);
    }
  };

  const work = plan.machines.filter((m) => m.action !== "nothing");
  return Promise.all(work.map((m) => limit(() => one(m))));
}

/**
 * Deletes Keel's snapshots of `host` (named `keel-…`) beyond the newest `keep`, oldest first.
 * Snapshots taken by hand are never touched.
 */
export async function pruneSnapshots(
  provider: MachineProvider,
  host: string,
  keep: number,
  rec: StepRecorder,
): Promise<string[]> {
  const ours = (await provider.snapshots(host)).filter((s) => s.name.startsWith("keel-"));
  const gone = ours.slice(0, Math.max(0, ours.length - keep)).map((s) => s.name);
  for (const name of gone) await provider.deleteSnapshot(host, name, rec);
  return gone;
}

/** The gate did not pass: the machine stays, reported. */
class GateFailed extends Error {
  override name = "GateFailed";
}
