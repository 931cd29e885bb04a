/**
 * `keel render --only dhcp`: DHCP server configuration for dnsmasq and for Kea DHCPv4
 * (contract: `docs/render.md`).
 *
 * Served networks: those with `dhcp: { range, lease }` (a dynamic pool: the named range, less
 * the network's network and broadcast addresses) and those holding a VM's address (reservations
 * only). Each VM (a host with `vm:`) gets one reservation: its MAC, its first address, its name.
 * Per network: the router option from `gateway`, the DNS servers from `dns` (host names resolve
 * to the host's address in that network, else its first address of the family).
 *
 * - `dhcp/dnsmasq.conf`: `dhcp-range` (tagged with the network name; `static` mode for
 *   reservation-only networks), `dhcp-option`, `dhcp-host` (dnsmasq(8)); IPv4 and IPv6.
 * - `dhcp/kea-dhcp4.conf`: `Dhcp4` with one `subnet4` per IPv4 network: `id` (the network's
 *   1-based position in `networks`, so leases stay with their subnet across renders), `pools`,
 *   `reservations` (hw-address, ip-address, hostname), `option-data` routers and
 *   domain-name-servers, `valid-lifetime` (Kea ARM, "The DHCPv4 Server").
 *
 * Lease lifetime: the network's `dhcp.lease`, or `DEFAULT_LEASE_SECONDS` for reservation-only
 * networks.
 */
import { UserError } from "../errors.js";
import type { Host, Inventory, Network } from "../inventory/model.js";
import { DEFAULT_LEASE_SECONDS } from "../inventory/networks.js";
import {
  type Address,
  canonicalAddress,
  compareAddresses,
  firstUsable,
  isNetworkOrBroadcast,
  lastAddress,
  lastUsable,
  netmaskOf,
  type Prefix,
  parseAddress,
  parsePrefix,
} from "../net/prefix.js";
import type { RenderedFile, Renderer } from "./types.js";

/** One served network, resolved. */
interface Served {
  net: Network;
  /** 1-based position in `inventory.networks` (Kea's subnet id). */
  id: number;
  prefix: Prefix;
  /** Dynamic pool (first, last), absent for reservation-only networks. */
  pool?: [Address, Address];
  leaseSeconds: number;
  dns: string[];
  reservations: { mac: string; address: Address; host: string }[];
}

/** The addresses of `net.dns` of `net`'s family: addresses as written, host names resolved. */
function resolvers(inv: Inventory, net: Network, family: 4 | 6): string[] {
  const out: string[] = [];
  for (const entry of net.dns) {
    const host = inv.hosts.find((h) => h.name === entry);
    const text = host
      ? (
          host.addresses.find((a) => a.network === net.name) ??
          host.addresses.find((a) => parseAddress(a.address).kind() === (family === 4 ? "ipv4" : "ipv6"))
        )?.address
      : entry;
    if (text === undefined) continue;
    const a = parseAddress(text);
    if ((a.kind() === "ipv4" ? 4 : 6) === family) out.push(canonicalAddress(a));
  }
  return [...new Set(out)];
}

/** The dynamic pool of `net` (its named `dhcp.range` less network/broadcast addresses). */
function poolOf(net: Network, prefix: Prefix): [Address, Address] | undefined {
  if (!net.dhcp) return undefined;
  const range = net.ranges.find((r) => r.name === net.dhcp!.range);
  if (!range)
    throw new UserError([
      {
        pos: net.pos,
        message: `dhcp.range "${net.dhcp.range}" of network "${net.name}" names no range; expected one of ${net.ranges.map((r) => r.name).join(", ") || "(no ranges)"}`,
      },
    ]);
  const r = parsePrefix(range.cidr);
  const first = isNetworkOrBroadcast(prefix, r.network) ? firstUsable(prefix) : r.network;
  const end = lastAddress(r);
  const last = isNetworkOrBroadcast(prefix, end) ? lastUsable(prefix) : end;
  return [first, last];
}

/** The networks the DHCP configs serve, in inventory order, with their VM reservations. */
function served(inv: Inventory): Served[] {
  const vms = inv.hosts.filter((h): h is Host & { vm: NonNullable<Host["vm"]> } => h.vm !== undefined);
  const out: Served[] = [];
  inv.networks.forEach((net, i) => {
    const prefix = parsePrefix(net.cidr);
    const reservations = vms
      .filter((h) => h.addresses[0]?.network === net.name)
      .map((h) => ({
        mac: h.vm.mac.toLowerCase(),
        address: parseAddress(h.addresses[0]!.address),
        host: h.name,
      }))
      .sort((a, b) => compareAddresses(a.address, b.address));
    if (!net.dhcp && reservations.length === 0) return;
    const pool = poolOf(net, prefix);
    out.push({
      net,
      id: i + 1,
      prefix,
      ...(pool ? { pool } : {}),
      leaseSeconds: net.dhcp?.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
      dns: resolvers(inv, net, prefix.family),
      reservations,
    });
  });
  return out;
}

function dnsmasqConf(inv: Inventory, nets: Served[]): string {
  const lines = [
    `# DHCP of site ${inv.site}, written by keel render; edit the inventory, not this file.`,
    "# Check with: dnsmasq --test --conf-file=dnsmasq.conf",
  ];
  if (inv.domain !== undefined) lines.push(`domain=${inv.domain.replace(/\.$/, "")}`);
  for (const s of nets) {
    const tag = s.net.name;
    const v4 = s.prefix.family === 4;
    const shape = v4 ? netmaskOf(s.prefix.length) : String(s.prefix.length);
    const span = s.pool
      ? `${canonicalAddress(s.pool[0])},${canonicalAddress(s.pool[1])}`
      : `${canonicalAddress(s.prefix.network)},static`;
    lines.push(
      "",
      `# network ${tag} (${s.net.cidr})`,
      `dhcp-range=set:${tag},${span},${shape},${s.leaseSeconds}`,
    );
    if (v4 && s.net.gateway !== undefined)
      lines.push(`dhcp-option=tag:${tag},option:router,${s.net.gateway}`);
    if (s.dns.length)
      lines.push(
        v4
          ? `dhcp-option=tag:${tag},option:dns-server,${s.dns.join(",")}`
          : `dhcp-option=tag:${tag},option6:dns-server,${s.dns.map((d) => `[${d}]`).join(",")}`,
      );
    for (const r of s.reservations) {
      const addr = canonicalAddress(r.address);
      lines.push(`dhcp-host=${r.mac},${v4 ? addr : `[${addr}]`},${r.host}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function keaConf(inv: Inventory, nets: Served[]): string {
  const subnet4 = nets
    .filter((s) => s.prefix.family === 4)
    .map((s) => {
      const options = [
        ...(s.net.gateway !== undefined ? [{ name: "routers", data: s.net.gateway }] : []),
        ...(s.dns.length ? [{ name: "domain-name-servers", data: s.dns.join(", ") }] : []),
      ];
      return {
        id: s.id,
        subnet: s.net.cidr,
        "valid-lifetime": s.leaseSeconds,
        pools: s.pool ? [{ pool: `${canonicalAddress(s.pool[0])} - ${canonicalAddress(s.pool[1])}` }] : [],
        ...(options.length ? { "option-data": options } : {}),
        reservations: s.reservations.map((r) => ({
          "hw-address": r.mac,
          "ip-address": canonicalAddress(r.address),
          hostname: r.host,
        })),
        "user-context": { network: s.net.name },
      };
    });
  const config = {
    Dhcp4: {
      "user-context": { "written-by": `keel render for site ${inv.site}; edit the inventory, not this file` },
      "interfaces-config": { interfaces: ["*"] },
      "lease-database": { type: "memfile", persist: true },
      ...(inv.domain !== undefined
        ? { "option-data": [{ name: "domain-name", data: inv.domain.replace(/\.$/, "") }] }
        : {}),
      subnet4,
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * The DHCP renderer. Writes nothing when no network has `dhcp:` and no host is a VM.
 * @throws UserError (located at the network) when `dhcp.range` names no range of its network.
 */
export const dhcpRenderer: Renderer<RenderedFile> = {
  kind: "dhcp",
  render(inv: Inventory): RenderedFile[] {
    const nets = served(inv);
    if (nets.length === 0) return [];
    return [
      { path: "dhcp/dnsmasq.conf", content: dnsmasqConf(inv, nets) },
      { path: "dhcp/kea-dhcp4.conf", content: keaConf(inv, nets) },
    ];
  },
};
