import assert from "node:assert/strict";
import { test } from "node:test";
import { buildReport, exitStatusOf, runChecks } from "../../../src/verify/runner.js";
import type { CheckKindModule, CheckSpec, Prober } from "../../../src/verify/types.js";
import { VantageError } from "../../../src/verify/types.js";

// The runner is scheduling logic; these tests drive it with small check kinds whose behaviour
// is the point of each test (slow, hanging, throwing). Real probes are tested in integration.
const spec = (id: string, vantage = "admin"): CheckSpec => ({
  id,
  kind: "reachable",
  host: id.split("/")[0] ?? "h",
  vantage,
  params: { kind: "reachable", address: "127.0.0.1", tcpPorts: [] },
});
const closed: string[] = [];
const prober = (vantage: string): Prober =>
  ({
    vantage,
    close: async () => {
      closed.push(vantage);
    },
  }) as unknown as Prober;

function kind(run: CheckKindModule["run"]): Record<string, CheckKindModule> {
  return { reachable: { kind: "reachable", run } };
}

test("concurrency is bounded", async () => {
  let inFlight = 0;
  let peak = 0;
  const kinds = kind(async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return { status: "pass", message: "ok" };
  });
  const specs = Array.from({ length: 40 }, (_, i) => spec(`h${i}/reachable@admin`));
  const results = await runChecks(specs, { concurrency: 4, timeoutMs: 1000, kinds, proberFor: prober });
  assert.equal(results.length, 40);
  assert.equal(peak, 4);
  assert.deepEqual(
    results.map((r) => r.id),
    specs.map((s) => s.id),
    "results keep spec order",
  );
});

test("a check that ignores its timeout is cut off as error, and the run still finishes", async () => {
  const kinds = kind((s) =>
    s.id.startsWith("hang") ? new Promise(() => {}) : Promise.resolve({ status: "pass", message: "ok" }),
  );
  const t0 = Date.now();
  const results = await runChecks([spec("hang/reachable@admin"), spec("ok/reachable@admin")], {
    concurrency: 2,
    timeoutMs: 50,
    kinds,
    proberFor: prober,
  });
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(results[0]?.status, "error");
  assert.match(results[0]?.message ?? "", /no answer within the 50 ms timeout/);
  assert.equal(results[1]?.status, "pass");
});

test("a check with its own deadline gets it instead of the run's (a restore outlasts --timeout; a quick one is cut sooner)", async () => {
  const seen: number[] = [];
  const kinds = kind(async (s, ctx) => {
    seen.push(ctx.timeoutMs);
    if (s.id.startsWith("slow")) await new Promise((r) => setTimeout(r, 120));
    else await new Promise(() => {});
    return { status: "pass", message: "ok" };
  });
  const results = await runChecks(
    [
      { ...spec("slow/reachable@admin"), timeoutMs: 5000 },
      { ...spec("hang/reachable@admin"), timeoutMs: 40 },
    ],
    { concurrency: 2, timeoutMs: 60, kinds, proberFor: prober },
  );
  assert.deepEqual(seen, [5000, 40]);
  assert.equal(results[0]?.status, "pass", "its own 5 s deadline, not the run's 60 ms");
  assert.match(results[1]?.message ?? "", /no answer within the 40 ms timeout/);
});

test("the check's signal aborts at the timeout, so a prober can report a precise outcome", async () => {
  const kinds = kind(
    (_s, ctx) =>
      new Promise((resolve) =>
        ctx.signal.addEventListener("abort", () =>
          resolve({ status: "pass", message: "filtered", observed: { state: "filtered" } }),
        ),
      ),
  );
  const [r] = await runChecks([spec("x/reachable@admin")], {
    concurrency: 1,
    timeoutMs: 30,
    kinds,
    proberFor: prober,
  });
  assert.equal(r?.status, "pass");
  assert.deepEqual(r?.observed, { state: "filtered" });
});

test("a vantage failure is error (not fail) and says why; other errors are error too", async () => {
  const kinds = kind(async (s) => {
    if (s.id.startsWith("v")) throw new VantageError("vantage lan-probe: cannot log in to svc-1");
    throw new TypeError("boom");
  });
  const results = await runChecks([spec("v/reachable@lan-probe", "lan-probe"), spec("t/reachable@admin")], {
    concurrency: 2,
    timeoutMs: 100,
    kinds,
    proberFor: prober,
  });
  assert.equal(results[0]?.status, "error");
  assert.equal(results[0]?.message, "vantage lan-probe: cannot log in to svc-1");
  assert.equal(results[1]?.status, "error");
  assert.match(results[1]?.message ?? "", /reachable check failed unexpectedly: boom/);
});

test("skip and filter reasons are reported without running; probers are closed at the end", async () => {
  closed.length = 0;
  let ran = 0;
  const kinds = kind(async () => {
    ran++;
    return { status: "pass", message: "ok" };
  });
  const specs = [
    spec("a/reachable@admin"),
    { ...spec("b/reachable@x", "x"), skip: "vantage x runs on b itself" },
    spec("c/reachable@admin"),
  ];
  const results = await runChecks(specs, {
    concurrency: 2,
    timeoutMs: 100,
    kinds,
    proberFor: prober,
    filter: (s) => (s.id.startsWith("c") ? "filtered out by --only" : undefined),
  });
  assert.equal(ran, 1);
  assert.deepEqual(
    results.map((r) => [r.status, r.message]),
    [
      ["pass", "ok"],
      ["skip", "vantage x runs on b itself"],
      ["skip", "filtered out by --only"],
    ],
  );
  assert.deepEqual(closed, ["admin"]);
});

test("report summary and exit status follow the contract", () => {
  const started = new Date(Date.now() - 10);
  const base = { kind: "reachable" as const, host: "h", message: "", durationMs: 1 };
  const ok = buildReport("k.yaml", started, [
    { ...base, id: "a", status: "pass" },
    { ...base, id: "b", status: "skip" },
  ]);
  assert.deepEqual(ok.summary, { pass: 1, fail: 0, error: 0, skip: 1 });
  assert.equal(exitStatusOf(ok), 0);
  assert.equal(exitStatusOf(buildReport("k.yaml", started, [{ ...base, id: "a", status: "error" }])), 1);
  assert.equal(exitStatusOf(buildReport("k.yaml", started, [{ ...base, id: "a", status: "fail" }])), 1);
});

test("a vantage whose prober cannot be built makes its checks error; the run goes on", async () => {
  const kinds = kind(async () => ({ status: "pass", message: "ok" }));
  const specs = [spec("a/reachable@bad", "bad"), spec("b/reachable@admin"), spec("c/reachable@bad", "bad")];
  const results = await runChecks(specs, {
    concurrency: 2,
    timeoutMs: 100,
    kinds,
    proberFor: (v) => {
      if (v === "bad") throw new VantageError("vantage bad: gpu has ssh: false, so probes cannot run on it");
      return prober(v);
    },
  });
  assert.deepEqual(
    results.map((r) => [r.id, r.status, r.message]),
    [
      ["a/reachable@bad", "error", "vantage bad: gpu has ssh: false, so probes cannot run on it"],
      ["b/reachable@admin", "pass", "ok"],
      ["c/reachable@bad", "error", "vantage bad: gpu has ssh: false, so probes cannot run on it"],
    ],
  );
});

test("a vantage's start-up (Prober.prepare) runs once, before any of its checks' time starts", async () => {
  let prepared = 0;
  let ready = false;
  const slow = (vantage: string): Prober =>
    ({
      vantage,
      prepare: async (timeoutMs: number) => {
        prepared++;
        assert.equal(timeoutMs, 100);
        // longer than the checks' timeout: it must not count against them
        await new Promise((r) => setTimeout(r, 300));
        ready = true;
      },
      close: async () => undefined,
    }) as unknown as Prober;
  const kinds = kind(async () => ({
    status: ready ? "pass" : "fail",
    message: ready ? "ready" : "not ready",
  }));
  const specs = Array.from({ length: 5 }, (_, i) => spec(`h${i}/reachable@via`, "via"));
  const results = await runChecks(specs, { concurrency: 5, timeoutMs: 100, kinds, proberFor: slow });
  assert.deepEqual(
    results.map((r) => `${r.status} ${r.message}`),
    Array<string>(5).fill("pass ready"),
  );
  assert.equal(prepared, 1);
});
