/**
 * The synthetic site of the serve benchmark (`bench/serve.ts`): HOSTS hosts on loopback
 * addresses (127.2.x.y), 10 derived checks each, and the listeners that answer them.
 *
 * Per host (one local vantage `here` on network `lo`):
 * - `reachable` (ICMP echo through `ping(8)`, as `keel serve` runs it);
 * - `port.open` of services a (7001), b (7002), c (7003), d (7004), web (8080), api (8081);
 * - `http` of web (`/health`) and api (`/ready`);
 * - `port.closed` of admin (7100), allowed only from network `mgmt`, which `here` is not on.
 *
 * Variety, so the dashboard and the store see more than green: 1 host in 100 declares d on
 * port 7009, where nothing listens (a real, steady `port.open` failure); 1 in 100 declares
 * api's health path as `/flaky`, which answers 503 to 40 % of requests (real flapping); 1 in
 * 250 declares admin on 7005, where something listens (a real `port.closed` failure).
 */
import { createHash } from "node:crypto";

/** Ports the listener process serves; 7009 and 7100 stay closed on purpose. */
export const LISTEN_TCP = [7001, 7002, 7003, 7004, 7005];
export const LISTEN_HTTP = [8080, 8081];

/** The viewer token of the benchmark inventory (declared there by its SHA-256 only). */
export const BENCH_TOKEN = "keel-bench-viewer-token";

/** Loopback address of host `i` (0-based): 127.2.x.y, 250 hosts per /24. */
export function hostAddress(i: number): string {
  return `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Hosts with a steady failure, flapping, or an open port that must be closed (see the module doc). */
export const variety = {
  closedPort: (i: number) => i % 100 === 42,
  flaky: (i: number) => i % 100 === 17,
  openAdmin: (i: number) => i % 250 === 5,
};

/**
 * The inventory (YAML text) of `hosts` hosts, with a viewer token and the API listening on
 * `listen` (HOST:PORT).
 */
export function siteYaml(hosts: number, listen: string): string {
  const sha = createHash("sha256").update(BENCH_TOKEN).digest("hex");
  const lines = [
    "keel: 1",
    "site: bench",
    "networks:",
    "  lo: { cidr: 127.0.0.0/8 }",
    "  mgmt: { cidr: 10.254.0.0/24 }",
    "vantages:",
    "  here: { local: true, networks: [lo] }",
    "serve:",
    `  listen: ${listen}`,
    "  tokens:",
    `    - { name: bench, role: viewer, sha256: ${sha} }`,
    "hosts:",
  ];
  for (let i = 0; i < hosts; i++) {
    lines.push(
      `  h${i}:`,
      `    address: ${hostAddress(i)}`,
      `    tags: [rack-${i % 20}, ${i % 3 === 0 ? "db" : "web"}]`,
      "    ssh: false",
      "    services:",
      "      - { name: a, port: 7001 }",
      "      - { name: b, port: 7002 }",
      "      - { name: c, port: 7003 }",
      `      - { name: d, port: ${variety.closedPort(i) ? 7009 : 7004} }`,
      "      - { name: web, port: 8080, http: /health }",
      `      - { name: api, port: 8081, http: ${variety.flaky(i) ? "/flaky" : "/ready"} }`,
      `      - { name: admin, port: ${variety.openAdmin(i) ? 7005 : 7100}, allow: [mgmt] }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Source of the listener process (run with `node -e`): accept-and-close on every TCP port,
 * `200 ok` on the HTTP ports, and 503 on 40 % of `/flaky` requests. Prints `ready` once all
 * listen. Binds 0.0.0.0, so every 127.x address of the namespace answers.
 */
export const LISTENER_SOURCE = `
const net = require("node:net"), http = require("node:http");
let n = ${LISTEN_TCP.length + LISTEN_HTTP.length};
const up = () => { if (--n === 0) process.stdout.write("ready\\n"); };
for (const p of ${JSON.stringify(LISTEN_TCP)}) net.createServer((s) => s.end()).listen({ port: p, host: "0.0.0.0", backlog: 4096 }, up);
for (const p of ${JSON.stringify(LISTEN_HTTP)}) http.createServer((q, r) => {
  const bad = q.url === "/flaky" && Math.random() < 0.4;
  r.writeHead(bad ? 503 : 200, { "content-type": "text/plain" });
  r.end(bad ? "unavailable\\n" : "ok\\n");
}).listen({ port: p, host: "0.0.0.0", backlog: 4096 }, up);
`;
