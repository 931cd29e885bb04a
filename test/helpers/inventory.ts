/**
 * Builds normalised Inventory objects for unit tests of pure functions (derive, report), in the
 * shape the loader produces. Tests of the loader itself read YAML files instead.
 */
import type { Host, Inventory, Service, Vantage } from "../../src/inventory/model.js";
import { defaultAlertSettings, defaultServeSettings } from "../../src/inventory/serve-settings.js";

const pos = { file: "test.yaml", line: 1, col: 1 };

export function svc(
  name: string,
  port: number,
  allow: string[] = ["any"],
  extra: Partial<Service> = {},
): Service {
  return { name, port, protocol: "tcp", allow, fromDefaults: false, pos, ...extra };
}

export function host(name: string, addresses: Record<string, string>, extra: Partial<Host> = {}): Host {
  const h: Host = {
    name,
    addresses: Object.entries(addresses).map(([network, address]) => ({ network, address })),
    tags: [],
    sysctl: {},
    services: [],
    ssh: { user: "root", port: 22, identity: "id_test", allow: ["any"] },
    listenersIgnore: [],
    pos,
    ...extra,
  };
  if (h.ssh && !h.services.some((s) => s.name === "ssh")) {
    h.services.push({ ...svc("ssh", h.ssh.port, h.ssh.allow), kind: "ssh", fromDefaults: true });
  }
  return h;
}

export function vantage(name: string, v: Partial<Vantage>): Vantage {
  return { name, type: "local", networks: [], addresses: [], implicit: false, pos, ...v };
}

/** The contract example of shared/design/inventory.md, normalised by hand. */
export function contractExample(): Inventory {
  const sshAllow = ["vpn"];
  const ssh = { user: "root", port: 22, identity: "~/.ssh/id_ed25519", allow: sshAllow };
  const nodeExp = (): Service => ({
    ...svc("node_exporter", 9100, ["mon", "vpn"]),
    kind: "node_exporter",
    fromDefaults: true,
  });
  const hosts: Host[] = [
    host(
      "gw-vpn",
      { lan: "10.20.0.2", vpn: "10.99.0.1" },
      {
        tags: ["monitored", "vpn-gateway"],
        sysctl: { "net.ipv4.ip_forward": "1" },
        wireguard: { interface: "wg0", port: 51820, peers: ["admin"] },
        ssh,
        services: [{ ...svc("wireguard", 51820, ["any"]), protocol: "udp" }],
      },
    ),
    host(
      "mon",
      { lan: "10.20.0.3", vpn: "10.99.0.3" },
      {
        tags: ["monitored"],
        ssh,
        services: [
          {
            ...svc("prometheus", 9090, ["vpn"]),
            kind: "prometheus",
            http: { path: "/-/healthy", expect: 200 },
          },
          { ...svc("grafana", 3000, ["vpn"]), kind: "grafana", http: { path: "/api/health", expect: 200 } },
        ],
      },
    ),
    host(
      "ns1",
      { lan: "10.20.0.4" },
      { ssh, services: [{ ...svc("dns", 53, ["lan", "vpn"]), protocol: "udp", kind: "dns" }] },
    ),
    host("gpu", { lan: "10.20.0.10" }, { tags: ["monitored"], ssh, listenersIgnore: ["127.0.0.0/8", "::1"] }),
  ];
  for (const h of hosts) {
    const sshSvc = h.services.find((s) => s.name === "ssh");
    if (sshSvc) sshSvc.allow = sshAllow;
    if (h.tags.includes("monitored")) h.services.push(nodeExp());
  }
  return {
    file: "keel.yaml",
    dir: "/srv/site",
    version: 1,
    site: "lab",
    domain: "lab.internal",
    hypervisors: [],
    images: [],
    backups: { pgbackrest: [], walg: [] },
    networks: [
      {
        name: "lan",
        cidr: "10.20.0.0/24",
        family: 4,
        gateway: "10.20.0.1",
        dns: ["ns1"],
        ranges: [],
        reserved: [],
        pos,
      },
      { name: "vpn", cidr: "10.99.0.0/24", family: 4, dns: [], ranges: [], reserved: [], pos },
    ],
    defaults: {
      ssh,
      nodeExporter: { port: 9100, allow: ["mon", "vpn"] },
      knownHosts: "/srv/site/.keel/known_hosts",
      hostKeyChecking: "accept-new",
    },
    hosts,
    serve: defaultServeSettings(),
    alerts: defaultAlertSettings(),
    ipam: { lockFile: "/srv/site/keel.lock", lockChanged: false, changes: [] },
    vantages: [
      vantage("admin", { networks: ["vpn"] }),
      vantage("lan-probe", {
        type: "via",
        via: "gpu",
        networks: ["lan"],
        addresses: [{ network: "lan", address: "10.20.0.10" }],
      }),
    ],
  };
}
