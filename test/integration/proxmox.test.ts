/**
 * The built `keel plan` / `keel apply` against a Proxmox VE cluster: a stateful stand-in of the
 * API (test/helpers/pve-standin.ts: one HTTPS endpoint per node with its own certificate, every
 * request and answer checked against the API viewer's data in test/fixtures/proxmox-api.json).
 * A Proxmox VE cluster cannot run here; what is tested is Keel against the API's contract.
 *
 * The stand-in's machines have no guest. Each host of the inventory is an address on loopback
 * where the test listens on the host's declared service port, so the verify gate Keel runs after
 * each machine observes a real listener: what it judges is the apply, not a guest.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { tempDir } from "../helpers/daemons.js";
import { PveStandin } from "../helpers/pve-standin.js";
import { CLI, ensureBuilt, runKeel } from "../unit/cli/built.js";

const TEMPLATE = 9000;
const PORT = 18080;
const HOSTS = Array.from({ length: 10 }, (_, i) => `web-${i + 1}`);
const addressOf = (host: string) => `127.0.0.${40 + HOSTS.indexOf(host)}`;
/** Hosts without a service: the gate has nothing to check on them. */
const EXTRA: Record<string, string> = {
  "db-1": "127.0.0.60",
  "cache-1": "127.0.0.61",
  "mail-1": "127.0.0.62",
};

interface JournalRecord {
  run: string;
  type: string;
  step?: string;
  host?: string;
}

describe("keel plan and apply on Proxmox VE (against the API's contract)", () => {
  let pve: PveStandin;
  let dir: string;
  let inv: string;
  const listeners: Server[] = [];

  /**
   * The inventory: endpoints in `order` (node names); `hosts` on hypervisor pve, each with a
   * listener the gate checks (memory from `memory`, default 1024); `extra` hosts without one.
   */
  const inventory = (opts: {
    hosts: string[];
    extra?: string[];
    order?: string[];
    pins?: Record<string, string>;
    memory?: Record<string, number>;
  }) => {
    const order = opts.order ?? ["vega", "rigel", "altair"];
    const pins = opts.pins ?? pve.fingerprints;
    const endpoints = order
      .map((n) => `      - { url: "${pve.endpointOf(n)}", fingerprint: "${pins[pve.endpointOf(n)]}" }`)
      .join("\n");
    const hosts = opts.hosts
      .map(
        (h) =>
          `  ${h}: { address: ${addressOf(h)}, ssh: false, services: [{ name: web, port: ${PORT}/tcp, allow: [any] }], vm: { hypervisor: pve, image: debian-12, vcpus: 2, memory: ${opts.memory?.[h] ?? 1024}, disk: 12 } }`,
      )
      .concat(
        (opts.extra ?? []).map(
          (h) =>
            `  ${h}: { address: ${EXTRA[h]}, ssh: false, vm: { hypervisor: pve, image: debian-12${h === "mail-1" ? ", vmid: 4242" : ""} } }`,
        ),
      )
      .join("\n");
    return `keel: 1
site: lab
networks:
  lan: { cidr: 127.0.0.0/8 }
hypervisors:
  pve:
    driver: proxmox
    endpoints:
${endpoints}
    token: { file: ${join(dir, "pve.token")} }
    node: vega
    storage: local-lvm
    templates: { debian-12: ${TEMPLATE} }
    networks: { lan: vmbr0 }
images:
  debian-12: { url: "https://cloud.example/debian-12.qcow2", sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 }
hosts:
${hosts || "  other: { address: 127.0.0.99, ssh: false }"}
vantages:
  admin: { local: true, networks: [lan] }
`;
  };

  const write = (text: string) => writeFileSync(inv, text);
  const keelVms = () => [...pve.vms.values()].filter((v) => v.config.template !== "1");
  const vmOf = (host: string) => keelVms().find((v) => v.config.name === host);
  const lock = () => readFileSync(join(dir, "keel.lock"), "utf8");
  const journal = (): JournalRecord[] =>
    existsSync(join(dir, ".keel", "journal.jsonl"))
      ? readFileSync(join(dir, ".keel", "journal.jsonl"), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .flatMap((l) => {
            try {
              return [JSON.parse(l) as JournalRecord];
            } catch {
              return [];
            }
          })
      : [];

  before(async () => {
    ensureBuilt();
    dir = tempDir("pve-apply");
    inv = join(dir, "keel.yaml");
    pve = await PveStandin.start({ taskMs: { qmclone: 150 }, lockWaitMs: 200, configLockWaitMs: 100 });
    writeFileSync(join(dir, "pve.token"), `${pve.token}\n`, { mode: 0o600 });
    pve.addVm({ vmid: TEMPLATE, node: "vega", name: "debian-12-template", template: true });
    pve.addVm({ vmid: 120, node: "rigel", name: "grafana", status: "running", unmanaged: true });
    for (const h of HOSTS) {
      const server = createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(PORT, addressOf(h), resolve));
      listeners.push(server);
    }
  });

  after(async () => {
    for (const s of listeners) s.close();
    await pve?.close();
  });

  test("ten machines created in parallel, clones one at a time on the storage, none failing on its lock", async () => {
    write(inventory({ hosts: HOSTS }));
    const r = await runKeel("apply", inv, "--yes", "--parallel", "10", "--gate-timeout", "30s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const h of HOSTS)
      assert.match(r.stdout, new RegExp(`${h} on pve: create done in [\\d.]+ s: gate: `));
    // VMIDs from the default range, in inventory order, recorded in keel.lock before the apply
    assert.match(lock(), /vmids:\n {2}web-1: 1000\n {2}web-10: 1009\n {2}web-2: 1001\n/);
    const clones = [...pve.tasks.values()].filter((t) => t.type === "qmclone");
    assert.equal(clones.length, 10);
    assert.deepEqual(
      clones.map((t) => t.exitstatus),
      Array(10).fill("OK"),
      "no clone failed (a lock timeout would show here)",
    );
    // with the clones in parallel, the second would wait 200 ms for the storage lock a 150 ms
    // clone holds and a later one time out (the stand-in's own test shows the race): Keel ran
    // them one at a time, so none had to be retried
    assert.doesNotMatch(r.stderr, /got lock request timeout/);
    const keelLock = lock();
    for (const h of HOSTS) {
      const vm = vmOf(h)!;
      assert.ok(vm, `no VM for ${h}`);
      assert.equal(vm.node, "vega");
      assert.equal(vm.status, "running");
      assert.equal(vm.config.cores, "2");
      assert.equal(vm.config.memory, "1024");
      const mac = new RegExp(`${h}: "([0-9a-f:]+)"`).exec(keelLock)![1]!;
      assert.equal(vm.config.net0, `virtio=${mac.toUpperCase()},bridge=vmbr0`);
      assert.match(vm.config.ide2!, /^local:iso\/keel-lab-web-\d+-[0-9a-f]{12}\.iso,media=cdrom$/);
      assert.match(vm.config.scsi0!, /size=12G/);
      assert.match(vm.config.description!, /\nkeel:\{"site":"lab","host":"web-\d+"/);
    }
    assert.deepEqual(pve.violations, [], "every request and answer keeps to the API description");
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
    for (const h of HOSTS) assert.match(p.stdout, new RegExp(`^ {2}${h} on pve: no changes$`, "m"));
    assert.doesNotMatch(p.stdout, /grafana/, "a machine Keel did not make is not planned");
  });

  test("a config lock timeout is retried; the change is made once", async () => {
    write(inventory({ hosts: HOSTS, memory: { "web-1": 2048 } }));
    const vm = vmOf("web-1")!;
    pve.lockOnce(vm.vmid, 2);
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /web-1 on pve: reboot done .*\(snapshot keel-\d{8}T\d{6}Z\)/);
    assert.match(
      r.stderr,
      /can't lock file '\/var\/lock\/qemu-server\/lock-1000\.conf' - got timeout; retry 1/,
    );
    assert.match(r.stderr, /retry 2/);
    assert.equal(vmOf("web-1")!.config.memory, "2048");
    assert.deepEqual(pve.violations, []);
  });

  test("a failing task fails its machine with the task's exit status and log; a task with warnings is reported", async () => {
    write(inventory({ hosts: HOSTS, extra: ["db-1"], memory: { "web-1": 2048 } }));
    pve.failNextTask("qmclone", "clone failed: unable to create image: got lock timeout - aborting command", [
      "create full clone of drive scsi0 (local-lvm:base-9000-disk-0)",
      "TASK ERROR: clone failed: unable to create image: got lock timeout - aborting command",
    ]);
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /db-1 on pve: create FAILED in [\d.]+ s: .*task UPID:vega:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:[^ ]+ failed: clone failed: unable to create image/,
    );
    assert.match(r.stdout, /create full clone of drive scsi0/);
    assert.equal(vmOf("db-1"), undefined, "a failed clone leaves no machine");
    pve.failNextTask("qmstart", "WARNINGS: 1", [
      "WARN: iothread is only valid with virtio disk or virtio-scsi-single controller, ignoring",
    ]);
    const again = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /db-1 on pve: create done/);
    assert.match(
      again.stderr,
      /db-1: start: task UPID:\S+ ended with WARNINGS: 1:\n\s+.*iothread is only valid/,
    );
  });

  test("a node that is down: the next endpoint answers", async () => {
    write(
      inventory({
        hosts: HOSTS,
        extra: ["db-1"],
        order: ["rigel", "vega", "altair"],
        memory: { "web-1": 2048 },
      }),
    );
    await pve.nodeDown("rigel");
    try {
      const p = await runKeel("plan", inv);
      assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
      assert.match(p.stdout, /web-1 on pve: no changes/);
    } finally {
      await pve.nodeUp("rigel");
    }
  });

  test("a certificate whose fingerprint is not the pinned one is refused before any request", async () => {
    const wrong = Object.fromEntries(Object.keys(pve.fingerprints).map((e) => [e, "AA:".repeat(31) + "AA"]));
    write(inventory({ hosts: ["web-1"], order: ["vega"], pins: wrong }));
    const before = pve.requests.length;
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 1, `${p.stdout}\n${p.stderr}`);
    assert.match(
      `${p.stdout}${p.stderr}`,
      /hypervisor "pve".*certificate fingerprint mismatch: expected SHA-256 AA:AA/s,
    );
    assert.equal(pve.requests.length, before, "no request reached the stand-in");
  });

  test("an apply killed after its clone is finished by the next apply", async () => {
    write(inventory({ hosts: HOSTS, extra: ["db-1", "cache-1"], memory: { "web-1": 2048 } }));
    const seen = new Set(journal().map((r) => r.run));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, "apply", inv, "--yes", "--gate-timeout", "30s"], {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: process.env,
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const timer = setInterval(() => {
        const hit = journal().find(
          (r) => !seen.has(r.run) && r.type === "intent" && r.step === "vm.seed" && r.host === "cache-1",
        );
        if (hit) {
          clearInterval(timer);
          process.kill(-child.pid!, "SIGKILL");
          resolve();
        }
      }, 5);
      child.on("exit", (code) => {
        clearInterval(timer);
        if (code !== null)
          reject(new Error(`apply ended (exit ${code}) before cache-1's seed step:\n${out}`));
      });
    });
    await pve.idle();
    const half = vmOf("cache-1");
    assert.ok(half, "the clone was made before the kill");
    assert.equal(half.config.ide2, undefined, "and not configured");
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 3, `${p.stdout}\n${p.stderr}`);
    assert.match(p.stdout, /cache-1 on pve: finish what an earlier apply started/);
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /cache-1 on pve: finish done/);
    assert.equal(
      keelVms().filter((v) => v.config.name === "cache-1").length,
      1,
      "the clone was adopted, not made again",
    );
    assert.match(vmOf("cache-1")!.config.ide2!, /^local:iso\/keel-lab-cache-1-/);
    assert.equal(vmOf("cache-1")!.status, "running");
    assert.deepEqual(pve.violations, []);
  });

  test("a VMID held by a machine Keel did not make is refused, never taken over", async () => {
    pve.addVm({ vmid: 4242, node: "vega", name: "legacy", unmanaged: true });
    write(inventory({ hosts: HOSTS, extra: ["db-1", "cache-1", "mail-1"], memory: { "web-1": 2048 } }));
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /mail-1 on pve: create FAILED .*VMID 4242 on hypervisor "pve" is held by machine "legacy", not by host "mail-1"/,
    );
    assert.equal(pve.vms.get(4242)!.config.name, "legacy");
  });

  test("day-2 on Proxmox VE: keel vm stop, start, snapshot; keel snapshots; keel rollback; keel destroy", async () => {
    write(inventory({ hosts: HOSTS, extra: ["db-1", "cache-1"], memory: { "web-1": 2048 } }));
    const vm = () => vmOf("web-2")!;
    const stop = await runKeel("vm", "stop", inv, "web-2");
    assert.equal(stop.code, 0, `${stop.stdout}\n${stop.stderr}`);
    assert.equal(vm().status, "stopped");
    const start = await runKeel("vm", "start", inv, "web-2");
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}`);
    assert.equal(vm().status, "running");
    const snap = await runKeel("vm", "snapshot", inv, "web-2");
    assert.equal(snap.code, 0, `${snap.stdout}\n${snap.stderr}`);
    const names = [...vm().snapshots.keys()];
    assert.equal(names.length, 1);
    assert.match(names[0]!, /^keel-\d{8}T\d{6}Z$/);
    assert.equal(vm().status, "running", "started again after the snapshot");
    const list = await runKeel("snapshots", inv, "web-2");
    assert.equal(list.code, 0, `${list.stdout}\n${list.stderr}`);
    assert.ok(list.stdout.includes(names[0]!), list.stdout);
    // a change made by hand since the snapshot is undone by the rollback
    vm().config.memory = "4096";
    const back = await runKeel("rollback", inv, "web-2", "--yes", "--gate-timeout", "30s");
    assert.equal(back.code, 0, `${back.stdout}\n${back.stderr}`);
    assert.equal(vm().config.memory, "1024");
    assert.equal(vm().status, "running");
    const vmid = vm().vmid;
    const gone = await runKeel("destroy", inv, "web-2", "--yes");
    assert.equal(gone.code, 0, `${gone.stdout}\n${gone.stderr}`);
    assert.equal(pve.vms.get(vmid), undefined);
    const again = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /web-2 on pve: create done/);
    assert.equal(vmOf("web-2")!.vmid, vmid, "created again with its VMID from keel.lock");
    assert.deepEqual(pve.violations, []);
  });

  test("a machine no longer declared is destroyed with its disks and its seed ISO", async () => {
    write(inventory({ hosts: HOSTS, extra: ["db-1"], memory: { "web-1": 2048 } }));
    const vmid = vmOf("cache-1")!.vmid;
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /cache-1 on pve: delete done/);
    assert.equal(pve.vms.get(vmid), undefined);
    const isos = [...pve.storages.get("local")!.volumes.keys()].filter((v) => v.includes("cache-1"));
    assert.deepEqual(isos, []);
    assert.equal(pve.vms.get(120)!.config.name, "grafana", "the machine Keel did not make is untouched");
    assert.deepEqual(pve.violations, []);
  });
});
