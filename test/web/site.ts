/**
 * Loopback sites for the dashboard's browser tests (test/integration/web.test.ts), served by
 * the real `keel serve`: inventories whose hosts sit on 127.0.0.x, and the listeners (TCP and
 * HTTP servers of this process, on free ports) that answer their checks.
 *
 * - {@link startLabSite}: the lab's hosts (gw-vpn, mon, gpu, svc-1) and vantages (admin in
 *   `vpn`, lan-probe in `lan`, both local), with one real hard failure (gpu's node_exporter,
 *   allowed only from mon and vpn, is open to lan-probe) and one real soft one (grafana answers
 *   503; `http` checks need 1,000 failures to turn hard), and 7 days of passing history seeded
 *   through the store's public API (`saveResults`) before serve starts.
 * - {@link bigSiteYaml}: many hosts of a few TCP services each, open but on 1 host in 50 one
 *   that nothing listens on (also the site of `npm run bench:web`).
 */
import { createServer as createHttp } from "node:http";
import { createServer as createTcp, type Server } from "node:net";
import { loadInventory } from "../../src/inventory/load.js";
import { sha256Hex } from "../../src/serve/auth.js";
import { openStore } from "../../src/store/index.js";
import { deriveChecks } from "../../src/verify/derive.js";
import type { CheckResult } from "../../src/verify/types.js";
import { freePort } from "../helpers/daemons.js";

/** The check that fails hard on the lab site: gpu's node_exporter is open to lan-probe. */
export const LAB_HARD = "gpu/port.closed/node_exporter@lan-probe";
/** The check that fails soft on the lab site: grafana's health answers 503. */
export const LAB_SOFT = "mon/http/grafana@admin";

/** Tokens the sites declare (by their SHA-256), by role. */
export const TOKENS = {
  operator: `web-op-${process.pid}-${Date.now()}`,
  viewer: `web-view-${process.pid}-${Date.now()}`,
} as const;

/** Host addresses of the lab site. */
export const ADDRESSES: Record<string, string> = {
  "gw-vpn": "127.0.0.2",
  mon: "127.0.0.3",
  gpu: "127.0.0.10",
  "svc-1": "127.0.0.20",
};

function tokens(): string {
  return `  tokens:
    - { name: ops, role: operator, sha256: ${sha256Hex(TOKENS.operator)} }
    - { name: wall, role: viewer, sha256: ${sha256Hex(TOKENS.viewer)} }
`;
}

/** The lab site's listeners and inventory. */
export interface LabSite {
  /** The inventory text. */
  yaml: string;
  /** Ports by service name. */
  ports: { ssh: number; node_exporter: number; grafana: number; web: number };
  /** Closes svc-1's web server (a real fault: its port refuses). */
  stopWeb(): Promise<void>;
  /** Opens svc-1's web server again. */
  startWeb(): Promise<void>;
  close(): Promise<void>;
}

function listen(server: Server | ReturnType<typeof createHttp>, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => resolve());
  });
}

const closeServer = (s: Server | ReturnType<typeof createHttp>) =>
  new Promise<void>((r) => {
    s.close(() => r());
    if ("closeAllConnections" in s) s.closeAllConnections();
  });

/**
 * Starts the lab site's listeners and writes nothing: the caller writes `yaml` and seeds the
 * store with {@link seedHistory}.
 */
export async function startLabSite(): Promise<LabSite> {
  const ports = {
    ssh: await freePort(),
    node_exporter: await freePort(),
    grafana: await freePort(),
    web: await freePort(),
  };
  const servers: (Server | ReturnType<typeof createHttp>)[] = [];
  for (const address of Object.values(ADDRESSES)) {
    for (const port of [ports.ssh, ports.node_exporter]) {
      const s = createTcp((c) => c.end());
      await listen(s, address, port);
      servers.push(s);
    }
  }
  const grafana = createHttp((_q, r) => {
    r.writeHead(503, { "content-type": "text/plain" });
    r.end("database locked\n");
  });
  await listen(grafana, ADDRESSES.mon!, ports.grafana);
  servers.push(grafana);
  let web: ReturnType<typeof createHttp> | undefined;
  const startWeb = async () => {
    web = createHttp((_q, r) => {
      r.writeHead(200, { "content-type": "text/plain" });
      r.end("ok\n");
    });
    await listen(web, ADDRESSES["svc-1"]!, ports.web);
  };
  await startWeb();

  const host = (name: string, services: string[]) =>
    [
      `  ${name}:`,
      `    address: { lan: ${ADDRESSES[name]} }`,
      "    tags: [monitored]",
      "    ssh: false",
      "    services:",
      `      - { name: ssh, port: ${ports.ssh}, allow: [vpn, lan] }`,
      ...services.map((s) => `      - ${s}`),
    ].join("\n");
  const yaml = `keel: 1
site: lab-web
networks:
  lan: { cidr: 127.0.0.0/24 }
  vpn: { cidr: 127.0.1.0/24 }
hosts:
${host("gw-vpn", [`{ name: node_exporter, port: ${ports.node_exporter}, allow: [any] }`])}
${host("mon", [
  `{ name: grafana, port: ${ports.grafana}, http: /api/health, allow: [vpn, lan] }`,
  `{ name: node_exporter, port: ${ports.node_exporter}, allow: [any] }`,
])}
${host("gpu", [`{ name: node_exporter, port: ${ports.node_exporter}, allow: [mon, vpn] }`])}
${host("svc-1", [
  `{ name: web, port: ${ports.web}, http: /, allow: [any] }`,
  `{ name: node_exporter, port: ${ports.node_exporter}, allow: [any] }`,
])}
vantages:
  admin: { local: true, networks: [vpn] }
  lan-probe: { local: true, networks: [lan] }
serve:
  checks:
    default: { interval: 1s, fail_after: 2, recover_after: 1 }
    http: { interval: 1s, fail_after: 1000, recover_after: 1 }
${tokens()}`;
  return {
    yaml,
    ports,
    stopWeb: async () => {
      if (web) await closeServer(web);
      web = undefined;
    },
    startWeb,
    close: async () => {
      await Promise.all([...servers, ...(web ? [web] : [])].map(closeServer));
    },
  };
}

const HOUR = 3_600_000;

/**
 * Seeds `db` through the store's public API with `days` days of passing results of every
 * check of `file` that runs (one every 30 minutes, ending a minute ago), as an earlier
 * `keel serve` would have stored them.
 */
export async function seedHistory(file: string, db: string, days = 7): Promise<void> {
  const inv = loadInventory(file);
  const specs = deriveChecks(inv).filter((s) => !s.skip);
  const store = await openStore(db, { retention: inv.serve.retention });
  try {
    const end = Date.now() - 60_000;
    for (let t = end - days * 24 * HOUR; t <= end; t += HOUR / 2) {
      const results: CheckResult[] = specs.map((s) => ({
        id: s.id,
        kind: s.kind,
        host: s.host,
        ...(s.service ? { service: s.service } : {}),
        ...(s.vantage ? { vantage: s.vantage } : {}),
        status: "pass",
        message: "ok",
        durationMs: 3,
      }));
      await store.saveResults(results, new Date(t));
    }
  } finally {
    await store.close();
  }
}

/**
 * A big loopback site: `hosts` hosts on 127.1.x.y, each with `services` TCP services (`reachable`
 * plus one `port.open` check each, and a skipped `listeners`: `ssh: false`) on port `open`,
 * where something listens, except the last service of every 50th host, on port `closed`, where
 * nothing does (a real failure). Checked once an hour and hard at the first failure.
 */
export function bigSiteYaml(hosts: number, open: number, closed: number, services = 2): string {
  const lines = [
    "keel: 1",
    "site: big",
    "networks:",
    "  lo: { cidr: 127.0.0.0/8 }",
    "vantages:",
    "  here: { local: true, networks: [lo] }",
    "serve:",
    "  checks:",
    "    default: { interval: 1h, fail_after: 1 }",
    tokens().trimEnd(),
    "hosts:",
  ];
  for (let i = 1; i <= hosts; i++) {
    lines.push(
      `  node-${String(i).padStart(5, "0")}:`,
      `    address: 127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      `    tags: [${i % 7 === 0 ? "rack, gpu" : "rack"}]`,
      "    ssh: false",
      "    services:",
    );
    for (let k = 1; k <= services; k++)
      lines.push(`      - { name: s${k}, port: ${k === services && i % 50 === 0 ? closed : open} }`);
  }
  return `${lines.join("\n")}\n`;
}
