/**
 * The serve engine with a manual clock and scripted check outcomes: scheduling and jitter,
 * soft/hard states with per-kind thresholds from YAML, flapping, topology suppression, which
 * alerts fire, runNow, reload, the store sink and stop.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { type EngineOptions, fnv1a, KeelEngine, nextSlot, parentId } from "../../../src/serve/engine.js";
import type { EngineEvent, HardState } from "../../../src/serve/types.js";
import type { CheckKindModule, CheckResult, CheckStatus } from "../../../src/verify/types.js";
import { FakeClock, scriptedKinds, unusedProber } from "./fake.js";

const SITE = `keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
hosts:
  web:
    address: 10.20.0.5
    ssh: false
    services:
      - { name: api, port: 8080, http: /health }
  db:
    address: 10.20.0.6
    ssh: false
    services:
      - { name: pg, port: 5432 }
vantages:
  probe: { local: true, networks: [lan] }
serve:
  checks:
    default: { interval: 10s, fail_after: 3, recover_after: 2 }
    http: { interval: 5s, fail_after: 2, recover_after: 1 }
  flapping: { window: 6, changes: 3 }
`;

const REACH = "web/reachable@probe";
const API = "web/port.open/api@probe";
const HTTP = "web/http/api@probe";
const PG = "db/port.open/pg@probe";

interface Setup {
  engine: KeelEngine;
  clock: FakeClock;
  outcomes: Map<string, CheckStatus>;
  runs: [string, number][];
  saved: { results: readonly CheckResult[]; at: Date }[];
  events: EngineEvent[];
  logs: string[];
  file: string;
  step(ms: number): Promise<void>;
  /** Steps time until `id` has run `n` more times. */
  next(id: string, n?: number): Promise<void>;
  /** The state after each result of `id`, in order. */
  statesOf(id: string): HardState[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function setup(
  yaml = SITE,
  opts: {
    store?: "ok" | "fail";
    kinds?: Record<string, CheckKindModule>;
    start?: boolean;
    lastStored?: EngineOptions["lastStored"];
  } = {},
): Setup {
  const dir = mkdtempSync(join(tmpdir(), "keel-engine-"));
  const file = join(dir, "keel.yaml");
  writeFileSync(file, yaml);
  const clock = new FakeClock();
  const outcomes = new Map<string, CheckStatus>();
  const runs: [string, number][] = [];
  const saved: Setup["saved"] = [];
  const logs: string[] = [];
  const engine = new KeelEngine({
    file,
    clock,
    kinds: opts.kinds ?? scriptedKinds(clock, outcomes, runs),
    probers: () => () => unusedProber,
    startupSpreadMs: 1000,
    ...(opts.lastStored ? { lastStored: opts.lastStored } : {}),
    log: (line) => logs.push(line),
    store: {
      saveResults: async (results, at) => {
        if (opts.store === "fail") throw new Error("disk full");
        saved.push({ results, at });
      },
    },
  });
  const events: EngineEvent[] = [];
  engine.subscribe((e) => events.push(e));
  if (opts.start !== false) engine.start();
  cleanups.push(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    engine,
    clock,
    outcomes,
    runs,
    saved,
    events,
    logs,
    file,
    step: (ms) => clock.advance(ms, () => engine.idle()),
    next: async (id, n = 1) => {
      const count = () => runs.filter(([x]) => x === id).length;
      const target = count() + n;
      for (let i = 0; i < 1000 && count() < target; i++) await clock.advance(500, () => engine.idle());
      assert.ok(count() >= target, `${id} did not run ${n} more times`);
    },
    statesOf: (id) =>
      events.flatMap((e) => (e.type === "result" && e.result.id === id ? [e.state.state] : [])),
  };
}

// ---- scheduling ---------------------------------------------------------------------------------

test("derives the checks; skipped ones are `skipped` and never run", () => {
  const { engine } = setup(SITE, { start: false });
  assert.deepEqual(
    engine.states().map((s) => [s.id, s.state, s.status]),
    [
      [REACH, "unknown", null],
      [API, "unknown", null],
      [HTTP, "unknown", null],
      ["web/listeners", "skipped", "skip"],
      ["db/reachable@probe", "unknown", null],
      [PG, "unknown", null],
      ["db/listeners", "skipped", "skip"],
    ],
  );
  assert.equal(engine.state("web/listeners")?.message, "web has ssh: false, so host-side checks cannot run");
});

test("first runs spread over the startup window, then every interval of the kind at a fixed phase", async () => {
  const t = setup();
  const t0 = t.clock.now();
  await t.step(999);
  const first = new Map(t.runs.map(([id, at]) => [id, at - t0]));
  assert.deepEqual([...first.keys()].sort(), [REACH, API, HTTP, "db/reachable@probe", PG].sort());
  assert.equal(t.runs.length, 5, "each check ran exactly once in the startup window");
  for (const [id, off] of first) assert.equal(off, Math.floor((fnv1a(id) / 2 ** 32) * 1000), id);
  assert.equal(new Set(first.values()).size, 5, "no two checks start together");

  await t.step(120_000);
  for (const id of [REACH, API, HTTP, PG]) {
    const times = t.runs.filter(([x]) => x === id).map(([, at]) => at);
    const interval = id === HTTP ? 5000 : 10_000;
    // after the first run, each run sits on the check's slot: phase + k × interval
    const phase = fnv1a(id) % interval;
    for (const at of times.slice(1)) assert.equal((at - phase) % interval, 0, `${id} at ${at}`);
    const gaps = times.slice(2).map((at, i) => at - times[i + 1]!);
    assert.ok(
      gaps.every((g) => g === interval),
      `${id} runs every ${interval} ms: ${gaps}`,
    );
    assert.ok(times[1]! - times[0]! >= interval / 2, "no second run right after the first");
    assert.equal(times.length, Math.floor(121_000 / interval) + (times.length > 121_000 / interval ? 1 : 0));
  }
  // nextRunAt says when the next run comes
  const s = t.engine.state(REACH)!;
  assert.equal(
    Date.parse(s.nextRunAt!),
    nextSlot(Date.parse(s.lastRunAt!) + 5000, 10_000, fnv1a(REACH) % 10_000),
  );
});

test("the schedule is deterministic: two engines run the same checks at the same times", async () => {
  const a = setup();
  const b = setup();
  await a.step(45_000);
  await b.step(45_000);
  assert.deepEqual(a.runs, b.runs);
});

test("a check never overlaps itself, and concurrency is bounded", async () => {
  const clock = new FakeClock();
  let inFlight = 0;
  let most = 0;
  let started = 0;
  const release: (() => void)[] = [];
  let hold = true;
  const slow: Record<string, CheckKindModule> = {};
  for (const kind of ["reachable", "port.open", "http"]) {
    slow[kind] = {
      kind: kind as CheckKindModule["kind"],
      run: () =>
        new Promise((resolve) => {
          inFlight++;
          started++;
          most = Math.max(most, inFlight);
          const done = () => {
            inFlight--;
            resolve({ status: "pass", message: "ok" });
          };
          if (hold) release.push(done);
          else done();
        }),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "keel-engine-"));
  writeFileSync(join(dir, "keel.yaml"), SITE);
  const engine = new KeelEngine({
    file: join(dir, "keel.yaml"),
    clock,
    kinds: slow,
    probers: () => () => unusedProber,
    concurrency: 2,
    log: () => undefined,
  });
  cleanups.push(async () => {
    hold = false;
    for (const r of release.splice(0)) r();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  engine.start();
  // nothing finishes: 5 checks are due but only 2 may run, and none starts twice
  await clock.advance(60_000, async () => {
    await new Promise((r) => setImmediate(r));
  });
  assert.equal(started, 2);
  assert.equal(most, 2);
  for (const r of release.splice(0)) r();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.ok(started >= 4, `queued checks ran once slots freed (${started})`);
  assert.ok(most <= 2);
});

test("behind its schedule, due checks wait in the schedule, not in the concurrency limit: Run now takes the next free slot", async () => {
  // Due checks used to be handed to the concurrency limit at once, each as closures and promises
  // (~2.5 KB: hundreds of MB for a backlog of 50,000 checks), and a Run now queued behind them.
  const clock = new FakeClock();
  const order: string[] = [];
  const release: (() => void)[] = [];
  let hold = true;
  const slow: Record<string, CheckKindModule> = {};
  for (const kind of ["reachable", "port.open", "http"]) {
    slow[kind] = {
      kind: kind as CheckKindModule["kind"],
      run: (spec) =>
        new Promise((resolve) => {
          order.push(spec.id);
          const done = () => resolve({ status: "pass", message: "ok" });
          if (hold) release.push(done);
          else done();
        }),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "keel-engine-"));
  writeFileSync(join(dir, "keel.yaml"), SITE);
  const engine = new KeelEngine({
    file: join(dir, "keel.yaml"),
    clock,
    kinds: slow,
    probers: () => () => unusedProber,
    concurrency: 1,
    log: () => undefined,
  });
  cleanups.push(async () => {
    hold = false;
    for (const r of release.splice(0)) r();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  engine.start();
  await clock.advance(30_000, async () => {
    await new Promise((r) => setImmediate(r));
  });
  assert.equal(order.length, 1, "one slot: one check running, the other due ones waiting");
  // the check due last among those waiting: with a FIFO of due checks it would start last
  const ids = engine
    .states()
    .filter((s) => s.state !== "skipped")
    .map((s) => s.id);
  const firstDue = (id: string) => {
    const spec = engine.states().find((s) => s.id === id)!;
    const interval = spec.kind === "http" ? 5000 : 10_000;
    return Math.floor((fnv1a(id) / 2 ** 32) * Math.min(interval, 10_000));
  };
  const target = ids.filter((id) => id !== order[0]).sort((a, b) => firstDue(b) - firstDue(a))[0]!;
  const ran = engine.runNow({ glob: target });
  release.shift()!();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(order[1], target, `Run now of ${target} starts in the next free slot (${order.join(", ")})`);
  hold = false;
  for (const r of release.splice(0)) r();
  await ran;
});

// ---- states -------------------------------------------------------------------------------------

test("soft → hard after fail_after failures, hard → ok after recover_after passes (defaults from YAML)", async () => {
  const t = setup();
  await t.next(PG);
  t.outcomes.set(PG, "fail");
  await t.next(PG, 4);
  t.outcomes.set(PG, "pass");
  await t.next(PG, 2);
  assert.deepEqual(t.statesOf(PG), ["ok", "soft", "soft", "hard", "hard", "soft", "ok"]);
  const s = t.engine.state(PG)!;
  assert.equal(s.consecutive, 2);
  assert.equal(s.status, "pass");
  assert.equal(s.since, s.lastRunAt, "since is when the state last changed");
  const changes = t.events.flatMap((e) =>
    e.type === "state" && e.state.id === PG ? [[e.from, e.state.state]] : [],
  );
  assert.deepEqual(changes, [
    ["unknown", "ok"],
    ["ok", "soft"],
    ["soft", "hard"],
    ["hard", "soft"],
    ["soft", "ok"],
  ]);
});

test("per-kind thresholds from YAML: http turns hard after 2 failures and recovers after 1 pass", async () => {
  const t = setup();
  t.outcomes.set(HTTP, "error"); // error counts as failing
  await t.next(HTTP, 2);
  t.outcomes.set(HTTP, "pass");
  await t.next(HTTP);
  assert.deepEqual(t.statesOf(HTTP), ["soft", "hard", "ok"]);
  assert.equal(t.engine.inventory().serve.checks.http?.failAfter, 2);
});

test("a soft failure that passes is ok at once; a recovering check that fails is hard again", async () => {
  const t = setup();
  await t.next(PG);
  t.outcomes.set(PG, "fail");
  await t.next(PG);
  t.outcomes.set(PG, "pass");
  await t.next(PG);
  assert.deepEqual(t.statesOf(PG), ["ok", "soft", "ok"]);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [], "soft failures raise no alert");

  t.outcomes.set(PG, "fail");
  await t.next(PG, 3);
  assert.equal(t.engine.state(PG)?.state, "hard");
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [PG], "hard fires");
  t.outcomes.set(PG, "pass");
  await t.next(PG);
  assert.equal(t.engine.state(PG)?.state, "soft");
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [PG], "still firing while recovering");
  t.outcomes.set(PG, "fail");
  await t.next(PG);
  assert.equal(t.engine.state(PG)?.state, "hard", "one failure while recovering is hard again");
  t.outcomes.set(PG, "pass");
  await t.next(PG, 2);
  assert.equal(t.engine.state(PG)?.state, "ok");
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [], "resolved once ok");
});

test("flapping: `changes` state changes within the last `window` results, and back", async () => {
  const t = setup();
  await t.next(PG);
  const flaps: boolean[] = [];
  for (const status of ["fail", "pass", "fail", "pass", "pass", "pass", "pass", "pass", "pass"] as const) {
    t.outcomes.set(PG, status);
    await t.next(PG);
    flaps.push(t.engine.state(PG)!.flapping);
  }
  // window 6, changes 3: p f p f has 3 changes; flapping until the window is down to 2 changes
  // (after the first result, the window holds: pf, pfp, pfpf, pfpfp, pfpfpp, fpfppp, pfpppp, …)
  assert.deepEqual(flaps, [false, false, true, true, true, true, false, false, false]);
  const announced = t.events.flatMap((e) =>
    e.type === "state" && e.state.id === PG ? [e.state.flapping] : [],
  );
  assert.deepEqual(
    announced.filter((f, i) => i === 0 || f !== announced[i - 1]),
    [false, true, false],
    "state events announce when flapping starts and when it stops",
  );
  const stops = t.events.filter(
    (e) => e.type === "state" && e.state.id === PG && e.from === e.state.state && !e.state.flapping,
  );
  assert.equal(stops.length, 1, "flapping stopping is announced even though the state stays ok");
});

// ---- suppression --------------------------------------------------------------------------------

test("an unreachable host suppresses its checks from that vantage: no alerts of their own", async () => {
  const t = setup();
  await t.step(999);
  for (const id of [REACH, API, HTTP]) t.outcomes.set(id, "fail");
  await t.next(API, 4);
  const by = (id: string) => t.engine.state(id)?.suppressedBy;
  assert.equal(t.engine.state(REACH)?.state, "hard");
  assert.equal(t.engine.state(API)?.state, "hard");
  assert.equal(t.engine.state(HTTP)?.state, "hard");
  assert.equal(by(API), REACH);
  assert.equal(by(HTTP), REACH);
  assert.equal(by(REACH), undefined);
  assert.equal(by(PG), undefined, "another host's checks are not suppressed");
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [REACH], "only the parent fires");

  // the host answers again: its checks are no longer suppressed, but alert only when they fail again
  t.outcomes.set(REACH, "pass");
  await t.next(REACH);
  assert.equal(by(API), undefined);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [REACH]);
  // the service stays down: its checks fail again and raise their own alerts
  await t.next(API);
  await t.next(HTTP);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds().sort(), [API, HTTP, REACH].sort());
  const unsuppressed = t.events.find(
    (e) =>
      e.type === "state" && e.state.id === API && e.from === "hard" && e.state.suppressedBy === undefined,
  );
  assert.ok(unsuppressed, "the change of suppression is announced");
  t.outcomes.set(API, "pass");
  t.outcomes.set(HTTP, "pass");
  await t.next(API, 2);
  await t.next(HTTP, 2);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), []);
});

test("a child that turns hard first makes its parent run at once: no alert if the host is down", async () => {
  const t = setup();
  await t.step(999);
  // the service notices first: http (every 5 s, hard after 2) fails before reachable's next slot
  t.outcomes.set(HTTP, "fail");
  t.outcomes.set(REACH, "fail");
  const reachRuns = () => t.runs.filter(([id]) => id === REACH).map(([, at]) => at);
  const before = reachRuns().length;
  await t.next(HTTP, 2);
  const hardAt = Date.parse(t.engine.state(HTTP)!.since!);
  assert.equal(t.engine.state(HTTP)?.state, "hard");
  assert.ok(reachRuns().slice(before).includes(hardAt), "the parent ran when the child turned hard");
  assert.equal(t.engine.state(HTTP)?.suppressedBy, REACH);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), []);

  // on another host, the parent still passes after asking: the child alerts
  t.outcomes.set(PG, "fail");
  await t.next(PG, 3);
  const pgHard = Date.parse(t.engine.state(PG)!.since!);
  assert.ok(t.runs.some(([id, at]) => id === "db/reachable@probe" && at === pgHard));
  assert.deepEqual(
    t.engine.alertDispatcher()?.firingIds().sort(),
    [PG, REACH],
    "web's parent is hard by now",
  );
});

test("suppression starts with the parent's first failing result (soft)", async () => {
  const t = setup();
  await t.step(999);
  t.outcomes.set(REACH, "fail");
  await t.next(REACH);
  assert.equal(t.engine.state(REACH)?.state, "soft");
  assert.equal(t.engine.state(API)?.suppressedBy, REACH);
  assert.equal(t.engine.state(HTTP)?.suppressedBy, REACH);
  assert.equal(
    parentId({ id: PG, kind: "port.open", host: "db", vantage: "probe", params: {} as never }),
    "db/reachable@probe",
  );
});

// ---- runNow, store, events -----------------------------------------------------------------------

test("runNow runs all, a host's or a glob's checks now; an empty selection is a UserError", async () => {
  const t = setup(SITE, { start: false });
  const db = await t.engine.runNow({ host: "db" });
  assert.deepEqual(
    db.map((r) => [r.id, r.status]),
    [
      ["db/reachable@probe", "pass"],
      [PG, "pass"],
      ["db/listeners", "skip"],
    ],
  );
  const glob = await t.engine.runNow({ glob: "web/http/**" });
  assert.deepEqual(
    glob.map((r) => r.id),
    [HTTP],
  );
  assert.equal((await t.engine.runNow({ all: true })).length, 7);
  assert.equal(t.engine.state(HTTP)?.consecutive, 2);
  await assert.rejects(t.engine.runNow({ host: "nope" }), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /no check matches host "nope"/);
    return true;
  });
  await assert.rejects(t.engine.runNow({ glob: "x/**" }), UserError);
});

test("every non-skip result goes to the store at its time; a failing store is logged, states still move", async () => {
  const t = setup();
  await t.step(10_999);
  const stored = t.saved.flatMap((s) => s.results.map((r) => [r.id, s.at.getTime()]));
  const ran = t.runs.map(([id, at]) => [id, at]);
  assert.deepEqual(stored, ran);
  assert.ok(
    stored.every(([id]) => !String(id).endsWith("listeners")),
    "skips are not stored",
  );

  const f = setup(SITE, { store: "fail" });
  f.outcomes.set(PG, "fail");
  await f.step(999);
  assert.equal(f.engine.state(PG)?.state, "soft");
  assert.ok(f.logs.some((l) => /store: the result of .* was not stored: disk full/.test(l)));
});

test("events: a result event for every result, a state event for every change", async () => {
  const t = setup();
  await t.step(999);
  assert.equal(t.events.filter((e) => e.type === "result").length, 5);
  assert.equal(t.events.filter((e) => e.type === "state").length, 5, "unknown → ok, once per check");
});

// ---- reload -------------------------------------------------------------------------------------

test("reload: an invalid file is rejected with located problems and the last valid inventory keeps running", async () => {
  const t = setup();
  await t.step(999);
  t.outcomes.set(PG, "fail");
  await t.next(PG, 3);
  assert.equal(t.engine.state(PG)?.state, "hard");
  const runsBefore = t.runs.length;
  writeFileSync(t.file, SITE.replace("port: 5432", "port: 99999"));
  assert.equal(await t.engine.reload(), false);
  const [problem] = t.engine.problems();
  assert.deepEqual(problem?.pos, { file: t.file, line: 15, col: 27 });
  assert.match(problem!.message, /port 99999 .* is out of range/);
  assert.deepEqual(t.events.at(-1), { type: "reload", ok: false, problems: t.engine.problems() });
  assert.ok(t.logs.some((l) => l.includes("was not reloaded")));
  await t.step(20_000);
  assert.ok(t.runs.length > runsBefore, "the old checks keep running");
  assert.equal(t.engine.state(PG)?.state, "hard");

  // fixed: db is gone (its alert resolves), cache is new, web keeps its state
  const consecutive = t.engine.state(REACH)!.consecutive;
  writeFileSync(
    t.file,
    SITE.replace(/ {2}db:\n(.*\n){4}/, "  cache:\n    address: 10.20.0.7\n    ssh: false\n").replace(
      "interval: 10s, fail_after: 3",
      "interval: 20s, fail_after: 3",
    ),
  );
  assert.equal(await t.engine.reload(), true);
  assert.deepEqual(t.engine.problems(), []);
  assert.deepEqual(t.events.at(-1), { type: "reload", ok: true, problems: [] });
  assert.equal(t.engine.state(PG), undefined);
  assert.deepEqual(t.engine.alertDispatcher()?.firingIds(), [], "the removed check's alert is resolved");
  assert.equal(t.engine.state("cache/reachable@probe")?.state, "unknown");
  assert.equal(t.engine.state(REACH)?.consecutive, consecutive, "kept state");
  const mark = t.runs.length;
  await t.step(40_000);
  const reach = t.runs.slice(mark).filter(([id]) => id === REACH);
  assert.equal(reach.length, 2, "the new interval (20s) applies");
  assert.ok(
    t.runs.slice(mark).some(([id]) => id === "cache/reachable@probe"),
    "new checks run",
  );
  assert.equal(t.engine.state(REACH)?.consecutive, consecutive + 2);
});

test("reload of an unchanged file does nothing; a missing file is a problem, not a crash", async () => {
  const t = setup();
  assert.equal(await t.engine.reload(), true);
  assert.equal(t.events.filter((e) => e.type === "reload").length, 0);
  rmSync(t.file);
  assert.equal(await t.engine.reload(), false);
  assert.match(t.engine.problems()[0]!.message, /cannot read the inventory: no such file/);
  assert.equal(t.engine.states().length, 7);
});

test("stop waits for checks in flight and leaves no timers", async () => {
  const clock = new FakeClock();
  let finish: (() => void) | undefined;
  const kinds: Record<string, CheckKindModule> = {
    reachable: {
      kind: "reachable",
      run: () =>
        new Promise((resolve) => {
          finish = () => resolve({ status: "pass", message: "late" });
        }),
    },
  };
  const dir = mkdtempSync(join(tmpdir(), "keel-engine-"));
  writeFileSync(join(dir, "keel.yaml"), SITE);
  const engine = new KeelEngine({
    file: join(dir, "keel.yaml"),
    clock,
    kinds,
    probers: () => () => unusedProber,
    log: () => undefined,
  });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const run = engine.runNow({ glob: REACH });
  await new Promise((r) => setImmediate(r));
  let stopped = false;
  const stopping = engine.stop().then(() => {
    stopped = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, false, "stop waits for the check in flight");
  finish!();
  await stopping;
  assert.deepEqual(
    (await run).map((r) => r.message),
    ["late"],
  );
  assert.equal(clock.pending, 0, "no timer left");
});

test("a host that comes back with its services raises no alerts for them", async () => {
  const t = setup();
  const fired: string[] = [];
  const d = t.engine.alertDispatcher()!;
  const fire = d.fire.bind(d);
  d.fire = (state, startsAt) => {
    fired.push(state.id);
    fire(state, startsAt);
  };
  await t.step(999);
  for (const id of [REACH, API, HTTP]) t.outcomes.set(id, "fail");
  await t.next(API, 4);
  assert.deepEqual(d.firingIds(), [REACH]);
  for (const id of [REACH, API, HTTP]) t.outcomes.set(id, "pass");
  await t.next(REACH, 2);
  await t.next(API, 2);
  await t.next(HTTP, 2);
  assert.equal(t.engine.state(API)?.state, "ok");
  assert.deepEqual(d.firingIds(), []);
  assert.deepEqual([...new Set(fired)], [REACH], "only the parent ever fired");
});

test("serve reads keel.lock beside the inventory: an auto host keeps its locked address", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keel-engine-lock-"));
  try {
    const file = join(dir, "keel.yaml");
    writeFileSync(file, SITE.replace("address: 10.20.0.6", "address: { lan: auto }"));
    // without a lock, db gets the lowest free address; the lock says .77
    const engine = () =>
      new KeelEngine({
        file,
        clock: new FakeClock(),
        probers: () => () => unusedProber,
        log: () => undefined,
      });
    const fresh = engine();
    assert.equal(fresh.inventory().hosts.find((h) => h.name === "db")!.addresses[0]!.address, "10.20.0.1");
    await fresh.stop();
    writeFileSync(join(dir, "keel.lock"), "keel-lock: 1\naddresses:\n  db: { lan: 10.20.0.77 }\nmacs: {}\n");
    const locked = engine();
    assert.equal(locked.inventory().hosts.find((h) => h.name === "db")!.addresses[0]!.address, "10.20.0.77");
    await locked.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- a check's own schedule -----------------------------------------------------------------------

const BACKUPS = `keel: 1
site: lab
networks:
  lan: { cidr: 10.20.0.0/24 }
defaults: { ssh: { allow: [lan] } }
hosts:
  db: { address: 10.20.0.6 }
  backup: { address: 10.20.0.7 }
vantages:
  probe: { local: true, networks: [lan] }
serve:
  checks:
    default: { interval: 10s, fail_after: 3, recover_after: 2 }
backups:
  pgbackrest:
    main:
      repository: backup
      postgres: [{ host: db, data: /var/lib/postgresql/15/main }]
      schedule: { diff: 1d }
      objectives: { backup: 26h, wal: 15m }
      check_interval: 2m
`;

test("a check with its own interval (a stanza's check_interval) waits for its slot, runs on it, and goes hard at once", async () => {
  const t = setup(BACKUPS);
  const t0 = t.clock.now();
  const CHECK = "backup/backup.pgbackrest-check/main";
  const INFO = "backup/backup.pgbackrest/main";
  t.outcomes.set(CHECK, "fail");
  await t.step(1000 + 6 * 60_000);
  const times = t.runs.filter(([x]) => x === CHECK).map(([, at]) => at);
  // not in the startup spread: at its slot, as a restart must not run a weekly restore again
  const first = nextSlot(t0, 120_000, fnv1a(CHECK) % 120_000);
  const expected = [0, 1, 2, 3].map((k) => first + k * 120_000).filter((at) => at <= t0 + 361_000);
  assert.deepEqual(times, expected);
  // the info check keeps its kind's interval (the inventory's default here, 10 s), first run in the spread
  const info = t.runs.filter(([x]) => x === INFO).map(([, at]) => at);
  assert.ok(info[0]! - t0 < 1000 && info.length >= 36, `info ran at ${info.map((x) => x - t0)}`);
  // one failure is enough: a check run hours apart cannot wait for three
  assert.deepEqual(t.statesOf(CHECK).slice(0, 2), ["hard", "hard"]);
});

test("after a restart, a check with its own interval shows its last stored result until its slot comes", async () => {
  const CHECK = "backup/backup.pgbackrest-check/main";
  const stored = Date.parse("2026-12-06T04:00:00Z");
  const asked: string[] = [];
  const t = setup(BACKUPS, {
    lastStored: async (id) => {
      asked.push(id);
      return id === CHECK
        ? { atMs: stored, status: "fail", message: "pgbackrest check of stanza main failed" }
        : undefined;
    },
  });
  await t.step(100);
  // only the checks with their own interval are read; the others fill in within the spread
  assert.deepEqual(asked, [CHECK]);
  const s = t.engine.state(CHECK)!;
  assert.deepEqual(
    [s.status, s.message, s.lastRunAt],
    ["fail", "pgbackrest check of stanza main failed", new Date(stored).toISOString()],
  );
  // history, not news: no result event, no state change, nothing stored
  assert.equal(t.statesOf(CHECK).length, 0);
  assert.equal(t.saved.flatMap((x) => x.results).filter((r) => r.id === CHECK).length, 0);
  // its run comes at its slot and replaces it
  t.outcomes.set(CHECK, "pass");
  await t.next(CHECK);
  assert.equal(t.engine.state(CHECK)!.status, "pass");
});
