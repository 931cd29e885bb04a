/**
 * Machines benchmark, on a private libvirtd (test/helpers/libvirt.ts) with blank qcow2 disks
 * (nothing here boots a guest):
 *
 * 1. `keel plan` (the built CLI) for 1,000 declared machines against a hypervisor holding the
 *    1,000 defined, not running, domains the libvirt provider made for them (with their root
 *    volumes): the median of 3 runs. Target: under 2 s, and "no changes" (exit 0) for all of
 *    them: what the provider wrote reads back as declared.
 * 2. `keel apply --parallel 10` creating 10 more machines at once: every step (pool, image
 *    upload, volumes, seeds, domains, starts) done without a lock or naming failure. The gate is
 *    not part of this: the blank machines have no OS, so it is given 1 s and reported apart.
 *    Target: 10 of 10 machines made (domain running, volumes present), 0 failed steps.
 *
 * Exit 1 when a target is missed.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadInventory } from "../src/inventory/load.js";
import { domainXml } from "../src/provision/libvirt/define.js";
import { machineVolumes } from "../src/provision/libvirt/domain.js";
import { virshBatch } from "../src/provision/libvirt/virsh.js";
import { desiredMachines } from "../src/provision/spec.js";
import { tempDir } from "../test/helpers/daemons.js";
import { startLibvirtd } from "../test/helpers/libvirt.js";
import { CLI, ensureBuilt } from "../test/unit/cli/built.js";

const MACHINES = 1000;
const PARALLEL = 10;
const PLAN_TARGET_MS = 2000;
const run = promisify(execFile);

/** The inventory: `n` machines m-0001… in 10.88.0.0/20, and `extra` more named x-01…. */
function inventory(uri: string, dir: string, imageHex: string, n: number, extra: number): string {
  const hosts: string[] = [];
  for (let i = 1; i <= n; i++)
    hosts.push(`  m-${String(i).padStart(4, "0")}: { address: { lan: 10.88.${i >> 8}.${i & 255} }, vm: {} }`);
  for (let i = 1; i <= extra; i++)
    hosts.push(`  x-${String(i).padStart(2, "0")}: { address: { lan: 10.88.15.${i} }, vm: {} }`);
  return `keel: 1
site: bench
networks:
  lan: { cidr: 10.88.0.0/20, gateway: 10.88.15.254 }
hypervisors:
  vega: { driver: libvirt, uri: "${uri}", dir: ${dir}/pool, networks: { lan: keelbr-bench } }
images:
  blank: { path: ${dir}/blank.qcow2, sha256: ${imageHex} }
defaults:
  vm: { hypervisor: vega, image: blank, vcpus: 1, memory: 128, disk: 1, autostart: false }
hosts:
${hosts.join("\n")}
vantages:
  admin: { local: true, networks: [lan] }
`;
}

async function main(): Promise<number> {
  ensureBuilt();
  const lv = await startLibvirtd();
  const dir = tempDir("keel-bench-machines-");
  execFileSync("ip", ["link", "add", "keelbr-bench", "type", "bridge"]);
  execFileSync("ip", ["link", "set", "keelbr-bench", "up"]);
  let status = 0;
  try {
    mkdirSync(join(dir, "pool"));
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", join(dir, "blank.qcow2"), "256M"]);
    const imageHex = createHash("sha256")
      .update(readFileSync(join(dir, "blank.qcow2")))
      .digest("hex");
    const file = join(dir, "keel.yaml");
    writeFileSync(file, inventory(lv.uri, dir, imageHex, MACHINES, 0));
    const text = readFileSync(file, "utf8");
    const inv = loadInventory(file);
    const digest = createHash("sha256").update(text).digest("hex");
    // the hypervisor as the provider leaves it after creating them: the pool, the image volume,
    // each machine's root volume, each domain defined (not started)
    const pool = "keel-bench-vega";
    await lv.virsh("pool-define-as", pool, "dir", "--target", join(dir, "pool"));
    await lv.virsh("pool-build", pool);
    await lv.virsh("pool-start", pool);
    const imageVol = `keel-image-blank-${imageHex.slice(0, 12)}.qcow2`;
    await lv.virsh("vol-create-as", pool, imageVol, "256M", "--format", "qcow2");
    const desired = desiredMachines(inv);
    const xmlDir = join(dir, "xml");
    mkdirSync(xmlDir);
    const commands: string[][] = [];
    for (const m of desired) {
      const volumes = machineVolumes(pool, m.host, m.spec.seed);
      const xml = domainXml({
        site: inv.site,
        host: m.host,
        inventory: digest,
        spec: m.spec,
        volumes,
        type: "qemu",
      });
      writeFileSync(join(xmlDir, `${m.host}.xml`), xml);
      commands.push([
        "vol-create-as",
        pool,
        volumes.root,
        "1G",
        "--format",
        "qcow2",
        "--backing-vol",
        imageVol,
        "--backing-vol-format",
        "qcow2",
      ]);
      commands.push(["define", join(xmlDir, `${m.host}.xml`)]);
    }
    for (let i = 0; i < commands.length; i += 400) await virshBatch(lv.uri, commands.slice(i, i + 400));
    const defined = (await lv.virsh("list", "--all", "--name")).split("\n").filter((l) => l.trim()).length;
    console.log(
      `machines: ${MACHINES} declared, ${defined} Keel domains defined (not running) on a private libvirtd; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );

    const times: number[] = [];
    let exit = -1;
    let changes = "";
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      try {
        await run(process.execPath, [CLI, "plan", file], { maxBuffer: 64 * 1024 * 1024 });
        exit = 0;
      } catch (e) {
        const err = e as { code: number; stdout: string };
        exit = err.code;
        changes = err.stdout
          .split("\n")
          .filter((l) => /^[~+±-] /.test(l))
          .slice(0, 3)
          .join("; ");
      }
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[1]!;
    const planOk = median < PLAN_TARGET_MS && exit === 0;
    console.log(
      `keel plan, ${MACHINES} machines against ${defined} domains: median ${median.toFixed(0)} ms (runs ${times.map((t) => t.toFixed(0)).join(", ")} ms), exit ${exit}${exit === 0 ? " (no changes)" : `: ${changes}`}; target < ${PLAN_TARGET_MS} ms and no changes: ${planOk ? "MET" : "MISSED"}`,
    );
    if (!planOk) status = 1;

    // 10 parallel creates through the built CLI
    writeFileSync(file, inventory(lv.uri, dir, imageHex, MACHINES, PARALLEL));
    const t0 = performance.now();
    let out = "";
    try {
      out = (
        await run(
          process.execPath,
          [CLI, "apply", file, "--yes", "--parallel", String(PARALLEL), "--gate-timeout", "1s"],
          { maxBuffer: 64 * 1024 * 1024 },
        )
      ).stdout;
    } catch (e) {
      out = (e as { stdout: string }).stdout; // the gates fail: blank machines have no OS
    }
    const seconds = (performance.now() - t0) / 1000;
    const lines = out.split("\n").filter((l) => /^ {2}x-\d\d on vega: create /.test(l));
    const failed = lines.filter((l) => / create FAILED /.test(l));
    const running = (await lv.virsh("list", "--state-running", "--name"))
      .split("\n")
      .filter((l) => /^x-\d\d$/.test(l.trim())).length;
    const vols = (await lv.virsh("vol-list", "--pool", pool))
      .split("\n")
      .filter((l) => /^\s*x-\d\d(\.qcow2|-cidata-)/.test(l)).length;
    const createsOk = failed.length === 0 && running === PARALLEL && vols === 2 * PARALLEL;
    console.log(
      `keel apply --parallel ${PARALLEL}: ${lines.length} creates in ${seconds.toFixed(1)} s (gates of 1 s included, failing: blank disks), ${failed.length} failed steps${failed.length ? ` (${failed[0]!.trim()})` : ""}, ${running} running, ${vols} of ${2 * PARALLEL} volumes; target 10 of 10 made, 0 lock or naming failures: ${createsOk ? "MET" : "MISSED"}`,
    );
    if (!createsOk) status = 1;
  } finally {
    await lv.stop();
    execFileSync("ip", ["link", "del", "keelbr-bench"], { stdio: "ignore" });
  }
  return status;
}

process.exitCode = await main();
