import assert from "node:assert/strict";
import { test } from "node:test";
import { ProberPool } from "../../../src/serve/probers.js";
import { type Prober, VantageError } from "../../../src/verify/types.js";
import { HostKeyError } from "../../../src/verify/vantages/hostkeys.js";
import { FakeClock, unusedProber } from "./fake.js";

/** Probers whose ping fails with VantageError while `broken` is set; counts creations and closes. */
function factory() {
  const made: { vantage: string; closed: boolean }[] = [];
  let broken = false;
  const make = (vantage: string): Prober => {
    const rec = { vantage, closed: false };
    made.push(rec);
    return {
      ...unusedProber,
      vantage,
      ping: async () => {
        if (broken) throw new VantageError(`vantage ${vantage}: connection lost`);
        return true;
      },
      close: async () => {
        rec.closed = true;
      },
    };
  };
  return { made, make, setBroken: (b: boolean) => (broken = b) };
}

test("one prober per vantage, shared by runs; the runner's close does not close it", async () => {
  const f = factory();
  const pool = new ProberPool(f.make, new FakeClock());
  const a = pool.get("admin");
  await a.close();
  assert.equal(await pool.get("admin").ping("10.0.0.1", 100), true);
  pool.get("lan-probe");
  assert.deepEqual(
    f.made.map((m) => [m.vantage, m.closed]),
    [
      ["admin", false],
      ["lan-probe", false],
    ],
  );
  await pool.close();
  assert.ok(f.made.every((m) => m.closed));
  assert.throws(() => pool.get("admin"), VantageError);
});

test("a prober that reported VantageError is replaced, at most once per recycle period", async () => {
  const f = factory();
  const clock = new FakeClock();
  const pool = new ProberPool(f.make, clock, 10_000);
  f.setBroken(true);
  await assert.rejects(pool.get("admin").ping("10.0.0.1", 100), VantageError);
  pool.get("admin");
  assert.equal(f.made.length, 1, "not replaced within the recycle period");
  clock.t += 10_000;
  f.setBroken(false);
  assert.equal(await pool.get("admin").ping("10.0.0.1", 100), true);
  assert.equal(f.made.length, 2, "replaced");
  await new Promise((r) => setImmediate(r));
  assert.equal(f.made[0]?.closed, true, "the broken one is closed");
  assert.equal(f.made[1]?.closed, false);
  await pool.close();
});

test("a target's refused SSH host key does not recycle the prober (the run's verifier would refuse it again)", async () => {
  const clock = new FakeClock();
  let made = 0;
  const verdict = {
    status: "changed" as const,
    name: "10.0.0.9",
    offered: { type: "ssh-ed25519", fingerprint: "SHA256:x" },
    expected: [{ type: "ssh-ed25519", fingerprint: "SHA256:y", line: 1 }],
    file: "/kh",
  };
  const pool = new ProberPool(
    (vantage) => {
      made++;
      return {
        ...unusedProber,
        vantage,
        sshExec: () => Promise.reject(new HostKeyError("SSH host key of 10.0.0.9 changed", verdict)),
      };
    },
    clock,
    10_000,
  );
  const target = { host: "x", address: "10.0.0.9", port: 22, user: "root" };
  await assert.rejects(pool.get("admin").sshExec(target, "true", 100), HostKeyError);
  clock.t += 10_000;
  pool.get("admin");
  assert.equal(made, 1);
  await pool.close();
});
