/**
 * What the cross-reference rules of the inventory sections share while they run: the raw
 * inventory (what passed the schema), where its paths are in the file, the names every section
 * may refer to, the problems found so far, and what one section found for the next (the
 * networks' prefixes for addresses, the addresses for allocation).
 */

import type { Problem } from "../errors.js";
import type { Address, Prefix } from "../net/prefix.js";
import type { AddressRequest, AllocationResult, MacRequest } from "./ipam/allocate.js";
import type { Lock } from "./ipam/lock.js";
import type { VmidRequest } from "./ipam/vmid.js";
import type { InterfaceAddress } from "./model.js";
import type { RawInventory, Segment } from "./raw.js";
import { emptyPruned, type Pruned } from "./validate.js";
import { describe, didYouMean } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Who holds an address, for the message about a second holder. */
export interface Owner {
  /** `host "gpu"`, `vantage "admin"`. */
  what: string;
  /** Where it was declared, as a path: made a position only when a duplicate is reported. */
  at: readonly Segment[];
}

/** One `auto`/`auto@RANGE` address of a host, waiting for allocation. */
interface AutoSlot extends AddressRequest {
  /** Path of the `auto` value, where an exhausted pool is reported. */
  segs: Segment[];
  /** The host's address entry, filled in by allocation. */
  slot: InterfaceAddress;
}

/** The state of one check of an inventory: filled by the sections' `check…` functions in order. */
export class CheckContext {
  readonly problems: Problem[] = [];
  /** Valid network prefixes by name. */
  readonly prefixes = new Map<string, Prefix>();
  /** The holder of each static address (canonical text). */
  readonly addressOwners = new Map<string, Owner>();
  /** Every static address accepted so far (hosts and vantages), parsed, for allocation. */
  readonly staticAddresses: Address[] = [];
  /** Valid named ranges by network. */
  readonly rangePrefixes = new Map<string, Map<string, Prefix>>();
  /** Valid `reserved` entries by network (addresses as /32 or /128). */
  readonly reservedPrefixes = new Map<string, Prefix[]>();
  /** `auto` addresses asked for, in inventory order. */
  readonly autos: AutoSlot[] = [];
  /** VMs whose `vm.mac` is valid (static, normalised) or auto, in inventory order. */
  readonly vms: MacRequest[] = [];
  /** Machines on proxmox hypervisors asking for a VMID, in inventory order (`checkMachines`). */
  readonly vmidRequests: VmidRequest[] = [];
  /** Host → VMID, set by `allocateAll`. */
  vmidOf: Map<string, number> = new Map();
  /** Result of `allocateAll`. */
  allocation: AllocationResult | undefined;
  /** The lock file's content as read (undefined without a lock file), set with `allocation`. */
  previousLock: Lock | undefined;
  /** Names that exist (also those the schema pass cut): networks, hosts, vantages, and all `allow` may name. */
  readonly networkNames: string[];
  readonly hostNames: string[];
  readonly vantageNames: string[];
  readonly allowNames: string[];
  /** Declared hypervisors and images (also those the schema pass cut), which `vm:` may name. */
  readonly hypervisorNames: string[];
  readonly imageNames: string[];

  constructor(
    readonly raw: RawInventory,
    readonly loc: Positions,
    readonly pruned: Pruned = emptyPruned(),
  ) {
    // names cut by pruneToSchema still exist: references to them are not reported
    this.networkNames = [...Object.keys(raw.networks ?? {}), ...pruned.names.networks];
    this.hostNames = [...Object.keys(raw.hosts ?? {}), ...pruned.names.hosts];
    const declared = [...Object.keys(raw.vantages ?? {}), ...pruned.names.vantages];
    this.vantageNames = declared.length > 0 ? declared : ["local"];
    this.allowNames = ["any", ...this.networkNames, ...this.hostNames, ...this.vantageNames];
    this.hypervisorNames = [...Object.keys(raw.hypervisors ?? {}), ...pruned.names.hypervisors];
    this.imageNames = [...Object.keys(raw.images ?? {}), ...pruned.names.images];
  }

  /** Records a problem located at `segs` (its value, or with `key` its key). */
  problem(segs: readonly Segment[], message: string, which: "key" | "value" = "value"): void {
    this.problems.push({ pos: this.loc.pos(segs, which), message });
  }

  /** True when the schema pass cut the value at `segs` (or a value holding it): its problem is reported. */
  wasCut(segs: readonly Segment[]): boolean {
    for (let i = 1; i <= segs.length; i++) if (this.pruned.paths.has(segs.slice(0, i).join("/"))) return true;
    return false;
  }

  /** The place at `segs` in words (`service "dns" of host "ns1"`). */
  label(segs: readonly Segment[]): string {
    return describe(this.raw, segs);
  }

  /** Every name of an `allow` list at `segs` must be a network, host, vantage or `any`. */
  checkAllow(segs: Segment[], allow: string[] | undefined): void {
    (allow ?? []).forEach((name, i) => {
      if (this.allowNames.includes(name)) return;
      this.problem(
        [...segs, i],
        `${this.label(segs)} names "${name}", which is not a network, host or vantage${didYouMean(name, this.allowNames)}; expected one of ${this.allowNames.join(", ")}`,
      );
    });
  }
}
