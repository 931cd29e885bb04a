/**
 * The Proxmox VE provider on its own, against the API stand-in (test/helpers/pve-standin.ts):
 * what `keel apply` cannot easily show from outside. A change sends the config digest read when
 * the plan was made, so a change made elsewhere since is refused and left as it is; snapshot
 * names are checked against the API's `pve-configid` format before any request.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseInventory } from "../../../src/inventory/load.js";
import type { ProxmoxHypervisor } from "../../../src/inventory/model.js";
import { ProviderError, type StepRecorder } from "../../../src/provision/provider.js";
import { ProxmoxProvider, toSnapname } from "../../../src/provision/proxmox/provider.js";
import { desiredMachines } from "../../../src/provision/spec.js";
import { closeClients } from "../../../src/pve/hypervisor.js";
import { tempDir } from "../../helpers/daemons.js";
import { PveStandin } from "../../helpers/pve-standin.js";

let pve: PveStandin;
let dir: string;

before(async () => {
  pve = await PveStandin.start({ nodes: ["vega", "rigel"] });
  dir = tempDir("pve-provider");
  writeFileSync(join(dir, "token"), pve.token);
  pve.addVm({ vmid: 9000, node: "vega", name: "tpl", template: true });
});

after(async () => {
  await closeClients();
  await pve?.close();
});

/** The steps a provider ran, in order (the StepRecorder interface apply's journal implements). */
function recorder(): StepRecorder & { steps: string[] } {
  const steps: string[] = [];
  return {
    steps,
    step: (_host, step, _detail, run) => {
      steps.push(step);
      return run();
    },
  };
}

function inventory() {
  const endpoints = pve.nodes
    .map(
      (n) => `      - { url: "${pve.endpointOf(n)}", fingerprint: "${pve.fingerprints[pve.endpointOf(n)]}" }`,
    )
    .join("\n");
  return parseInventory(
    `keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hypervisors:
  pve:
    driver: proxmox
    endpoints:
${endpoints}
    token: { file: ${join(dir, "token")} }
    node: vega
    storage: local-lvm
    templates: { debian-12: 9000 }
    networks: { lan: vmbr0 }
images:
  debian-12: { url: "https://cloud.example/d.qcow2", sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 }
hosts:
  web-1: { address: 10.20.0.5, ssh: false, vm: { hypervisor: pve, image: debian-12 } }
`,
    join(dir, "keel.yaml"),
  );
}

test("a change sends the digest observed at plan time: a change made elsewhere since is refused, not overwritten", async () => {
  const inv = inventory();
  const h = inv.hypervisors[0] as ProxmoxHypervisor;
  const warnings: string[] = [];
  const provider = new ProxmoxProvider(h, "lab", {
    warn: (l) => warnings.push(l),
    lockRetry: { baseMs: 10 },
  });
  const [m] = desiredMachines(inv);
  const seedIso = join(dir, "seed.iso");
  writeFileSync(seedIso, "cidata");
  const input = {
    site: "lab",
    host: "web-1",
    inventory: "0".repeat(64),
    spec: m!.spec,
    image: inv.images[0]!,
    imageFile: "",
    seedIso,
    vmid: inv.hosts[0]!.vm!.machine!.vmid!,
  };
  const rec = recorder();
  await provider.create(input, rec);
  assert.deepEqual(rec.steps, ["vm.clone", "vm.seed", "vm.configure", "vm.resize", "vm.start"]);
  const observed = (await provider.observe()).domains.find((d) => d.name === "web-1")!;
  assert.equal(observed.revision, pve.digest(input.vmid), "the config digest is observed");
  assert.equal(observed.keel?.host, "web-1");
  // someone changes the machine in the Proxmox UI after the plan was made
  pve.vms.get(input.vmid)!.config.memory = "3000";
  const changed = { ...input, spec: { ...input.spec, memoryMiB: 2048 } };
  await assert.rejects(
    provider.change(changed, observed, recorder()),
    (e: unknown) =>
      e instanceof ProviderError &&
      /detected modified configuration - file changed by other user/.test(e.message),
  );
  assert.equal(pve.vms.get(input.vmid)!.config.memory, "3000", "the other change stands");
  // observed again, the change goes through
  const fresh = (await provider.observe()).domains.find((d) => d.name === "web-1")!;
  await provider.change(changed, fresh, recorder());
  assert.equal(pve.vms.get(input.vmid)!.config.memory, "2048");
  // with a snapshot first (a change that restarts the machine), the digest is compared before it
  const before = (await provider.observe()).domains.find((d) => d.name === "web-1")!;
  pve.vms.get(input.vmid)!.config.memory = "3000";
  const snapshotsBefore = pve.vms.get(input.vmid)!.snapshots.size;
  await assert.rejects(
    provider.change(
      { ...input, spec: { ...input.spec, memoryMiB: 4096 } },
      before,
      recorder(),
      "keel-20260101T000000Z",
    ),
    (e: unknown) => e instanceof ProviderError && /detected modified configuration/.test(e.message),
  );
  assert.equal(pve.vms.get(input.vmid)!.snapshots.size, snapshotsBefore, "no snapshot was taken");
  assert.equal(pve.vms.get(input.vmid)!.config.memory, "3000");
  assert.deepEqual(pve.violations, []);
});

test("snapshot names are Proxmox VE config IDs; another name is refused before any request", () => {
  assert.equal(toSnapname("keel-20260101T120000Z"), "keel-20260101T120000Z");
  assert.equal(toSnapname("before_upgrade"), "before_upgrade");
  for (const bad of ["1st", "with space", "a.b", "x".repeat(41)])
    assert.throws(
      () => toSnapname(bad),
      (e: unknown) => e instanceof ProviderError && /not a Proxmox VE snapshot name/.test(e.message),
    );
});
