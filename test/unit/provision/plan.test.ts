/**
 * The machine planner as a pure function: each field's change gives its action, a machine's
 * action is the most disruptive of its fields', drift is told apart from declared changes,
 * defaults and unmanaged fields never show as changes, and what cannot be planned is blocked.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPlan } from "../../../src/provision/format.js";
import { fieldAction, planMachines } from "../../../src/provision/plan.js";
import type { ObservedDomain } from "../../../src/provision/provider.js";
import type { DesiredMachine, MachineSpec } from "../../../src/provision/spec.js";

const SPEC: MachineSpec = {
  hypervisor: "vega",
  image: "debian-12",
  imageDigest: `sha256:${"ab".repeat(32)}`,
  vcpus: 2,
  memoryMiB: 1024,
  diskGiB: 10,
  autostart: true,
  mac: "02:6b:65:00:00:01",
  bridge: "br0",
  instance: 1,
  seed: "cd".repeat(32),
};

function want(host: string, spec: Partial<MachineSpec> = {}): DesiredMachine {
  return { host, spec: { ...SPEC, ...spec }, addresses: ["lan=10.20.0.16"] };
}

/** A domain Keel made for `host` with `recorded`, whose hypervisor now holds `actual`. */
function domain(
  host: string,
  recorded: Partial<MachineSpec> = {},
  actual: Partial<MachineSpec> = {},
  site = "lab",
): ObservedDomain {
  const spec = { ...SPEC, ...recorded };
  return {
    name: host,
    uuid: `uuid-${host}`,
    power: "running",
    keel: { site, host, inventory: "0".repeat(64), spec },
    actual: {
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      diskGiB: spec.diskGiB,
      autostart: spec.autostart,
      mac: spec.mac,
      bridge: spec.bridge,
      ...actual,
    },
    snapshots: true,
  };
}

test("each field's change takes its documented action", () => {
  assert.equal(fieldAction("image", "a", "b"), "replace");
  assert.equal(fieldAction("imageDigest", "a", "b"), "replace");
  assert.equal(fieldAction("hypervisor", "a", "b"), "replace");
  assert.equal(fieldAction("diskGiB", 10, 20), "update");
  assert.equal(fieldAction("diskGiB", 20, 10), "replace");
  assert.equal(fieldAction("memoryMiB", 1024, 2048), "reboot");
  assert.equal(fieldAction("vcpus", 1, 2), "reboot");
  assert.equal(fieldAction("instance", 1, 2), "reboot");
  assert.equal(fieldAction("mac", "a", "b"), "stop-start");
  assert.equal(fieldAction("bridge", "a", "b"), "stop-start");
  assert.equal(fieldAction("autostart", false, true), "update");
  assert.equal(fieldAction("seed", "a", "b"), "update");
});

test("an absent machine is created; an unchanged one is nothing; a missing host's domain is deleted", () => {
  const plan = planMachines(
    "lab",
    [want("web-1"), want("web-2")],
    [{ hypervisor: "vega", domains: [domain("web-2"), domain("old-1")] }],
  );
  assert.deepEqual(
    plan.machines.map((m) => [m.host, m.action]),
    [
      ["web-1", "create"],
      ["web-2", "nothing"],
      ["old-1", "delete"],
    ],
  );
  assert.equal(plan.machines[2]!.rollback, "none");
  assert.equal(plan.machines[2]!.rollbackWhy, "the machine's disk is deleted");
  assert.deepEqual(plan.counts, {
    nothing: 1,
    finish: 0,
    update: 0,
    reboot: 0,
    "stop-start": 0,
    replace: 0,
    create: 1,
    delete: 1,
  });
  assert.deepEqual(plan.drift, []);
});

test("a memory change is a reboot with a snapshot first, and lists from -> to", () => {
  const plan = planMachines(
    "lab",
    [want("web-1", { memoryMiB: 2048 })],
    [{ hypervisor: "vega", domains: [domain("web-1")] }],
  );
  const m = plan.machines[0]!;
  assert.equal(m.action, "reboot");
  assert.equal(m.rollback, "snapshot");
  assert.deepEqual(m.changes, [{ field: "memoryMiB", from: 1024, to: 2048, drift: false }]);
  assert.match(formatPlan(plan), /~ web-1 on vega: update with reboot\n {4}memory: 1024 MiB -> 2048 MiB\n/);
  assert.match(formatPlan(plan), /a snapshot is taken first/);
});

test("the most disruptive field decides, and storage without snapshots says no rollback point", () => {
  const d = { ...domain("web-1"), snapshots: false };
  const replace = planMachines(
    "lab",
    [want("web-1", { autostart: false, vcpus: 4, image: "debian-13" })],
    [{ hypervisor: "vega", domains: [d] }],
  );
  assert.equal(replace.machines[0]!.action, "replace");
  assert.match(formatPlan(replace), /no rollback point: the machine's disk is deleted/);
  const reboot = planMachines(
    "lab",
    [want("web-1", { autostart: false, vcpus: 4 })],
    [{ hypervisor: "vega", domains: [d] }],
  );
  assert.equal(reboot.machines[0]!.action, "reboot");
  assert.match(
    formatPlan(reboot),
    /no rollback point: the root disk cannot hold snapshots \(it is not qcow2\)/,
  );
});

test("what the journal says an earlier apply left unfinished is finished, or its leftovers deleted", () => {
  const late = new Map([
    ["web-1", { hypervisor: "vega", why: "an earlier apply stopped during domain.start" }],
    ["gone-1", { hypervisor: "vega", why: "an earlier apply stopped during root.create" }],
  ]);
  const plan = planMachines(
    "lab",
    [want("web-1")],
    [{ hypervisor: "vega", domains: [domain("web-1")] }],
    new Map(),
    late,
  );
  assert.deepEqual(
    plan.machines.map((m) => [m.host, m.action, m.note]),
    [
      ["web-1", "finish", "an earlier apply stopped during domain.start"],
      ["gone-1", "delete", "an earlier apply stopped during root.create"],
    ],
  );
  assert.match(formatPlan(plan), /web-1 on vega: finish what an earlier apply started/);
});

test("an unfinished machine's differences are the interrupted apply's, not drift, and it is finished", () => {
  const late = new Map([
    ["web-1", { hypervisor: "vega", why: "the last apply stopped during domain.autostart" }],
  ]);
  const plan = planMachines(
    "lab",
    [want("web-1")],
    [{ hypervisor: "vega", domains: [domain("web-1", {}, { autostart: false })] }],
    new Map(),
    late,
  );
  assert.deepEqual(plan.drift, []);
  assert.equal(plan.machines[0]!.action, "finish");
  assert.deepEqual(plan.machines[0]!.changes, [{ field: "autostart", from: false, to: true, drift: false }]);
});

test("a change made outside Keel is drift, shown apart, and planned back", () => {
  const plan = planMachines(
    "lab",
    [want("web-1")],
    [{ hypervisor: "vega", domains: [domain("web-1", {}, { memoryMiB: 4096 })] }],
  );
  assert.deepEqual(plan.drift, [
    { host: "web-1", hypervisor: "vega", field: "memoryMiB", recorded: 1024, actual: 4096 },
  ]);
  assert.deepEqual(plan.machines[0]!.changes, [{ field: "memoryMiB", from: 4096, to: 1024, drift: true }]);
  const text = formatPlan(plan);
  assert.match(text, /changed outside Keel \(drift\)/);
  assert.match(text, /web-1 on vega: memory is 4096 MiB, Keel applied 1024 MiB/);
});

test("drift that happens to equal the inventory is shown as drift but changes nothing", () => {
  const plan = planMachines(
    "lab",
    [want("web-1", { memoryMiB: 2048 })],
    [{ hypervisor: "vega", domains: [domain("web-1", {}, { memoryMiB: 2048 })] }],
  );
  assert.equal(plan.machines[0]!.action, "nothing");
  assert.equal(plan.drift.length, 1);
});

test("fields the hypervisor does not report compare with Keel's record", () => {
  const plan = planMachines(
    "lab",
    [want("web-1", { seed: "ee".repeat(32) })],
    [{ hypervisor: "vega", domains: [domain("web-1")] }],
  );
  assert.equal(plan.machines[0]!.action, "update");
  assert.deepEqual(
    plan.machines[0]!.changes.map((c) => c.field),
    ["seed"],
  );
});

test("a machine moved to another hypervisor is replaced, and its old domain is not deleted twice", () => {
  const plan = planMachines(
    "lab",
    [want("web-1", { hypervisor: "rigel" })],
    [
      { hypervisor: "vega", domains: [domain("web-1")] },
      { hypervisor: "rigel", domains: [] },
    ],
  );
  assert.deepEqual(
    plan.machines.map((m) => [m.host, m.action, m.from, m.hypervisor]),
    [["web-1", "replace", "vega", "rigel"]],
  );
});

test("a domain of the host's name that Keel did not make, or made for another site, blocks the machine", () => {
  const foreign: ObservedDomain = {
    name: "web-1",
    uuid: "u",
    power: "shut off",
    actual: {},
    snapshots: false,
  };
  const plan = planMachines(
    "lab",
    [want("web-1"), want("web-2")],
    [{ hypervisor: "vega", domains: [foreign, domain("web-2", {}, {}, "prod")] }],
  );
  assert.deepEqual(plan.machines, []);
  assert.deepEqual(
    plan.blocked.map((b) => b.host),
    ["web-1", "web-2"],
  );
  assert.match(plan.blocked[0]!.reason, /Keel did not make it/);
  assert.match(plan.blocked[1]!.reason, /for site "prod"/);
});

test("domains of other sites and unmanaged domains are never deleted", () => {
  const foreign: ObservedDomain = {
    name: "win10",
    uuid: "u",
    power: "running",
    actual: {},
    snapshots: false,
  };
  const plan = planMachines(
    "lab",
    [],
    [{ hypervisor: "vega", domains: [foreign, domain("db-1", {}, {}, "prod")] }],
  );
  assert.deepEqual(plan.machines, []);
});

test("an unreachable hypervisor blocks its machines and is listed", () => {
  const plan = planMachines(
    "lab",
    [want("web-1")],
    [],
    new Map([["vega", "failed to connect to the hypervisor"]]),
  );
  assert.deepEqual(plan.machines, []);
  assert.equal(plan.blocked.length, 1);
  assert.deepEqual(plan.unreachable, [{ hypervisor: "vega", reason: "failed to connect to the hypervisor" }]);
  assert.match(formatPlan(plan), /unreachable hypervisors/);
  // web-1 is declared: the plan does not say that no machine is
  assert.doesNotMatch(formatPlan(plan), /no machines are declared/);
});

test("the observed digest does not depend on listing order", () => {
  const a = planMachines("lab", [], [{ hypervisor: "vega", domains: [domain("a"), domain("b")] }]);
  const b = planMachines("lab", [], [{ hypervisor: "vega", domains: [domain("b"), domain("a")] }]);
  assert.equal(a.observed, b.observed);
  const c = planMachines(
    "lab",
    [],
    [{ hypervisor: "vega", domains: [domain("a", {}, { vcpus: 8 }), domain("b")] }],
  );
  assert.notEqual(a.observed, c.observed);
});
