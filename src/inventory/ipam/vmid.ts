/**
 * VMIDs of machines on Proxmox VE hypervisors: declared (`vm.vmid`) or allocated by Keel from the
 * hypervisor's `vmid_range` and recorded in `keel.lock` (`vmids:`), so a machine keeps its VMID
 * across runs and the apply never asks the cluster for "the next free id" (`/cluster/nextid`
 * reserves nothing: two applies could both be handed the same one).
 *
 * A VMID is unique in a Proxmox VE cluster (one hypervisor of the inventory), so uniqueness is
 * per hypervisor. Whether the cluster already holds a machine with that VMID that Keel did not
 * make is seen by `keel plan`, which refuses to use it.
 */

/** A machine on a proxmox hypervisor asking for a VMID, in inventory order. */
export interface VmidRequest {
  host: string;
  hypervisor: string;
  /** `vm.vmid` when declared. */
  declared?: number;
}

/** What `allocateVmids` decided. */
export interface VmidAllocation {
  /** Host → VMID, for every request that got one. */
  vmids: Map<string, number>;
  /** Host → VMID of the allocated ones only (the lock's `vmids:`). */
  lock: Record<string, number>;
  /** Hosts whose hypervisor's range had no free VMID left, with the range. */
  exhausted: { host: string; hypervisor: string }[];
  /** Declared VMIDs used twice on one hypervisor: the second host and the first. */
  duplicates: { host: string; first: string; vmid: number }[];
}

/**
 * Gives every request a VMID: the declared one; else the one in `locked` (keel.lock) when it is
 * in the hypervisor's range and no other machine of that hypervisor declares or holds it; else
 * the lowest free VMID of the range. Requests are served in inventory order, locked ones first, so
 * adding a machine never moves another one's VMID.
 * @param ranges hypervisor name → inclusive range.
 */
export function allocateVmids(
  requests: VmidRequest[],
  ranges: Map<string, { from: number; to: number }>,
  locked: Record<string, number>,
): VmidAllocation {
  const out: VmidAllocation = { vmids: new Map(), lock: {}, exhausted: [], duplicates: [] };
  const used = new Map<string, Map<number, string>>(); // hypervisor → VMID → host
  const usedOn = (h: string) => {
    const m = used.get(h) ?? new Map<number, string>();
    used.set(h, m);
    return m;
  };
  for (const r of requests) {
    if (r.declared === undefined) continue;
    const taken = usedOn(r.hypervisor);
    const first = taken.get(r.declared);
    if (first !== undefined) {
      out.duplicates.push({ host: r.host, first, vmid: r.declared });
      continue;
    }
    taken.set(r.declared, r.host);
    out.vmids.set(r.host, r.declared);
  }
  const waiting: VmidRequest[] = [];
  for (const r of requests) {
    if (r.declared !== undefined) continue;
    const range = ranges.get(r.hypervisor);
    const want = locked[r.host];
    const taken = usedOn(r.hypervisor);
    if (range && want !== undefined && want >= range.from && want <= range.to && !taken.has(want)) {
      taken.set(want, r.host);
      out.vmids.set(r.host, want);
      out.lock[r.host] = want;
    } else waiting.push(r);
  }
  const next = new Map<string, number>();
  for (const r of waiting) {
    const range = ranges.get(r.hypervisor);
    if (!range) continue;
    const taken = usedOn(r.hypervisor);
    let id = next.get(r.hypervisor) ?? range.from;
    while (id <= range.to && taken.has(id)) id++;
    next.set(r.hypervisor, id + 1);
    if (id > range.to) {
      out.exhausted.push({ host: r.host, hypervisor: r.hypervisor });
      continue;
    }
    taken.set(id, r.host);
    out.vmids.set(r.host, id);
    out.lock[r.host] = id;
  }
  return out;
}
