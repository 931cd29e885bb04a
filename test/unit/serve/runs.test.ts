/**
 * `runNow` records a stored run in the real store (SQLite, src/store): `GET /api/runs` lists
 * what `POST /api/runs` ran, each result is stored once (in the run, not again as a scheduled
 * result), and a check that a concurrent run already started is recorded in that run only.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KeelEngine } from "../../../src/serve/engine.js";
import { openStore } from "../../../src/store/index.js";
import type { CheckKindModule, CheckStatus } from "../../../src/verify/types.js";
import { FakeClock, scriptedKinds, unusedProber } from "./fake.js";

const SITE = `keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hosts:
  db:
    address: 10.20.0.6
    ssh: false
    services:
      - { name: pg, port: 5432 }
vantages:
  probe: { local: true, networks: [lan] }
`;
const PG = "db/port.open/pg@probe";
const REACH = "db/reachable@probe";

const dir = mkdtempSync(join(tmpdir(), "keel-engine-runs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("runNow stores one run with its results; concurrent runs record each result once", async () => {
  const file = join(dir, "keel.yaml");
  writeFileSync(file, SITE);
  const store = await openStore(join(dir, "keel.db"));
  const clock = new FakeClock();
  const outcomes = new Map<string, CheckStatus>([[PG, "fail"]]);
  const scripted = scriptedKinds(clock, outcomes);
  // port.open waits for the test to release it, so a second run finds it in flight
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const kinds: Record<string, CheckKindModule> = {
    ...scripted,
    "port.open": {
      kind: "port.open",
      run: async (spec, ctx) => {
        await gate;
        return scripted["port.open"]!.run(spec, ctx);
      },
    },
  };
  const engine = new KeelEngine({
    file,
    clock,
    kinds,
    probers: () => () => unusedProber,
    store,
    alerts: false,
    log: () => undefined,
  });
  try {
    const first = engine.runNow({ glob: PG });
    const second = engine.runNow({ host: "db" });
    release();
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(
      a.map((r) => [r.id, r.status]),
      [[PG, "fail"]],
    );
    assert.deepEqual(
      b.map((r) => [r.id, r.status]),
      [
        [REACH, "pass"],
        [PG, "fail"],
        ["db/listeners", "skip"],
      ],
    );
    const runs = await store.runs();
    assert.equal(runs.length, 2);
    const [newer, older] = runs;
    assert.equal(older!.inventory, file);
    assert.deepEqual(older!.summary, { pass: 0, fail: 1, error: 0, skip: 0 });
    // the second run found PG in flight, claimed by the first: it records the others only
    assert.deepEqual(newer!.summary, { pass: 1, fail: 0, error: 0, skip: 1 });
    const pg = await store.history(PG);
    assert.deepEqual(
      pg.points.map((p) => [p.count, p.status, p.runId]),
      [[1, "fail", older!.id]],
    );
    assert.equal((await store.history(REACH)).points[0]?.runId, newer!.id);
    assert.equal(engine.state(PG)?.status, "fail", "the run's results are applied to the states too");
  } finally {
    await engine.stop();
    await store.close();
  }
});
