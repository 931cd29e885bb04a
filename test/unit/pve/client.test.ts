import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { inspect } from "node:util";
import { normaliseFingerprint, PveClient } from "../../../src/pve/client.js";
import {
  type EndpointFailure,
  PveApiError,
  PveTaskError,
  PveUnreachableError,
} from "../../../src/pve/errors.js";
import { waitTask } from "../../../src/pve/tasks.js";
import { tempDir } from "../../helpers/daemons.js";
import { PveStandin } from "../../helpers/pve-standin.js";

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
const clients: PveClient[] = [];
const client = (opts: Partial<ConstructorParameters<typeof PveClient>[0]> = {}) => {
  const c = new PveClient({ endpoints: s.endpoints, token: s.token, fingerprint: s.fingerprints, ...opts });
  clients.push(c);
  return c;
};
const fast = { backoff: { firstMs: 10, capMs: 50 } };
const secret = () => s.token.slice(s.token.indexOf("=") + 1);

before(async () => {
  s = await PveStandin.start({ nodes: ["vega", "rigel", "altair"] });
  s.addVm({ vmid: 9000, node: "vega", name: "debian-12", template: true });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await s.close();
  assert.deepEqual(s.violations, [], "the stand-in saw requests or gave answers outside the API's contract");
});

test("the pinned fingerprint is accepted in any spelling: colons or not, any case", async () => {
  const vega = s.endpointOf("vega");
  const fp = s.fingerprints[vega]!;
  for (const spelling of [fp, fp.replace(/:/g, "").toLowerCase()]) {
    const c = client({ endpoints: [vega], fingerprint: spelling });
    const v = await c.get<{ version: string }>("/version");
    assert.match(v.version, /^\d+\.\d+/);
  }
  assert.equal(normaliseFingerprint("ab".repeat(32)), Array(32).fill("AB").join(":"));
  assert.throws(() => normaliseFingerprint("abcd"), /not a SHA-256 fingerprint/);
});

test("a server with another certificate is refused before any request reaches it; the error names expected and seen", async () => {
  const vega = s.endpointOf("vega");
  const wrong = s.fingerprints[s.endpointOf("rigel")]!;
  const seen = s.fingerprints[vega]!;
  const connections = s.connections("vega");
  const before = s.requests.filter((r) => r.node === "vega").length;
  const c = client({ endpoints: [vega], fingerprint: wrong, name: "vega" });
  const err = await c.post("/nodes/vega/qemu/9000/clone", { newid: 150 }).catch((e: unknown) => e);
  assert.ok(err instanceof PveUnreachableError, String(err));
  assert.match(err.message, new RegExp(`${vega}: certificate fingerprint mismatch`));
  assert.ok(err.message.includes(`expected SHA-256 ${wrong}`), err.message);
  assert.ok(err.message.includes(`seen ${seen}`), err.message);
  // The client connected (and so saw the certificate), but no HTTP request followed.
  assert.ok(s.connections("vega") > connections);
  assert.equal(s.requests.filter((r) => r.node === "vega").length, before);
  assert.equal(s.vms.has(150), false);
});

test("a fingerprint mismatch at one endpoint skips it, is reported, and the next endpoint answers", async () => {
  const [vega, rigel] = [s.endpointOf("vega"), s.endpointOf("rigel")];
  const failures: EndpointFailure[] = [];
  const c = client({
    endpoints: [vega, rigel],
    fingerprint: { [vega]: s.fingerprints[rigel]!, [rigel]: s.fingerprints[rigel]! },
    onEndpointFailure: (f) => failures.push(f),
  });
  const nodes = await c.get<{ node: string }[]>("/nodes");
  assert.deepEqual(nodes.map((n) => n.node).sort(), ["altair", "rigel", "vega"]);
  assert.equal(c.currentEndpoint, rigel);
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.endpoint, vega);
  assert.match(failures[0]!.why, /fingerprint mismatch/);
});

test("failover: with the first node down the request succeeds on the next, which is then tried first", async () => {
  const [vega, rigel] = [s.endpointOf("vega"), s.endpointOf("rigel")];
  const c = client({ endpoints: [vega, rigel] });
  await c.get("/version");
  assert.equal(c.currentEndpoint, vega);
  await s.nodeDown("vega");
  try {
    const status = await c.get<{ type: string; name: string; online?: number }[]>("/cluster/status");
    assert.equal(c.currentEndpoint, rigel);
    assert.equal(status.find((e) => e.name === "vega")?.online, 0);
    assert.equal(s.requests.at(-1)!.node, "rigel");
    // A change also fails over when the connection was refused (nothing was sent).
    const upid = await c.post<string>("/nodes/rigel/qemu", { vmid: 300, name: "failover", memory: 512 });
    await waitTask(c, upid, fast);
    assert.equal(s.vms.get(300)?.node, "rigel");
  } finally {
    await s.nodeUp("vega");
  }
  // vega is back, but the client stays with the endpoint that last worked.
  await c.get("/version");
  assert.equal(s.requests.at(-1)!.node, "rigel");
});

test("failover: with every endpoint down the error lists each endpoint and why", async () => {
  const [vega, rigel] = [s.endpointOf("vega"), s.endpointOf("rigel")];
  const c = client({ endpoints: [vega, rigel], name: "lab" });
  await s.nodeDown("vega");
  await s.nodeDown("rigel");
  try {
    const err = await c.get("/nodes").catch((e: unknown) => e);
    assert.ok(err instanceof PveUnreachableError, String(err));
    assert.deepEqual(
      err.failures.map((f) => f.endpoint),
      [vega, rigel],
    );
    for (const f of err.failures) assert.equal(f.why, "connection refused");
    assert.match(err.message, /^hypervisor "lab": GET \/nodes: no endpoint answered: /);
    assert.ok(err.message.includes(`${vega}: connection refused; ${rigel}: connection refused`));
  } finally {
    await s.nodeUp("vega");
    await s.nodeUp("rigel");
  }
});

test("HTTP errors are answers: no failover, a PveApiError with status, reason, errors, method and path", async () => {
  const c = client();
  const before = s.requests.length;
  const err = await c.get("/nodes/vega/qemu/4242/config").catch((e: unknown) => e);
  assert.ok(err instanceof PveApiError);
  assert.equal(err.status, 500);
  assert.equal(err.reason, "Configuration file 'nodes/vega/qemu-server/4242.conf' does not exist");
  assert.equal(err.method, "GET");
  assert.equal(err.path, "/nodes/vega/qemu/4242/config");
  assert.equal(s.requests.length, before + 1);
});

test("validation is live: unknown, missing and mistyped parameters are answered 400 per parameter", async () => {
  const c = client();
  const unknown = await apiError(c.put("/nodes/vega/qemu/9000/config", { cores: 2, colour: "blue" }));
  assert.ok(unknown instanceof PveApiError);
  assert.equal(unknown.status, 400);
  assert.equal(unknown.reason, "Parameter verification failed.");
  assert.deepEqual(Object.keys(unknown.errors), ["colour"]);
  assert.match(unknown.errors.colour!, /not defined in schema/);

  const missing = await apiError(c.post("/nodes/vega/qemu/9000/clone", { name: "x" }));
  assert.equal(missing.status, 400);
  assert.match(missing.errors.newid ?? "", /property is missing and it is not optional/);

  const mistyped = await apiError(c.post("/nodes/vega/qemu/9000/clone", { newid: "abc", format: "vdi" }));
  assert.equal(mistyped.status, 400);
  assert.match(mistyped.errors.newid ?? "", /type check \('integer'\) failed - got 'abc'/);
  assert.match(mistyped.errors.format ?? "", /enumeration/);
  assert.ok(mistyped.message.includes("newid: type check"), mistyped.message);
});

test("an endpoint the API does not have is answered 501 and recorded as a violation", async () => {
  const c = client();
  const err = await apiError(c.get("/nodes/vega/qemu/9000/teleport"));
  assert.ok(err instanceof PveApiError);
  assert.equal(err.status, 501);
  const i = s.violations.findIndex((v) => v.includes("GET /nodes/vega/qemu/9000/teleport"));
  assert.ok(i >= 0, s.violations.join("\n"));
  s.violations.splice(i, 1);
});

test("a wrong token is answered 401, and no error message anywhere carries the token or its secret", async () => {
  const errors: unknown[] = [];
  const tokenId = s.token.slice(0, s.token.indexOf("="));
  const bad = client({ token: `${tokenId}=00000000-0000-0000-0000-000000000000` });
  const e401 = await bad.get("/nodes").catch((e) => e);
  assert.ok(e401 instanceof PveApiError);
  assert.equal(e401.status, 401);
  errors.push(e401);
  const c = client();
  errors.push(await c.put("/nodes/vega/qemu/9000/config", { bogus: 1 }).catch((e) => e));
  errors.push(await c.get("/nodes/vega/qemu/1/config").catch((e) => e));
  errors.push(
    await client({ endpoints: [s.endpointOf("vega")], fingerprint: "00".repeat(32) })
      .get("/nodes")
      .catch((e) => e),
  );
  await s.nodeDown("altair");
  errors.push(
    await client({ endpoints: [s.endpointOf("altair")] })
      .get("/nodes")
      .catch((e) => e),
  );
  await s.nodeUp("altair");
  s.failNextTask("qmstart", "start failed: QEMU exited with code 1", ["kvm: -drive: Could not open"]);
  s.addVm({ vmid: 120, node: "vega", name: "secret-test" });
  errors.push(
    await waitTask(c, await c.post<string>("/nodes/vega/qemu/120/status/start"), fast).catch((e) => e),
  );
  assert.throws(
    () => new PveClient({ endpoints: s.endpoints, token: `${secret()} oops`, fingerprint: s.fingerprints }),
    (e: Error) => !e.message.includes(secret()),
  );
  assert.ok(errors[errors.length - 1] instanceof PveTaskError);
  for (const e of errors) {
    assert.ok(e instanceof Error, String(e));
    const text = `${e.message}\n${e.stack}\n${inspect(e, { depth: 5 })}`;
    assert.ok(!text.includes(secret()), `the token's secret leaked into: ${text}`);
  }
});

test("upload: a file from memory or from disk as multipart/form-data, its checksum checked by the task", async () => {
  const c = client();
  const bytes = Buffer.from("ISO 9660 stand-in bytes\n".repeat(1000));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const upid = await c.upload<string>(
    "/nodes/vega/storage/local/upload",
    { content: "iso", checksum: sha256, "checksum-algorithm": "sha256" },
    { name: "debian-12.iso", data: bytes },
  );
  const done = await waitTask(c, upid, fast);
  assert.equal(done.exitstatus, "OK");

  const dir = tempDir("pve-upload");
  try {
    const file = join(dir, "alpine.iso");
    writeFileSync(file, bytes.subarray(0, 4096));
    await waitTask(
      c,
      await c.upload<string>(
        "/nodes/vega/storage/local/upload",
        { content: "iso" },
        { name: "alpine.iso", path: file },
      ),
      fast,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const content = await c.get<{ volid: string; size: number }[]>("/nodes/vega/storage/local/content", {
    content: "iso",
  });
  assert.deepEqual(content.map((v) => [v.volid, v.size]).sort(), [
    ["local:iso/alpine.iso", 4096],
    ["local:iso/debian-12.iso", bytes.length],
  ]);

  const wrong = await c.upload<string>(
    "/nodes/vega/storage/local/upload",
    { content: "iso", checksum: "0".repeat(64), "checksum-algorithm": "sha256" },
    { name: "bad.iso", data: bytes },
  );
  const err = await waitTask(c, wrong, fast).catch((e) => e);
  assert.ok(err instanceof PveTaskError);
  assert.match(err.exitstatus, /^checksum mismatch: got '[0-9a-f]{64}' != expect '0{64}'$/);
});
