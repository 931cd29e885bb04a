/**
 * The `defaults:` and `hosts:` sections: addresses (through `addresses.ts`), `allow` names,
 * unique service names, `http.body` regular expressions, `listeners.ignore`, WireGuard peers;
 * and the normalised hosts, with `defaults` merged in and the implied `ssh` and
 * `node_exporter` services added.
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { AddressError, parsePrefix, tryParseAddress } from "../net/prefix.js";
import { resolveAddresses } from "./addresses.js";
import type { CheckContext } from "./context.js";
import { normaliseMachine } from "./machines.js";
import type {
  Host,
  HttpProbe,
  InterfaceAddress,
  Inventory,
  NodeExporterSettings,
  Service,
  ServiceKind,
  SourcePosition,
  SshSettings,
  VmSettings,
} from "./model.js";
import type { RawInventory, RawService, RawVm, RawVmDefaults, Segment } from "./raw.js";
import { didYouMean, show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Checks `defaults` and every host; returns each host's valid addresses (`auto` ones filled in by allocation). */
export function checkHosts(ctx: CheckContext): Map<string, InterfaceAddress[]> {
  const addresses = new Map<string, InterfaceAddress[]>();
  const d = ctx.raw.defaults ?? {};
  ctx.checkAllow(["defaults", "ssh", "allow"], d.ssh?.allow);
  ctx.checkAllow(["defaults", "node_exporter", "allow"], d.node_exporter?.allow);
  for (const [name, host] of Object.entries(ctx.raw.hosts ?? {})) {
    const segs = ["hosts", name];
    addresses.set(name, resolveAddresses(ctx, [...segs, "address"], host.address, `host "${name}"`, name));
    if (host.ssh) ctx.checkAllow([...segs, "ssh", "allow"], host.ssh.allow);
    if (host.node_exporter) ctx.checkAllow([...segs, "node_exporter", "allow"], host.node_exporter.allow);
    const serviceLines = new Map<string, Segment[]>(); // first declaration of each name
    (host.services ?? []).forEach((svc, i) => {
      const ss = [...segs, "services", i];
      const first = serviceLines.get(svc.name);
      if (first !== undefined)
        ctx.problem(
          [...ss, "name"],
          `service name "${svc.name}" is used twice on host "${name}" (first at line ${ctx.loc.pos(first).line}); service names must be unique per host`,
        );
      else serviceLines.set(svc.name, [...ss, "name"]);
      ctx.checkAllow([...ss, "allow"], svc.allow);
      if (typeof svc.http === "object" && svc.http.body !== undefined) {
        try {
          new RegExp(svc.http.body);
        } catch (e) {
          ctx.problem(
            [...ss, "http", "body"],
            `body ${show(svc.http.body)} of ${ctx.label(ss)} is not a valid regular expression (${(e as Error).message}); expected JavaScript RegExp syntax`,
          );
        }
      }
    });
    (host.listeners?.ignore ?? []).forEach((entry, i) => {
      if (tryParseAddress(entry)) return;
      if (entry.includes("/")) {
        try {
          parsePrefix(entry);
          return;
        } catch (e) {
          if (!(e instanceof AddressError)) throw e;
          ctx.problem(
            [...segs, "listeners", "ignore", i],
            `listeners.ignore of host "${name}": ${e.message}`,
          );
          return;
        }
      }
      ctx.problem(
        [...segs, "listeners", "ignore", i],
        `listeners.ignore entry ${show(entry)} of host "${name}" is neither an address nor a CIDR prefix; expected e.g. 127.0.0.0/8 or ::1`,
      );
    });
  }
  return addresses;
}

/** Every WireGuard peer must be a host or vantage. */
export function checkWireguard(ctx: CheckContext): void {
  const peerNames = [...ctx.hostNames, ...Object.keys(ctx.raw.vantages ?? {})];
  for (const [name, host] of Object.entries(ctx.raw.hosts ?? {})) {
    (host.wireguard?.peers ?? []).forEach((peer, i) => {
      if (peerNames.includes(peer)) return;
      ctx.problem(
        ["hosts", name, "wireguard", "peers", i],
        `wireguard peer "${peer}" of host "${name}" is not a host or vantage${didYouMean(peer, peerNames)}; expected one of ${peerNames.join(", ")}`,
      );
    });
  }
}

/** `Inventory.defaults`: `defaults.ssh` and `defaults.node_exporter` over Keel's own defaults. */
export function normaliseDefaults(raw: RawInventory, file: string): Inventory["defaults"] {
  const d = raw.defaults ?? {};
  const defaultSsh: SshSettings = {
    user: d.ssh?.user ?? "root",
    port: d.ssh?.port ?? 22,
    ...(d.ssh?.identity !== undefined ? { identity: d.ssh.identity } : {}),
    allow: [...(d.ssh?.allow ?? ["any"])],
  };
  const defaultNodeExporter: NodeExporterSettings = {
    port: d.node_exporter?.port ?? 9100,
    allow: [...(d.node_exporter?.allow ?? ["any"])],
  };

  return {
    ssh: defaultSsh,
    nodeExporter: defaultNodeExporter,
    knownHosts: resolveIdentityPath(
      { dir: dirname(resolve(file)) },
      d.ssh?.known_hosts ?? join(".keel", "known_hosts"),
    ),
    hostKeyChecking: d.ssh?.host_key_checking ?? "accept-new",
  };
}

/**
 * The normalised hosts: `defaults` merged, implied services added, each VM given its MAC
 * (`macOf`: host name → MAC, from allocation; `vmidOf`: host name → Proxmox VE VMID) and each
 * host its addresses.
 */
export function normaliseHosts(
  raw: RawInventory,
  loc: Positions,
  defaults: Inventory["defaults"],
  hostAddresses: Map<string, InterfaceAddress[]>,
  macOf: Map<string, string>,
  vmidOf: Map<string, number>,
): Host[] {
  const d = raw.defaults ?? {};
  const defaultSsh = defaults.ssh;
  const defaultNodeExporter = defaults.nodeExporter;
  return Object.entries(raw.hosts ?? {}).map(([name, h]) => {
    const segs = ["hosts", name];
    const tags = [...(h.tags ?? [])];
    const ssh: SshSettings | undefined =
      h.ssh === false
        ? undefined
        : {
            user: h.ssh?.user ?? defaultSsh.user,
            port: h.ssh?.port ?? defaultSsh.port,
            ...((h.ssh?.identity ?? defaultSsh.identity) !== undefined
              ? { identity: (h.ssh?.identity ?? defaultSsh.identity)! }
              : {}),
            allow: [...(h.ssh?.allow ?? defaultSsh.allow)],
          };
    const nodeExporter: NodeExporterSettings | undefined =
      h.node_exporter === false
        ? undefined
        : h.node_exporter !== undefined || tags.includes("monitored")
          ? {
              port: h.node_exporter?.port ?? defaultNodeExporter.port,
              allow: [...(h.node_exporter?.allow ?? defaultNodeExporter.allow)],
            }
          : undefined;
    const services: Service[] = (h.services ?? []).map((s, i) => {
      const [portText, proto] = String(s.port).split("/");
      const http = normaliseHttp(s.http, s.kind);
      return {
        name: s.name,
        ...(s.kind !== undefined ? { kind: s.kind } : {}),
        port: Number(portText),
        protocol: proto === "udp" ? "udp" : "tcp",
        allow: [...(s.allow ?? ["any"])],
        ...(http ? { http } : {}),
        ...(s.dns !== undefined ? { dns: s.dns } : {}),
        fromDefaults: false,
        pos: loc.pos([...segs, "services", i]),
      };
    });
    const declared = new Set(services.map((s) => s.name));
    const hostPos = loc.pos(segs, "key"); // also where implied services point
    const defaultPos = (key: string, defaultKey: string): SourcePosition =>
      (h as unknown as Record<string, unknown>)[key] !== undefined
        ? loc.pos([...segs, key], "key")
        : (d as Record<string, unknown>)[defaultKey] !== undefined
          ? loc.pos(["defaults", defaultKey], "key")
          : hostPos;
    if (ssh && !declared.has("ssh"))
      services.push({
        name: "ssh",
        kind: "ssh",
        port: ssh.port,
        protocol: "tcp",
        allow: [...ssh.allow],
        fromDefaults: true,
        pos: defaultPos("ssh", "ssh"),
      });
    if (nodeExporter && !declared.has("node_exporter"))
      services.push({
        name: "node_exporter",
        kind: "node_exporter",
        port: nodeExporter.port,
        protocol: "tcp",
        allow: [...nodeExporter.allow],
        fromDefaults: true,
        pos: defaultPos("node_exporter", "node_exporter"),
      });
    return {
      name,
      addresses: hostAddresses.get(name) ?? [],
      tags,
      sysctl: Object.fromEntries(Object.entries(h.sysctl ?? {}).map(([k, v]) => [k, String(v)])),
      ...(h.wireguard
        ? {
            wireguard: {
              interface: h.wireguard.interface,
              ...(h.wireguard.port !== undefined ? { port: h.wireguard.port } : {}),
              peers: [...(h.wireguard.peers ?? [])],
            },
          }
        : {}),
      services,
      ...(ssh ? { ssh } : {}),
      listenersIgnore: [...(h.listeners?.ignore ?? [])],
      ...(h.vm
        ? {
            vm: normaliseVm(
              h.vm,
              d.vm,
              macOf.get(name)!,
              vmidOf.get(name),
              hostAddresses.get(name)?.[0]?.network ?? "",
              loc.pos([...segs, "vm"], "key"),
            ),
          }
        : {}),
      pos: hostPos,
    };
  });
}

function normaliseHttp(http: RawService["http"], kind: ServiceKind | undefined): HttpProbe | undefined {
  if (typeof http === "string") return { path: http, expect: 200 };
  if (http)
    return {
      path: http.path,
      expect: http.expect ?? 200,
      ...(http.body !== undefined ? { body: http.body } : {}),
    };
  return kind === "http" ? { path: "/", expect: 200 } : undefined;
}

/**
 * A host's `vm:` over `defaults.vm` (each list replaces the default's, it does not append);
 * `network` is the host's first network, where a managed machine's NIC goes.
 */
function normaliseVm(
  vm: RawVm,
  d: RawVmDefaults | undefined,
  mac: string,
  vmid: number | undefined,
  network: string,
  pos: SourcePosition,
): VmSettings {
  const users = vm.users ?? d?.users ?? [];
  const machine = normaliseMachine(vm, d, network, vmid);
  return {
    mac,
    macAllocated: (vm.mac ?? "auto") === "auto",
    instance: vm.instance ?? 1,
    users: users.map((u) => ({
      name: u.name,
      sshAuthorizedKeys: [...(u.ssh_authorized_keys ?? [])],
      sudo: u.sudo ?? false,
    })),
    packages: [...(vm.packages ?? d?.packages ?? [])],
    packageUpgrade: vm.package_upgrade ?? d?.package_upgrade ?? false,
    ...(machine ? { machine } : {}),
    pos,
  };
}

/**
 * Resolves an SSH identity path as written in the inventory: `~` and `~/…` against the user's
 * home directory, relative paths against the inventory's directory (`inv.dir`); absolute paths
 * are returned unchanged.
 */
export function resolveIdentityPath(inv: Pick<Inventory, "dir">, identity: string): string {
  if (identity === "~") return homedir();
  if (identity.startsWith("~/")) return resolve(homedir(), identity.slice(2));
  return isAbsolute(identity) ? identity : resolve(inv.dir, identity);
}
