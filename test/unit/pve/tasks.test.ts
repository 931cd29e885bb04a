import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PveClient } from "../../../src/pve/client.js";
import { PveTaskError, PveTaskTimeoutError } from "../../../src/pve/errors.js";
import { parseUpid, type TaskStatus, waitTask, warningCount } from "../../../src/pve/tasks.js";
import { PveStandin } from "../../helpers/pve-standin.js";

let s: PveStandin;
let c: PveClient;
const fast = { backoff: { firstMs: 10, capMs: 50 } };

before(async () => {
  s = await PveStandin.start({ nodes: ["vega", "rigel"], taskMs: { qmclone: 300, qmstart: 50 } });
  s.addVm({ vmid: 9000, node: "vega", name: "debian-12", template: true });
  c = new PveClient({ endpoints: s.endpoints, token: s.token, fingerprint: s.fingerprints });
});

after(async () => {
  await c.close();
  await s.close();
  assert.deepEqual(s.violations, []);
});

test("parseUpid decodes the stand-in's UPIDs and Proxmox's, and names a malformed one", async () => {
  assert.deepEqual(parseUpid("UPID:vega:000C2D3A:0A1B2C3D:65F1A2B3:qmclone:9000:root@pam!keel:"), {
    upid: "UPID:vega:000C2D3A:0A1B2C3D:65F1A2B3:qmclone:9000:root@pam!keel:",
    node: "vega",
    pid: 0xc2d3a,
    pstart: 0x0a1b2c3d,
    starttime: 0x65f1a2b3,
    type: "qmclone",
    id: "9000",
    user: "root@pam!keel",
  });
  // An empty id (uploads), a 9-digit pstart (long uptimes).
  const u = parseUpid("UPID:pve-1:00001234:1A1B2C3D4:65F1A2B3:imgcopy::root@pam:");
  assert.equal(u.id, "");
  assert.equal(u.pstart, 0x1a1b2c3d4);
  assert.throws(() => parseUpid("UPID:vega:12:34:56:qmstart:100:root@pam:"), /is not a Proxmox VE UPID/);
  assert.throws(() => parseUpid("UPID:vega:000C2D3A:0A1B2C3D:65F1A2B3:qmclone:9000:root@pam"), /UPID/);

  const upid = await c.post<string>("/nodes/vega/qemu/9000/clone", { newid: 101, name: "web1" });
  const p = parseUpid(upid);
  assert.equal(p.node, "vega");
  assert.equal(p.type, "qmclone");
  assert.equal(p.id, "9000");
  assert.equal(p.user, s.token.slice(0, s.token.indexOf("=")));
  assert.ok(Math.abs(p.starttime - Date.now() / 1000) < 60);
  await waitTask(c, upid, fast);
});

test("an OK task: waitTask resolves once it stopped, and its work is done", async () => {
  const seen: TaskStatus[] = [];
  const upid = await c.post<string>("/nodes/vega/qemu/101/status/start");
  const r = await waitTask(c, upid, { ...fast, onProgress: (st) => seen.push(st) });
  assert.deepEqual(r, { upid, exitstatus: "OK", warnings: 0, log: [] });
  assert.equal(seen[0]!.status, "running");
  assert.equal(seen.at(-1)!.status, "stopped");
  assert.equal(s.vms.get(101)!.status, "running");
});

test("a WARNINGS task is a success that reports its count and its log", async () => {
  s.failNextTask("qmshutdown", "WARNINGS: 2", ["WARN: guest agent not running", "WARN: shutdown took 12 s"]);
  const r = await waitTask(c, await c.post<string>("/nodes/vega/qemu/101/status/shutdown"), fast);
  assert.equal(r.exitstatus, "WARNINGS: 2");
  assert.equal(r.warnings, 2);
  assert.deepEqual(r.log, ["WARN: guest agent not running", "WARN: shutdown took 12 s", "TASK WARNINGS: 2"]);
  assert.equal(s.vms.get(101)!.status, "stopped");
  assert.equal(warningCount("WARNINGS: 7"), 7);
  assert.equal(warningCount("OK"), undefined);
});

test("a failing task is a PveTaskError with its exit status and the tail of its log", async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
  s.failNextTask("qmstart", "start failed: QEMU exited with code 1", lines);
  const upid = await c.post<string>("/nodes/vega/qemu/101/status/start");
  const err = await waitTask(c, upid, fast).catch((e) => e);
  assert.ok(err instanceof PveTaskError, String(err));
  assert.equal(err.upid, upid);
  assert.equal(err.exitstatus, "start failed: QEMU exited with code 1");
  assert.equal(err.log.length, 20);
  assert.deepEqual(err.log, [...lines.slice(-19), "TASK ERROR: start failed: QEMU exited with code 1"]);
  assert.match(
    err.message,
    /^task UPID:vega:.* failed: start failed: QEMU exited with code 1\n {2}line 12\n/,
  );
  assert.equal(s.vms.get(101)!.status, "stopped");
  // A real failure from the stand-in's own rules, not an injected one.
  const tpl = await waitTask(c, await c.post<string>("/nodes/vega/qemu/9000/status/start"), fast).catch(
    (e) => e,
  );
  assert.ok(tpl instanceof PveTaskError);
  assert.equal(tpl.exitstatus, "you can't start a vm if it's a template");
});

test("polling backs off 250 ms ×1.5 up to 5 s, one status request per poll", async () => {
  const slept: number[] = [];
  let clock = 0;
  const upid = await c.post<string>("/nodes/vega/qemu/9000/clone", { newid: 102, name: "web2" });
  const before = s.requests.filter((r) => r.path.endsWith("/status") && r.path.includes("tasks")).length;
  await waitTask(c, upid, {
    now: () => clock,
    // Pretend the requested time passed, but wait only 10 ms, so the 300 ms clone takes many polls.
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
      await new Promise((r) => setTimeout(r, 10));
    },
  });
  const polls =
    s.requests.filter((r) => r.path.endsWith("/status") && r.path.includes("tasks")).length - before;
  assert.equal(polls, slept.length + 1);
  assert.ok(slept.length >= 10, `only ${slept.length} polls`);
  const want = [250, 375, 562.5, 843.75, 1265.625, 1898.4375, 2847.65625, 4271.484375, 5000, 5000];
  assert.deepEqual(slept.slice(0, 10), want);
  assert.ok(slept.every((ms) => ms <= 5000));
});

test("a timeout says the task is still running, with its UPID; it is not a failure", async () => {
  const upid = await c.post<string>("/nodes/vega/qemu/9000/clone", { newid: 103, name: "web3" });
  const err = await waitTask(c, upid, { timeoutMs: 60, backoff: { firstMs: 20 } }).catch((e) => e);
  assert.ok(err instanceof PveTaskTimeoutError, String(err));
  assert.equal(err.upid, upid);
  assert.match(err.message, /is still running after \d+ s; it has not failed/);
  assert.ok(err.message.includes(upid));
  assert.ok(!(err instanceof PveTaskError));
  // And it really goes on to finish.
  assert.equal((await waitTask(c, upid, fast)).exitstatus, "OK");
  assert.equal(s.vms.get(103)?.config.name, "web3");
});

test("an aborted wait stops polling with the signal's reason", async () => {
  const upid = await c.post<string>("/nodes/vega/qemu/9000/clone", { newid: 104, name: "web4" });
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error("operator cancelled")), 30);
  await assert.rejects(waitTask(c, upid, { ...fast, signal: ac.signal }), /operator cancelled/);
  await waitTask(c, upid, fast);
});
