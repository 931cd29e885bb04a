import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { inventorySchema } from "../../../src/inventory/schema.js";
import { runKeel } from "./built.js";

const keel = runKeel;

test("keel validate prints a summary and exits 0 for a valid inventory", async () => {
  const r = await keel("validate", "test/fixtures/contract-example.yaml");
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    "test/fixtures/contract-example.yaml: ok (2 networks, 4 hosts, 11 services, 2 vantages)\n",
  );
});

test("keel validate prints every problem located and exits 2", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keel-cli-"));
  try {
    const f = join(dir, "keel.yaml");
    writeFileSync(
      f,
      "keel: 1\nsite: lab\nnetworks:\n  lan: { cidr: 10.1.1.0/24 }\nhosts:\n  a: { address: 10.1.1.1, adress: x }\n  b: { address: 10.1.1.2, tags: x }\n",
    );
    const r = await keel("validate", f);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.deepEqual(r.stderr.trimEnd().split("\n"), [
      `${f}:6:27: unknown key "adress" in host "a" (did you mean "address"?); expected one of address, tags, sysctl, wireguard, ssh, node_exporter, services, listeners, vm`,
      `${f}:7:33: tags of host "b" must be a list; got a string`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("keel validate names a missing file and exits 2 without a stack trace", async () => {
  const r = await keel("validate", "no/such/keel.yaml");
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "no/such/keel.yaml: cannot read the inventory: no such file\n");
});

test("keel schema prints the JSON Schema", async () => {
  const r = await keel("schema");
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), inventorySchema);
  assert.match(r.stdout, /^\{\n {2}"\$schema": "http:\/\/json-schema\.org\/draft-07\/schema#",/);
});
