/**
 * Address-plan usage of a loaded inventory, per network and named range, as `keel ipam` prints
 * it: size, used, reserved, free and the next address `auto` / `auto@RANGE` would allocate.
 */

import { blockIn, networkPools, type PlanNetwork } from "../inventory/ipam/allocate.js";
import { Pool } from "../inventory/ipam/pool.js";
import type { Inventory, Network } from "../inventory/model.js";
import {
  addressFromBigInt,
  addressToBigInt,
  canonicalAddress,
  type Prefix,
  parsePrefix,
  prefixBounds,
  tryParseAddress,
} from "../net/prefix.js";

/** Counts of one network or range. Counts are numbers, or decimal strings above 2^53 (IPv6). */
export interface PoolUsage {
  name: string;
  cidr: string;
  /** Addresses in the prefix. */
  size: number | string;
  /** Distinct addresses in use: hosts' and vantages' (static and allocated) and the gateway. */
  used: number | string;
  /**
   * Addresses not in use that are never allocated: `reserved` entries, an IPv4 network's network
   * and broadcast address (shorter than /31), an IPv6 network's Subnet-Router anycast address.
   */
  reserved: number | string;
  /** size − used − reserved. */
  free: number | string;
  /** What `auto` (network) or `auto@RANGE` (range) would allocate next; null when exhausted. */
  nextFree: string | null;
}

/** One network's usage and its ranges'. */
export interface NetworkUsage extends PoolUsage {
  ranges: PoolUsage[];
}

function count(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** The plan of a normalised network (cidr, gateway, ranges, reserved parsed). */
export function planOf(net: Network): PlanNetwork {
  const gateway = net.gateway !== undefined ? tryParseAddress(net.gateway) : undefined;
  return {
    name: net.name,
    prefix: parsePrefix(net.cidr),
    ...(gateway ? { gateway } : {}),
    ranges: net.ranges.map((r) => ({ name: r.name, prefix: parsePrefix(r.cidr) })),
    reserved: net.reserved.map((r) => {
      if (r.includes("/")) return parsePrefix(r);
      const a = tryParseAddress(r)!;
      return parsePrefix(`${canonicalAddress(a)}/${a.kind() === "ipv4" ? 32 : 128}`);
    }),
  };
}

/** Addresses the plan never hands out besides `reserved`: network/broadcast (IPv4), anycast (IPv6). */
function unusable(p: Prefix): bigint[] {
  const { first, last } = prefixBounds(p);
  if (p.family === 4 && p.length < 31) return [first, last];
  if (p.family === 6 && p.length < 127) return [first];
  return [];
}

/**
 * Usage of every network of `inv` (in declaration order) and of each of its ranges.
 * `inv` must be a loaded inventory (addresses concrete).
 */
export function ipamUsage(inv: Inventory): NetworkUsage[] {
  const used = new Map<string, bigint[]>();
  for (const n of inv.networks) used.set(n.name, []);
  for (const owner of [...inv.hosts, ...inv.vantages.filter((v) => v.type === "local")])
    for (const a of owner.addresses) used.get(a.network)?.push(addressToBigInt(tryParseAddress(a.address)!));
  return inv.networks.map((net) => {
    const plan = planOf(net);
    const points = used.get(net.name)!;
    if (plan.gateway) points.push(addressToBigInt(plan.gateway));
    const pools = networkPools(plan);
    for (const a of points) blockIn(pools, a);
    const measure = (prefix: Prefix, name: string, cidr: string, next: Pool): PoolUsage => {
      const { first, last } = prefixBounds(prefix);
      const pool = new Pool(first, last);
      for (const a of points) pool.block(a);
      for (const r of plan.reserved) {
        const b = prefixBounds(r);
        pool.blockInterval(b.first, b.last);
      }
      for (const a of unusable(plan.prefix)) pool.blockInterval(a, a);
      pool.seal();
      const n = next.next();
      return {
        name,
        cidr,
        size: count(pool.size),
        used: count(pool.pointCount),
        reserved: count(pool.intervalOnlyCount),
        free: count(pool.freeCount),
        nextFree: n === undefined ? null : canonicalAddress(addressFromBigInt(n, plan.prefix.family)),
      };
    };
    return {
      ...measure(plan.prefix, net.name, net.cidr, pools.auto),
      ranges: plan.ranges.map((r, i) =>
        measure(r.prefix, r.name, net.ranges[i]!.cidr, pools.ranges.get(r.name)!),
      ),
    };
  });
}
