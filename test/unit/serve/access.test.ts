/**
 * Access control of `keel serve` route by route, over a real socket: every route the server
 * registered (read back from the server, so a route added later is covered too), under every
 * method it answers (HEAD included) and OPTIONS, spelled as written and in the ways a URL can
 * be respelled (percent-encoded, double-encoded, mixed case, repeated slashes, dot segments,
 * trailing slash). The role comes from the matched route: without a token 401, with a role
 * below the route's 403, and a spelling no route matches answers 404 or the dashboard's
 * index.html — never data. Also: routes must declare a role, and the audit log is made 0600.
 *
 * The server is the product's (`buildServer`) over the real engine (not started: nothing is
 * probed) and a real SQLite store; requests go through node:http so each path is sent byte for
 * byte as written (fetch and inject would normalise it).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { loadInventory } from "../../../src/inventory/load.js";
import { buildServer } from "../../../src/serve/api.js";
import { AuditLog, type RouteRole, sha256Hex } from "../../../src/serve/auth.js";
import { KeelEngine } from "../../../src/serve/engine.js";
import type { RouteRecord } from "../../../src/serve/openapi.js";
import { openStore, type ResultStore } from "../../../src/store/index.js";

const OPERATOR = "access-operator-token-0123456789";
const VIEWER = "access-viewer-token-9876543210";
const INDEX_HTML = "<!doctype html><title>Keel access test</title>";

const dir = mkdtempSync(join(tmpdir(), "keel-access-test-"));
const webRoot = join(dir, "web");
const auditFile = join(dir, "audit.log");
let store: ResultStore;
let engine: KeelEngine;
let app: FastifyInstance;
let port: number;
let hostName: string;
let checkId: string;

const INVENTORY = `keel: 1
site: access
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
    services:
      - { name: api, port: 9 }
vantages:
  probe: { local: true, networks: [lo] }
serve:
  tokens:
    - { name: alice, role: operator, sha256: ${sha256Hex(OPERATOR)} }
    - { name: grafana, role: viewer, sha256: ${sha256Hex(VIEWER)} }
`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request with the path sent exactly as given. An event stream's body is not read (it
 * never ends): its answer is its status and headers.
 */
function raw(method: string, path: string, token: string | null, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const answer = { status: res.statusCode ?? 0, headers: res.headers };
      if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
        res.destroy();
        resolve({ ...answer, body: "" });
        return;
      }
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ ...answer, body: text }));
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The route's URL with its parameters filled in (a host and a check id that exist). */
function concrete(url: string): string {
  return url.replace(":name", hostName).replace(":id", encodeURIComponent(checkId));
}

const encodeChar = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/**
 * Other spellings of a path (no query): what a client, proxy or attacker may send for it.
 * `routed` says whether fastify's router is expected to decode it back to the same route.
 */
function spellings(path: string): { name: string; path: string; routed: boolean }[] {
  const segs = path.split("/").slice(1);
  const out = [
    // the first letter of the first segment percent-encoded: /%61pi/overview
    {
      name: "first letter encoded",
      path: `/${[segs[0]!.replace(/^[a-z]/, encodeChar), ...segs.slice(1)].join("/")}`,
      routed: true,
    },
    // every letter encoded
    { name: "all letters encoded", path: path.replace(/[a-z]/g, encodeChar), routed: true },
    // upper-case hex digits in the escapes
    {
      name: "upper-case escapes",
      path: path.replace(/[a-z]/g, (c) => encodeChar(c).toUpperCase()),
      routed: true,
    },
    // %25 is '%': decoded once this is /%61pi/overview, which no route is
    {
      name: "double-encoded",
      path: path.replace(/^\/([a-z])/, (_m, c: string) => `/%25${c.charCodeAt(0).toString(16)}`),
      routed: false,
    },
    { name: "upper case", path: path.toUpperCase(), routed: false },
    {
      name: "mixed case",
      path: path.replace(/^\/([a-z])/, (_m, c: string) => `/${c.toUpperCase()}`),
      routed: false,
    },
    { name: "leading double slash", path: `/${path}`, routed: false },
    { name: "inner double slash", path: path.replace(/\/([^/]*)$/, "//$1"), routed: false },
    { name: "dot segment", path: `/.${path}`, routed: false },
    { name: "dot-dot segment", path: `/x/..${path}`, routed: false },
    { name: "trailing slash", path: `${path}/`, routed: false },
  ];
  // a one-segment path (/metrics) has no inner slash to double
  return out.filter((s) => s.path !== path);
}

/**
 * Asserts an answer carries no data: a 401/403/404 whose body is only `{ error }` (empty for
 * HEAD), or the dashboard's index.html.
 */
function assertNoData(a: Answer, method: string, what: string): void {
  const shown = `${what}: ${a.status} ${a.body.slice(0, 200)}`;
  if (a.status === 200) {
    assert.match(String(a.headers["content-type"]), /^text\/html/, shown);
    if (method !== "HEAD") assert.equal(a.body, INDEX_HTML, shown);
    return;
  }
  assert.ok([401, 403, 404].includes(a.status), shown);
  if (method === "HEAD") {
    assert.equal(a.body, "", shown);
    return;
  }
  assert.deepEqual(Object.keys(JSON.parse(a.body)), ["error"], shown);
}

function assert401(a: Answer, what: string): void {
  assert.equal(a.status, 401, `${what}: ${a.status} ${a.body.slice(0, 200)}`);
  assert.equal(a.headers["www-authenticate"], 'Bearer realm="keel"', what);
}

/** A body the route accepts to reach its handler (POST /api/runs: `{}`, a 400 that runs nothing). */
const bodyOf = (method: string) => (method === "POST" ? "{}" : undefined);

const tokenOf: Record<RouteRole, string | null> = { public: null, viewer: VIEWER, operator: OPERATOR };
const below: Record<RouteRole, string | null> = { public: null, viewer: null, operator: VIEWER };

before(async () => {
  mkdirSync(join(webRoot, "assets"), { recursive: true });
  writeFileSync(join(webRoot, "index.html"), INDEX_HTML);
  writeFileSync(join(webRoot, "assets", "app.js"), "console.log('keel')");
  const file = join(dir, "keel.yaml");
  writeFileSync(file, INVENTORY);
  const inventory = loadInventory(file);
  store = await openStore(join(dir, "keel.db"), { retention: inventory.serve.retention });
  engine = new KeelEngine({ file, inventory, store, alerts: false, log: () => undefined });
  hostName = inventory.hosts[0]!.name;
  checkId = engine.states()[0]!.id;
  app = await buildServer({ engine, store, auditFile, webRoot });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});

after(async () => {
  await app.close();
  await engine.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("every registered route", () => {
  test("the route table is the server's own: every route is registered, GET ones have HEAD, each declares a role", () => {
    const table: readonly RouteRecord[] = app.routeTable;
    for (const r of table) {
      assert.ok(
        app.hasRoute({ method: r.method as "GET", url: r.url }),
        `${r.method} ${r.url} is registered`,
      );
      assert.ok(["public", "viewer", "operator"].includes(r.config?.role ?? ""), `${r.method} ${r.url}`);
    }
    for (const r of table.filter((x) => x.method === "GET"))
      assert.ok(
        table.some((x) => x.method === "HEAD" && x.url === r.url),
        `HEAD ${r.url} is in the table`,
      );
    const roles = new Map(table.map((r) => [`${r.method} ${r.url}`, r.config?.role]));
    // the ones whose role the issue and the docs name
    assert.equal(roles.get("GET /healthz"), "public");
    assert.equal(roles.get("GET /index.html"), "public");
    assert.equal(roles.get("GET /assets/app.js"), "public");
    assert.equal(roles.get("POST /api/runs"), "operator");
    for (const url of ["/api/overview", "/api/inventory", "/metrics", "/sd/prometheus", "/api/events"]) {
      assert.equal(roles.get(`GET ${url}`), "viewer", url);
      assert.equal(roles.get(`HEAD ${url}`), "viewer", url);
    }
  });

  test("without a token 401, with a role below the route's 403, with its role through (each method, HEAD included)", async () => {
    const table = app.routeTable;
    assert.ok(table.length > 20, `${table.length} routes`);
    for (const r of table) {
      const role = r.config!.role!;
      const path = concrete(r.url);
      const what = `${r.method} ${path} (${role})`;
      const body = bodyOf(r.method);
      if (role === "public") {
        assert.equal((await raw(r.method, path, null, body)).status, 200, what);
        continue;
      }
      const none = await raw(r.method, path, null, body);
      assert401(none, `${what} without a token`);
      assertNoData(none, r.method, `${what} without a token`);
      assert401(await raw(r.method, path, "not-a-token", body), `${what} with a wrong token`);
      const low = below[role];
      if (low) {
        const denied = await raw(r.method, path, low, body);
        assert.equal(denied.status, 403, `${what} with a viewer token`);
        assertNoData(denied, r.method, `${what} with a viewer token`);
      }
      // with the route's own role the request reaches the handler (POST /api/runs {} is its 400)
      const allowed = await raw(r.method, path, tokenOf[role], body);
      assert.equal(allowed.status, r.method === "POST" ? 400 : 200, `${what} with its role: ${allowed.body}`);
    }
  });

  test("respelled paths: routed spellings meet the same 401/403; the others are 404 or index.html, never data", async () => {
    let routed = 0;
    for (const r of app.routeTable) {
      const role: RouteRole = r.config!.role!;
      if (role === "public") continue;
      for (const s of spellings(concrete(r.url))) {
        const what: string = `${r.method} ${s.path} (${s.name} of ${r.url}, ${role})`;
        const body = bodyOf(r.method);
        const none = await raw(r.method, s.path, null, body);
        assertNoData(none, r.method, `${what} without a token`);
        const low: string | null = below[role];
        if (low)
          assertNoData(await raw(r.method, s.path, low, body), r.method, `${what} with a viewer token`);
        if (s.routed) {
          // the router decodes it to the route: the route's role applies, and it is the same route
          assert401(none, `${what} without a token`);
          if (low) assert.equal((await raw(r.method, s.path, low, body)).status, 403, `${what} viewer`);
          const allowed = await raw(r.method, s.path, tokenOf[role], body);
          assert.equal(allowed.status, r.method === "POST" ? 400 : 200, `${what} with its role`);
          routed++;
        } else {
          assert.notEqual(none.status, 403, what);
        }
      }
    }
    assert.ok(routed > 20, `${routed} routed spellings tried`);
  });

  test("the issue's four: /%61pi/overview, /%61pi/inventory, /%6detrics, /%73d/prometheus", async () => {
    for (const path of ["/%61pi/overview", "/%61pi/inventory", "/%6detrics", "/%73d/prometheus"]) {
      assert401(await raw("GET", path, null), path);
      assert401(await raw("HEAD", path, null), `HEAD ${path}`);
      assert.equal((await raw("GET", path, VIEWER)).status, 200, `${path} with a token`);
    }
    // an operator route respelled still needs the operator
    assert.equal((await raw("POST", "/%61pi/runs", VIEWER, '{"all":true}')).status, 403);
    assert.equal((await raw("POST", "/api/%72uns", null, '{"all":true}')).status, 401);
  });

  test("OPTIONS on every path (and its spellings) answers without data, token or not", async () => {
    const paths = new Set(app.routeTable.map((r) => concrete(r.url)));
    for (const path of paths) {
      for (const p of [path, ...spellings(path).map((s) => s.path)]) {
        for (const token of [null, VIEWER]) {
          const a = await raw("OPTIONS", p, token);
          assertNoData(a, "OPTIONS", `OPTIONS ${p} ${token ? "viewer" : "no token"}`);
          if (!app.routeTable.some((r) => r.method === "OPTIONS"))
            assert.equal(a.status, 404, `OPTIONS ${p}: no route takes OPTIONS`);
        }
      }
    }
  });

  test("a path no route matches answers 404 without data, with or without a token", async () => {
    for (const path of ["/api/no-such-route", "/API/OVERVIEW", "/metrics/x", "/sd/prometheus/x", "/api"]) {
      for (const token of [null, VIEWER, OPERATOR]) {
        const a = await raw("GET", path, token);
        assert.equal(a.status, 404, `${path} ${a.body}`);
        assert.match(JSON.parse(a.body).error, /^no route GET /, path);
      }
    }
    // elsewhere a GET is the dashboard's SPA fallback: index.html, which holds no data
    const deep = await raw("GET", "/hosts/web", null);
    assert.equal(deep.status, 200);
    assert.equal(deep.body, INDEX_HTML);
  });
});

describe("declared roles", () => {
  test("a route without a role, or with an unknown one, is refused when it is added, naming it", async () => {
    const bare = await buildServer({ engine, store, auditFile, webRoot: join(dir, "none") });
    try {
      assert.throws(
        () => bare.get("/api/extra", async () => ({ secret: true })),
        /route GET \/api\/extra declares no role; expected config\.role public, viewer, operator/,
      );
      assert.throws(
        () => bare.post("/api/extra", { config: { role: "admin" as "viewer" } }, async () => ({})),
        /route POST \/api\/extra declares role "admin"/,
      );
      // a declared one is taken, with its HEAD, and guarded by its role
      bare.get("/api/extra", { config: { role: "viewer" } }, async () => ({ secret: true }));
      assert.ok(bare.routeTable.some((r) => r.method === "HEAD" && r.url === "/api/extra"));
      const res = await bare.inject({ url: "/%61pi/extra" });
      assert.equal(res.statusCode, 401);
    } finally {
      await bare.close();
    }
  });
});

describe("audit log mode", () => {
  test("an existing audit log with mode 0644 is made 0600, its lines kept; a new one is created 0600", async () => {
    const fresh = join(dir, "fresh", "audit.log");
    new AuditLog(fresh);
    assert.equal((statSync(fresh).mode & 0o7777).toString(8), "600");
    const file = join(dir, "existing", "audit.log");
    mkdirSync(join(dir, "existing"));
    writeFileSync(file, '{"old":"line"}\n', { mode: 0o644 });
    assert.equal(statSync(file).mode & 0o777, 0o644);
    const server = await buildServer({ engine, store, auditFile: file, webRoot });
    try {
      assert.equal((statSync(file).mode & 0o7777).toString(8), "600");
      const denied = await server.inject({
        method: "POST",
        url: "/api/runs",
        headers: { authorization: `Bearer ${VIEWER}` },
        payload: { all: true },
      });
      assert.equal(denied.statusCode, 403);
      const lines = readFileSync(file, "utf8").trim().split("\n");
      assert.equal(lines[0], '{"old":"line"}');
      assert.match(JSON.parse(lines.at(-1)!).result, /^denied/);
      assert.equal((statSync(file).mode & 0o7777).toString(8), "600");
    } finally {
      await server.close();
    }
  });
});
