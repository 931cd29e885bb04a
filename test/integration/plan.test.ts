/**
 * `keel plan` (the built CLI) against a real libvirtd started here, with machines the libvirt
 * provider itself made: what it defines reads back as "no changes" (no perpetual diff), a change
 * made with virsh outside Keel shows as drift, a memory change is a reboot with a snapshot, a
 * removed host is a delete, a foreign domain of a machine's name blocks it, an unreachable
 * hypervisor exits 1; then the provider's change (with its snapshot) and removal on the real
 * daemon. The machines' disk is a blank qcow2: nothing here needs a guest to boot (the apply
 * tests boot the Debian test image).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadInventory } from "../../src/inventory/load.js";
import { pruneSnapshots } from "../../src/provision/apply.js";
import { localSeed } from "../../src/provision/artifacts.js";
import type { StepRecorder } from "../../src/provision/provider.js";
import { providerFor } from "../../src/provision/providers.js";
import { desiredMachines } from "../../src/provision/spec.js";
import { seedFiles } from "../../src/render/cloud-init.js";
import { tempDir } from "../helpers/daemons.js";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirt.js";
import { runKeel } from "../unit/cli/built.js";

let lv: Libvirtd;
let dir: string;
let inv: string;
let imageFile: string;
let imageHex: string;

/** Steps are not journaled here: the provider is driven directly. */
const steps: string[] = [];
const rec: StepRecorder = {
  step: async (host, step, _detail, run) => {
    steps.push(`${host} ${step}`);
    return run();
  },
};

/** The inventory with hosts `hosts` (name → extra vm keys), and `extra` appended. */
function inventory(hosts: Record<string, string>, extra = ""): string {
  return `keel: 1
site: lab
domain: lab.internal
networks:
  lan: { cidr: 10.77.9.0/24, gateway: 10.77.9.1 }
hypervisors:
  vega: { driver: libvirt, uri: "${lv.uri}", dir: ${dir}/pool, networks: { lan: keelbr-plan }, domain_type: qemu }
${extra}images:
  blank: { path: ${imageFile}, sha256: ${imageHex} }
defaults:
  vm: { hypervisor: vega, image: blank, memory: 256, disk: 1, autostart: false }
hosts:
${Object.entries(hosts)
  .map(([name, vm], i) => `  ${name}: { address: { lan: 10.77.9.${11 + i} }, ssh: false, vm: { ${vm} } }`)
  .join("\n")}
vantages:
  admin: { local: true, networks: [lan] }
`;
}

/** Names of the volumes in Keel's pool (the first column of `virsh vol-list`'s table). */
async function volumes(): Promise<string[]> {
  const out = await lv.virsh("vol-list", "--pool", "keel-lab-vega");
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((n) => n !== "" && n !== "Name" && !/^-+$/.test(n))
    .sort();
}

function write(text: string): void {
  writeFileSync(inv, text);
}

/** Makes the machines of the inventory now with the libvirt provider, as apply's create step does. */
async function make(...hosts: string[]): Promise<void> {
  const i = loadInventory(inv);
  const provider = providerFor(i.hypervisors[0]!, i.site, { shutdownGraceS: 1 });
  const digest = createHash("sha256").update(readFileSync(inv)).digest("hex");
  for (const m of desiredMachines(i).filter((d) => hosts.includes(d.host))) {
    const host = i.hosts.find((h) => h.name === m.host)!;
    const seedIso = await localSeed(seedFiles(i, host), m.spec.seed, i.dir);
    await provider.create(
      {
        site: i.site,
        host: m.host,
        inventory: digest,
        spec: m.spec,
        image: i.images[0]!,
        imageFile,
        seedIso,
      },
      rec,
    );
  }
}

before(async () => {
  lv = await startLibvirtd();
  dir = tempDir("keel-plan-");
  mkdirSync(join(dir, "pool"));
  imageFile = join(dir, "blank.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", imageFile, "512M"]);
  imageHex = createHash("sha256").update(readFileSync(imageFile)).digest("hex");
  inv = join(dir, "keel.yaml");
  // the NIC's bridge must exist for the domains to start
  execFileSync("ip", ["link", "add", "keelbr-plan", "type", "bridge"]);
  execFileSync("ip", ["link", "set", "keelbr-plan", "up"]);
});

after(async () => {
  await lv?.stop();
  execFileSync("ip", ["link", "del", "keelbr-plan"], { stdio: "ignore" });
});

test("an empty hypervisor: every machine is a create with its MAC and address, exit 3", async () => {
  write(inventory({ "web-1": "", "web-2": "vcpus: 2" }));
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stdout,
    /^\+ web-1 on vega: create\n {4}1 vcpus, 256 MiB, 1 GiB from image blank; mac 02:[0-9a-f:]{14} on bridge keelbr-plan; lan=10\.77\.9\.11$/m,
  );
  assert.match(r.stdout, /^\+ web-2 on vega: create\n {4}2 vcpus, 256 MiB/m);
  assert.match(
    r.stdout,
    /plan: 2 to create, 0 to update in place, 0 to reboot, 0 to stop-start, 0 to replace, 0 to delete, 0 unchanged/,
  );
  const json = JSON.parse((await runKeel("plan", inv, "--json")).stdout);
  assert.deepEqual(
    json.machines.map((m: { host: string; action: string }) => [m.host, m.action]),
    [
      ["web-1", "create"],
      ["web-2", "create"],
    ],
  );
});

test("what the provider made reads back as no changes: exit 0", async () => {
  await make("web-1", "web-2");
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ {2}web-1 on vega: no changes$/m);
  assert.match(r.stdout, /^ {2}web-2 on vega: no changes$/m);
  assert.doesNotMatch(r.stdout, /drift/);
  const vols = (await volumes()).join("\n");
  assert.match(vols, /^web-1\.qcow2$/m);
  assert.match(vols, /^web-1-cidata-[0-9a-f]{12}\.iso$/m);
  assert.match(vols, new RegExp(`^keel-image-blank-${imageHex.slice(0, 12)}\\.qcow2$`, "m"));
});

test("a memory change made with virsh outside Keel is drift, and is planned back", async () => {
  await lv.virsh("setmaxmem", "web-1", "524288", "--config");
  await lv.virsh("setmem", "web-1", "524288", "--config");
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stdout,
    /~ web-1 on vega: update with reboot\n {4}memory: 512 MiB -> 256 MiB \(changed outside Keel\)/,
  );
  assert.match(
    r.stdout,
    /changed outside Keel \(drift\)[^\n]*\n {2}web-1 on vega: memory is 512 MiB, Keel applied 256 MiB/,
  );
});

test("a memory change in the inventory is a reboot with a snapshot first", async () => {
  write(inventory({ "web-1": "", "web-2": "vcpus: 2, memory: 384" }));
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 3);
  assert.match(
    r.stdout,
    /~ web-2 on vega: update with reboot\n {4}memory: 256 MiB -> 384 MiB\n {4}mac [^\n]+\n {4}a snapshot is taken first/,
  );
});

test("the provider's change takes the snapshot while the machine is off, then the plan is clean for it", async () => {
  const i = loadInventory(inv);
  const provider = providerFor(i.hypervisors[0]!, i.site, { shutdownGraceS: 1 });
  const observed = await provider.observe();
  const current = observed.domains.find((d) => d.name === "web-2")!;
  const m = desiredMachines(i).find((d) => d.host === "web-2")!;
  const host = i.hosts.find((h) => h.name === "web-2")!;
  const seedIso = await localSeed(seedFiles(i, host), m.spec.seed, i.dir);
  const digest = createHash("sha256").update(readFileSync(inv)).digest("hex");
  steps.length = 0;
  await provider.change(
    { site: i.site, host: "web-2", inventory: digest, spec: m.spec, image: i.images[0]!, imageFile, seedIso },
    current,
    rec,
    "keel-test-1",
  );
  const order = steps.map((s) => s.split(" ")[1]);
  assert.ok(order.indexOf("snapshot.create") > order.indexOf("domain.shutdown"), order.join(", "));
  assert.ok(order.indexOf("domain.define") > order.indexOf("snapshot.create"), order.join(", "));
  assert.equal(await lv.virsh("domstate", "web-2").then((s) => s.trim()), "running");
  const snaps = await provider.snapshots("web-2");
  assert.deepEqual(
    snaps.map((s) => [s.name, s.description]),
    [["keel-test-1", "keel: before changing web-2"]],
  );
  const r = await runKeel("plan", inv);
  assert.match(r.stdout, /^ {2}web-2 on vega: no changes$/m);
});

test("retention deletes Keel's oldest snapshots beyond the setting and never one taken by hand", async () => {
  const i = loadInventory(inv);
  const provider = providerFor(i.hypervisors[0]!, i.site, { shutdownGraceS: 1 });
  // libvirt records creation times in seconds: a second apart, so the order is certain
  await new Promise((r) => setTimeout(r, 1100));
  await provider.snapshot("web-2", "manual-1", "taken by hand", rec);
  await new Promise((r) => setTimeout(r, 1100));
  await provider.snapshot("web-2", "keel-test-2", "keel: before changing web-2", rec);
  assert.deepEqual(await pruneSnapshots(provider, "web-2", 1, rec), ["keel-test-1"]);
  assert.deepEqual(
    (await provider.snapshots("web-2")).map((s) => s.name),
    ["manual-1", "keel-test-2"],
  );
});

test("a host removed from the inventory is a delete; a foreign domain of a machine's name blocks it (exit 1)", async () => {
  await lv.virsh(
    "define",
    await (async () => {
      const f = join(dir, "foreign.xml");
      writeFileSync(
        f,
        "<domain type='qemu'><name>web-3</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>",
      );
      return f;
    })(),
  );
  write(inventory({ "web-1": "", "web-3": "" }));
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^- web-2 on vega: delete\n {4}no rollback point: the machine's disk is deleted$/m);
  assert.match(
    r.stdout,
    /cannot plan:\n {2}web-3 on vega: a domain named "web-3" already exists on "vega" and Keel did not make it/,
  );
  await lv.virsh("undefine", "web-3");
});

test("an unreachable hypervisor is named, its machines unknown, exit 1; commands on its machines say so, no stack trace", async () => {
  write(
    inventory(
      { "web-1": "", "web-9": "hypervisor: rigel" },
      `  rigel: { driver: libvirt, uri: "qemu:///system?socket=${dir}/no-such-sock", networks: { lan: br0 } }\n`,
    ),
  );
  const r = await runKeel("plan", inv);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /unreachable hypervisors \(their machines are unknown\):\n {2}rigel: virsh list: /);
  assert.match(r.stdout, /cannot plan:\n {2}web-9 on rigel: hypervisor "rigel" is unreachable/);
  const vm = await runKeel("vm", "status", inv, "web-9");
  assert.equal(vm.code, 1, vm.stderr);
  assert.match(vm.stderr, /^keel: hypervisor "rigel": virsh list: failed to connect to the hypervisor/);
  assert.doesNotMatch(vm.stderr, /internal error|\n\s+at /);
});

test("the provider's removal leaves no domain, volume or snapshot of the machine", async () => {
  const i = loadInventory(inv);
  const provider = providerFor(i.hypervisors[0]!, i.site, { shutdownGraceS: 1 });
  await provider.remove("web-2", rec);
  await provider.remove("web-1", rec);
  assert.equal((await lv.virsh("list", "--all", "--name")).trim(), "");
  assert.deepEqual(await volumes(), [`keel-image-blank-${imageHex.slice(0, 12)}.qcow2`]);
  // removing what is gone already is not an error
  await provider.remove("web-1", rec);
});
