/**
 * The `networks:` section: prefixes that do not overlap, gateways, named ranges, reserved
 * addresses and DHCP settings inside their network, `dns` entries that name hosts or addresses;
 * and its normalised form (`Network`).
 */
import {
  AddressError,
  canonicalAddress,
  contains,
  containsPrefix,
  formatPrefix,
  overlaps,
  type Prefix,
  parsePrefix,
  tryParseAddress,
} from "../net/prefix.js";
import type { CheckContext } from "./context.js";
import { parseDuration } from "./duration.js";
import type { DhcpSettings, Network } from "./model.js";
import type { RawInventory, RawNetwork } from "./raw.js";
import { didYouMean, show } from "./wording.js";
import type { Positions } from "./yaml.js";

/**
 * Lease time of DHCP when `dhcp.lease` is absent, in seconds (12h); also the lease of the
 * reservations on a network without `dhcp:` (`render/dhcp.ts`).
 */
export const DEFAULT_LEASE_SECONDS = 43_200;
/** Shortest DHCP lease accepted, in seconds: dnsmasq's minimum, two minutes (dnsmasq(8) --dhcp-range). */
export const MIN_LEASE_SECONDS = 120;

/** Checks every network; records the valid prefixes, ranges and reserved entries in `ctx`. */
export function checkNetworks(ctx: CheckContext): void {
  const nets = ctx.raw.networks ?? {};
  const seen: [string, Prefix][] = [];
  for (const [name, net] of Object.entries(nets)) {
    const segs = ["networks", name];
    let p: Prefix;
    try {
      p = parsePrefix(net.cidr);
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
      ctx.problem([...segs, "cidr"], `cidr of network "${name}": ${e.message}`);
      continue;
    }
    ctx.prefixes.set(name, p);
    for (const [other, q] of seen) {
      if (overlaps(p, q))
        ctx.problem(
          [...segs, "cidr"],
          `network "${name}" (${formatPrefix(p)}) overlaps network "${other}" (${formatPrefix(q)}); networks must not overlap`,
        );
    }
    seen.push([name, p]);
    if (net.gateway !== undefined) {
      const g = tryParseAddress(net.gateway);
      if (!g)
        ctx.problem(
          [...segs, "gateway"],
          `gateway ${show(net.gateway)} of network "${name}" is not an IP address; expected an address inside ${formatPrefix(p)}`,
        );
      else if (!contains(p, g))
        ctx.problem(
          [...segs, "gateway"],
          `gateway ${net.gateway} of network "${name}" is outside the network; expected an address inside ${formatPrefix(p)}`,
        );
    }
    const ranges: [string, Prefix][] = [];
    for (const [rname, rcidr] of Object.entries(net.ranges ?? {})) {
      const rsegs = [...segs, "ranges", rname];
      let r: Prefix;
      try {
        r = parsePrefix(rcidr);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
        ctx.problem(rsegs, `range "${rname}" of network "${name}": ${e.message}`);
        continue;
      }
      if (!containsPrefix(p, r)) {
        ctx.problem(
          rsegs,
          `range "${rname}" (${formatPrefix(r)}) is outside network "${name}" (${formatPrefix(p)}); expected a prefix inside it`,
        );
        continue;
      }
      for (const [other, q] of ranges) {
        if (overlaps(r, q))
          ctx.problem(
            rsegs,
            `range "${rname}" (${formatPrefix(r)}) overlaps range "${other}" (${formatPrefix(q)}) of network "${name}"; ranges must not overlap`,
          );
      }
      ranges.push([rname, r]);
    }
    ctx.rangePrefixes.set(name, new Map(ranges));
    checkReserved(ctx, name, net, p);
    checkDhcp(ctx, name, net);
  }
  // dns entries need host names, so they are checked after all networks are known
  for (const [name, net] of Object.entries(nets)) {
    (net.dns ?? []).forEach((entry, i) => {
      if (ctx.hostNames.includes(entry) || tryParseAddress(entry)) return;
      ctx.problem(
        ["networks", name, "dns", i],
        `dns entry ${show(entry)} of network "${name}" is neither a host name nor an IP address${didYouMean(entry, ctx.hostNames)}; expected one of ${ctx.hostNames.join(", ") || "(no hosts)"} or an address`,
      );
    });
  }
}

/** `reserved` of network `name`: each an address or prefix inside the network. */
function checkReserved(ctx: CheckContext, name: string, net: RawNetwork, p: Prefix): void {
  const out: Prefix[] = [];
  (net.reserved ?? []).forEach((entry, i) => {
    const segs = ["networks", name, "reserved", i];
    let r: Prefix | undefined;
    const addr = tryParseAddress(entry);
    if (addr) r = parsePrefix(`${canonicalAddress(addr)}/${addr.kind() === "ipv4" ? 32 : 128}`);
    else if (entry.includes("/")) {
      try {
        r = parsePrefix(entry);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
        ctx.problem(segs, `reserved entry of network "${name}": ${e.message}`);
        return;
      }
    } else {
      ctx.problem(
        segs,
        `reserved entry ${show(entry)} of network "${name}" is neither an address nor a CIDR prefix; expected e.g. 10.20.0.250 or 10.20.0.240/29 inside ${formatPrefix(p)}`,
      );
      return;
    }
    if (!containsPrefix(p, r)) {
      ctx.problem(
        segs,
        `reserved entry ${entry} of network "${name}" is outside the network (${formatPrefix(p)}); expected an address or prefix inside it`,
      );
      return;
    }
    out.push(r);
  });
  ctx.reservedPrefixes.set(name, out);
}

/** `dhcp` of network `name`: its range must be a range of the network; a lease of whole seconds, at least 2m. */
function checkDhcp(ctx: CheckContext, name: string, net: RawNetwork): void {
  if (!net.dhcp) return;
  const segs = ["networks", name, "dhcp"];
  const rangeNames = Object.keys(net.ranges ?? {});
  if (!rangeNames.includes(net.dhcp.range))
    ctx.problem(
      [...segs, "range"],
      `dhcp.range "${net.dhcp.range}" of network "${name}" names no range of that network${didYouMean(net.dhcp.range, rangeNames)}; expected one of ${rangeNames.join(", ") || "(the network declares no ranges: add ranges: { NAME: CIDR })"}`,
    );
  if (net.dhcp.lease !== undefined) {
    const ms = parseDuration(net.dhcp.lease);
    if (ms !== undefined && (ms % 1000 !== 0 || ms < MIN_LEASE_SECONDS * 1000))
      ctx.problem(
        [...segs, "lease"],
        `dhcp.lease ${net.dhcp.lease} of network "${name}" is ${ms % 1000 !== 0 ? "not a whole number of seconds" : "too short"}; expected whole seconds, at least 2m (dnsmasq's minimum)`,
      );
  }
}

/** The normalised networks (each network's prefix is in `ctx.prefixes`: call after a clean check). */
export function normaliseNetworks(raw: RawInventory, ctx: CheckContext, loc: Positions): Network[] {
  return Object.entries(raw.networks ?? {}).map(([name, net]) => {
    const p = ctx.prefixes.get(name)!;
    return {
      name,
      cidr: formatPrefix(p),
      family: p.family,
      ...(net.gateway !== undefined ? { gateway: canonicalAddress(net.gateway) } : {}),
      dns: [...(net.dns ?? [])],
      ranges: Object.entries(net.ranges ?? {}).map(([rname, cidr]) => ({
        name: rname,
        cidr: formatPrefix(parsePrefix(cidr)),
      })),
      reserved: (net.reserved ?? []).map((r) =>
        r.includes("/") ? formatPrefix(parsePrefix(r)) : canonicalAddress(r),
      ),
      ...(net.dhcp ? { dhcp: normaliseDhcp(net.dhcp) } : {}),
      pos: loc.pos(["networks", name], "key"),
    };
  });
}

function normaliseDhcp(dhcp: NonNullable<RawNetwork["dhcp"]>): DhcpSettings {
  return {
    range: dhcp.range,
    leaseSeconds: dhcp.lease !== undefined ? parseDuration(dhcp.lease)! / 1000 : DEFAULT_LEASE_SECONDS,
  };
}
