/**
 * Inventory → CheckSpec[]: the day-2 checklist compiled from the inventory. Pure and
 * deterministic: the same inventory always yields the same checks in the same order.
 *
 * Semantics follow `shared/design/inventory.md` ("Who may reach what" and "What the inventory
 * promises"):
 * - `allow` admits a vantage when it lists `any`, the vantage's name, one of the vantage's
 *   networks, or the vantage's host (`via: HOST` or a local vantage's `host:`).
 * - A vantage probes a host at the host's address on the first network they share, else at the
 *   host's first address (reached by routing).
 * - A vantage may reach a host when they share a network or one of the host's services admits
 *   the vantage; only those vantages get network checks of that host.
 * - A `via` vantage does not probe its own host: those checks are derived with `skip`.
 * - Checks that run on the host itself over SSH (listeners, sysctl, wireguard.peers) use the
 *   first vantage whose SSH access `allow` admits; their ids carry no `@VANTAGE`.
 * - Content checks (http, prometheus.targets, grafana, node_exporter) run from the first vantage
 *   the service admits, so a site is not asked the same question from every vantage.
 * - `dns.records` runs for every host in `dns.servers` (of a site with a `domain`) from every
 *   vantage its service of kind `dns` admits (without one: every vantage that may reach it), as
 *   `NS/dns.records/SERVICE@VANTAGE` (`NS/dns.records@VANTAGE` without a dns service): a
 *   resolver answering differently on one path is what it is there to find.
 * - A UDP service's `port.open`/`port.closed` carry its protocol probe (`UdpServiceProbe`): a
 *   DNS query for kind `dns`; for the host's WireGuard listen port (`port.open` only), the
 *   interface's handshakes over SSH from the same vantage, when it may log in.
 */

import { reverseName } from "../dns/zone.js";
import { resolveIdentityPath } from "../inventory/load.js";
import type { Host, Inventory, Protocol, Service, Vantage } from "../inventory/model.js";
import { hostPort } from "../net/hostport.js";
import { parseAddress, parsePrefix } from "../net/prefix.js";
import type { CheckKind, CheckParams, CheckSpec, DnsServerRef, SshTarget, UdpServiceProbe } from "./types.js";

/** Local listeners that never count as unexpected when a host declares no `listeners.ignore`. */
export const DEFAULT_LISTENER_IGNORE = ["127.0.0.0/8", "::1"];

/** The contract's limit on WireGuard handshake age, in seconds. */
export const WIREGUARD_MAX_HANDSHAKE_AGE_SEC = 180;

export interface DeriveOptions {
  /**
   * Restrict derivation to these vantages (`--vantage`): checks from other vantages are not
   * derived, and once-per-site checks pick their vantage among these only.
   */
  vantages?: string[];
}

/** Builds a check id `HOST/KIND[/SERVICE][@VANTAGE]` (the contract's stable id format). */
export function checkId(host: string, kind: CheckKind, service?: string, vantage?: string): string {
  return `${host}/${kind}${service ? `/${service}` : ""}${vantage ? `@${vantage}` : ""}`;
}

/** True when `allow` admits vantage `v` (see module doc). */
export function admits(allow: readonly string[], v: Vantage): boolean {
  for (const name of allow) {
    if (name === "any" || name === v.name) return true;
    if (v.networks.includes(name)) return true;
    if (v.via === name || v.host === name) return true;
  }
  return false;
}

/** The address vantage `v` uses to reach host `h` (first shared network, else the first address). */
export function probeAddress(h: Host, v: Vantage): string {
  for (const a of h.addresses) if (v.networks.includes(a.network)) return a.address;
  const first = h.addresses[0];
  if (!first) throw new Error(`host ${h.name} has no address`);
  return first.address;
}

/** Whether vantage `v` may reach host `h`: a shared network or a service that admits it. */
export function mayReach(h: Host, v: Vantage): boolean {
  if (h.addresses.some((a) => v.networks.includes(a.network))) return true;
  return h.services.some((s) => admits(s.allow, v));
}

/** How vantage `v` logs in to host `h` over SSH; undefined when the host has `ssh: false`. */
export function sshTarget(inv: Inventory, h: Host, v: Vantage): SshTarget | undefined {
  if (!h.ssh) return undefined;
  const target: SshTarget = { host: h.name, address: probeAddress(h, v), port: h.ssh.port, user: h.ssh.user };
  if (h.ssh.identity) target.identity = resolveIdentityPath(inv, h.ssh.identity);
  return target;
}

function baseUrl(address: string, port: number): string {
  return `http://${hostPort(address, port)}`;
}

/** Human summary of an allow list for messages, e.g. `mon, vpn`. */
function allowSummary(allow: readonly string[]): string {
  return allow.join(", ");
}

/**
 * Derives every check of the inventory.
 *
 * @returns specs in a stable order: hosts in declaration order; per host, network checks per
 *   vantage, then content checks, then host-side checks.
 */
export function deriveChecks(inv: Inventory, opts: DeriveOptions = {}): CheckSpec[] {
  const vantages = opts.vantages ? inv.vantages.filter((v) => opts.vantages?.includes(v.name)) : inv.vantages;
  const hostsByName = new Map(inv.hosts.map((h) => [h.name, h]));
  const specs: CheckSpec[] = [];
  const domain = inv.domain?.replace(/\.$/, "").toLowerCase();
  const dnsServers = new Set(domain === undefined ? [] : (inv.dns?.servers ?? []));
  const dnsExpect = domain === undefined ? undefined : expectedRecords(inv, domain);

  const add = (
    h: Host,
    kind: CheckKind,
    v: Vantage,
    params: CheckParams,
    service?: string,
    withVantage = true,
  ): CheckSpec => {
    const spec: CheckSpec = {
      id: checkId(h.name, kind, service, withVantage ? v.name : undefined),
      kind,
      host: h.name,
      vantage: v.name,
      params,
    };
    if (service !== undefined) spec.service = service;
    specs.push(spec);
    return spec;
  };

  for (const h of inv.hosts) {
    // Network checks, from every vantage that may reach the host.
    for (const v of vantages) {
      if (!mayReach(h, v)) continue;
      const first = specs.length;
      const address = probeAddress(h, v);
      const admitted = h.services.filter((s) => admits(s.allow, v));
      // Any declared TCP port: a refusal from one the vantage is not admitted to also proves the
      // host is up. Admitted ports first, since they are the likeliest to answer.
      const tcpPorts = [
        ...new Set([...admitted, ...h.services].filter((s) => s.protocol === "tcp").map((s) => s.port)),
      ];
      add(h, "reachable", v, { kind: "reachable", address, tcpPorts });
      const ssh =
        h.services.find((s) => s.kind === "ssh" && s.name === "ssh") ??
        h.services.find((s) => s.kind === "ssh");
      if (ssh && h.ssh && admits(ssh.allow, v)) {
        add(h, "ssh.hostkey", v, { kind: "ssh.hostkey", address, port: ssh.port });
        add(h, "ssh.key-only", v, { kind: "ssh.key-only", address, port: ssh.port, user: h.ssh.user });
        const target = sshTarget(inv, h, v);
        if (target) add(h, "ssh.login", v, { kind: "ssh.login", target });
      }
      for (const s of h.services) {
        const probe = udpProbeOf(h, s, v);
        if (admits(s.allow, v)) {
          const params: CheckParams = { kind: "port.open", address, port: s.port, protocol: s.protocol };
          if (probe) params.probe = probe;
          add(h, "port.open", v, params, s.name);
        } else {
          const params: CheckParams = {
            kind: "port.closed",
            address,
            port: s.port,
            protocol: s.protocol,
            allowed: allowSummary(s.allow),
          };
          if (probe?.kind === "dns") params.probe = probe;
          add(h, "port.closed", v, params, s.name);
        }
      }
      if (dnsServers.has(h.name)) {
        const ns = h.services.find((s) => s.kind === "dns");
        if (!ns || admits(ns.allow, v)) add(h, "dns.records", v, dnsRecordsParams(h, v), ns?.name);
      }
      if (v.type === "via" && v.via === h.name) {
        for (const spec of specs.slice(first)) spec.skip = `vantage ${v.name} runs on ${h.name} itself`;
      }
    }

    // Content checks, once, from the first vantage the service admits (not one running on the host).
    for (const s of h.services) {
      const v = vantages.find((x) => admits(s.allow, x) && !(x.type === "via" && x.via === h.name));
      if (!v) continue;
      const address = probeAddress(h, v);
      if (s.http) {
        const params: CheckParams = {
          kind: "http",
          url: `${baseUrl(address, s.port)}${s.http.path}`,
          address,
          port: s.port,
          path: s.http.path,
          expect: s.http.expect,
        };
        if (s.http.body !== undefined) params.body = s.http.body;
        add(h, "http", v, params, s.name);
      }
      contentCheck(h, s, v, address);
    }

    // Host-side checks over SSH, through the first vantage SSH admits.
    const sshService = h.services.find((s) => s.kind === "ssh");
    const transport = h.ssh
      ? vantages.find(
          (v) => mayReach(h, v) && admits(sshService?.allow ?? h.ssh?.allow ?? [], v) && v.via !== h.name,
        )
      : undefined;
    const hostSide: { kind: CheckKind; service?: string; make: (t: SshTarget) => CheckParams }[] = [];
    hostSide.push({
      kind: "listeners",
      make: (target) => ({
        kind: "listeners",
        target,
        declared: declaredListeners(h),
        ignore: h.listenersIgnore.length > 0 ? h.listenersIgnore : DEFAULT_LISTENER_IGNORE,
      }),
    });
    for (const [key, expected] of Object.entries(h.sysctl)) {
      hostSide.push({
        kind: "sysctl",
        service: key,
        make: (target) => ({ kind: "sysctl", target, key, expected }),
      });
    }
    if (h.wireguard) {
      const wg = h.wireguard;
      hostSide.push({
        kind: "wireguard.peers",
        service: wg.interface,
        make: (target) => ({
          kind: "wireguard.peers",
          target,
          interface: wg.interface,
          peers: wg.peers.map((name) => ({ name, addresses: peerAddresses(inv, hostsByName, name) })),
          maxHandshakeAgeSec: WIREGUARD_MAX_HANDSHAKE_AGE_SEC,
        }),
      });
    }
    for (const item of hostSide) {
      if (transport) {
        const target = sshTarget(inv, h, transport);
        if (target) add(h, item.kind, transport, item.make(target), item.service, false);
        continue;
      }
      // No way in: still list the check so the report shows the promise as undecided.
      const reason = !h.ssh
        ? `${h.name} has ssh: false, so host-side checks cannot run`
        : `no selected vantage may reach ${h.name}'s SSH port (allow: ${allowSummary(h.ssh.allow)})`;
      const placeholder: SshTarget = {
        host: h.name,
        address: h.addresses[0]?.address ?? "",
        port: 0,
        user: "",
      };
      const spec: CheckSpec = {
        id: checkId(h.name, item.kind, item.service),
        kind: item.kind,
        host: h.name,
        vantage: "",
        params: item.make(placeholder),
        skip: reason,
      };
      if (item.service !== undefined) spec.service = item.service;
      specs.push(spec);
    }
  }
  return specs;

  /**
   * The protocol probe of a UDP service, seen from vantage `v`: a DNS query (SOA of the domain,
   * else of the root) for a service of kind `dns`; the interface's handshakes, over SSH from `v`
   * when `v` may log in, for the host's WireGuard listen port. Undefined for TCP and for other
   * UDP services.
   */
  function udpProbeOf(h: Host, s: Service, v: Vantage): UdpServiceProbe | undefined {
    if (s.protocol !== "udp") return undefined;
    if (s.kind === "dns") return { kind: "dns", zone: domain ?? "." };
    const wg = h.wireguard;
    if (!wg || wg.port !== s.port || v.via === h.name) return undefined;
    const sshService = h.services.find((x) => x.kind === "ssh");
    if (!admits(sshService?.allow ?? h.ssh?.allow ?? [], v)) return undefined;
    const target = sshTarget(inv, h, v);
    if (!target) return undefined;
    return {
      kind: "wireguard",
      target,
      interface: wg.interface,
      maxHandshakeAgeSec: WIREGUARD_MAX_HANDSHAKE_AGE_SEC,
    };
  }

  /** The name server `ns` as vantage `v` asks it: probe address, port of its dns service (else 53). */
  function serverRef(ns: Host, v: Vantage): DnsServerRef {
    const port = ns.services.find((s) => s.kind === "dns")?.port ?? 53;
    return { host: ns.name, address: probeAddress(ns, v), port };
  }

  function dnsRecordsParams(h: Host, v: Vantage): CheckParams {
    const peers = [...dnsServers]
      .filter((name) => name !== h.name)
      .map((name) => hostsByName.get(name))
      .filter((p): p is Host => {
        if (!p || !mayReach(p, v) || (v.type === "via" && v.via === p.name)) return false;
        const ns = p.services.find((s) => s.kind === "dns");
        return !ns || admits(ns.allow, v);
      })
      .map((p) => serverRef(p, v));
    const e = dnsExpect!;
    return {
      kind: "dns.records",
      server: serverRef(h, v),
      peers,
      zones: e.zones,
      names: e.names,
      ptr: e.ptr,
    };
  }

  function contentCheck(h: Host, s: Service, v: Vantage, address: string): void {
    const url = baseUrl(address, s.port);
    switch (s.kind) {
      case "prometheus":
        add(
          h,
          "prometheus.targets",
          v,
          {
            kind: "prometheus.targets",
            baseUrl: url,
            address,
            port: s.port,
            monitored: inv.hosts
              .filter(
                (m) => m.tags.includes("monitored") && m.services.some((x) => x.kind === "node_exporter"),
              )
              .map((m) => ({
                host: m.name,
                addresses: m.addresses.map((a) => a.address),
                port: m.services.find((x) => x.kind === "node_exporter")!.port,
              })),
          },
          s.name,
        );
        break;
      case "grafana":
        add(h, "grafana", v, { kind: "grafana", baseUrl: url, address, port: s.port }, s.name);
        break;
      case "node_exporter":
        add(h, "node_exporter", v, { kind: "node_exporter", baseUrl: url, address, port: s.port }, s.name);
        break;
      default:
        break;
    }
  }
}

/**
 * The services a host should be listening for, including its WireGuard listen port. A service of
 * kind `dns` listens on its port over both UDP and TCP (RFC 7766 §5), whichever it declares.
 */
function declaredListeners(h: Host): { service: string; port: number; protocol: Protocol }[] {
  const out = h.services.flatMap((s) => {
    const own = { service: s.name, port: s.port, protocol: s.protocol };
    if (s.kind !== "dns") return [own];
    return [own, { ...own, protocol: (s.protocol === "udp" ? "tcp" : "udp") as Protocol }];
  });
  const wg = h.wireguard;
  if (wg?.port !== undefined && !out.some((d) => d.port === wg.port && d.protocol === "udp")) {
    out.push({ service: `wireguard ${wg.interface}`, port: wg.port, protocol: "udp" });
  }
  return out;
}

/**
 * What every declared DNS server must answer (`dns.records`): `HOST.DOMAIN` → its IPv4 (A) and
 * IPv6 (AAAA) addresses, each address → `HOST.DOMAIN` (PTR), and the zones the renderer writes
 * (the forward zone, then each reverse zone holding a host address, as `src/render/dns.ts` names
 * them: octet boundary for IPv4, nibble boundary for IPv6).
 */
export function expectedRecords(
  inv: Inventory,
  domain: string,
): {
  zones: string[];
  names: { name: string; a: string[]; aaaa: string[] }[];
  ptr: { address: string; name: string }[];
} {
  const lengthOf = new Map(inv.networks.map((n) => [n.name, parsePrefix(n.cidr).length]));
  const reverse = new Set<string>();
  const names = inv.hosts.map((h) => ({
    name: `${h.name}.${domain}`,
    a: h.addresses.filter((a) => !a.address.includes(":")).map((a) => a.address),
    aaaa: h.addresses.filter((a) => a.address.includes(":")).map((a) => a.address),
  }));
  const ptr = inv.hosts.flatMap((h) =>
    h.addresses.map((a) => {
      const addr = parseAddress(a.address);
      const v4 = addr.kind() === "ipv4";
      reverse.add(reverseName(addr, lengthOf.get(a.network) ?? (v4 ? 24 : 64)).zone);
      return { address: a.address, name: `${h.name}.${domain}` };
    }),
  );
  return { zones: [domain, ...[...reverse].sort()], names, ptr };
}

/** Addresses that identify a WireGuard peer (a host's or a vantage's addresses). */
function peerAddresses(inv: Inventory, hosts: Map<string, Host>, name: string): string[] {
  const h = hosts.get(name);
  if (h) return h.addresses.map((a) => a.address);
  const v = inv.vantages.find((x) => x.name === name);
  return v ? v.addresses.map((a) => a.address) : [];
}
