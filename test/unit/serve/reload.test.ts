/**
 * The engine's reload derives the checks once per load, through the derive function it is
 * given, and serves exactly what that call returned.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Inventory } from "../../../src/inventory/model.js";
import { KeelEngine } from "../../../src/serve/engine.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import type { CheckSpec } from "../../../src/verify/types.js";
import { FakeClock, scriptedKinds, unusedProber } from "./fake.js";

const SITE = `keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hosts:
  web:
    address: 10.20.0.5
    ssh: false
vantages:
  probe: { local: true, networks: [lan] }
`;

test("each load derives the checks once: at construction, per accepted reload, none when unchanged", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keel-reload-"));
  const file = join(dir, "keel.yaml");
  writeFileSync(file, SITE);
  const clock = new FakeClock();
  const derived: CheckSpec[][] = [];
  const derive = (inv: Inventory): CheckSpec[] => {
    const specs = deriveChecks(inv);
    derived.push(specs);
    return specs;
  };
  const engine = new KeelEngine({
    file,
    clock,
    derive,
    kinds: scriptedKinds(clock, new Map()),
    probers: () => () => unusedProber,
    log: () => undefined,
  });
  try {
    assert.equal(derived.length, 1, "construction derives once");
    assert.deepEqual(
      engine.states().map((s) => s.id),
      derived[0]!.map((s) => s.id),
    );

    assert.equal(await engine.reload(), true);
    assert.equal(derived.length, 1, "an unchanged file derives nothing");

    writeFileSync(
      file,
      SITE.replace("    ssh: false\n", "    ssh: false\n  db:\n    address: 10.20.0.6\n    ssh: false\n"),
    );
    assert.equal(await engine.reload(), true);
    assert.equal(derived.length, 2, "an accepted reload derives once");
    assert.deepEqual(
      engine.states().map((s) => s.id),
      derived[1]!.map((s) => s.id),
      "the engine serves the specs of that one call",
    );
    assert.ok(derived[1]!.some((s) => s.host === "db"));

    writeFileSync(file, SITE.replace("10.20.0.5", "10.99.0.5"));
    const before = derived.length;
    const ok = await engine.reload();
    assert.equal(ok, false, "an address outside every network is rejected");
    assert.equal(derived.length, before, "a rejected inventory is never derived");
    assert.ok(
      engine.states().some((s) => s.host === "db"),
      "the last valid inventory keeps running",
    );
  } finally {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a derive function that throws rejects the reload like an invalid inventory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keel-reload-"));
  const file = join(dir, "keel.yaml");
  writeFileSync(file, SITE);
  let calls = 0;
  const logs: string[] = [];
  const engine = new KeelEngine({
    file,
    clock: new FakeClock(),
    derive: (inv) => {
      calls++;
      if (calls > 1) throw new Error("derive broke");
      return deriveChecks(inv);
    },
    kinds: scriptedKinds(new FakeClock(), new Map()),
    probers: () => () => unusedProber,
    log: (line) => logs.push(line),
  });
  try {
    writeFileSync(file, `${SITE}# changed\n`);
    assert.equal(await engine.reload(), false);
    assert.equal(calls, 2);
    assert.match(engine.problems()[0]!.message, /cannot be loaded: derive broke/);
    assert.equal(engine.states().length > 0, true);
    // the next reload tries again even though the file did not change
    assert.equal(await engine.reload(), false);
    assert.equal(calls, 3);
  } finally {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
