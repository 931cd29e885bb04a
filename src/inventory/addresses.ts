/**
 * Addresses and IPAM: the `address:` forms of hosts and vantages (inside their network, unique
 * across the site), `vm.mac`, and the allocation of `auto` addresses and MACs against
 * `keel.lock` (`ipam/allocate.ts`), whose exhausted pools are problems located at the `auto`
 * value; and the resulting `Inventory.ipam`.
 */
import { isMulticastMac, parseMac } from "../net/mac.js";
import {
  canonicalAddress,
  contains,
  firstUsable,
  formatPrefix,
  isNetworkOrBroadcast,
  lastUsable,
  tryParseAddress,
} from "../net/prefix.js";
import type { CheckContext } from "./context.js";
import { vmidRangeOf } from "./hypervisors.js";
import { type AllocationResult, allocate } from "./ipam/allocate.js";
import { formatLock, type Lock, lockPathFor, sameLock } from "./ipam/lock.js";
import { allocateVmids } from "./ipam/vmid.js";
import type { InterfaceAddress, IpamState } from "./model.js";
import type { RawAddress, Segment } from "./raw.js";
import { didYouMean, show } from "./wording.js";

/** Resolves a host's or vantage's `address` form; reports problems, returns what is valid. */
export function resolveAddresses(
  ctx: CheckContext,
  segs: Segment[],
  form: RawAddress,
  owner: string,
  host?: string,
): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  const add = (network: string, text: string, at: Segment[]) => {
    const addr = tryParseAddress(text);
    if (!addr) {
      ctx.problem(
        at,
        `address ${show(text)} of ${owner} is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)`,
      );
      return;
    }
    const p = ctx.prefixes.get(network);
    if (!p) return; // the network's own cidr problem is already reported
    if (!contains(p, addr)) {
      ctx.problem(
        at,
        `address ${text} of ${owner} is outside network "${network}" (${formatPrefix(p)}); expected an address inside it`,
      );
      return;
    }
    if (isNetworkOrBroadcast(p, addr)) {
      ctx.problem(
        at,
        `address ${text} of ${owner} is the network or broadcast address of "${network}" (${formatPrefix(p)}); expected one from ${canonicalAddress(firstUsable(p))} to ${canonicalAddress(lastUsable(p))}`,
      );
      return;
    }
    const canon = canonicalAddress(addr);
    const prev = ctx.addressOwners.get(canon);
    if (prev) {
      ctx.problem(
        at,
        `address ${canon} of ${owner} is already used by ${prev.what} (line ${ctx.loc.pos(prev.at).line}); addresses must be unique across the site`,
      );
      return;
    }
    ctx.addressOwners.set(canon, { what: owner, at });
    ctx.staticAddresses.push(addr);
    out.push({ network, address: canon });
  };
  const auto = (network: string, text: string, at: Segment[]) => {
    if (host === undefined) {
      ctx.problem(at, `address ${text} of ${owner}: auto is only for hosts; expected an IP address`);
      return;
    }
    if (!ctx.prefixes.has(network)) return; // the network's own cidr problem is already reported
    const range = text.startsWith("auto@") ? text.slice(5) : undefined;
    if (range !== undefined) {
      const names = Object.keys(ctx.raw.networks?.[network]?.ranges ?? {});
      if (!names.includes(range)) {
        ctx.problem(
          at,
          `address ${text} of ${owner} names no range of network "${network}"${didYouMean(range, names)}; expected auto or auto@RANGE with RANGE one of ${names.join(", ") || "(the network declares no ranges)"}`,
        );
        return;
      }
      if (!ctx.rangePrefixes.get(network)?.has(range)) return; // the range's own problem is reported
    }
    const slot: InterfaceAddress = { network, address: "", auto: range !== undefined ? { range } : {} };
    ctx.autos.push({ host, network, ...(range !== undefined ? { range } : {}), segs: at, slot });
    out.push(slot);
  };
  if (typeof form === "string") {
    if (/^auto(@|$)/.test(form)) {
      ctx.problem(
        segs,
        `address ${form} of ${owner} does not say which network; expected { NETWORK: ${form} }, e.g. { ${ctx.networkNames[0] ?? "lan"}: ${form} }`,
      );
      return out;
    }
    const addr = tryParseAddress(form);
    if (!addr) {
      add("", form, segs);
      return out;
    }
    const inNets = [...ctx.prefixes].filter(([, p]) => contains(p, addr)).map(([n]) => n);
    // a network whose cidr is broken might be the one meant: say nothing rather than guess
    const allUsable = ctx.prefixes.size === ctx.networkNames.length;
    if (inNets.length === 1) add(inNets[0]!, form, segs);
    else if (inNets.length === 0 && allUsable)
      ctx.problem(
        segs,
        `address ${form} of ${owner} is in no network; expected an address inside one of ${[...ctx.prefixes].map(([n, p]) => `${n} (${formatPrefix(p)})`).join(", ") || "the networks (none are declared)"}`,
      );
    else if (inNets.length > 1)
      ctx.problem(
        segs,
        `address ${form} of ${owner} is in more than one network (${inNets.join(", ")}); write { NETWORK: ${form} } to say which`,
      );
    return out;
  }
  for (const [net, text] of Object.entries(form)) {
    if (!ctx.networkNames.includes(net)) {
      ctx.problem(
        [...segs, net],
        `unknown network "${net}" in address of ${owner}${didYouMean(net, ctx.networkNames)}; expected one of ${ctx.networkNames.join(", ") || "(no networks are declared)"}`,
        "key",
      );
      continue;
    }
    if (/^auto(@|$)/.test(text)) auto(net, text, [...segs, net]);
    else add(net, text, [...segs, net]);
  }
  return out;
}

/** `vm.mac` of every VM: auto, or a unicast MAC used by no other VM. */
export function checkVms(ctx: CheckContext): void {
  const seen = new Map<string, { host: string; segs: Segment[] }>();
  for (const [name, host] of Object.entries(ctx.raw.hosts ?? {})) {
    if (!host.vm) continue;
    const text = host.vm.mac ?? "auto";
    if (text === "auto") {
      ctx.vms.push({ host: name });
      continue;
    }
    const segs = ["hosts", name, "vm", "mac"];
    const mac = parseMac(text);
    if (!mac) continue; // the schema's pattern already reported it
    if (isMulticastMac(mac)) {
      ctx.problem(
        segs,
        `mac ${text} of host "${name}" is a multicast (group) address: the I/G bit of its first octet is set; expected a unicast MAC (first octet even, e.g. 52:54:00:…) or auto`,
      );
      continue;
    }
    const first = seen.get(mac);
    if (first) {
      ctx.problem(
        segs,
        `mac ${text} of host "${name}" is already used by host "${first.host}" (line ${ctx.loc.pos(first.segs).line}); MACs must be unique across the site`,
      );
      continue;
    }
    seen.set(mac, { host: name, segs });
    ctx.vms.push({ host: name, mac });
  }
}

/**
 * Allocates the `auto` addresses and MACs (`src/inventory/ipam/allocate.ts`) against the previous `lock`;
 * an exhausted pool is a problem at the `auto` value.
 */
export function allocateAll(ctx: CheckContext, site: string, lock: Lock | undefined): void {
  const networks = [...ctx.prefixes].map(([name, prefix]) => {
    const gw = ctx.raw.networks?.[name]?.gateway;
    const gateway = gw !== undefined ? tryParseAddress(gw) : undefined;
    return {
      name,
      prefix,
      ...(gateway && contains(prefix, gateway) ? { gateway } : {}),
      ranges: [...(ctx.rangePrefixes.get(name) ?? [])].map(([rname, p]) => ({ name: rname, prefix: p })),
      reserved: ctx.reservedPrefixes.get(name) ?? [],
    };
  });
  const result = allocate({
    site,
    networks,
    statics: ctx.staticAddresses,
    requests: ctx.autos,
    vms: ctx.vms,
    ...(lock ? { lock } : {}),
    hosts: ctx.hostNames,
  });
  for (const ex of result.exhausted) {
    const req = ctx.autos[ex.index]!;
    ctx.problem(
      req.segs,
      `address auto${req.range !== undefined ? `@${req.range}` : ""} of host "${req.host}" cannot be allocated: ${ex.pool} is exhausted (all ${ex.size} addresses are used, reserved or excluded); widen it, free an address, or allocate from another range`,
    );
  }
  ctx.autos.forEach((req, i) => {
    const a = result.addresses[i];
    if (a !== undefined) req.slot.address = a;
  });
  allocateMachineVmids(ctx, lock, result);
  ctx.allocation = result;
  ctx.previousLock = lock;
}

/**
 * VMIDs of the machines on proxmox hypervisors (`ipam/vmid.ts`): into `ctx.vmidOf` and the new
 * lock's `vmids`; a declared VMID used twice on one hypervisor, or a range with none left, is a
 * problem located at the machine.
 */
function allocateMachineVmids(ctx: CheckContext, lock: Lock | undefined, result: AllocationResult): void {
  if (ctx.vmidRequests.length === 0) return;
  const ranges = new Map<string, { from: number; to: number }>();
  for (const [name, h] of Object.entries(ctx.raw.hypervisors ?? {})) {
    if (h.driver === "proxmox") ranges.set(name, vmidRangeOf(h));
  }
  const got = allocateVmids(ctx.vmidRequests, ranges, lock?.vmids ?? {});
  for (const d of got.duplicates)
    ctx.problem(
      ["hosts", d.host, "vm", "vmid"],
      `vmid ${d.vmid} of host "${d.host}" is already the VMID of host "${d.first}" on the same hypervisor; expected a VMID unique in the cluster`,
    );
  for (const e of got.exhausted) {
    const r = ranges.get(e.hypervisor)!;
    ctx.problem(
      ["hosts", e.host, "vm"],
      `host "${e.host}" cannot be given a VMID: vmid_range ${r.from}-${r.to} of hypervisor "${e.hypervisor}" has none left; widen it or declare vm.vmid`,
      "key",
    );
  }
  ctx.vmidOf = got.vmids;
  if (Object.keys(got.lock).length > 0) result.lock.vmids = got.lock;
}

/**
 * The lock file's new content and whether it changed. No lock file is created for an inventory
 * that allocates nothing; an existing one is kept (emptied) rather than deleted. Whether it
 * changed is decided on the content (`sameLock`), and the text (`lock`) is formatted only when
 * asked for, by the commands that write it: formatting 20,000 entries with `yaml` took longer
 * than loading the inventory, and every command loads it.
 */
export function ipamState(file: string, allocation: AllocationResult, previous: Lock | undefined): IpamState {
  const empty =
    Object.keys(allocation.lock.addresses).length === 0 &&
    Object.keys(allocation.lock.macs).length === 0 &&
    Object.keys(allocation.lock.vmids ?? {}).length === 0;
  const needed = !(empty && previous === undefined);
  const state: IpamState = {
    lockFile: lockPathFor(file),
    lockChanged: needed && (previous === undefined || !sameLock(previous, allocation.lock)),
    changes: allocation.changes,
  };
  if (needed) {
    let text: string | undefined;
    Object.defineProperty(state, "lock", {
      get: () => (text ??= formatLock(allocation.lock)),
      enumerable: true,
    });
  }
  return state;
}
