/**
 * `keel plan` and `keel apply` (the built CLI) refusing, against a real libvirtd started here: an
 * invalid inventory exits 2 at its line and column; with `--expect-observed` apply refuses when
 * the hypervisor changed after that plan was made (a domain defined with virsh meanwhile); a
 * machine whose disk is smaller than its image is refused with both sizes, leaving no root
 * volume, seed or domain of it; a machine that does not pass its gate is reported as such and
 * left running for inspection, and the next plan says it is unfinished. Nothing here boots an
 * operating system: the image is a blank qcow2.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { tempDir } from "../helpers/daemons.js";
import { type Bridge, createBridge, type Libvirtd, startLibvirtd } from "../helpers/libvirt.js";
import { runKeel } from "../unit/cli/built.js";

/** Third octet of the test network 10.77.N.0/24 and bridge keelbrN. */
const N = 65;
let lv: Libvirtd;
let bridge: Bridge;
let dir: string;
let inv: string;
let imageFile: string;
let imageHex: string;

/** One machine `new-1` with root disk `disk` GiB, from a blank image of 1.5 GiB. */
const inventory = (disk: number) => `keel: 1
site: lab
networks:
  lan: { cidr: 10.77.${N}.0/24, gateway: 10.77.${N}.1 }
hypervisors:
  vega: { driver: libvirt, uri: "${lv.uri}", dir: ${dir}/pool, networks: { lan: ${bridge.name} }, domain_type: qemu }
images:
  blank: { path: ${imageFile}, sha256: ${imageHex} }
hosts:
  new-1: { address: { lan: 10.77.${N}.11 }, ssh: false, vm: { hypervisor: vega, image: blank, memory: 256, disk: ${disk}, autostart: false } }
vantages:
  admin: { local: true, networks: [lan] }
`;

const domains = async () =>
  (await lv.virsh("list", "--all", "--name"))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

before(async () => {
  lv = await startLibvirtd();
  bridge = createBridge(N);
  dir = tempDir("keel-apply-refusals-");
  mkdirSync(join(dir, "pool"));
  imageFile = join(dir, "blank.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", imageFile, "1536M"]);
  imageHex = createHash("sha256").update(readFileSync(imageFile)).digest("hex");
  inv = join(dir, "keel.yaml");
});

after(async () => {
  await lv?.stop();
  bridge?.destroy();
});

test("keel plan on an invalid inventory: exit 2 at the line and column, no stack trace", async () => {
  writeFileSync(inv, inventory(1).replace("memory: 256", "memory: lots"));
  const p = await runKeel("plan", inv);
  assert.equal(p.code, 2, p.stdout + p.stderr);
  assert.match(p.stderr, new RegExp(`${inv.replace(/[.]/g, "\\.")}:10:\\d+: .*memory`));
  assert.doesNotMatch(p.stderr, /\n\s+at /);
});

test("--expect-observed: a domain defined after the plan was made makes apply refuse, and nothing is made", async () => {
  writeFileSync(inv, inventory(2));
  const p = await runKeel("plan", inv, "--json");
  assert.equal(p.code, 3, p.stdout + p.stderr);
  const observed = (JSON.parse(p.stdout) as { observed: string }).observed;
  assert.match(observed, /^[0-9a-f]{64}$/);
  // someone defines a domain on the hypervisor between the plan and the apply
  const xml = join(dir, "outsider.xml");
  writeFileSync(
    xml,
    "<domain type='qemu'><name>outsider</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>\n",
  );
  await lv.virsh("define", xml);
  const a = await runKeel("apply", inv, "--yes", "--expect-observed", observed);
  assert.equal(a.code, 1, a.stdout + a.stderr);
  assert.match(
    a.stderr,
    new RegExp(
      `the hypervisors changed since the plan with observed ${observed} was made \\(now [0-9a-f]{64}\\)`,
    ),
  );
  assert.doesNotMatch(a.stdout, /^applied:/m);
  assert.deepEqual(await domains(), ["outsider"]);
  // the plan made now sees the change: its digest is another
  const again = await runKeel("plan", inv, "--json");
  assert.notEqual((JSON.parse(again.stdout) as { observed: string }).observed, observed);
  await lv.virsh("undefine", "outsider");
});

test("a disk smaller than the image is refused with both sizes; no root volume, seed or domain of the machine is left", async () => {
  writeFileSync(inv, inventory(1));
  const a = await runKeel("apply", inv, "--yes");
  assert.equal(a.code, 1, a.stdout + a.stderr);
  assert.match(
    a.stdout,
    /new-1 on vega: create FAILED in [\d.]+ s: disk 1 GiB of "new-1" is smaller than image "blank" \(2 GiB\); expected vm.disk of at least that/,
  );
  assert.deepEqual(await domains(), []);
  const vols = (await lv.virsh("vol-list", "--pool", "keel-lab-vega"))
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((n) => n !== "" && n !== "Name" && !/^-+$/.test(n));
  assert.deepEqual(vols, [`keel-image-blank-${imageHex.slice(0, 12)}.qcow2`]);
});

test("a machine that does not pass its gate is reported, left running for inspection, and unfinished for the next plan", async () => {
  writeFileSync(inv, inventory(2));
  const a = await runKeel("apply", inv, "--yes", "--gate-timeout", "5s");
  assert.equal(a.code, 1, a.stdout + a.stderr);
  assert.match(
    a.stdout,
    /^ {2}new-1 on vega: create GATE FAILED in [\d.]+ s: gate: .*; the machine is left as it is for inspection$/m,
  );
  assert.deepEqual(await domains(), ["new-1"]);
  assert.equal((await lv.virsh("domstate", "new-1")).trim(), "running");
  const p = await runKeel("plan", inv);
  assert.equal(p.code, 3, p.stdout + p.stderr);
  assert.match(p.stdout, /new-1 on vega: finish/);
});
