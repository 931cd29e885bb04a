/**
 * A `proxmox` hypervisor in the inventory (docs/inventory.md, "hypervisors"): endpoints with
 * their certificate pins, the token's source, node, storage, templates, the VMID range; VMIDs
 * declared or allocated into keel.lock; one located error per rule, on both the fast and the
 * located path. Lines 1–7 are BASE; the tested lines start at 8.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatProblem, UserError } from "../../../src/errors.js";
import { parseLock } from "../../../src/inventory/ipam/lock.js";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import { BASE, yaml } from "./helpers.js";

const SHA256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
const PIN = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, "0")).join(":");

/** Line 8–9: a proxmox hypervisor `pve` with two endpoints; line 10–11: an image. */
const PVE = [
  "hypervisors:",
  `  pve: { driver: proxmox, endpoints: [{ url: "https://vega.lab", fingerprint: "${PIN}" }, { url: "https://altair.lab:8443/", fingerprint: "${PIN.toUpperCase()}" }], token: { env: PVE_TOKEN }, node: vega, storage: local-lvm, templates: { debian-12: 9000 }, networks: { lan: vmbr0 } }`,
  "images:",
  `  debian-12: { url: "https://cloud.example/debian-12.qcow2", sha256: ${SHA256} }`,
];

const machine = (name: string, address: string, extra = "") =>
  `  ${name}: { address: ${address}, vm: { hypervisor: pve, image: debian-12${extra} } }`;

/** Inventory text: BASE's hosts plus `hosts`, then the lines of PVE (as changed by `pve`). */
function inv(hosts: string[], pve: string[] = PVE): string {
  return yaml(...BASE, ...hosts, ...pve);
}

function problems(text: string, lockText?: string): string[] {
  const of = (load: typeof parseInventory): string[] => {
    try {
      load(text, "t.yaml", lockText !== undefined ? { lockText } : {});
    } catch (e) {
      if (e instanceof UserError) return e.problems.map(formatProblem);
      throw e;
    }
    return assert.fail("expected the inventory to be rejected");
  };
  const fast = of(parseInventory);
  assert.deepEqual(of(parseLocated), fast, "the fast and the located path disagree");
  return fast;
}

function load(text: string, lockText?: string) {
  const opts = lockText !== undefined ? { lockText } : {};
  const fast = parseInventory(text, "t.yaml", opts);
  assert.deepEqual(
    JSON.parse(JSON.stringify(parseLocated(text, "t.yaml", opts))),
    JSON.parse(JSON.stringify(fast)),
  );
  return fast;
}

test("a proxmox hypervisor normalises: endpoints in order with port 8006 by default, pins uppercase, defaults", () => {
  const h = load(inv([])).hypervisors[0]!;
  assert.equal(h.driver, "proxmox");
  if (h.driver !== "proxmox") return;
  assert.deepEqual(h.endpoints, [
    { url: "https://vega.lab:8006", fingerprint: PIN.toUpperCase() },
    { url: "https://altair.lab:8443", fingerprint: PIN.toUpperCase() },
  ]);
  assert.deepEqual(h.token, { env: "PVE_TOKEN" });
  assert.equal(h.node, "vega");
  assert.equal(h.storage, "local-lvm");
  assert.equal(h.isoStorage, "local");
  assert.equal(h.cloneLimit, 1);
  assert.deepEqual(h.templates, { "debian-12": 9000 });
  assert.deepEqual(h.vmidRange, { from: 1000, to: 9999 });
  assert.deepEqual(h.bridges, { lan: "vmbr0" });
});

test("VMIDs: declared ones are kept, the others allocated from the range in inventory order and recorded in keel.lock", () => {
  const text = inv([
    machine("b", "10.20.0.6", ", vmid: 1000"),
    machine("c", "10.20.0.7"),
    machine("d", "10.20.0.8"),
  ]);
  const i = load(text);
  const vmid = (h: string) => i.hosts.find((x) => x.name === h)!.vm!.machine!.vmid;
  assert.equal(vmid("b"), 1000, "declared");
  assert.equal(vmid("c"), 1001, "the lowest free after the declared one");
  assert.equal(vmid("d"), 1002);
  assert.equal(i.hosts.find((x) => x.name === "a")!.vm, undefined);
  const lock = parseLock(i.ipam.lock!, "keel.lock");
  assert.deepEqual(lock.vmids, { c: 1001, d: 1002 }, "only allocated VMIDs are locked");
  assert.match(i.ipam.lock!, /\nvmids:\n {2}c: 1001\n {2}d: 1002\n/);
});

test("a locked VMID stays with its machine when machines are added before it", () => {
  const first = load(inv([machine("c", "10.20.0.7")]));
  const lockText = first.ipam.lock!;
  assert.match(lockText, /c: 1000/);
  const again = load(inv([machine("b", "10.20.0.6"), machine("c", "10.20.0.7")]), lockText);
  const vmid = (h: string) => again.hosts.find((x) => x.name === h)!.vm!.machine!.vmid;
  assert.equal(vmid("c"), 1000, "kept from keel.lock");
  assert.equal(vmid("b"), 1001, "the new machine takes the next free one");
});

test("vmid_range bounds allocation; a range with none left is located at the machine", () => {
  const narrow = PVE.map((l) => l.replace("node: vega,", "node: vega, vmid_range: 2000-2000,"));
  assert.equal(load(inv([machine("b", "10.20.0.6")], narrow)).hosts[1]!.vm!.machine!.vmid, 2000);
  assert.deepEqual(problems(inv([machine("b", "10.20.0.6"), machine("c", "10.20.0.7")], narrow)), [
    't.yaml:9:28: host "c" cannot be given a VMID: vmid_range 2000-2000 of hypervisor "pve" has none left; widen it or declare vm.vmid',
  ]);
  const backwards = PVE.map((l) => l.replace("node: vega,", "node: vega, vmid_range: 3000-2000,"));
  assert.deepEqual(problems(inv([], backwards)), [
    't.yaml:9:381: vmid_range "3000-2000" of hypervisor "pve" is not a range of VMIDs; expected FROM-TO with 100 <= FROM <= TO <= 999999999, e.g. 1000-1999',
  ]);
});

test("a declared VMID used twice on one hypervisor, or out of range, is located", () => {
  const ps = problems(
    inv([machine("b", "10.20.0.6", ", vmid: 500"), machine("c", "10.20.0.7", ", vmid: 500")]),
  );
  assert.equal(ps.length, 1);
  assert.match(
    ps[0]!,
    /^t\.yaml:9:\d+: vmid 500 of host "c" is already the VMID of host "b" on the same hypervisor/,
  );
  const low = problems(inv([machine("b", "10.20.0.6", ", vmid: 99")]));
  assert.equal(low.length, 1);
  assert.match(
    low[0]!,
    /^t\.yaml:8:\d+: vmid 99 of vm of host "b" is out of range; expected a whole number from 100 to 999999999/,
  );
});

test("the token is read from env or file, never written in the inventory", () => {
  const literal = PVE.map((l) => l.replace("token: { env: PVE_TOKEN }", 'token: "root@pam!keel=0c3f6a1e"'));
  const ps = problems(inv([], literal));
  assert.equal(ps.length, 1);
  assert.ok(!ps[0]!.includes("0c3f6a1e"), `the secret is echoed: ${ps[0]}`);
  assert.match(ps[0]!, /token/);
  const file = PVE.map((l) => l.replace("token: { env: PVE_TOKEN }", "token: { file: /etc/keel/pve.token }"));
  const h = load(inv([], file)).hypervisors[0]!;
  assert.deepEqual(h.driver === "proxmox" && h.token, { file: "/etc/keel/pve.token" });
});

test("endpoints: https only, no path, no credentials (not echoed), each once; the fingerprint is a SHA-256", () => {
  const swap = (from: string, to: string) => PVE.map((l) => l.replace(from, to));
  const one = (lines: string[]) => {
    const ps = problems(inv([], lines));
    assert.equal(ps.length, 1, ps.join("\n"));
    return ps[0]!;
  };
  assert.match(
    one(swap('"https://vega.lab"', '"http://vega.lab"')),
    /url "http:\/\/vega.lab" of endpoint|url .*https/,
  );
  assert.match(
    one(swap('"https://vega.lab"', '"https://vega.lab/api2/json"')),
    /url "https:\/\/vega.lab\/api2\/json" of endpoint 1 of hypervisor "pve" has a path or query; expected https:\/\/HOST\[:PORT\] only/,
  );
  const cred = one(swap('"https://vega.lab"', '"https://root:hunter2@vega.lab"'));
  assert.ok(!cred.includes("hunter2"), cred);
  assert.match(cred, /endpoint 1 of hypervisor "pve" holds credentials/);
  assert.match(
    one(swap('"https://altair.lab:8443/"', '"https://vega.lab"')),
    /endpoint "https:\/\/vega.lab" of hypervisor "pve" is listed twice/,
  );
  assert.match(one(swap(`fingerprint: "${PIN}" }, {`, 'fingerprint: "AB:CD" }, {')), /fingerprint/);
});

test("node and storage are required; keys of the other driver are located", () => {
  const ps = problems(
    inv(
      [],
      PVE.map((l) => l.replace(" node: vega, storage: local-lvm,", "")),
    ),
  );
  assert.deepEqual(
    ps.map((p) => p.replace(/^t\.yaml:\d+:\d+: /, "")),
    ['hypervisor "pve" is missing required key "node"', 'hypervisor "pve" is missing required key "storage"'],
  );
  assert.deepEqual(
    problems(
      inv(
        [],
        PVE.map((l) => l.replace("node: vega,", "node: vega, pool: default,")),
      ),
    ),
    [
      't.yaml:9:369: pool of hypervisor "pve" is a key of driver libvirt, but the hypervisor\'s driver is proxmox; expected endpoints, token, node, storage, iso_storage, clone_limit, templates, vmid_range, networks',
    ],
  );
});

test("a machine's image needs a template on its proxmox hypervisor; vmid only on proxmox", () => {
  const noTemplate = PVE.map((l) => l.replace(" templates: { debian-12: 9000 },", ""));
  const ps = problems(inv([machine("b", "10.20.0.6")], noTemplate));
  assert.equal(ps.length, 1);
  assert.match(
    ps[0]!,
    /^t\.yaml:8:\d+: image "debian-12" of host "b" has no template on proxmox hypervisor "pve"; add templates: \{ debian-12: VMID \}/,
  );
  const libvirt = [
    "hypervisors:",
    "  vega: { driver: libvirt, uri: qemu:///system, networks: { lan: br0 } }",
    ...PVE.slice(2),
  ];
  const wrong = problems(
    yaml(
      ...BASE,
      "  b: { address: 10.20.0.6, vm: { hypervisor: vega, image: debian-12, vmid: 1000 } }",
      ...libvirt,
    ),
  );
  assert.equal(wrong.length, 1);
  assert.match(
    wrong[0]!,
    /vmid of host "b" is for a machine on a proxmox hypervisor, but hypervisor "vega" has driver libvirt/,
  );
  assert.equal(
    problems(
      inv(["  b: { address: 10.20.0.6, vm: { hypervisor: pve, image: debian-12 } }"], [...PVE, "  more: x"]),
    ).length > 0,
    true,
  );
});

test("keel.lock: vmids are read back, a bad one is located", () => {
  const lock = parseLock("keel-lock: 1\naddresses: {}\nmacs: {}\nvmids:\n  b: 1000\n", "keel.lock");
  assert.deepEqual(lock.vmids, { b: 1000 });
  assert.throws(
    () => parseLock("keel-lock: 1\nvmids:\n  b: 12\n", "keel.lock"),
    (e: unknown) =>
      e instanceof UserError &&
      formatProblem(e.problems[0]!).startsWith('keel.lock:3:6: VMID of host "b" in keel.lock is not a VMID'),
  );
});
