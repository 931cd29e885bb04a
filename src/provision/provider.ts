/**
 * The interface every hypervisor provider implements (`libvirt/` now; Proxmox VE next), and the
 * shapes of what it observes. A provider reads the real state of one hypervisor; the planner
 * (`plan.ts`) is pure and compares that state with the inventory.
 */
import type { Hypervisor } from "../inventory/model.js";
import type { MachineSpec } from "./spec.js";

/** Keel's own record on a domain it defined: which site and host, from which inventory, with which spec. */
export interface KeelRecord {
  site: string;
  host: string;
  /** SHA-256 (hex) of the inventory text the domain was last defined from. */
  inventory: string;
  /** The spec Keel last applied. */
  spec: MachineSpec;
}

/** Power state of a domain, in libvirt's words (virDomainState): `running`, `shut off`, `paused`, … */
export type PowerState = "running" | "shut off" | "paused" | "other";

/**
 * One domain as the hypervisor reports it. `actual` holds the managed fields the hypervisor
 * itself knows (from the persistent definition and the volumes), never Keel's record: vCPUs,
 * memory (MiB), MAC, bridge, autostart, root disk size (GiB, rounded up). A field is absent when
 * the domain does not have it in the form Keel makes (e.g. no NIC on a bridge).
 */
export interface ObservedDomain {
  /** Domain name; Keel names its domains after their hosts. */
  name: string;
  uuid: string;
  power: PowerState;
  /** Present when Keel defined the domain (for any site). */
  keel?: KeelRecord;
  actual: Partial<Pick<MachineSpec, "vcpus" | "memoryMiB" | "mac" | "bridge" | "autostart" | "diskGiB">>;
  /** True when the root disk can hold snapshots (a qcow2 volume); false: no rollback point. */
  snapshots: boolean;
}

/** Everything a provider saw on one hypervisor. */
export interface ObservedHypervisor {
  hypervisor: string;
  domains: ObservedDomain[];
}

/**
 * A hypervisor could not be read (connection refused, authentication failed, the daemon is
 * down): the plan cannot say anything about its machines. `keel plan` exits 1 and names it.
 */
export class HypervisorUnreachable extends Error {
  override name = "HypervisorUnreachable";
  constructor(
    readonly hypervisor: string,
    why: string,
  ) {
    super(`hypervisor "${hypervisor}": ${why}`);
  }
}

/** A provider bound to one hypervisor of the inventory. */
export interface MachineProvider {
  readonly hypervisor: Hypervisor;
  /**
   * Reads every domain of the hypervisor with its power state, Keel record and managed fields.
   * @throws HypervisorUnreachable when the hypervisor cannot be read.
   */
  observe(): Promise<ObservedHypervisor>;
}
