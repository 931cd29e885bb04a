/**
 * The lab twin's plan: a pure function of the Inventory that says which namespaces, links,
 * addresses, routes, firewall rulesets (the renderer's), daemons and WireGuard interfaces `keel lab up` creates.
 * Nothing here touches the system, so naming, routing and firewall derivation are unit-tested.
 *
 * Naming (all interface names are at most 15 characters):
 * - host namespace `keel-<site>-<host>`; switch namespace `keel-<site>-sw`;
 * - in the switch namespace, bridge `br<i>` for the i-th inventory network, host ports
 *   `h<hostIndex>n<j>`, root-namespace ports `root<i>`;
 * - in a host namespace, `eth<j>` for the host's j-th address (declaration order);
 * - in the root namespace, `kl<hash6>n<i>` for the veth into network i and `kw<hash6>g<g>p<p>`
 *   for a local vantage's WireGuard peer interface, where hash6 is derived from the site name
 *   so that labs of different sites never collide.
 */
import { createHash } from "node:crypto";
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.js";
import type { Host, Inventory, Network, Protocol, Service, Vantage } from "../inventory/model.js";
import { hostPort } from "../net/hostport.js";
import {
  type Address,
  canonicalAddress,
  contains,
  familyOf,
  firstUsable,
  lastUsable,
  parseAddress,
  parsePrefix,
} from "../net/prefix.js";
import { hostRuleset } from "../render/nftables.js";
import { backupsTwinProblems } from "./pgbackrest.js";

/** Which program serves a service in the twin. */
export type DaemonKind =
  | "sshd"
  | "node_exporter"
  | "prometheus"
  | "wireguard"
  | "named"
  | "postgres"
  | "standin";

/** Behaviour of the stand-in responder (see `responder.ts`). */
export type StandinMode = "grafana" | "http" | "tcp" | "udp";

/** One service of a host and the program that serves it. */
export interface ServicePlan {
  service: string;
  port: number;
  protocol: Protocol;
  daemon: DaemonKind;
  /** True for real daemons (OpenSSH, node_exporter, Prometheus, wireguard-go, BIND, PostgreSQL), false for stand-ins. */
  real: boolean;
  /** For stand-ins: how to answer. */
  mode?: StandinMode;
  /** For HTTP stand-ins: the probed path and the status to answer it with. */
  httpPath?: string;
  httpStatus?: number;
}

/** One veth of a namespace into a network's bridge. */
export interface LinkPlan {
  network: string;
  /** Interface name inside the namespace (root namespace for root links). */
  ifname: string;
  /** Name of the other end, inside the switch namespace. */
  swPort: string;
  bridge: string;
  /** Addresses with prefix length, e.g. `10.20.0.2/24`. */
  addresses: string[];
}

/** A route to a network the namespace is not attached to, through a router host. */
export interface RoutePlan {
  network: string;
  cidr: string;
  via: string;
  family: 4 | 6;
}

export interface HostPlan {
  host: string;
  ns: string;
  links: LinkPlan[];
  routes: RoutePlan[];
  /** net.* sysctls applied inside the namespace; other keys are not namespaced and are skipped. */
  sysctl: [string, string][];
  /** Declared sysctl keys that are not per-namespace and so are not applied. */
  skippedSysctl: string[];
  services: ServicePlan[];
  /** BIND for a host listed in `dns.servers` (of a site with a `domain`); absent otherwise. */
  named?: NamedPlan;
  /**
   * The host's nftables ruleset exactly as `keel render` writes it (`nftables/HOST.nft`,
   * `hostRuleset` of `src/render/nftables.ts`): table `inet keel`, policy drop, each service
   * open only to what its `allow` admits. The lab adds no rules of its own.
   */
  firewall: string;
}

/** One side of a WireGuard pairing: a peer interface in a host namespace or the root namespace. */
export interface WgPeerPlan {
  /** Inventory name of the peer (host or vantage). */
  name: string;
  /** Namespace the peer interface lives in; null for the root namespace (local vantages). */
  ns: string | null;
  /** Host whose namespace holds the peer (for host and via-vantage peers). */
  host?: string;
  ifname: string;
  /** allowed-ips set for this peer on the gateway side: its addresses as /32 or /128. */
  allowedIps: string[];
  /** Gateway endpoint the peer connects to, `ADDRESS:PORT` (IPv6 in brackets). */
  endpoint: string;
  /** allowed-ips set for the gateway on the peer side. */
  gatewayAllowedIps: string[];
}

export interface WgGatewayPlan {
  host: string;
  ns: string;
  ifname: string;
  port: number;
  peers: WgPeerPlan[];
}

export interface LabPlan {
  site: string;
  /** Namespace name prefix, `keel-<site>-`. */
  prefix: string;
  switchNs: string;
  bridges: { network: string; name: string; cidr: string }[];
  hosts: HostPlan[];
  /** The root namespace's links into the networks of local vantages. */
  rootLinks: LinkPlan[];
  /** Routes added in the root namespace, for lab prefixes only. */
  rootRoutes: RoutePlan[];
  /** Addresses of each local vantage (declared, or assigned by the lab). */
  vantageAddresses: Record<string, string[]>;
  wireguard: WgGatewayPlan[];
  /** Prometheus configuration per host running a `prometheus` service. */
  prometheus: Record<string, PrometheusConfig>;
}

/**
 * BIND (`named(8)`) on a DNS server of the twin: it serves the zones `keel render` writes (forward
 * and reverse, `src/render/dns.ts`) as primary, authoritative only (no recursion), on the host's
 * own addresses, UDP and TCP.
 */
export interface NamedPlan {
  /** The service it serves: the host's service of kind `dns`, else `dns` (not declared). */
  service: string;
  /** Port of that service; 53 when the host declares no service of kind `dns`. */
  port: number;
  /** The host's IPv4 addresses (`listen-on`). */
  listen4: string[];
  /** The host's IPv6 addresses (`listen-on-v6`); empty means none. */
  listen6: string[];
}

/** The hosts that run BIND in the twin: `dns.servers`, when the site has a `domain` to serve. */
export function dnsServers(inv: Inventory): string[] {
  return inv.domain === undefined ? [] : [...(inv.dns?.servers ?? [])];
}

/** The BIND plan of a DNS server host (see {@link NamedPlan}). */
export function namedPlan(host: Host): NamedPlan {
  const svc = host.services.find((s) => s.kind === "dns");
  return {
    service: svc?.name ?? "dns",
    port: svc?.port ?? 53,
    listen4: host.addresses.filter((a) => !a.address.includes(":")).map((a) => a.address),
    listen6: host.addresses.filter((a) => a.address.includes(":")).map((a) => a.address),
  };
}

/**
 * named.conf (named.conf(5)) of a DNS server in the twin: working directory `dir` (it holds the
 * rendered `db.*` zone files and `named.conf.zones`, included by absolute path), authoritative
 * only (`recursion no`), no pid file, no session key, no control channel (`controls { };`,
 * so no rndc port: faults reload with SIGHUP), listening on the host's own addresses only.
 */
export function namedConf(dir: string, np: NamedPlan): string {
  const list = (xs: string[]) => (xs.length ? `{ ${xs.map((x) => `${x};`).join(" ")} }` : "{ none; }");
  return [
    "// BIND configuration of a keel lab host: serves the zones keel render writes.",
    "options {",
    `\tdirectory "${dir}";`,
    "\tpid-file none;",
    "\tsession-keyfile none;",
    `\tlisten-on port ${np.port} ${list(np.listen4)};`,
    `\tlisten-on-v6 port ${np.port} ${list(np.listen6)};`,
    "\trecursion no;",
    "\tdnssec-validation no;",
    "\tallow-query { any; };",
    "\tallow-transfer { none; };",
    "};",
    "controls { };",
    `include "${dir}/named.conf.zones";`,
    "",
  ].join("\n");
}

export interface PrometheusTarget {
  host: string;
  target: string;
}

export interface PrometheusConfig {
  port: number;
  targets: PrometheusTarget[];
}

/** Longest namespace name we create (keeps `ip netns` output and /run/netns paths readable). */
const MAX_NS = 40;

/** Short stable hash of the site name, for root-namespace interface names. */
export function siteHash(site: string): string {
  return createHash("sha256").update(site).digest("hex").slice(0, 6);
}

/** Namespace name of a host (or `sw` for the switch). */
export function nsName(site: string, host: string): string {
  return `keel-${site}-${host}`;
}

/** The address just below `addr` (via ipaddr.js byte arrays). */
function previous(addr: Address): Address {
  const bytes = addr.toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    const v = bytes[i]! - 1;
    bytes[i] = (v + 256) % 256;
    if (v >= 0) break;
  }
  return ipaddr.fromByteArray(bytes);
}

/**
 * The highest usable address of a prefix (below broadcast for IPv4) that is not in `used`
 * (canonical forms); throws a UserError when none is free.
 */
export function freeAddressFromTop(cidr: string, used: ReadonlySet<string> = new Set()): string {
  const p = parsePrefix(cidr);
  const first = canonicalAddress(firstUsable(p));
  for (let a = lastUsable(p); ; a = previous(a)) {
    const text = canonicalAddress(a);
    if (!used.has(text)) return text;
    if (text === first)
      throw new UserError(`no free address left in ${cidr} for the lab's root-namespace veth`);
  }
}

/** Prefix length of a CIDR. */
function prefixLen(cidr: string): number {
  return parsePrefix(cidr).length;
}

/** The network (by name) whose prefix contains `address`. */
function networkOf(inv: Inventory, address: string): Network | undefined {
  return inv.networks.find((n) => contains(parsePrefix(n.cidr), address));
}

/** `/32` or `/128` host prefix of an address. */
export function hostPrefix(address: string): string {
  return `${address}/${familyOf(parseAddress(address)) === 6 ? 128 : 32}`;
}

/** The address of a host on a network, if attached. */
function addrOn(host: Host, network: string): string | undefined {
  return host.addresses.find((a) => a.network === network)?.address;
}

/** True for hosts that forward packets: ip_forward (or IPv6 forwarding) on and several networks. */
function isRouter(host: Host): boolean {
  const fwd =
    host.sysctl["net.ipv4.ip_forward"] === "1" ||
    host.sysctl["net.ipv4.conf.all.forwarding"] === "1" ||
    host.sysctl["net.ipv6.conf.all.forwarding"] === "1";
  return fwd && host.addresses.length > 1;
}

/**
 * Routes from a namespace attached to `attached` networks to every other network reachable
 * through router hosts (breadth-first over networks, so the fewest hops win; ties go to the
 * router declared first). The next hop is the first router's address on an attached network.
 */
export function routesFor(inv: Inventory, attached: string[], self?: string): RoutePlan[] {
  const routers = inv.hosts.filter((h) => isRouter(h) && h.name !== self);
  const firstHop = new Map<string, string>(); // network -> next-hop address
  const seen = new Set(attached);
  let frontier = [...attached];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const net of frontier) {
      for (const r of routers) {
        const here = addrOn(r, net);
        if (here === undefined) continue;
        for (const a of r.addresses) {
          if (seen.has(a.network)) continue;
          seen.add(a.network);
          next.push(a.network);
          firstHop.set(a.network, attached.includes(net) ? here : (firstHop.get(net) ?? here));
        }
      }
    }
    frontier = next;
  }
  const out: RoutePlan[] = [];
  for (const n of inv.networks) {
    const via = firstHop.get(n.name);
    if (via === undefined) continue;
    const viaFamily = via.includes(":") ? 6 : 4;
    if (viaFamily !== n.family) continue; // no cross-family next hops
    out.push({ network: n.name, cidr: n.cidr, via, family: n.family });
  }
  return out;
}

/**
 * Addresses of each local vantage: declared ones, else the last usable address of each of its
 * networks that no host, gateway or other vantage uses.
 */
export function localVantageAddresses(inv: Inventory): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const used = new Set<string>([
    ...inv.hosts.flatMap((h) => h.addresses.map((a) => a.address)),
    ...inv.networks.flatMap((n) => (n.gateway ? [n.gateway] : [])),
    ...inv.vantages.flatMap((v) => (v.type === "local" ? v.addresses.map((a) => a.address) : [])),
  ]);
  for (const v of inv.vantages) {
    if (v.type !== "local") continue;
    const addrs: string[] = [];
    for (const netName of v.networks) {
      const declared = v.addresses.filter((a) => a.network === netName).map((a) => a.address);
      const net = inv.networks.find((n) => n.name === netName);
      if (declared.length > 0) addrs.push(...declared);
      else if (net) addrs.push(freeAddressFromTop(net.cidr, used));
    }
    out[v.name] = addrs;
  }
  return out;
}

/** Network-qualified addresses of a vantage as the lab sees it. */
function vantageNetAddresses(inv: Inventory, v: Vantage, local: Record<string, string[]>) {
  if (v.type === "via") {
    const h = inv.hosts.find((x) => x.name === v.via);
    return h ? h.addresses : [];
  }
  const addrs = local[v.name] ?? [];
  return addrs.map((address) => ({
    address,
    network: networkOf(inv, address)?.name ?? "",
  }));
}

/**
 * Decides which program serves a service. `dnsServer`: the host is in `dns.servers`, so its
 * service of kind `dns` is served by BIND. `postgresPorts`: ports of the pgBackRest primaries the
 * host runs (a kindless tcp service on one of them is that PostgreSQL, started by the backups twin).
 */
export function servicePlan(
  host: Host,
  s: Service,
  dnsServer = false,
  postgresPorts: ReadonlySet<number> = new Set(),
): ServicePlan {
  const base = { service: s.name, port: s.port, protocol: s.protocol };
  if (s.kind === "dns" && dnsServer) return { ...base, daemon: "named", real: true };
  if (s.kind === "ssh" && s.protocol === "tcp") return { ...base, daemon: "sshd", real: true };
  if (s.kind === "node_exporter" && s.protocol === "tcp")
    return { ...base, daemon: "node_exporter", real: true };
  if (s.kind === "prometheus" && s.protocol === "tcp") return { ...base, daemon: "prometheus", real: true };
  if (host.wireguard?.port === s.port && s.protocol === "udp")
    return { ...base, daemon: "wireguard", real: true };
  if (s.kind === undefined && s.protocol === "tcp" && postgresPorts.has(s.port))
    return { ...base, daemon: "postgres", real: true };
  const standin = { ...base, daemon: "standin" as const, real: false };
  if (s.protocol === "udp") return { ...standin, mode: "udp" };
  if (s.kind === "grafana") {
    return {
      ...standin,
      mode: "grafana",
      httpPath: s.http?.path ?? "/api/health",
      httpStatus: s.http?.expect ?? 200,
    };
  }
  if (s.kind === "http" || s.http) {
    return { ...standin, mode: "http", httpPath: s.http?.path ?? "/", httpStatus: s.http?.expect ?? 200 };
  }
  return { ...standin, mode: "tcp" };
}

/** The address Prometheus on `prom` uses to scrape `target`: on a shared network, else the first. */
function scrapeAddress(prom: Host, target: Host): string | undefined {
  for (const a of target.addresses) if (addrOn(prom, a.network) !== undefined) return a.address;
  return target.addresses[0]?.address;
}

/** Scrape targets of a Prometheus on host `prom`: every `monitored` host's node_exporter. */
export function prometheusTargets(inv: Inventory, prom: Host): PrometheusTarget[] {
  const out: PrometheusTarget[] = [];
  for (const h of inv.hosts) {
    if (!h.tags.includes("monitored")) continue;
    const ne = h.services.find((s) => s.kind === "node_exporter");
    const addr = scrapeAddress(prom, h);
    if (!ne || addr === undefined) continue;
    out.push({ host: h.name, target: hostPort(addr, ne.port) });
  }
  return out;
}

/** Prometheus YAML (written as JSON, which YAML accepts) for the given targets. */
export function prometheusYaml(targets: PrometheusTarget[]): string {
  const config = {
    global: { scrape_interval: "2s", scrape_timeout: "1s", evaluation_interval: "2s" },
    scrape_configs: [
      {
        job_name: "node",
        static_configs: targets.map((t) => ({ targets: [t.target], labels: { host: t.host } })),
      },
    ],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function shared(a: { network: string }[], b: { network: string }[]): string | undefined {
  return a.find((x) => b.some((y) => y.network === x.network))?.network;
}

/** Plans WireGuard: one gateway interface per host with `wireguard:`, one peer interface per declared peer. */
function planWireguard(inv: Inventory, local: Record<string, string[]>, hash: string): WgGatewayPlan[] {
  const out: WgGatewayPlan[] = [];
  inv.hosts.forEach((gw, gi) => {
    if (!gw.wireguard) return;
    const port = gw.wireguard.port ?? 51820;
    const peers: WgPeerPlan[] = [];
    gw.wireguard.peers.forEach((peerName, pi) => {
      const host = inv.hosts.find((h) => h.name === peerName);
      const vantage = inv.vantages.find((v) => v.name === peerName);
      let netAddrs: { network: string; address: string }[];
      let ns: string | null;
      let peerHost: string | undefined;
      if (host) {
        netAddrs = host.addresses;
        ns = nsName(inv.site, host.name);
        peerHost = host.name;
      } else if (vantage) {
        netAddrs = vantageNetAddresses(inv, vantage, local);
        if (vantage.type === "via") {
          peerHost = vantage.via;
          ns = nsName(inv.site, vantage.via ?? "");
        } else ns = null;
      } else throw new UserError(`wireguard peer "${peerName}" of ${gw.name} is not a host or vantage`);
      const net = shared(netAddrs, gw.addresses);
      const onNet = net === undefined ? netAddrs : netAddrs.filter((a) => a.network === net);
      const gwAddr = net === undefined ? gw.addresses[0]?.address : addrOn(gw, net);
      if (gwAddr === undefined) throw new UserError(`wireguard gateway ${gw.name} has no address`);
      peers.push({
        name: peerName,
        ns,
        ...(peerHost !== undefined ? { host: peerHost } : {}),
        ifname: ns === null ? `kw${hash}g${gi}p${pi}` : `wgp${gi}p${pi}`,
        allowedIps: onNet.map((a) => hostPrefix(a.address)),
        endpoint: hostPort(gwAddr, port),
        gatewayAllowedIps: [hostPrefix(gwAddr)],
      });
    });
    out.push({ host: gw.name, ns: nsName(inv.site, gw.name), ifname: gw.wireguard.interface, port, peers });
  });
  return out;
}

/** Computes the whole lab plan; throws UserError when the inventory cannot be twinned. */
export function planLab(inv: Inventory): LabPlan {
  const hash = siteHash(inv.site);
  const prefix = `keel-${inv.site}-`;
  const switchNs = nsName(inv.site, "sw");
  const problems: string[] = [];
  for (const h of inv.hosts) {
    const ns = nsName(inv.site, h.name);
    if (ns.length > MAX_NS) problems.push(`namespace name ${ns} is longer than ${MAX_NS} characters`);
    if (h.name === "sw") problems.push(`host name "sw" is reserved by the lab for the switch namespace`);
  }
  if (switchNs.length > MAX_NS) problems.push(`site name ${inv.site} is too long for lab namespace names`);
  problems.push(...backupsTwinProblems(inv));
  if (problems.length > 0) throw new UserError(problems.map((message) => ({ message })));

  const netIndex = new Map(inv.networks.map((n, i) => [n.name, i]));
  const bridges = inv.networks.map((n, i) => ({ network: n.name, name: `br${i}`, cidr: n.cidr }));
  const netByName = new Map<string, Network>(inv.networks.map((n) => [n.name, n]));
  const local = localVantageAddresses(inv);

  const servers = new Set(dnsServers(inv));
  // the backups twin runs PostgreSQL on each stanza's primary (src/lab/backups.ts)
  const postgresPorts = new Map<string, Set<number>>();
  for (const st of inv.backups.pgbackrest) {
    const p = st.postgres.find((x) => x.role === "primary");
    if (p) postgresPorts.set(p.host, (postgresPorts.get(p.host) ?? new Set()).add(p.port));
  }
  const hosts: HostPlan[] = inv.hosts.map((h, hi) => ({
    host: h.name,
    ns: nsName(inv.site, h.name),
    links: h.addresses.map((a, j) => ({
      network: a.network,
      ifname: `eth${j}`,
      swPort: `h${hi}n${j}`,
      bridge: `br${netIndex.get(a.network)}`,
      addresses: [`${a.address}/${prefixLen(netByName.get(a.network)?.cidr ?? "0.0.0.0/0")}`],
    })),
    routes: routesFor(
      inv,
      h.addresses.map((a) => a.network),
      h.name,
    ),
    sysctl: Object.entries(h.sysctl).filter(([k]) => k.startsWith("net.")),
    skippedSysctl: Object.keys(h.sysctl).filter((k) => !k.startsWith("net.")),
    services: h.services.map((s) => servicePlan(h, s, servers.has(h.name), postgresPorts.get(h.name))),
    ...(servers.has(h.name) ? { named: namedPlan(h) } : {}),
    firewall: hostRuleset(inv, h),
  }));

  // root namespace: one link per network of the local vantages, holding their addresses
  const rootNets = new Map<string, Set<string>>();
  for (const v of inv.vantages) {
    if (v.type !== "local") continue;
    for (const address of local[v.name] ?? []) {
      const net = networkOf(inv, address);
      if (!net) continue;
      const set = rootNets.get(net.name) ?? new Set<string>();
      set.add(address);
      rootNets.set(net.name, set);
    }
  }
  const rootLinks: LinkPlan[] = [...rootNets.entries()].map(([network, addrs]) => {
    const i = netIndex.get(network) ?? 0;
    return {
      network,
      ifname: `kl${hash}n${i}`,
      swPort: `root${i}`,
      bridge: `br${i}`,
      addresses: [...addrs].map((a) => `${a}/${prefixLen(netByName.get(network)?.cidr ?? "0.0.0.0/0")}`),
    };
  });
  const rootRoutes = rootLinks.length > 0 ? routesFor(inv, [...rootNets.keys()]) : [];

  const prometheus: Record<string, PrometheusConfig> = {};
  for (const h of inv.hosts) {
    const p = h.services.find((s) => s.kind === "prometheus");
    if (p) prometheus[h.name] = { port: p.port, targets: prometheusTargets(inv, h) };
  }

  return {
    site: inv.site,
    prefix,
    switchNs,
    bridges,
    hosts,
    rootLinks,
    rootRoutes,
    vantageAddresses: local,
    wireguard: planWireguard(inv, local, hash),
    prometheus,
  };
}
