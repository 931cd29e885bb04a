/**
 * `npm run bench`: the verify benchmark.
 *
 * Builds a synthetic inventory of HOSTS hosts on loopback addresses (127.1.x.y), each serving
 * two TCP ports and one HTTP port, and runs `keel verify --only '*\/port.open/*,*\/http/*'` on
 * it: 4 derived TCP/HTTP checks per host. Then drives Debian's prometheus-blackbox-exporter
 * through the same probes (tcp_connect for each port, http_2xx for each health path) at the
 * same concurrency and prints the ratio of the two rates. Between the two it times the floor: the
 * same probes from a bare node:net/node:http script, which shows what this machine allows.
 * The site is served by Debian's nginx (see `nginxConf`).
 *
 * Everything runs inside a network namespace made for the run (so the listeners on 0.0.0.0
 * that answer every 127.x address are reachable from nowhere else); needs root.
 * Target: 10,000 checks in at most 3 s wall time, peak RSS at most 300 MB.
 *
 * Environment: BENCH_HOSTS (default 2500), BENCH_CONCURRENCY (default 256).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pLimit from "p-limit";
import { Agent, request } from "undici";

const HOSTS = Number(process.env.BENCH_HOSTS ?? 2500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256);
const TARGET_SECONDS = 3;
const TARGET_RSS_MB = 300;
const PORTS = { a: 7001, b: 7002, web: 8080 };
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ns = `keel-bench-${process.pid}`;
const work = mkdtempSync(path.join(tmpdir(), "keel-bench-"));

function address(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function inventoryYaml(): string {
  const lines = [
    "keel: 1",
    "site: bench",
    "networks:",
    "  lo: { cidr: 127.0.0.0/8 }",
    "defaults:",
    "  ssh: { user: root, port: 22, allow: [any] }",
    "vantages:",
    "  here: { local: true, networks: [lo] }",
    "hosts:",
  ];
  for (let i = 0; i < HOSTS; i++) {
    lines.push(
      `  h${i}:`,
      `    address: ${address(i)}`,
      "    ssh: false",
      "    services:",
      `      - { name: a, port: ${PORTS.a} }`,
      `      - { name: b, port: ${PORTS.b} }`,
      `      - { name: web, port: ${PORTS.web}, http: /health }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The site's server: Debian's nginx, one worker process, listening on 0.0.0.0 (so on every
 * 127.x address of the namespace). The TCP ports are plain listeners (a port check connects and
 * closes); the HTTP port answers `200 ok`. A native server, as real sites run, keeps the
 * server's share of this 2-core machine small (a node server took ~1.5 s of CPU per run).
 */
function nginxConf(dir: string): string {
  return [
    "daemon off;",
    "worker_processes 1;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log error;`,
    "events { worker_connections 8192; }",
    "http {",
    "  access_log off;",
    `  client_body_temp_path ${dir}/nginx-body;`,
    "  server {",
    `    listen ${PORTS.a} backlog=4096; listen ${PORTS.b} backlog=4096; listen ${PORTS.web} backlog=4096;`,
    '    location / { default_type text/plain; return 200 "ok\\n"; }',
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * The floor: the same probes at the same concurrency from a bare script with node:net and
 * node:http and nothing else (no inventory, no judging, no report). Prints its own seconds.
 * Keel cannot run faster than this on the machine; the benchmark prints it beside Keel's time.
 */
const FLOOR = `
import net from "node:net"; import http from "node:http";
const [hosts, concurrency] = process.argv.slice(-2).map(Number);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const addr = (i) => "127.1." + Math.floor(i / 250) + "." + ((i % 250) + 1);
const tcp = (host, port) => new Promise((res, rej) => { const s = net.connect({ host, port });
  s.once("connect", () => { s.destroy(); res(); }); s.once("error", rej); });
const get = (host) => new Promise((res, rej) => { const q = http.get({ host, port: ${PORTS.web}, path: "/health", agent },
  (r) => { if (r.statusCode !== 200) rej(new Error("status " + r.statusCode)); r.resume(); r.on("end", res); }); q.on("error", rej); });
const jobs = [];
for (let i = 0; i < hosts; i++) { const a = addr(i);
  jobs.push(() => tcp(a, ${PORTS.a}), () => tcp(a, ${PORTS.b}), () => tcp(a, ${PORTS.web}), () => get(a)); }
const t0 = performance.now(); let next = 0;
await Promise.all(Array.from({ length: concurrency }, async () => { while (next < jobs.length) await jobs[next++](); }));
process.stdout.write(String((performance.now() - t0) / 1000));
`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

function inNs(cmd: string, args: string[]) {
  return spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark makes a network namespace: run it as root");
  sh("ip", ["netns", "add", ns]);
  const children: ReturnType<typeof spawn>[] = [];
  try {
    sh("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    writeFileSync(path.join(work, "nginx.conf"), nginxConf(work));
    const server = inNs("nginx", ["-c", path.join(work, "nginx.conf"), "-p", work]);
    children.push(server);
    let serverErr = "";
    server.stderr?.on("data", (d) => {
      serverErr += d;
    });
    server.once("exit", (c) => {
      if (c !== null && c !== 0) process.stderr.write(`nginx exited ${c}: ${serverErr}\n`);
    });
    await waitFor(
      async () => sh("ip", ["netns", "exec", ns, "ss", "-Hltn", `sport = :${PORTS.web}`]).includes("LISTEN"),
      "nginx",
    );

    const inv = path.join(work, "keel.yaml");
    writeFileSync(inv, inventoryYaml());
    const expected = HOSTS * 4;

    // Keel, as a user runs it, timed by GNU time for peak RSS.
    const t0 = performance.now();
    const keel = inNs("/usr/bin/time", [
      "-f",
      "%M",
      "-o",
      path.join(work, "rss"),
      process.execPath,
      path.join(root, "dist/cli/main.js"),
      "verify",
      inv,
      "--only",
      "*/port.open/*,*/http/*",
      "--json",
      "--no-history",
      "--concurrency",
      String(CONCURRENCY),
      "--timeout",
      "5000",
    ]);
    let out = "";
    let err = "";
    keel.stdout?.on("data", (d) => {
      out += d;
    });
    keel.stderr?.on("data", (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => keel.once("exit", r));
    const wallS = (performance.now() - t0) / 1000;
    if (code !== 0)
      throw new Error(`keel verify exited ${code}: ${err.slice(0, 2000)}\n${out.slice(0, 2000)}`);
    const report = JSON.parse(out) as {
      durationMs: number;
      summary: { pass: number; fail: number; error: number };
    };
    const ran = report.summary.pass + report.summary.fail + report.summary.error;
    if (ran !== expected || report.summary.pass !== expected) {
      throw new Error(`expected ${expected} passing checks, got ${JSON.stringify(report.summary)}`);
    }
    const rssMb = Number(readFileSync(path.join(work, "rss"), "utf8").trim().split("\n").at(-1)) / 1024;
    const keelRate = ran / wallS;

    // The floor: the same probes from a bare node script, then its whole process time as well.
    const f0 = performance.now();
    const floorOut = sh("ip", [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--input-type=module",
      "-e",
      FLOOR,
      String(HOSTS),
      String(CONCURRENCY),
    ]);
    const floorWallS = (performance.now() - f0) / 1000;
    const floorS = Number(floorOut);

    // blackbox_exporter through the same probes at the same concurrency.
    const bbConfig = path.join(work, "blackbox.yml");
    writeFileSync(
      bbConfig,
      [
        "modules:",
        "  tcp_connect: { prober: tcp, timeout: 5s }",
        "  http_2xx: { prober: http, timeout: 5s, http: { preferred_ip_protocol: ip4 } }",
        "",
      ].join("\n"),
    );
    const bb = inNs("prometheus-blackbox-exporter", [
      `--config.file=${bbConfig}`,
      "--web.listen-address=127.0.0.1:9115",
      "--log.level=error",
    ]);
    children.push(bb);
    // The driver runs in the namespace too, through a small relay: reach blackbox via `ip netns exec`.
    const driver = await runBlackboxDriver(expected);
    const bbRate = driver.ok / driver.seconds;

    const lines = [
      `hosts: ${HOSTS}, checks: ${ran} (TCP ${HOSTS * 3}, HTTP ${HOSTS}), concurrency: ${CONCURRENCY}`,
      `keel verify: ${wallS.toFixed(2)} s wall (${(report.durationMs / 1000).toFixed(2)} s in the run), ${Math.round(keelRate)} checks/s, peak RSS ${rssMb.toFixed(0)} MB`,
      `floor (bare node:net/node:http script, same probes and concurrency, no Keel): ${floorS.toFixed(2)} s probing, ${floorWallS.toFixed(2)} s wall`,
      `blackbox_exporter: ${driver.ok} probes ok of ${expected} in ${driver.seconds.toFixed(2)} s, ${Math.round(bbRate)} probes/s`,
      `ratio keel/blackbox: ${(keelRate / bbRate).toFixed(2)}`,
      `target: ${expected} checks in <= ${TARGET_SECONDS} s and <= ${TARGET_RSS_MB} MB: ${
        wallS <= TARGET_SECONDS && rssMb <= TARGET_RSS_MB ? "MET" : "NOT MET"
      }`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    if (wallS > TARGET_SECONDS || rssMb > TARGET_RSS_MB) process.exitCode = 1;
  } finally {
    for (const c of children) c.kill("SIGTERM");
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {
      // already gone
    }
    rmSync(work, { recursive: true, force: true });
  }

  async function runBlackboxDriver(total: number): Promise<{ ok: number; seconds: number }> {
    // Run this same file in the namespace in driver mode, so it can reach 127.0.0.1:9115 there.
    const child = inNs(process.execPath, [
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      "--driver",
      String(HOSTS),
      String(CONCURRENCY),
    ]);
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => {
      out += d;
    });
    child.stderr?.on("data", (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    if (code !== 0) throw new Error(`blackbox driver exited ${code}: ${err.slice(0, 2000)}`);
    const res = JSON.parse(out) as { ok: number; seconds: number };
    if (res.ok !== total) throw new Error(`blackbox: only ${res.ok} of ${total} probes succeeded`);
    return res;
  }
}

/** Driver mode: issue every probe to blackbox_exporter at the given concurrency. */
async function driver(hosts: number, concurrency: number): Promise<void> {
  const dispatcher = new Agent({ connections: concurrency, pipelining: 1 });
  const base = "http://127.0.0.1:9115";
  await waitFor(
    async () => (await request(`${base}/-/healthy`, { dispatcher })).statusCode === 200,
    "blackbox_exporter",
  );
  const probes: string[] = [];
  for (let i = 0; i < hosts; i++) {
    const a = address(i);
    probes.push(
      `${base}/probe?module=tcp_connect&target=${a}:${PORTS.a}`,
      `${base}/probe?module=tcp_connect&target=${a}:${PORTS.b}`,
      `${base}/probe?module=tcp_connect&target=${a}:${PORTS.web}`,
      `${base}/probe?module=http_2xx&target=http://${a}:${PORTS.web}/health`,
    );
  }
  const limit = pLimit(concurrency);
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    probes.map((u) =>
      limit(async () => {
        const res = await request(u, { dispatcher });
        const body = await res.body.text();
        if (res.statusCode === 200 && /^probe_success 1$/m.test(body)) ok++;
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  await dispatcher.close();
  process.stdout.write(JSON.stringify({ ok, seconds }));
}

if (process.argv[2] === "--driver") {
  driver(Number(process.argv[3]), Number(process.argv[4])).catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  });
}
