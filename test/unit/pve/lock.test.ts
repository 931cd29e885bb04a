import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PveClient } from "../../../src/pve/client.js";
import { PveApiError, PveTaskError } from "../../../src/pve/errors.js";
import { isLockTimeout, isTransientLock, storageLimiter, withLockRetry } from "../../../src/pve/limit.js";
import { waitTask } from "../../../src/pve/tasks.js";
import { PveStandin } from "../../helpers/pve-standin.js";

let s: PveStandin;
let c: PveClient;
const fast = { backoff: { firstMs: 10, capMs: 40 } };
const noWait = { baseMs: 1, sleep: async () => {} };
const CFS = "cfs-lock 'storage-local-lvm' error: got lock request timeout";

before(async () => {
  // A clone holds storage-local-lvm for 100 ms; a second one waits 150 ms for it, a third cannot.
  s = await PveStandin.start({ nodes: ["vega"], taskMs: { qmclone: 100 }, lockWaitMs: 150 });
  s.addVm({ vmid: 9000, node: "vega", name: "debian-12", template: true });
  s.addVm({ vmid: 200, node: "vega", name: "db1" });
  s.addVm({ vmid: 201, node: "vega", name: "db2" });
  c = new PveClient({ endpoints: s.endpoints, token: s.token, fingerprint: s.fingerprints });
});

after(async () => {
  await c.close();
  await s.close();
  assert.deepEqual(s.violations, []);
});

/** A clone of the template, waited for. */
const clone = async (newid: number) => {
  const upid = await c.post<string>("/nodes/vega/qemu/9000/clone", { newid, name: `vm${newid}`, full: true });
  return waitTask(c, upid, fast);
};

test("lock texts: timeouts and transient config locks are retryable, others are not", () => {
  const api = (reason: string) => new PveApiError(500, reason, {}, "PUT", "/x", "https://vega:8006");
  const task = (exitstatus: string) =>
    new PveTaskError("UPID:vega:00000001:00000001:00000001:qmclone:1:root@pam:", exitstatus, []);
  assert.ok(isLockTimeout(api("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")));
  assert.ok(isLockTimeout(task(`clone failed: ${CFS}`)));
  assert.ok(!isLockTimeout(api("VM is locked (clone)")));
  for (const lock of ["clone", "create", "backup", "migrate", "snapshot"])
    assert.ok(isTransientLock(api(`VM is locked (${lock})`)));
  assert.ok(!isTransientLock(api("VM is locked (suspended)")));
  assert.ok(
    !isTransientLock(api("detected modified configuration - file changed by other user? Try again.")),
  );
  assert.ok(!isTransientLock(new Error(CFS)), "only Proxmox's answers count, not any error with the text");
});

test("withLockRetry retries an HTTP 500 config lock timeout and then succeeds", async () => {
  s.lockOnce(200);
  const errors: unknown[] = [];
  await withLockRetry(() => c.put("/nodes/vega/qemu/200/config", { cores: 4 }), {
    ...noWait,
    onRetry: (_n, err) => errors.push(err),
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof PveApiError);
  assert.equal(errors[0].status, 500);
  assert.equal(errors[0].reason, "can't lock file '/var/lock/qemu-server/lock-200.conf' - got timeout");
  assert.equal(s.vms.get(200)!.config.cores, "4");
});

test("withLockRetry retries a task that failed with the cfs-lock text", async () => {
  s.failNextTask("qmclone", `clone failed: ${CFS}`, [
    "create full clone of drive scsi0 (local-lvm:base-9000-disk-0)",
  ]);
  const errors: unknown[] = [];
  const r = await withLockRetry(() => clone(110), { ...noWait, onRetry: (_n, err) => errors.push(err) });
  assert.equal(r.exitstatus, "OK");
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof PveTaskError);
  assert.equal(errors[0].exitstatus, `clone failed: ${CFS}`);
  assert.equal(s.vms.get(110)!.config.name, "vm110");
});

test("withLockRetry gives up after N attempts with the last error, backing off with jitter", async () => {
  s.lockOnce(201, 3);
  let calls = 0;
  const delays: number[] = [];
  const err = await withLockRetry(
    () => {
      calls++;
      return c.put("/nodes/vega/qemu/201/config", { cores: 8 });
    },
    { attempts: 3, baseMs: 100, random: () => 0.5, sleep: async (ms) => void delays.push(ms) },
  ).catch((e) => e);
  assert.equal(calls, 3);
  assert.deepEqual(delays, [75, 150]);
  assert.ok(err instanceof PveApiError);
  assert.match(err.reason, /lock-201\.conf' - got timeout/);
  assert.equal(s.vms.get(201)!.config.cores, "2");
  // Other errors are not retried.
  let once = 0;
  await assert.rejects(
    withLockRetry(() => {
      once++;
      return c.put("/nodes/vega/qemu/201/config", { cores: 8, digest: "0".repeat(40) });
    }, noWait),
    /detected modified configuration/,
  );
  assert.equal(once, 1);
});

test("without a limiter, parallel clones onto one storage hit the cfs-lock timeout", async () => {
  const ids = Array.from({ length: 10 }, (_, i) => 120 + i);
  const results = await Promise.allSettled(ids.map((id) => clone(id)));
  const failed = results
    .filter((r) => r.status === "rejected")
    .map((r) => (r as PromiseRejectedResult).reason);
  assert.ok(failed.length >= 1, "the stand-in did not model the storage lock race");
  assert.ok(failed.length < ids.length, "at least the first clone gets the lock");
  for (const e of failed) {
    assert.ok(e instanceof PveTaskError, String(e));
    assert.ok(e.exitstatus.includes(CFS), e.exitstatus);
    assert.ok(isLockTimeout(e));
  }
  // The failed clones leave no VM behind, the others exist.
  const made = ids.filter((id) => s.vms.has(id));
  assert.equal(made.length, ids.length - failed.length);
});

test("through the storage limiter (1 per storage), 10 parallel clones all succeed", async () => {
  const limiter = storageLimiter(1);
  const ids = Array.from({ length: 10 }, (_, i) => 140 + i);
  const results = await Promise.all(ids.map((id) => limiter.run("local-lvm", () => clone(id))));
  assert.deepEqual(
    results.map((r) => r.exitstatus),
    ids.map(() => "OK"),
  );
  for (const id of ids) assert.equal(s.vms.get(id)?.config.lock, undefined);
});

test("the storage limiter serialises per storage, not across storages", async () => {
  const limiter = storageLimiter(1);
  let running = 0;
  let most = 0;
  const job = async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
  };
  await Promise.all([limiter.run("a", job), limiter.run("a", job), limiter.run("a", job)]);
  assert.equal(most, 1);
  most = 0;
  await Promise.all([limiter.run("a", job), limiter.run("b", job), limiter.run("c", job)]);
  assert.equal(most, 3);
});
