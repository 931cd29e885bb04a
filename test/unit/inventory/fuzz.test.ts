import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import fc from "fast-check";
import { UserError } from "../../../src/errors.js";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import { ensureBuilt } from "../cli/built.js";
import { mutate, mutationsArb } from "./mutate.js";

const CONTRACT = readFileSync("test/fixtures/contract-example.yaml", "utf8");
const SEED = 20261123;

/** Asserts the result of loading one mutated text: an Inventory, or a UserError of located problems. */
function checkOne(text: string): "ok" | "rejected" {
  const lines = text.split("\n").length;
  try {
    const inv = parseInventory(text, "f.yaml");
    assert.ok(Array.isArray(inv.hosts) && inv.vantages.length >= 1);
    return "ok";
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    assert.ok(e.problems.length >= 1);
    for (const p of e.problems) {
      assert.ok(p.pos, `unlocated problem: ${p.message}`);
      assert.equal(p.pos.file, "f.yaml");
      assert.ok(p.pos.line >= 1 && p.pos.line <= lines + 1, `line ${p.pos.line} of ${lines}: ${p.message}`);
      assert.ok(p.pos.col >= 1, `col ${p.pos.col}: ${p.message}`);
      assert.ok(p.message.trim().length > 0);
      assert.doesNotMatch(p.message, /undefined|\[object Object\]/);
    }
    return "rejected";
  }
}

test("fuzz: thousands of mutated inventories load or fail with located problems, never crash", () => {
  const seen = { ok: 0, rejected: 0 };
  fc.assert(
    fc.property(mutationsArb, (ms) => {
      seen[checkOne(mutate(CONTRACT, ms))]++;
    }),
    { seed: SEED, numRuns: 1500 },
  );
  // the mutations must exercise both outcomes, or the test proves little
  assert.ok(seen.rejected > 500, JSON.stringify(seen));
  assert.ok(seen.ok > 20, JSON.stringify(seen));
});

/** The outcome of one loader as plain data: the model with positions read, or the problem lines. */
function outcome(load: (text: string, file: string) => unknown, text: string): unknown {
  try {
    return { ok: JSON.parse(JSON.stringify(load(text, "f.yaml"))) };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { problems: e.problems.map((p) => `${p.pos?.line}:${p.pos?.col}: ${p.message}`) };
  }
}

test("fuzz: the fast path (js-yaml) and the located path (yaml) agree on every mutated inventory", () => {
  let accepted = 0;
  fc.assert(
    fc.property(mutationsArb, (ms) => {
      const text = mutate(CONTRACT, ms);
      const fast = outcome(parseInventory, text);
      assert.deepEqual(fast, outcome(parseLocated, text));
      if ((fast as { ok?: unknown }).ok) accepted++;
    }),
    { seed: SEED + 2, numRuns: 1000 },
  );
  assert.ok(accepted > 20, `only ${accepted} accepted: the comparison proves little`);
});

test("fast path: lazy positions in the model resolve to the same lines and columns as the located path", () => {
  const fast = parseInventory(CONTRACT, "f.yaml");
  const located = parseLocated(CONTRACT, "f.yaml");
  assert.deepEqual(
    fast.hosts.map((h) => [h.pos, h.services.map((s) => s.pos)]),
    located.hosts.map((h) => [h.pos, h.services.map((s) => s.pos)]),
  );
  assert.equal(fast.hosts[0]?.pos.line, located.hosts[0]?.pos.line);
  assert.ok((located.hosts[0]?.pos.line ?? 0) > 1);
});

test("fast path: anchors and aliases, duplicate keys and syntax errors go to the located path", () => {
  const dup = CONTRACT.replace("site: lab", "site: lab\nsite: lab2");
  assert.throws(
    () => parseInventory(dup, "f.yaml"),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.problems[0]?.message ?? "", /duplicate|twice/i);
      assert.ok((e.problems[0]?.pos?.line ?? 0) > 1);
      return true;
    },
  );
  const aliased = `${CONTRACT}\nx-anchor: &a [1]\n`;
  assert.deepEqual(outcome(parseInventory, aliased), outcome(parseLocated, aliased));
});

test("fast path: YAML 1.2 core scalars are read the same by both parsers", () => {
  const forms = [
    "0x16",
    "0o26",
    "026",
    "22.0",
    "+22",
    "1_000",
    ".inf",
    "~",
    "null",
    "True",
    "yes",
    "on",
    "2024-01-01",
    "'22'",
    "0b10110",
    "22e0",
    "-0",
  ];
  for (const form of forms) {
    const text = CONTRACT.replace("port: 51820\n", `port: ${form}\n`).replace("site: lab ", `site: ${form} `);
    assert.notEqual(text, CONTRACT);
    assert.deepEqual(outcome(parseInventory, text), outcome(parseLocated, text), form);
  }
});

const run = promisify(execFile);

test("fuzz: the built CLI exits 0 or 2 with located lines and no stack trace", async () => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "keel-fuzz-"));
  try {
    const samples = fc.sample(mutationsArb, { seed: SEED + 1, numRuns: 50 });
    const files = samples.map((ms, i) => {
      const f = join(dir, `m${i}.yaml`);
      writeFileSync(f, mutate(CONTRACT, ms));
      return f;
    });
    const codes = { 0: 0, 2: 0 };
    for (let i = 0; i < files.length; i += 4) {
      await Promise.all(
        files.slice(i, i + 4).map(async (f) => {
          let code = 0;
          let stderr = "";
          try {
            await run(process.execPath, ["dist/cli/main.js", "validate", f]);
          } catch (e) {
            const err = e as { code?: number; stderr?: string };
            code = err.code ?? -1;
            stderr = err.stderr ?? "";
          }
          assert.ok(code === 0 || code === 2, `${f}: exit ${code}\n${stderr}`);
          assert.doesNotMatch(stderr, /^ {4}at /m, `${f}: stack trace\n${stderr}`);
          if (code === 2) {
            const lines = stderr.trimEnd().split("\n");
            for (const l of lines) assert.match(l, /^.+\.yaml:\d+:\d+: \S.*$/, `${f}: unlocated line ${l}`);
          }
          codes[code as 0 | 2]++;
        }),
      );
    }
    assert.ok(codes[2] > 25, JSON.stringify(codes));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
