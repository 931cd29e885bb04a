/**
 * The HTTP API of keel serve against the in-memory engine (test/serve/memory.ts), through
 * fastify's inject: auth (401/403), filters, paging, 404s, the audit log, the OpenAPI document,
 * static files with SPA fallback, Server-Sent Events, and that tokens never leak into logs or
 * answers.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { FastifyInstance } from "fastify";
import type { Inventory } from "../../../src/inventory/model.js";
import { buildServer } from "../../../src/serve/api.js";
import { sha256Hex } from "../../../src/serve/auth.js";
import { openApiPath } from "../../../src/serve/openapi.js";
import { contractExample } from "../../helpers/inventory.js";
import { MemoryEngine } from "../../serve/memory.js";
import { documented } from "./url-space.js";

interface Resp {
  content: Record<string, { schema: unknown }>;
}
interface Op {
  operationId: string;
  summary: string;
  responses: Record<string, Resp>;
}

const OPERATOR = "op-secret-token-0123456789";
const VIEWER = "viewer-secret-token-9876543210";
const pos = { file: "keel.yaml", line: 40, col: 7 };

function inventory(): Inventory {
  const inv = contractExample();
  inv.serve.tokens = [
    { name: "alice", role: "operator", sha256: sha256Hex(OPERATOR), pos },
    { name: "grafana", role: "viewer", env: "KEEL_TEST_VIEWER_TOKEN", pos },
  ];
  return inv;
}

const dir = mkdtempSync(join(tmpdir(), "keel-api-test-"));
const auditFile = join(dir, "audit", "audit.log");
const webRoot = join(dir, "web");
const logs: string[] = [];
const answers: string[] = [];
let engine: MemoryEngine;
let app: FastifyInstance;

const as = (token: string | null): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {};

async function get(url: string, token: string | null = VIEWER) {
  const res = await app.inject({ method: "GET", url, headers: as(token) });
  answers.push(res.body);
  return res;
}

async function post(url: string, body: unknown, token: string | null = OPERATOR) {
  const res = await app.inject({ method: "POST", url, headers: as(token), payload: body as object });
  answers.push(res.body);
  return res;
}

/** Every route fastify has, read back from its printRoutes tree (`├── /path (GET, HEAD)`, children indented by 4). */
function registeredRoutes(server: FastifyInstance): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of server.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of m[3]?.split(", ") ?? []) out.push({ method, url: stack.join("") });
  }
  return out;
}

before(async () => {
  process.env.KEEL_TEST_VIEWER_TOKEN = VIEWER;
  mkdirSync(join(webRoot, "assets"), { recursive: true });
  writeFileSync(join(webRoot, "index.html"), "<!doctype html><title>Keel</title>");
  writeFileSync(join(webRoot, "assets", "app.js"), "console.log('keel')");
  engine = new MemoryEngine(inventory());
  engine.outcome = (spec) =>
    spec.host === "gpu" && spec.kind === "port.open"
      ? { status: "fail", message: "refused", observed: { state: "refused" } }
      : spec.kind === "port.open" || spec.kind === "port.closed"
        ? {
            status: "pass",
            message: "fine",
            observed: { state: spec.kind === "port.open" ? "open" : "filtered" },
          }
        : { status: "pass", message: "fine" };
  const stream = new PassThrough();
  stream.on("data", (b: Buffer) => logs.push(b.toString()));
  app = await buildServer({
    engine,
    store: engine.store,
    auditFile,
    webRoot,
    logger: { level: "trace", stream },
    overviewMaxAgeMs: 0, // these tests change states between requests; the cache has its own test
  });
  await app.ready();
});

after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("access control", () => {
  test("/healthz needs no token", async () => {
    const res = await get("/healthz", null);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true });
  });

  test("every other route answers 401 without a token, with a bad one, or with another scheme", async () => {
    for (const url of [
      "/api/openapi.json",
      "/api/inventory",
      "/api/overview",
      "/api/hosts",
      "/api/checks",
      "/api/runs",
      "/api/events",
      "/metrics",
      "/sd/prometheus",
    ]) {
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${VIEWER}` }]) {
        const res = await app.inject({ method: "GET", url, headers });
        assert.equal(res.statusCode, 401, `${url} ${JSON.stringify(headers)}`);
        assert.match(res.json().error, /Bearer TOKEN/);
        assert.equal(res.headers["www-authenticate"], 'Bearer realm="keel"');
      }
    }
    assert.equal((await post("/api/runs", { all: true }, null)).statusCode, 401);
  });

  test("the bearer scheme is case-insensitive (RFC 7235)", async () => {
    const res = await app.inject({ url: "/api/overview", headers: { authorization: `bearer ${VIEWER}` } });
    assert.equal(res.statusCode, 200);
  });

  test("a viewer may read but gets 403 on POST /api/runs, and the denial is audited", async () => {
    assert.equal((await get("/api/overview", VIEWER)).statusCode, 200);
    const res = await post("/api/runs", { all: true }, VIEWER);
    assert.equal(res.statusCode, 403);
    assert.match(res.json().error, /grafana has role viewer; this needs operator/);
    const last = readFileSync(auditFile, "utf8").trim().split("\n").at(-1)!;
    const entry = JSON.parse(last);
    assert.equal(entry.who, "grafana");
    assert.equal(entry.role, "viewer");
    assert.match(entry.result, /^denied/);
  });
});

describe("runs", () => {
  test("an operator runs one host's checks; the run is audited with who, what and when", async () => {
    const before = Date.now();
    const res = await post("/api/runs", { host: "gpu" });
    assert.equal(res.statusCode, 200);
    const { results } = res.json() as { results: { host: string; status: string }[] };
    assert.ok(results.length > 3);
    assert.ok(results.every((r) => r.host === "gpu"));
    const entry = JSON.parse(readFileSync(auditFile, "utf8").trim().split("\n").at(-1)!);
    assert.equal(entry.who, "alice");
    assert.equal(entry.role, "operator");
    assert.equal(entry.action, "run");
    assert.equal(entry.target, "host gpu");
    assert.match(entry.result, new RegExp(`^ok: ${results.length} results \\(`));
    assert.ok(Date.parse(entry.at) >= before - 1000);
  });

  test("all and glob selectors; a selection matching nothing is a 400 that is audited", async () => {
    const all = await post("/api/runs", { all: true });
    assert.equal(all.statusCode, 200);
    assert.equal(all.json().results.length, engine.states().length);
    const glob = await post("/api/runs", { glob: "mon/**" });
    assert.ok(glob.json().results.every((r: { id: string }) => r.id.startsWith("mon/")));
    const none = await post("/api/runs", { glob: "nope/**" });
    assert.equal(none.statusCode, 400);
    assert.match(none.json().error, /no check matches/);
    const entry = JSON.parse(readFileSync(auditFile, "utf8").trim().split("\n").at(-1)!);
    assert.equal(entry.target, "glob nope/**");
    assert.match(entry.result, /^error: no check matches/);
  });

  test("a body that is not exactly one selector is a 400 saying what is expected", async () => {
    for (const body of [{}, { all: true, host: "gpu" }, { bogus: 1 }]) {
      const res = await post("/api/runs", body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.match(res.json().error, /exactly one of/);
    }
    const notTrue = await post("/api/runs", { all: false });
    assert.equal(notTrue.statusCode, 400);
  });

  test("GET /api/runs lists recorded runs, newest first, limited", async () => {
    const res = await get("/api/runs?limit=2");
    assert.equal(res.statusCode, 200);
    const { items } = res.json() as { items: { id: number; summary: { pass: number } }[] };
    assert.equal(items.length, 2);
    assert.ok(items[0]!.id > items[1]!.id);
    assert.equal(typeof items[0]!.summary.pass, "number");
    assert.equal((await get("/api/runs?limit=0")).statusCode, 400);
  });
});

describe("reading", () => {
  test("inventory: hosts, networks, vantages, problems; no identities, no tokens", async () => {
    const res = await get("/api/inventory");
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.site, "lab");
    assert.equal(body.domain, "lab.internal");
    assert.deepEqual(
      body.hosts.map((h: { name: string }) => h.name),
      ["gw-vpn", "mon", "ns1", "gpu"],
    );
    assert.deepEqual(body.hosts[0].ssh, { user: "root", port: 22, allow: ["vpn"] });
    assert.equal(body.vantages.length, 2);
    assert.deepEqual(body.problems, []);
    assert.doesNotMatch(res.body, /id_ed25519|identity|sha256|tokens/);
  });

  test("overview counts checks by status and state, failing hard first", async () => {
    const res = await get("/api/overview");
    const o = res.json();
    assert.equal(o.counts.checks, engine.states().length);
    const sum = o.counts.pass + o.counts.fail + o.counts.error + o.counts.skip + o.counts.unknown;
    assert.equal(sum, o.counts.checks);
    assert.ok(o.counts.fail > 0);
    assert.equal(o.hosts.total, 4);
    assert.equal(o.hosts.failing, 1);
    const states = o.failing.map((s: { state: string }) => s.state);
    assert.ok(states.length > 0);
    assert.ok(states.every((s: string) => s === "hard" || s === "soft"));
    assert.deepEqual(
      states,
      [...states].sort((a: string, b: string) => (a === b ? 0 : a === "hard" ? -1 : 1)),
    );
    assert.ok(Date.parse(o.startedAt) <= Date.parse(o.reloadedAt) + 1);
  });

  test("hosts: counts and worst state; q, tag, status filters; paging", async () => {
    const all = (await get("/api/hosts")).json();
    assert.equal(all.total, 4);
    const gpu = all.items.find((h: { name: string }) => h.name === "gpu");
    assert.ok(gpu.counts.fail > 0);
    assert.ok(gpu.worst === "hard" || gpu.worst === "soft");
    const failing = (await get("/api/hosts?status=failing")).json();
    assert.deepEqual(
      failing.items.map((h: { name: string }) => h.name),
      ["gpu"],
    );
    assert.equal((await get("/api/hosts?status=ok")).json().total, 3);
    assert.deepEqual(
      (await get("/api/hosts?q=10.20.0.3")).json().items.map((h: { name: string }) => h.name),
      ["mon"],
    );
    assert.deepEqual(
      (await get("/api/hosts?q=VPN-GATEWAY")).json().items.map((h: { name: string }) => h.name),
      ["gw-vpn"],
    );
    assert.equal((await get("/api/hosts?tag=monitored")).json().total, 3);
    const p = (await get("/api/hosts?offset=1&limit=2")).json();
    assert.equal(p.total, 4);
    assert.deepEqual(
      p.items.map((h: { name: string }) => h.name),
      ["mon", "ns1"],
    );
    for (const bad of ["limit=1001", "limit=0", "offset=-1", "status=bogus", "limit=ten"]) {
      const res = await get(`/api/hosts?${bad}`);
      assert.equal(res.statusCode, 400, bad);
      assert.equal(typeof res.json().error, "string");
    }
  });

  test("host page: declaration, checks and the posture matrix; 404 for an unknown host", async () => {
    const res = await get("/api/hosts/gpu");
    assert.equal(res.statusCode, 200);
    const { host, checks, posture } = res.json();
    assert.equal(host.name, "gpu");
    assert.equal(host.ssh.identity, undefined);
    assert.ok(checks.every((c: { host: string }) => c.host === "gpu"));
    assert.deepEqual(posture.vantages, ["admin", "lan-probe"]);
    assert.deepEqual(posture.services, ["ssh", "node_exporter"]);
    assert.equal(posture.cells.length, 4);
    const ne = posture.cells.find(
      (c: { service: string; vantage: string }) => c.service === "node_exporter" && c.vantage === "admin",
    );
    assert.deepEqual(ne, {
      service: "node_exporter",
      vantage: "admin",
      expected: "open",
      observed: "refused",
      checkId: "gpu/port.open/node_exporter@admin",
      ok: false,
    });
    const missing = await get("/api/hosts/nope");
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().error, /no host named "nope"/);
  });

  test("checks: glob and substring q, host, kind, status, state filters, paging", async () => {
    const all = (await get("/api/checks?limit=1000")).json();
    assert.equal(all.total, engine.states().length);
    const glob = (await get(`/api/checks?q=${encodeURIComponent("*/port.open/*@admin")}&limit=1000`)).json();
    assert.ok(glob.total > 0);
    assert.ok(glob.items.every((c: { id: string }) => /\/port\.open\/.*@admin$/.test(c.id)));
    const sub = (await get("/api/checks?q=SSH.KEY")).json();
    assert.ok(sub.total > 0 && sub.items.every((c: { kind: string }) => c.kind === "ssh.key-only"));
    const host = (await get("/api/checks?host=gpu&limit=1000")).json();
    assert.equal(host.total, engine.states().filter((s) => s.host === "gpu").length);
    const kinds = (await get("/api/checks?kind=reachable,sysctl")).json();
    assert.ok(kinds.items.every((c: { kind: string }) => c.kind === "reachable" || c.kind === "sysctl"));
    const failed = (await get("/api/checks?status=fail")).json();
    assert.ok(failed.total > 0 && failed.items.every((c: { status: string }) => c.status === "fail"));
    const soft = (await get("/api/checks?state=soft,hard&host=gpu")).json();
    assert.equal(soft.total, failed.total);
    const paged = (await get("/api/checks?offset=2&limit=3")).json();
    assert.deepEqual(
      paged.items.map((c: { id: string }) => c.id),
      all.items.slice(2, 5).map((c: { id: string }) => c.id),
    );
    const bad = await get("/api/checks?status=broken");
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /status: "broken" is not one of pass, fail, error, skip, unknown/);
    assert.equal((await get("/api/checks?kind=nope")).statusCode, 400);
    assert.equal((await get("/api/checks?host=nope")).json().total, 0);
  });

  test("one check by its URL-encoded id, with every field of its state; 404 for an unknown id", async () => {
    const id = "gpu/port.open/node_exporter@admin";
    const res = await get(`/api/checks/${encodeURIComponent(id)}`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), JSON.parse(JSON.stringify(engine.state(id))));
    const missing = await get(`/api/checks/${encodeURIComponent("gpu/nope@admin")}`);
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().error, /no check with id "gpu\/nope@admin"/);
  });

  test("history of one check: points and changes from the store, since/until validated", async () => {
    const id = "gpu/port.open/node_exporter@admin";
    const res = await get(`/api/checks/${encodeURIComponent(id)}/history`);
    assert.equal(res.statusCode, 200);
    const h = res.json();
    assert.equal(h.id, id);
    assert.ok(h.points.length >= 2);
    assert.ok(h.points.every((p: { status: string }) => p.status === "fail"));
    assert.deepEqual(
      h.changes.map((c: { from: string | null; to: string }) => [c.from, c.to]),
      [[null, "fail"]],
    );
    assert.equal(h.points[0].count, 1);
    assert.deepEqual(h.buckets, []);
    const future = await get(`/api/checks/${encodeURIComponent(id)}/history?since=2999-01-01T00:00:00Z`);
    assert.deepEqual(future.json().points, []);
    const limited = await get(`/api/checks/${encodeURIComponent(id)}/history?limit=1`);
    assert.equal(limited.json().points.length, 1);
    const bad = await get(`/api/checks/${encodeURIComponent(id)}/history?since=yesterday`);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /since: "yesterday" is not a time; expected ISO 8601/);
    const swapped = await get(
      `/api/checks/${encodeURIComponent(id)}/history?since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z`,
    );
    assert.equal(swapped.statusCode, 400);
    assert.equal((await get("/api/checks/nope/history")).statusCode, 404);
  });

  test("host summaries follow new results (per-host index kept up to date)", async () => {
    await post("/api/runs", { host: "gpu" }); // the third failure in a row: hard
    assert.equal((await get("/api/hosts?q=gpu")).json().items[0].worst, "hard");
    engine.outcome = (spec) =>
      spec.kind === "port.open" || spec.kind === "port.closed"
        ? {
            status: "pass",
            message: "fine",
            observed: { state: spec.kind === "port.open" ? "open" : "filtered" },
          }
        : { status: "pass", message: "fine" };
    await post("/api/runs", { host: "gpu" });
    const gpu = (await get("/api/hosts?q=gpu")).json().items[0];
    assert.equal(gpu.counts.fail, 0);
    assert.equal(gpu.worst, "soft"); // recovering: one pass of recover_after 2
    await post("/api/runs", { host: "gpu" });
    assert.equal((await get("/api/hosts?q=gpu")).json().items[0].worst, "ok");
    assert.equal((await get("/api/hosts?status=failing")).json().total, 0);
  });

  test("after a reload the indexes follow the new inventory; a rejected reload shows its problems", async () => {
    const next = inventory();
    next.hosts = next.hosts.filter((h) => h.name !== "ns1");
    engine.reload(next);
    assert.deepEqual(
      (await get("/api/hosts")).json().items.map((h: { name: string }) => h.name),
      ["gw-vpn", "mon", "gpu"],
    );
    assert.equal((await get("/api/hosts/ns1")).statusCode, 404);
    engine.reload([{ pos: { file: "keel.yaml", line: 3, col: 5 }, message: "hosts.gpu: bad address" }]);
    const o = (await get("/api/overview")).json();
    assert.deepEqual(o.problems, [
      { pos: { file: "keel.yaml", line: 3, col: 5 }, message: "hosts.gpu: bad address" },
    ]);
    assert.equal((await get("/api/inventory")).json().problems.length, 1);
    engine.reload(inventory());
  });
});

describe("OpenAPI document", () => {
  test("is OpenAPI 3.1, covers every registered API route, and its schemas compile", async () => {
    const res = await get("/api/openapi.json");
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi, "3.1.0");
    const expected = [
      "GET /healthz",
      "GET /api/openapi.json",
      "GET /api/inventory",
      "GET /api/overview",
      "GET /api/hosts",
      "GET /api/hosts/{name}",
      "GET /api/hosts/{name}/machine",
      "POST /api/hosts/{name}/machine",
      "GET /api/clusters",
      "GET /api/backups",
      "GET /api/checks",
      "GET /api/checks/{id}",
      "GET /api/checks/{id}/history",
      "GET /api/runs",
      "POST /api/runs",
      "GET /api/events",
      "GET /metrics",
      "GET /sd/prometheus",
    ];
    const inDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    assert.deepEqual(inDoc.sort(), [...expected].sort());
    // every route fastify has under the documented prefixes is in the document
    const registered = registeredRoutes(app).filter((r) => documented(r));
    assert.ok(registered.length >= expected.length, JSON.stringify(registered));
    for (const r of registered)
      assert.ok(
        inDoc.includes(`${r.method} ${openApiPath(r.url)}`),
        `${r.method} ${r.url} is not in the document`,
      );
    // path parameters are declared; security applies to all but /healthz
    assert.deepEqual(
      doc.paths["/api/checks/{id}/history"].get.parameters.map(
        (p: { name: string; in: string }) => `${p.in}:${p.name}`,
      ),
      ["path:id", "query:since", "query:until", "query:limit"],
    );
    assert.deepEqual(doc.paths["/healthz"].get.security, []);
    assert.deepEqual(doc.paths["/api/runs"].post.security, [{ bearer: [] }]);
    assert.ok(doc.paths["/api/runs"].post.requestBody);
    assert.equal(doc.components.securitySchemes.bearer.scheme, "bearer");
    // every $ref resolves, and every schema compiles as JSON Schema 2020-12
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g))
      assert.ok(doc.components.schemas[name!], `unresolved $ref ${name}`);
    assert.doesNotMatch(text, /"\$ref":"[A-Za-z]+#"/);
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: "doc", components: doc.components });
    const fix = (s: unknown) =>
      JSON.parse(JSON.stringify(s).replaceAll('"#/components/schemas/', '"doc#/components/schemas/'));
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, Op>>)) {
      for (const [m, op] of Object.entries(ops)) {
        assert.ok(op.operationId && op.summary && op.responses["200"], `${m} ${p}`);
        for (const r of Object.values(op.responses as Record<string, Resp>))
          for (const c of Object.values(r.content as Record<string, { schema: unknown }>))
            assert.doesNotThrow(() => ajv.compile(fix(c.schema)), `${m} ${p}`);
      }
    }
    // responses validate against the document's own schemas
    const overview = ajv.compile(
      fix(doc.paths["/api/overview"].get.responses["200"].content["application/json"].schema),
    );
    assert.ok(overview((await get("/api/overview")).json()), JSON.stringify(overview.errors));
    const hostPage = ajv.compile(
      fix(doc.paths["/api/hosts/{name}"].get.responses["200"].content["application/json"].schema),
    );
    assert.ok(hostPage((await get("/api/hosts/gpu")).json()), JSON.stringify(hostPage.errors));
  });
});

describe("dashboard files", () => {
  test("are served without a token, with SPA fallback to index.html; unknown API paths stay 404 JSON", async () => {
    const index = await get("/", null);
    assert.equal(index.statusCode, 200);
    assert.match(index.body, /<title>Keel<\/title>/);
    const asset = await get("/assets/app.js", null);
    assert.equal(asset.statusCode, 200);
    assert.match(asset.headers["content-type"] as string, /javascript/);
    const deep = await get("/hosts/gpu", null);
    assert.equal(deep.statusCode, 200);
    assert.match(deep.body, /<title>Keel<\/title>/);
    const api = await get("/api/nope");
    assert.equal(api.statusCode, 404);
    assert.match(api.json().error, /no route GET \/api\/nope/);
  });

  test("without a built dashboard, / says so", async () => {
    const bare = await buildServer({ engine, store: engine.store, auditFile, webRoot: join(dir, "none") });
    const res = await bare.inject({ url: "/" });
    assert.equal(res.statusCode, 404);
    assert.match(res.json().error, /the dashboard is not built/);
    await bare.close();
  });
});

describe("events", () => {
  test("Server-Sent Events carry engine events as JSON data lines, and the stream ends its subscription", async () => {
    const listening = await buildServer({ engine, store: engine.store, auditFile, webRoot });
    await listening.listen({ host: "127.0.0.1", port: 0 });
    const { port } = listening.server.address() as { port: number };
    const before = engine.listenerCount;
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
      headers: as(VIEWER),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    const run = post("/api/runs", { glob: "mon/reachable@*" });
    while (!/data: .*"type":"result"/.test(text)) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    await run;
    const event = JSON.parse(/data: (.*"type":"result".*)\n/.exec(text)![1]!);
    assert.equal(event.type, "result");
    assert.match(event.result.id, /^mon\/reachable@/);
    assert.equal(event.state.id, event.result.id);
    assert.equal(engine.listenerCount, before + 1);
    ac.abort();
    await reader.cancel().catch(() => undefined);
    for (let i = 0; i < 50 && engine.listenerCount > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(engine.listenerCount, before);
    await listening.close();
  });
});

describe("secrets", () => {
  test("tokens appear in no log line and no answer; the authorization header is redacted", async () => {
    await get("/api/overview", VIEWER);
    await post("/api/runs", { host: "mon" }, OPERATOR);
    await app.inject({ url: "/api/overview", headers: { authorization: `Bearer ${OPERATOR}x` } });
    app.log.info({ headers: { authorization: `Bearer ${OPERATOR}` } }, "headers logged by hand");
    await new Promise((r) => setImmediate(r));
    const all = logs.join("");
    assert.ok(logs.length > 10, "the server logged its requests");
    assert.ok(all.includes('"authorization":"[redacted]"'), "the hand-logged header is redacted");
    for (const secret of [OPERATOR, VIEWER, sha256Hex(OPERATOR), sha256Hex(VIEWER)]) {
      assert.ok(!all.includes(secret), "a token is in the logs");
      assert.ok(!answers.some((a) => a.includes(secret)), "a token is in an API answer");
      assert.ok(!readFileSync(auditFile, "utf8").includes(secret), "a token is in the audit log");
    }
  });
});

describe("overview cache", () => {
  test("one computed overview answers for overviewMaxAgeMs; a reload invalidates it", async () => {
    const eng = new MemoryEngine(inventory());
    eng.outcome = () => ({ status: "pass", message: "fine" });
    const srv = await buildServer({
      engine: eng,
      store: eng.store,
      auditFile,
      webRoot,
      overviewMaxAgeMs: 300,
    });
    try {
      const ask = async () =>
        (await srv.inject({ url: "/api/overview", headers: { authorization: `Bearer ${VIEWER}` } })).json();
      const before = await ask();
      assert.equal(before.counts.pass, 0);
      await eng.runNow({ all: true });
      assert.equal((await ask()).counts.pass, 0, "within 300 ms: the cached overview");
      await new Promise((r) => setTimeout(r, 350));
      const fresh = await ask();
      assert.ok(fresh.counts.pass > 0, "after 300 ms: recomputed");
      eng.reload([{ pos: { file: "keel.yaml", line: 1, col: 1 }, message: "broken" }]);
      assert.equal((await ask()).problems.length, 1, "a reload invalidates at once");
    } finally {
      await srv.close();
    }
  });
});
