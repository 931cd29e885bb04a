/**
 * The hypervisor providers by driver (one line each; the compiler checks that every driver of
 * `HYPERVISOR_DRIVERS` has one), and reading every hypervisor of an inventory at once.
 */
import type { Hypervisor, HypervisorDriver, Inventory } from "../inventory/model.js";
import { LibvirtProvider } from "./libvirt/provider.js";
import {
  HypervisorUnreachable,
  type MachineProvider,
  type ObservedHypervisor,
  type ProviderOptions,
} from "./provider.js";
import { ProxmoxProvider } from "./proxmox/provider.js";

/** A provider's constructor for the hypervisors of driver `D`. */
type Factory<D extends HypervisorDriver> = (
  h: Extract<Hypervisor, { driver: D }>,
  site: string,
  opts: ProviderOptions,
) => MachineProvider;

/** Driver → the provider of a hypervisor of that driver. */
export const PROVIDERS: { [D in HypervisorDriver]: Factory<D> } = {
  libvirt: (h, site, opts) => new LibvirtProvider(h, site, opts),
  proxmox: (h, site, opts) => new ProxmoxProvider(h, site, opts),
};

/** The provider of hypervisor `h`, managing the machines of site `site`. */
export function providerFor(h: Hypervisor, site: string, opts: ProviderOptions = {}): MachineProvider {
  return (PROVIDERS[h.driver] as Factory<typeof h.driver>)(h as never, site, opts);
}

/** What `observeAll` saw: the hypervisors read, and the ones that could not be, with why. */
export interface Observation {
  observed: ObservedHypervisor[];
  unreachable: Map<string, string>;
}

/**
 * Reads every hypervisor of `inv` that a machine names or that may hold Keel's domains (all
 * declared ones), in parallel.
 * @throws what a provider throws other than HypervisorUnreachable (e.g. UserError: virsh missing).
 */
export async function observeAll(inv: Inventory): Promise<Observation> {
  const results = await Promise.allSettled(inv.hypervisors.map((h) => providerFor(h, inv.site).observe()));
  const observed: ObservedHypervisor[] = [];
  const unreachable = new Map<string, string>();
  results.forEach((r, i) => {
    if (r.status === "fulfilled") observed.push(r.value);
    else if (r.reason instanceof HypervisorUnreachable)
      unreachable.set(inv.hypervisors[i]!.name, r.reason.message.replace(/^hypervisor "[^"]*": /, ""));
    else throw r.reason;
  });
  return { observed, unreachable };
}
