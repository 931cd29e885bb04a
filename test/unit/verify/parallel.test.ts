import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, test } from "node:test";
import { checkKinds } from "../../../src/verify/checks/index.js";
import {
  autoWorkers,
  isPortable,
  runChecksParallel,
  WORKER_THRESHOLD,
} from "../../../src/verify/parallel.js";
import { runChecks } from "../../../src/verify/runner.js";
import type { CheckResult, CheckSpec } from "../../../src/verify/types.js";
import { LocalProber } from "../../../src/verify/vantages/local.js";

// Real listeners on loopback: an open TCP port, an HTTP server, and a port nobody listens on.
let tcp: net.Server;
let web: http.Server;
let open = 0;
let webPort = 0;
let closedPort = 0;
const listen = (s: net.Server) =>
  new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as net.AddressInfo).port)));

before(async () => {
  tcp = net.createServer((s) => s.end());
  web = http.createServer((q, r) => {
    r.writeHead(q.url === "/health" ? 200 : 404).end("ok\n");
  });
  open = await listen(tcp);
  webPort = await listen(web);
  const probe = net.createServer();
  closedPort = await listen(probe);
  await new Promise((r) => probe.close(r));
});
after(() => {
  tcp.close();
  web.close();
});

function specs(n: number): CheckSpec[] {
  const out: CheckSpec[] = [];
  for (let i = 0; i < n; i++) {
    const port = i % 3 === 2 ? closedPort : open;
    out.push({
      id: `h${i}/port.open/s@admin`,
      kind: "port.open",
      host: `h${i}`,
      service: "s",
      vantage: "admin",
      params: { kind: "port.open", address: "127.0.0.1", port, protocol: "tcp" },
    });
    out.push({
      id: `h${i}/http/web@admin`,
      kind: "http",
      host: `h${i}`,
      service: "web",
      vantage: "admin",
      params: {
        kind: "http",
        url: `http://127.0.0.1:${webPort}/${i % 4 === 0 ? "missing" : "health"}`,
        address: "127.0.0.1",
        port: webPort,
        path: i % 4 === 0 ? "/missing" : "/health",
        expect: 200,
      },
    });
  }
  return out;
}

const strip = (rs: CheckResult[]) => rs.map(({ durationMs: _d, ...r }) => r);
const base = {
  concurrency: 16,
  timeoutMs: 2000,
  kinds: checkKinds,
  proberFor: (v: string) => new LocalProber(v),
  localVantages: new Set(["admin"]),
};

test("worker threads give exactly the results of one thread, in spec order, each reported once", async () => {
  const all = specs(60);
  const one = await runChecks(all, base);
  const seen: string[] = [];
  let lastDone = 0;
  const many = await runChecksParallel(all, {
    ...base,
    workers: 2,
    onResult: (r, done, total) => {
      seen.push(r.id);
      assert.equal(total, all.length);
      assert.equal(done, lastDone + 1);
      lastDone = done;
    },
  });
  assert.deepEqual(strip(many), strip(one));
  assert.deepEqual([...seen].sort(), all.map((s) => s.id).sort());
  // the verdicts are real: refused ports fail, missing paths fail, the rest pass
  assert.equal(many.filter((r) => r.status === "fail").length, 20 + 15);
  assert.equal(many.filter((r) => r.status === "pass").length, 120 - 35);
});

test("skipped, filtered and SSH-login checks stay on the main thread and keep their verdicts", async () => {
  const all = specs(10);
  all[0] = { ...all[0]!, skip: "not from here" };
  const sshLogin: CheckSpec = {
    id: "h0/ssh.login@admin",
    kind: "ssh.login",
    host: "h0",
    vantage: "admin",
    params: {
      kind: "ssh.login",
      target: { host: "h0", address: "127.0.0.1", port: closedPort, user: "root" },
    },
  };
  assert.equal(isPortable(sshLogin, base.localVantages), false);
  assert.equal(isPortable(all[1]!, base.localVantages), true);
  assert.equal(isPortable({ ...all[1]!, vantage: "via-probe" }, base.localVantages), false);
  const results = await runChecksParallel([...all, sshLogin], {
    ...base,
    workers: 2,
    filter: (s) => (s.id.startsWith("h1/") ? "filtered out by --only" : undefined),
  });
  assert.equal(results[0]?.status, "skip");
  assert.equal(results[0]?.message, "not from here");
  assert.deepEqual(
    results.filter((r) => r.host === "h1").map((r) => r.message),
    ["filtered out by --only", "filtered out by --only"],
  );
  assert.equal(results.at(-1)?.status, "error", results.at(-1)?.message);
});

test("a worker that dies turns its unfinished checks into errors naming the cause", async () => {
  const all = specs(30);
  const results = await runChecksParallel(all, {
    ...base,
    workers: 1,
    workerFile: new URL("../../fixtures/dying-worker.mjs", import.meta.url),
  });
  assert.equal(results.length, all.length);
  const dead = results.filter((r) => r.message === "worker thread exited with 3");
  // round-robin over two threads: every other portable check went to the dead worker
  assert.equal(dead.length, all.length / 2);
  assert.ok(dead.every((r) => r.status === "error"));
  assert.ok(results.filter((r) => !dead.includes(r)).every((r) => r.status !== "error"));
});

test("aborting the run stops the checks in the workers too", async () => {
  // a server that accepts and never answers: HTTP probes hang until their timeout, or an abort
  const silent = net.createServer(() => {});
  const port = await listen(silent);
  try {
    const hanging: CheckSpec[] = Array.from({ length: 8 }, (_, i) => ({
      id: `b${i}/http/web@admin`,
      kind: "http",
      host: `b${i}`,
      service: "web",
      vantage: "admin",
      params: {
        kind: "http",
        url: `http://127.0.0.1:${port}/`,
        address: "127.0.0.1",
        port,
        path: "/",
        expect: 200,
      },
    }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("interrupted")), 300);
    const t0 = Date.now();
    const results = await runChecksParallel(hanging, {
      ...base,
      timeoutMs: 20_000,
      workers: 1,
      signal: ac.signal,
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.equal(results.length, 8);
    assert.deepEqual(
      results.map((r) => [r.status, r.message]),
      hanging.map(() => ["error", "check aborted or crashed: interrupted"]),
    );
  } finally {
    silent.close();
  }
});

test("auto starts workers only for large runs", () => {
  assert.equal(autoWorkers(WORKER_THRESHOLD - 1), 0);
  assert.ok(autoWorkers(WORKER_THRESHOLD) <= 3);
});
