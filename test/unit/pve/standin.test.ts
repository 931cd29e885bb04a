import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PveClient } from "../../../src/pve/client.js";
import { PveApiError } from "../../../src/pve/errors.js";
import { waitTask } from "../../../src/pve/tasks.js";
import { PveStandin } from "../../helpers/pve-standin.js";

// The stand-in's own behaviour, through the client: what other tests (the provider's) rely on.

/** The PveApiError a call is expected to fail with. */
async function apiError(p: Promise<unknown>): Promise<PveApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof PveApiError, `expected a PveApiError, got ${String(err)}`);
  return err;
}

let s: PveStandin;
let c: PveClient;
const fast = { backoff: { firstMs: 10, capMs: 40 } };
const run = async (p: Promise<string>) => waitTask(c, await p, fast);
const Q = "/nodes/vega/qemu";

before(async () => {
  s = await PveStandin.start({ nodes: ["vega", "rigel"], taskMs: { qmclone: 150 } });
  s.addVm({ vmid: 9000, node: "vega", name: "debian-12", template: true });
  s.addVm({ vmid: 500, node: "rigel", name: "legacy-mail", status: "running", unmanaged: true });
  c = new PveClient({ endpoints: s.endpoints, token: s.token, fingerprint: s.fingerprints });
});

after(async () => {
  await c.close();
  await s.close();
  assert.deepEqual(s.violations, []);
});

test("config: the digest guards a PUT, delete removes keys, values come back typed", async () => {
  await run(c.post(`${Q}/9000/clone`, { newid: 101, name: "web1" }));
  const cfg = await c.get<Record<string, unknown>>(`${Q}/101/config`);
  assert.equal(cfg.digest, s.digest(101));
  assert.equal(cfg.cores, 2);
  assert.equal(cfg.name, "web1");
  assert.match(String(cfg.scsi0), /^local-lvm:base-9000-disk-0\/vm-101-disk-0,size=8G$/);
  await c.put(`${Q}/101/config`, { cores: 4, description: "web", digest: String(cfg.digest) });
  const stale = await apiError(c.put(`${Q}/101/config`, { cores: 6, digest: String(cfg.digest) }));
  assert.ok(stale instanceof PveApiError);
  assert.equal(stale.status, 500);
  assert.equal(stale.reason, "detected modified configuration - file changed by other user? Try again.");
  await c.put(`${Q}/101/config`, { delete: "description" });
  assert.equal(s.vms.get(101)!.config.description, undefined);
  assert.equal(s.vms.get(101)!.config.cores, "4");
  await run(c.post(`${Q}/101/config`, { memory: 4096 }));
  assert.equal(s.vms.get(101)!.config.memory, "4096");
});

test("a VM being cloned is locked (clone) until its task ends", async () => {
  const upid = await c.post<string>(`${Q}/9000/clone`, { newid: 102, name: "web2" });
  const err = await apiError(c.put(`${Q}/102/config`, { cores: 4 }));
  assert.ok(err instanceof PveApiError);
  assert.equal(err.reason, "VM is locked (clone)");
  assert.equal((await c.get<{ lock?: string }>(`${Q}/102/status/current`)).lock, "clone");
  await waitTask(c, upid, fast);
  await c.put(`${Q}/102/config`, { cores: 4 });
  const again = await apiError(c.post(`${Q}/9000/clone`, { newid: 102 }));
  assert.equal(again.reason, "unable to create VM 102: config file already exists");
  const linked = await apiError(c.post(`${Q}/9000/clone`, { newid: 103, full: false, storage: "ceph-vm" }));
  assert.equal(linked.reason, "parameter 'storage' not allowed for linked clones");
});

test("power, snapshots, rollback, resize, migrate and destroy change the state as Proxmox would", async () => {
  await run(c.post(`${Q}/101/status/start`));
  assert.equal((await c.get<{ status: string }>(`${Q}/101/status/current`)).status, "running");
  await run(c.post(`${Q}/101/snapshot`, { snapname: "before-upgrade", description: "keel" }));
  await c.put(`${Q}/101/config`, { cores: 8 });
  const snaps = await c.get<{ name: string; parent?: string }[]>(`${Q}/101/snapshot`);
  assert.deepEqual(
    snaps.map((x) => [x.name, x.parent]),
    [
      ["before-upgrade", undefined],
      ["current", "before-upgrade"],
    ],
  );
  await run(c.post(`${Q}/101/snapshot/before-upgrade/rollback`));
  assert.equal(s.vms.get(101)!.config.cores, "4");
  assert.equal(s.vms.get(101)!.status, "stopped", "a snapshot without vmstate rolls back to a stopped VM");
  await run(c.delete(`${Q}/101/snapshot/before-upgrade`));
  assert.deepEqual(
    (await c.get<{ name: string }[]>(`${Q}/101/snapshot`)).map((x) => x.name),
    ["current"],
  );

  await c.put(`${Q}/101/resize`, { disk: "scsi0", size: "+2G" });
  assert.match(s.vms.get(101)!.config.scsi0!, /size=10G/);
  const badSize = await apiError(c.put(`${Q}/101/resize`, { disk: "scsi0", size: "lots" }));
  assert.equal(badSize.status, 400);
  assert.match(badSize.errors.size ?? "", /regex pattern/);

  const pre = await c.get<{ allowed_nodes: string[]; local_disks: unknown[] }>(`${Q}/101/migrate`);
  assert.deepEqual(pre.allowed_nodes, ["rigel"]);
  assert.equal(pre.local_disks.length, 1);
  await run(c.post(`${Q}/101/migrate`, { target: "rigel", "with-local-disks": 1 }));
  assert.equal(s.vms.get(101)!.node, "rigel");
  const gone = await apiError(c.get(`${Q}/101/config`));
  assert.equal(gone.reason, "Configuration file 'nodes/vega/qemu-server/101.conf' does not exist");

  const running = await apiError(c.delete("/nodes/rigel/qemu/500"));
  assert.equal(running.reason, "VM 500 is running - destroy failed");
  await run(c.delete("/nodes/rigel/qemu/101", { purge: 1 }));
  assert.equal(s.vms.has(101), false);
  const vols = await c.get<{ volid: string }[]>("/nodes/rigel/storage/local-lvm/content");
  assert.ok(!vols.some((v) => v.volid.includes("vm-101-")));
});

test("cluster views: resources, quorum, Ceph health, a node down", async () => {
  const res = await c.get<{ id: string; node?: string; status?: string }[]>("/cluster/resources", {
    type: "vm",
  });
  assert.ok(res.some((r) => r.id === "qemu/500" && r.node === "rigel" && r.status === "running"));

  s.setQuorum(false);
  try {
    const st = await c.get<{ type: string; quorate?: number }[]>("/cluster/status");
    assert.equal(st.find((x) => x.type === "cluster")!.quorate, 0);
    const err = await apiError(c.post(`${Q}/9000/clone`, { newid: 190 }));
    assert.equal(err.reason, "cluster not ready - no quorum?");
  } finally {
    s.setQuorum(true);
  }

  const noCeph = await apiError(c.get("/cluster/ceph/status"));
  assert.equal(noCeph.status, 500);
  s.setCeph("HEALTH_WARN", { OSD_DOWN: { message: "1 osds down" } });
  const ceph = await c.get<{
    health: { status: string; checks: Record<string, { summary: { message: string } }> };
  }>("/cluster/ceph/status");
  assert.equal(ceph.health.status, "HEALTH_WARN");
  assert.equal(ceph.health.checks.OSD_DOWN!.summary.message, "1 osds down");

  await s.nodeDown("rigel");
  try {
    const nodes = await c.get<{ node: string; status: string }[]>("/nodes");
    assert.deepEqual(
      nodes.map((n) => [n.node, n.status]),
      [
        ["vega", "online"],
        ["rigel", "offline"],
      ],
    );
    const proxied = await apiError(c.get("/nodes/rigel/qemu"));
    assert.equal(proxied.status, 595);
  } finally {
    await s.nodeUp("rigel");
  }
  assert.equal((await c.get<unknown[]>("/nodes/rigel/qemu")).length, 1);
});
