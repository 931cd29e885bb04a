/**
 * Render benchmark (issue #4 point 7): an inventory of 5,000 hosts in one /16 (every host a VM
 * with a MAC, DHCP on a range of the network, a CNAME per host service), rendered in full.
 * Times (1) in process: `loadInventory` + `renderAll` of every registered renderer, the median
 * of 5 runs after one warm-up, and (2) the built CLI end to end (`keel render FILE --out DIR`,
 * process start to exit, the median of 3). Target: each under 1 s; exit 1 when missed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { renderAll } from "../src/cli/render.js";
import { loadInventory } from "../src/inventory/load.js";
import { renderers } from "../src/render/index.js";

const HOSTS = 5000;
const TARGET_MS = 1000;

/** The inventory text: ns1 plus HOSTS-1 hosts in 10.47.0.0/16, each with a service named in DNS. */
function inventory(): string {
  const lines = [
    "keel: 1",
    "site: bench",
    "domain: bench.internal",
    "dns:",
    "  servers: [ns1]",
    "  records:",
    '    - { name: "@", type: MX, value: "10 ns1" }',
    "networks:",
    "  lan:",
    "    cidr: 10.47.0.0/16",
    "    gateway: 10.47.0.1",
    "    dns: [ns1]",
    "    ranges: { infra: 10.47.0.0/24, vms: 10.47.128.0/17 }",
    "hosts:",
    "  ns1: { address: 10.47.0.2, services: [{ name: dns, kind: dns, port: 53/udp }] }",
  ];
  for (let i = 1; i < HOSTS; i++) {
    const a = 10 + i;
    lines.push(
      `  h${i}: { address: 10.47.${a >> 8}.${a & 255}, tags: [monitored], services: [{ name: web, port: 443, dns: www-${i} }] }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), "keel-bench-render-"));
try {
  const file = join(dir, "keel.yaml");
  writeFileSync(file, inventory());
  const ctx = { now: new Date(), previous: () => undefined };
  /** Loads, marks every host a VM and the network DHCP-served (the YAML keys are IPAM's), renders. */
  const once = async () => {
    const inv = loadInventory(file);
    inv.networks[0]!.dhcp = { range: "vms", leaseSeconds: 43200 };
    inv.hosts.forEach((h, i) => {
      const mac = `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
      h.vm = {
        mac,
        macAllocated: false,
        instance: 1,
        users: [],
        packages: [],
        packageUpgrade: false,
        pos: h.pos,
      };
    });
    return renderAll(inv, ctx);
  };
  await once();
  const inProcess: number[] = [];
  let files = 0;
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const out = await once();
    inProcess.push(performance.now() - t0);
    files = out.length;
    bytes = out.reduce(
      (n, f) => n + (typeof f.content === "string" ? Buffer.byteLength(f.content) : f.content.length),
      0,
    );
  }
  const cli: number[] = [];
  for (let i = 0; i < 3; i++) {
    const out = join(dir, `out-${i}`);
    const t0 = performance.now();
    execFileSync(process.execPath, ["dist/cli/main.js", "render", file, "--out", out], { stdio: "pipe" });
    cli.push(performance.now() - t0);
  }
  const ip = median(inProcess);
  const c = median(cli);
  const ok = ip < TARGET_MS && c < TARGET_MS;
  console.log(
    `render: ${HOSTS} hosts in a /16, renderers: ${renderers.map((r) => r.kind).join(", ")}; ${files} files, ${(bytes / 1e6).toFixed(1)} MB`,
  );
  console.log(`  in process (load + renderAll, median of 5): ${ip.toFixed(0)} ms`);
  console.log(
    `  CLI end to end (keel render, median of 3, no VMs/DHCP: YAML keys pending): ${c.toFixed(0)} ms`,
  );
  console.log(`  target < ${TARGET_MS} ms: ${ok ? "met" : "MISSED"}`);
  process.exitCode = ok ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
