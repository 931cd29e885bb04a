/**
 * A hand-built Inventory mirroring examples/lab/keel.yaml, with its own site name and prefixes
 * so that test labs never collide with each other or with a lab of the example.
 */
import type { Host, Inventory, Service, SourcePosition } from "../../src/inventory/model.js";
import { defaultAlertSettings, defaultServeSettings } from "../../src/inventory/serve-settings.js";

const pos: SourcePosition = { file: "fixture", line: 1, col: 1 };

function svc(name: string, port: number, allow: string[], extra: Partial<Service> = {}): Service {
  return { name, port, protocol: "tcp", allow, fromDefaults: false, pos, ...extra };
}

/** Options of {@link labInventory}. */
export interface FixtureOptions {
  site: string;
  /** Directory the inventory pretends to live in (the lab state goes to DIR/.keel/lab). */
  dir: string;
  /** Second octet of the `lan` network (10.X.0.0/24); `vpn` uses X+1. */
  octet: number;
}

/**
 * The example site: gw-vpn (router + WireGuard), mon (Prometheus, Grafana), gpu, svc-1 (web).
 * Unlike the example, gpu is also a WireGuard peer of gw-vpn, so a peer inside a host
 * namespace is exercised too.
 */
export function labInventory(o: FixtureOptions): Inventory {
  const lan = `10.${o.octet}.0`;
  const vpn = `10.${o.octet + 1}.0`;
  const sshAllow = ["vpn", "lan"];
  const neAllow = ["mon", "vpn"];
  const ssh = (): Service => svc("ssh", 22, sshAllow, { kind: "ssh", fromDefaults: true });
  const ne = (): Service =>
    svc("node_exporter", 9100, neAllow, { kind: "node_exporter", fromDefaults: true });
  const host = (
    name: string,
    addrs: [string, string][],
    services: Service[],
    extra: Partial<Host> = {},
  ): Host => ({
    name,
    addresses: addrs.map(([network, address]) => ({ network, address })),
    tags: ["monitored"],
    sysctl: {},
    services: [...services, ssh(), ne()],
    ssh: { user: "root", port: 22, identity: ".keel/lab/id_ed25519", allow: sshAllow },
    listenersIgnore: [],
    pos,
    ...extra,
  });
  return {
    file: `${o.dir}/keel.yaml`,
    dir: o.dir,
    version: 1,
    site: o.site,
    hypervisors: [],
    images: [],
    backups: { pgbackrest: [], walg: [] },
    networks: [
      {
        name: "lan",
        cidr: `${lan}.0/24`,
        family: 4,
        dns: [],
        ranges: [
          { name: "infra", cidr: `${lan}.0/28` },
          { name: "vms", cidr: `${lan}.128/25` },
        ],
        reserved: [],
        pos,
      },
      { name: "vpn", cidr: `${vpn}.0/24`, family: 4, dns: [], ranges: [], reserved: [], pos },
    ],
    defaults: {
      ssh: { user: "root", port: 22, identity: ".keel/lab/id_ed25519", allow: sshAllow },
      nodeExporter: { port: 9100, allow: neAllow },
      knownHosts: `${o.dir}/.keel/known_hosts`,
      hostKeyChecking: "accept-new",
    },
    hosts: [
      host(
        "gw-vpn",
        [
          ["lan", `${lan}.2`],
          ["vpn", `${vpn}.1`],
        ],
        [svc("wireguard", 51820, ["any"], { protocol: "udp" })],
        {
          sysctl: { "net.ipv4.ip_forward": "1" },
          wireguard: { interface: "wg0", port: 51820, peers: ["admin", "gpu"] },
          tags: ["monitored", "vpn-gateway"],
        },
      ),
      host(
        "mon",
        [["lan", `${lan}.3`]],
        [
          svc("prometheus", 9090, ["vpn", "lan"], {
            kind: "prometheus",
            http: { path: "/-/healthy", expect: 200 },
          }),
          svc("grafana", 3000, ["vpn"], { kind: "grafana", http: { path: "/api/health", expect: 200 } }),
        ],
      ),
      host("gpu", [["lan", `${lan}.10`]], []),
      host(
        "svc-1",
        [["lan", `${lan}.20`]],
        [svc("web", 8080, ["lan", "vpn"], { kind: "http", http: { path: "/", expect: 200 } })],
      ),
    ],
    serve: defaultServeSettings(),
    alerts: defaultAlertSettings(),
    ipam: { lockFile: "keel.lock", lockChanged: false, changes: [] },
    vantages: [
      {
        name: "admin",
        type: "local",
        networks: ["vpn"],
        addresses: [{ network: "vpn", address: `${vpn}.250` }],
        implicit: false,
        pos,
      },
      {
        name: "lan-probe",
        type: "via",
        via: "svc-1",
        networks: ["lan"],
        addresses: [{ network: "lan", address: `${lan}.20` }],
        implicit: false,
        pos,
      },
    ],
  };
}
