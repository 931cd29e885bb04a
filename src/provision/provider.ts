/**
 * The interface every hypervisor provider implements (`libvirt/` now; Proxmox VE next), and the
 * shapes of what it observes. A provider reads the real state of one hypervisor; the planner
 * (`plan.ts`) is pure and compares that state with the inventory.
 */
import type { Hypervisor, Image } from "../inventory/model.js";
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
export const POWER_STATES = ["running", "shut off", "paused", "other"] as const;
/** One of {@link POWER_STATES}. */
export type PowerState = (typeof POWER_STATES)[number];

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
  /** Proxmox VE: the machine's VMID and the node it runs on. */
  vmid?: number;
  node?: string;
  /**
   * The hypervisor's revision of the configuration when it was read (Proxmox VE: the config's
   * SHA-1 `digest`): a change sends it back, so a change made elsewhere since is refused.
   */
  revision?: string;
}

/** Everything a provider saw on one hypervisor. */
export interface ObservedHypervisor {
  hypervisor: string;
  domains: ObservedDomain[];
}

/**
 * A hypervisor refused or failed an operation (a virsh command's error, a connection that
 * failed): not a mistake in the inventory or a bug in Keel. Commands report its message and
 * exit 1, without a stack trace.
 */
export class ProviderError extends Error {
  override name = "ProviderError";
}

/**
 * A hypervisor could not be read (connection refused, authentication failed, the daemon is
 * down): the plan cannot say anything about its machines. `keel plan` exits 1 and names it.
 */
export class HypervisorUnreachable extends ProviderError {
  override name = "HypervisorUnreachable";
  constructor(
    readonly hypervisor: string,
    why: string,
  ) {
    super(`hypervisor "${hypervisor}": ${why}`);
  }
}

/**
 * Runs one step against a hypervisor with its intent recorded before and its result after
 * (apply's journal, `journal.ts`). `detail` holds names, paths and digests only, never secrets.
 */
export interface StepRecorder {
  step<T>(host: string, step: string, detail: Record<string, unknown>, run: () => Promise<T>): Promise<T>;
}

/** What a provider needs to create or change one machine. */
export interface MachineInput {
  site: string;
  host: string;
  /** SHA-256 (hex) of the inventory text, recorded on the domain. */
  inventory: string;
  spec: MachineSpec;
  image: Image;
  /**
   * The image on the machine running Keel, its digest already verified; empty for a provider
   * whose `needsImageFile` is false (it clones a template on the hypervisor).
   */
  imageFile: string;
  /** Proxmox VE: the machine's VMID (declared or from keel.lock). */
  vmid?: number;
  /** The machine's `cidata` image on the machine running Keel (content-addressed in `.keel/cidata/`). */
  seedIso: string;
}

/** A snapshot of a machine, as the hypervisor lists it. */
export interface Snapshot {
  name: string;
  /** Creation time, ISO 8601. */
  createdAt: string;
  /** The description Keel wrote (`keel: before reboot of web-1 (run …)`), or the hypervisor's. */
  description: string;
}

/** Settings of a provider that are not in the inventory (command-line flags). */
export interface ProviderOptions {
  /** Seconds a machine gets to shut down after an ACPI request before it is powered off (default 120). */
  shutdownGraceS?: number;
  /**
   * Told what went right with a remark: a task that ended with warnings (with its log), a lock
   * timeout retried. Commands print it; absent, it is dropped.
   */
  warn?: (line: string) => void;
}

/** Power operations on one machine. */
export type PowerOp = "start" | "stop" | "reboot";

/**
 * The day-2 actions on a machine (`actions.ts`), in the order a dashboard shows them: the power
 * operations, a snapshot, a rollback to one, and a move to another node of the cluster (only for
 * providers with `migrate`: Proxmox VE).
 */
export const MACHINE_ACTIONS = ["start", "stop", "reboot", "snapshot", "rollback", "migrate"] as const;
/** One of {@link MACHINE_ACTIONS}. */
export type MachineAction = (typeof MACHINE_ACTIONS)[number];

/**
 * A provider bound to one hypervisor of the inventory. Every operation that changes the
 * hypervisor goes through a {@link StepRecorder}, one step per call, and is idempotent: run
 * again after a crash, it adopts what the earlier run made and finishes the rest.
 */
export interface MachineProvider {
  readonly hypervisor: Hypervisor;
  /** False when machines are made on the hypervisor without the image file (a Proxmox VE template). */
  readonly needsImageFile?: boolean;
  /**
   * Reads every domain of the hypervisor with its power state, Keel record and managed fields.
   * @throws HypervisorUnreachable when the hypervisor cannot be read.
   */
  observe(): Promise<ObservedHypervisor>;
  /** Creates (or finishes creating) and starts a machine: its image, volumes, seed, domain. */
  create(m: MachineInput, rec: StepRecorder): Promise<void>;
  /**
   * Brings an existing machine to `m.spec`: what changes decides whether it is shut down first
   * (see `plan.ts`). `snapshot`, when given, is taken while the machine is off, before the change.
   */
  change(m: MachineInput, current: ObservedDomain, rec: StepRecorder, snapshot?: string): Promise<void>;
  /** Stops and removes machine `host` with its volumes and snapshots; nothing left is not an error. */
  remove(host: string, rec: StepRecorder): Promise<void>;
  /** The machine's snapshots, oldest first. */
  snapshots(host: string): Promise<Snapshot[]>;
  /** Takes a snapshot of the root disk (the machine is shut down for it and started again if it ran). */
  snapshot(host: string, name: string, description: string, rec: StepRecorder): Promise<void>;
  /** Reverts the machine to snapshot `name` and starts it. */
  revert(host: string, name: string, rec: StepRecorder): Promise<void>;
  deleteSnapshot(host: string, name: string, rec: StepRecorder): Promise<void>;
  power(host: string, op: PowerOp, rec: StepRecorder): Promise<void>;
  /**
   * Moves the machine to node `target` of the same cluster (online when it runs), for providers
   * of clusters (Proxmox VE); absent elsewhere.
   */
  migrate?(
    host: string,
    target: string,
    rec: StepRecorder,
    onProgress?: (s: { status: string }) => void,
  ): Promise<void>;
}
