/**
 * The machine routes of `keel serve` (`src/serve/routes/machines.ts`) on their refusals, where
 * no machine is touched: a host without `vm.hypervisor` has no machine (null; an action is 404),
 * a hypervisor that cannot be read gives power `unknown` with the reason (never a power state
 * Keel did not see), a bad body is 400, a viewer is 403, and an action while another `keel
 * apply` holds the apply lock is 409 and audited. The actions themselves on a real libvirtd and
 * real machines: test/integration/serve-machines.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { loadInventory } from "../../../src/inventory/load.js";
import { procStartOf } from "../../../src/provision/lock.js";
import { buildServer } from "../../../src/serve/api.js";
import { sha256Hex } from "../../../src/serve/auth.js";
import { MemoryEngine } from "../../serve/memory.js";

const OPERATOR = "op-machines-token-0123456789";
const VIEWER = "viewer-machines-token-9876543210";

const dir = mkdtempSync(join(tmpdir(), "keel-machines-route-"));
const auditFile = join(dir, "audit.log");
const file = join(dir, "keel.yaml");
writeFileSync(
  file,
  `keel: 1
site: twin
networks:
  lan: { cidr: 10.77.70.0/24 }
hypervisors:
  vega: { driver: libvirt, uri: "qemu+unix:///system?socket=${dir}/no-such.sock", dir: ${dir}/pool, networks: { lan: br0 } }
images:
  debian-12: { path: ${dir}/debian-12.qcow2, sha256: ${"a".repeat(64)} }
hosts:
  app-1: { address: 10.77.70.11, ssh: false, vm: { hypervisor: vega, image: debian-12 } }
  plain: { address: 10.77.70.12, ssh: false }
vantages:
  admin: { local: true, networks: [lan] }
serve:
  tokens:
    - { name: alice, role: operator, sha256: ${sha256Hex(OPERATOR)} }
    - { name: wall, role: viewer, sha256: ${sha256Hex(VIEWER)} }
`,
);
let app: FastifyInstance;

const req = async (method: "GET" | "POST", url: string, token: string, body?: object) => {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload: body });
  return { status: res.statusCode, json: res.json() as Record<string, unknown> };
};

before(async () => {
  const engine = new MemoryEngine(loadInventory(file));
  app = await buildServer({ engine, store: engine.store, auditFile, webRoot: join(dir, "web") });
  await app.ready();
});

after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a host without vm.hypervisor has no machine: GET says null, an action is 404; an unknown host is 404", async () => {
  const g = await req("GET", "/api/hosts/plain/machine", VIEWER);
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, { machine: null, action: null });
  const p = await req("POST", "/api/hosts/plain/machine", OPERATOR, { action: "start" });
  assert.equal(p.status, 404);
  assert.match(String(p.json.error), /host "plain" has no vm.hypervisor/);
  assert.equal((await req("GET", "/api/hosts/nope/machine", VIEWER)).status, 404);
});

test("a hypervisor that cannot be read: power unknown with the reason, not a power state", async () => {
  const g = await req("GET", "/api/hosts/app-1/machine", VIEWER);
  assert.equal(g.status, 200);
  const m = g.json.machine as Record<string, unknown>;
  assert.equal(m.power, "unknown");
  assert.equal(m.hypervisor, "vega");
  assert.match(String(m.error), /hypervisor "vega": .*no-such\.sock/);
});

test("bad bodies are 400; a viewer is 403 and the refusal is audited", async () => {
  for (const body of [
    {},
    { action: "explode" },
    { action: "stop", snapshot: "keel-x" },
    { action: "stop", target: "rigel" },
    { action: "migrate", target: "rigel" },
  ])
    assert.equal(
      (await req("POST", "/api/hosts/app-1/machine", OPERATOR, body)).status,
      400,
      JSON.stringify(body),
    );
  const lv = await req("POST", "/api/hosts/app-1/machine", OPERATOR, { action: "migrate", target: "rigel" });
  assert.match(
    String(lv.json.error),
    /^migrate is for machines on a Proxmox VE cluster; host "app-1" is on hypervisor "vega" \(driver libvirt\)/,
  );
  const v = await req("POST", "/api/hosts/app-1/machine", VIEWER, { action: "stop" });
  assert.equal(v.status, 403);
  assert.match(
    readFileSync(auditFile, "utf8"),
    /"who":"wall","role":"viewer".*"result":"denied: needs role operator"/,
  );
});

test("while another keel apply holds the apply lock, an action is 409, names the holder, and is audited", async () => {
  // the lock of a live process of this host: this test's own
  mkdirSync(join(dir, ".keel"), { recursive: true });
  const owner = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    procStart: procStartOf(process.pid),
  };
  writeFileSync(join(dir, ".keel", "apply.lock"), `${JSON.stringify(owner)}\n`);
  try {
    const p = await req("POST", "/api/hosts/app-1/machine", OPERATOR, { action: "stop" });
    assert.equal(p.status, 409);
    assert.match(
      String(p.json.error),
      new RegExp(`app-1: stop not started: keel apply is already running: .*pid ${process.pid}`),
    );
    const lines = readFileSync(auditFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const last = lines.at(-1);
    assert.equal(last.who, "alice");
    assert.equal(last.action, "machine.stop");
    assert.equal(last.target, "host app-1");
    assert.match(last.result, /^error: keel apply is already running/);
    // nothing is left running for the host: the GET reports no action
    assert.equal((await req("GET", "/api/hosts/app-1/machine", VIEWER)).json.action, null);
  } finally {
    rmSync(join(dir, ".keel", "apply.lock"));
  }
});
