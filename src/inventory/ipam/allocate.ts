/**
 * Address and MAC allocation (pure): `auto` / `auto@RANGE` addresses and `vm.mac: auto`, given
 * the site's address plan, its static addresses and MACs and the previous `keel.lock`.
 * The rules are those of `docs/ipam.md` ("Allocation rules"):
 *
 * - `auto` takes the lowest free address of the network outside every named range; `auto@RANGE`
 *   the lowest free address of that range. Not free: an IPv4 network's network and broadcast
 *   address (prefixes shorter than /31), an IPv6 network's Subnet-Router anycast address (its
 *   first, RFC 4291 §2.6.1; prefixes shorter than /127), the gateway, `reserved` entries, every static address
 *   of the site, and addresses other hosts hold in the lock.
 * - A host keeps its locked address while it still asks for `auto` (or `auto@RANGE`) on that
 *   network and the address is still inside the network (and the range, for `auto@RANGE`) and
 *   has not become the gateway, reserved or a static address (static wins). Locked addresses are
 *   claimed first, in inventory order; new requests are then served in inventory order, so
 *   adding a host never renumbers another and two runs agree.
 * - Lock entries no request claims (a removed host, a host that became static) are freed.
 * - MACs: a static MAC wins; a locked MAC is kept unless a static one took it; new VMs get
 *   `allocateMac` (SHA-256 of SITE/HOST, walking upward past MACs in use).
 */

import {
  type Address,
  addressFromBigInt,
  addressToBigInt,
  canonicalAddress,
  formatPrefix,
  type Prefix,
  prefixBounds,
  tryParseAddress,
} from "../../net/prefix.js";
import type { AllocationChange } from "../model.js";
import type { Lock } from "./lock.js";
import { allocateMac } from "./mac.js";
import { Pool } from "./pool.js";

/** A network's address plan, parsed. */
export interface PlanNetwork {
  name: string;
  prefix: Prefix;
  gateway?: Address;
  ranges: { name: string; prefix: Prefix }[];
  /** `reserved` entries (single addresses as /32 or /128 prefixes). */
  reserved: Prefix[];
}

/** One `auto` (range undefined) or `auto@RANGE` address a host asks for on one network. */
export interface AddressRequest {
  host: string;
  network: string;
  range?: string;
}

/** One VM: its static MAC (lowercase colon form), or undefined for `mac: auto`. */
export interface MacRequest {
  host: string;
  mac?: string;
}

export interface AllocationInput {
  site: string;
  networks: PlanNetwork[];
  /** Every static address of the site (hosts and vantages), parsed. */
  statics: Address[];
  /** Address requests in inventory order (hosts in order, networks in the order written). */
  requests: AddressRequest[];
  /** VMs in inventory order. */
  vms: MacRequest[];
  /** The previous lock; undefined when there is none. */
  lock?: Lock;
  /** Every host name of the site (to tell a removed host from one that no longer asks). */
  hosts: string[];
}

/** Where a request could not be served: the pool, described for an error message. */
export interface Exhausted {
  /** Index into `AllocationInput.requests`. */
  index: number;
  /** e.g. `range "vms" of network "lan" (10.20.0.128/25)` */
  pool: string;
  /** Addresses in the pool. */
  size: bigint;
}

export interface AllocationResult {
  /** Allocated address of each request (canonical text), by index; undefined when exhausted. */
  addresses: (string | undefined)[];
  /** MAC of each VM (static or allocated), by index. */
  macs: string[];
  exhausted: Exhausted[];
  /** The lock that records this allocation. */
  lock: Lock;
  changes: AllocationChange[];
}

/** The pools of one network: `auto` (outside named ranges) and one per range. */
export interface NetworkPools {
  net: PlanNetwork;
  auto: Pool;
  ranges: Map<string, Pool>;
}

/**
 * Builds the pools of `net` with everything in `blocked` (integer addresses) and the plan's own
 * exclusions blocked: network/broadcast (IPv4 shorter than /31), the gateway, reserved entries;
 * the `auto` pool also excludes the named ranges.
 */
export function networkPools(net: PlanNetwork): NetworkPools {
  const { first, last } = prefixBounds(net.prefix);
  const auto = new Pool(first, last);
  const ranges = new Map<string, Pool>();
  for (const r of net.ranges) {
    const b = prefixBounds(r.prefix);
    ranges.set(r.name, new Pool(b.first, b.last));
    auto.blockInterval(b.first, b.last);
  }
  const all = [auto, ...ranges.values()];
  const block = (a: bigint) => {
    for (const p of all) p.block(a);
  };
  if (net.prefix.family === 4 && net.prefix.length < 31) {
    block(first);
    block(last);
  }
  // IPv6: the all-zeros interface id is the Subnet-Router anycast address (RFC 4291 §2.6.1),
  // not one to hand to a host (except in a /127 or /128, RFC 6164)
  if (net.prefix.family === 6 && net.prefix.length < 127) block(first);
  if (net.gateway) block(addressToBigInt(net.gateway));
  for (const r of net.reserved) {
    const b = prefixBounds(r);
    for (const p of all) p.blockInterval(b.first, b.last);
  }
  return { net, auto, ranges };
}

/** Blocks integer address `a` in every pool of `np` (pools ignore addresses outside them). */
export function blockIn(np: NetworkPools, a: bigint): void {
  np.auto.block(a);
  for (const p of np.ranges.values()) p.block(a);
}

/** The network of `pools` whose prefix holds integer address `a` of family `family`. */
function networkOf(pools: NetworkPools[], a: bigint, family: 4 | 6): NetworkPools | undefined {
  for (const np of pools) if (np.net.prefix.family === family && np.auto.has(a)) return np;
  return undefined;
}

function poolLabel(np: NetworkPools, range: string | undefined): string {
  if (range === undefined) {
    const outside = np.net.ranges.length > 0 ? " outside its named ranges" : "";
    return `network "${np.net.name}" (${formatPrefix(np.net.prefix)})${outside}`;
  }
  const r = np.net.ranges.find((x) => x.name === range)!;
  return `range "${range}" of network "${np.net.name}" (${formatPrefix(r.prefix)})`;
}

/**
 * Allocates every request of `input` (see the module comment for the rules).
 * Requests must name existing networks and ranges (the loader checks that first).
 * @returns the addresses and MACs, the pools that ran out, the new lock and what changed.
 */
export function allocate(input: AllocationInput): AllocationResult {
  const pools = input.networks.map(networkPools);
  const byName = new Map(pools.map((np) => [np.net.name, np]));
  // every static address, and then every claimed locked one, by family: integer form (IPv4 as
  // a number: Sets of numbers are much faster than Sets of bigints)
  const key = (n: bigint, family: 4 | 6): number | bigint => (family === 4 ? Number(n) : n);
  const used = { 4: new Set<number | bigint>(), 6: new Set<number | bigint>() };
  const staticSet = { 4: new Set<number | bigint>(), 6: new Set<number | bigint>() };
  for (const a of input.statics) {
    const family = a.kind() === "ipv4" ? 4 : 6;
    const n = addressToBigInt(a);
    staticSet[family].add(key(n, family));
    const np = networkOf(pools, n, family);
    if (np) blockIn(np, n);
  }
  // per network, what a locked address must not be: worked out once, not once per lock entry
  const guards = new Map(
    input.networks.map((net) => {
      const { first, last } = prefixBounds(net.prefix);
      const v4Edges = net.prefix.family === 4 && net.prefix.length < 31;
      return [
        net.name,
        {
          gateway: net.gateway ? addressToBigInt(net.gateway) : undefined,
          // IPv4 network/broadcast (shorter than /31); IPv6 Subnet-Router anycast (shorter than /127)
          edge: (n: bigint): string | undefined =>
            v4Edges && (n === first || n === last)
              ? "the network or broadcast address"
              : net.prefix.family === 6 && net.prefix.length < 127 && n === first
                ? "the Subnet-Router anycast address"
                : undefined,
          reserved: net.reserved.map((r) => prefixBounds(r)),
        },
      ];
    }),
  );
  const lockAddrs = input.lock?.addresses ?? {};
  const parsedLock = input.lock?.parsed;
  const addresses: (string | undefined)[] = new Array(input.requests.length).fill(undefined);
  const changes: AllocationChange[] = [];
  /** Per host entry of the lock, how many of its networks a request still asks for. */
  const claims = new Map<Record<string, string>, number>();
  const why = new Map<number, string>();

  // 1. locked addresses that are still valid, in inventory order
  for (let i = 0; i < input.requests.length; i++) {
    const req = input.requests[i]!;
    const entry = lockAddrs[req.host];
    const locked = entry?.[req.network];
    if (locked === undefined) continue;
    claims.set(entry!, (claims.get(entry!) ?? 0) + 1);
    const np = byName.get(req.network)!;
    const guard = guards.get(req.network)!;
    const cached = parsedLock?.get(locked);
    const addr = cached ?? tryParseAddress(locked);
    const family = np.net.prefix.family;
    const pool = req.range === undefined ? np.auto : np.ranges.get(req.range)!;
    const n = addr && (addr.kind() === "ipv4" ? 4 : 6) === family ? addressToBigInt(addr) : undefined;
    let reason: string | undefined;
    if (n === undefined || !np.auto.has(n)) reason = `no longer inside network "${req.network}"`;
    else if (req.range !== undefined && !pool.has(n)) reason = `no longer inside range "${req.range}"`;
    else if (staticSet[family].has(key(n, family))) reason = `a static address took ${locked}`;
    else if (used[family].has(key(n, family))) reason = `${locked} is held by another host in keel.lock`;
    else if (guard.gateway === n) reason = `${locked} is the gateway`;
    else if (guard.edge(n) !== undefined) reason = `${locked} is ${guard.edge(n)}`;
    else if (guard.reserved.some((b) => n >= b.first && n <= b.last)) reason = `${locked} is reserved`;
    if (reason !== undefined) {
      why.set(i, reason);
      continue;
    }
    used[family].add(key(n!, family));
    blockIn(np, n!);
    addresses[i] = cached ? locked : canonicalAddress(addr!);
  }

  // 2. everything else, in inventory order
  const exhausted: Exhausted[] = [];
  input.requests.forEach((req, i) => {
    if (addresses[i] !== undefined) return;
    const np = byName.get(req.network)!;
    const pool = req.range === undefined ? np.auto : np.ranges.get(req.range)!;
    const n = pool.take();
    if (n === undefined) {
      exhausted.push({ index: i, pool: poolLabel(np, req.range), size: pool.size });
      return;
    }
    const text = canonicalAddress(addressFromBigInt(n, np.net.prefix.family));
    addresses[i] = text;
    const from = lockAddrs[req.host]?.[req.network];
    changes.push({
      host: req.host,
      kind: "address",
      network: req.network,
      ...(from !== undefined ? { from } : {}),
      to: text,
      reason: why.get(i) ?? "new",
    });
  });

  // MACs: statics, then locked ones still valid, then new ones
  const lockMacs = input.lock?.macs ?? {};
  const taken = new Set<string>();
  for (const vm of input.vms) if (vm.mac !== undefined) taken.add(vm.mac);
  const macs: (string | undefined)[] = input.vms.map((vm) => vm.mac);
  const macWhy = new Map<number, string>();
  input.vms.forEach((vm, i) => {
    if (vm.mac !== undefined) return;
    const locked = lockMacs[vm.host];
    if (locked === undefined) return;
    if (taken.has(locked)) {
      macWhy.set(
        i,
        `${locked} is ${input.vms.some((v) => v.mac === locked) ? "a static MAC" : "held by another VM in keel.lock"}`,
      );
      return;
    }
    taken.add(locked);
    macs[i] = locked;
  });
  input.vms.forEach((vm, i) => {
    if (macs[i] !== undefined) return;
    const mac = allocateMac(input.site, vm.host, taken);
    taken.add(mac);
    macs[i] = mac;
    const from = lockMacs[vm.host];
    changes.push({
      host: vm.host,
      kind: "mac",
      ...(from !== undefined ? { from } : {}),
      to: mac,
      reason: macWhy.get(i) ?? "new",
    });
  });

  // the new lock, and what it no longer holds
  const lock: Lock = { addresses: {}, macs: {} };
  input.requests.forEach((req, i) => {
    const a = addresses[i];
    if (a === undefined) return;
    lock.addresses[req.host] ??= {};
    lock.addresses[req.host]![req.network] = a;
  });
  input.vms.forEach((vm, i) => {
    if (vm.mac === undefined) lock.macs[vm.host] = macs[i]!;
  });
  const hosts = new Set(input.hosts);
  const freedReason = (host: string) => (hosts.has(host) ? "no longer auto" : "host removed");
  // (a host whose every locked network is still asked for frees nothing: the common case)
  let asked: Set<string> | undefined;
  for (const host in lockAddrs) {
    const nets = lockAddrs[host]!;
    const n = claims.get(nets) ?? 0;
    let size = 0;
    for (const _ in nets) size++;
    if (n === size) continue;
    asked ??= new Set(input.requests.map((r) => `${r.host} ${r.network}`));
    for (const network in nets)
      if (n === 0 || !asked.has(`${host} ${network}`))
        changes.push({
          host,
          kind: "address",
          network,
          from: nets[network]!,
          reason: `freed: ${freedReason(host)}`,
        });
  }
  for (const [host, from] of Object.entries(lockMacs))
    if (lock.macs[host] === undefined)
      changes.push({ host, kind: "mac", from, reason: `freed: ${freedReason(host)}` });

  return { addresses, macs: macs as string[], exhausted, lock, changes };
}
