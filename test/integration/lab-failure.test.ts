/**
 * When the twin cannot come up, `up` fails naming what did not come up and leaves nothing
 * behind. Here the inventory itself is inconsistent: gpu's node_exporter does not admit mon,
 * so mon's Prometheus can never scrape it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { labDown, labUp } from "../../src/lab/lab.js";
import { LabError } from "../../src/lab/run.js";
import { labInventory } from "../lab/fixture.js";

const dir = mkdtempSync(join(tmpdir(), "keel-lab-fail-"));
const site = `f${process.pid}`;

after(() => rmSync(dir, { recursive: true, force: true }));

test("up fails with a message naming what did not come up, and removes the partial lab", async () => {
  const inv = labInventory({ site, dir, octet: 60 + (process.pid % 19) * 2 });
  const gpu = inv.hosts.find((h) => h.name === "gpu")!;
  gpu.services.find((s) => s.kind === "node_exporter")!.allow = ["vpn"];
  await assert.rejects(labUp(inv, { timeoutMs: 10_000 }), (err: unknown) => {
    assert.ok(err instanceof LabError);
    assert.match(err.message, /did not come up within 10 s/);
    assert.match(err.message, /mon\/prometheus: target gpu \(.*:9100\) not up/);
    assert.doesNotMatch(err.message, /target svc-1/);
    return true;
  });
  assert.doesNotMatch(
    spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout,
    new RegExp(`keel-${site}-`),
  );
  assert.equal(existsSync(join(dir, ".keel", "lab", "state.json")), false);
  assert.equal(await labDown(join(dir, ".keel", "lab")), false);
});
