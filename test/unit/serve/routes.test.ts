/**
 * The serve API's resource plugins (src/serve/routes/): each route declares its own role beside
 * its path, every route of a built server has one (read from fastify's own route tree, not the
 * server's bookkeeping), a route without one stops buildServer (and what it opened is closed),
 * and the OpenAPI document takes exactly the routes of the API's URL space.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Fastify, { type FastifyInstance, type RouteOptions } from "fastify";
import { buildServer } from "../../../src/serve/api.js";
import { ROUTE_ROLES, sha256Hex, TokenTable } from "../../../src/serve/auth.js";
import { described } from "../../../src/serve/openapi.js";
import type { ApiRoutes, RouteContext } from "../../../src/serve/routes/context.js";
import { healthRoutes } from "../../../src/serve/routes/health.js";
import { API_ROUTES } from "../../../src/serve/routes/index.js";
import { SHARED_SCHEMAS } from "../../../src/serve/schemas.js";
import { StateIndex } from "../../../src/serve/state-index.js";
import { contractExample } from "../../helpers/inventory.js";
import { MemoryEngine } from "../../serve/memory.js";
import { documented } from "./url-space.js";

const VIEWER = "routes-viewer-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "keel-routes-test-"));
const auditFile = join(dir, "audit.log");
const webRoot = join(dir, "web");
mkdirSync(webRoot);
writeFileSync(join(webRoot, "index.html"), "<!doctype html><title>Keel</title>");
after(() => rmSync(dir, { recursive: true, force: true }));

/** An engine whose live subscriptions are counted. */
function countingEngine(): { engine: MemoryEngine; live: () => number } {
  const engine = new MemoryEngine(contractExample());
  let live = 0;
  const subscribe = engine.subscribe.bind(engine);
  engine.subscribe = (listener) => {
    live++;
    const unsubscribe = subscribe(listener);
    return () => {
      live--;
      unsubscribe();
    };
  };
  return { engine, live: () => live };
}

/** Every method and path fastify's router has, read back from its printRoutes tree. */
function routerRoutes(server: FastifyInstance): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of server.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    stack.length = m[1]!.length / 4;
    stack.push(m[2]!);
    for (const method of m[3]?.split(", ") ?? []) out.push({ method, url: stack.join("") });
  }
  return out;
}

describe("each resource plugin", () => {
  test("declares a role on every route it adds, itself (not from its context)", async () => {
    const { engine } = countingEngine();
    const seen = new Set<string>();
    for (const plugin of API_ROUTES) {
      // a bare fastify with no access control: whatever role a route has, the plugin gave it
      const bare = Fastify();
      for (const [name, schema] of Object.entries(SHARED_SCHEMAS)) bare.addSchema({ $id: name, ...schema });
      const added: RouteOptions[] = [];
      bare.addHook("onRoute", (r) => {
        added.push(r);
      });
      const index = new StateIndex(engine);
      const context: RouteContext = {
        engine,
        store: engine.store,
        audit: { write: () => ({}) } as unknown as RouteContext["audit"],
        index,
        heartbeatMs: 1000,
        overviewMaxAgeMs: 0,
        machineActions: { shutdownGraceS: 1, gateDeadlineMs: 1000 },
      };
      await bare.register(plugin, context);
      await bare.ready();
      assert.ok(added.length > 0, "the plugin adds routes");
      for (const r of added) {
        const methods = [r.method].flat().join(",");
        assert.ok(ROUTE_ROLES.includes(r.config?.role ?? ("none" as "public")), `${methods} ${r.url}`);
        seen.add(`${methods} ${r.url}`);
      }
      await bare.close();
      index.close();
    }
    // together they are the API: every route of the contract, POST /api/runs the operator's
    for (const r of [
      "GET /healthz",
      "GET /api/openapi.json",
      "GET /api/overview",
      "GET /api/checks/:id/history",
      "POST /api/runs",
      "GET /api/events",
      "GET /metrics",
      "GET /sd/prometheus",
    ])
      assert.ok(seen.has(r), r);
  });
});

describe("a built server", () => {
  test("every route fastify's router has declares a role; only /healthz and the dashboard's files are public", async () => {
    const { engine } = countingEngine();
    const app = await buildServer({ engine, store: engine.store, auditFile, webRoot });
    try {
      await app.ready();
      const routes = routerRoutes(app);
      assert.ok(routes.length >= 28, `${routes.length} routes`);
      for (const { method, url } of routes) {
        const declared = app.routeTable.filter((r) => r.method === method && r.url === url);
        assert.equal(declared.length, 1, `${method} ${url} is recorded once`);
        const role = declared[0]!.config?.role;
        assert.ok(role && ROUTE_ROLES.includes(role), `${method} ${url}: ${role}`);
        const isPublic = url === "/healthz" || url === "/" || url === "/index.html";
        assert.equal(role === "public", isPublic, `${method} ${url} is ${role}`);
      }
      assert.equal(app.routeTable.length, routes.length, "the table has no route the router lacks");
    } finally {
      await app.close();
    }
  });

  test("a route without a role makes buildServer throw, naming it, and leaves no subscription behind", async () => {
    const { engine, live } = countingEngine();
    const undeclared: ApiRoutes = async (app) => {
      app.get("/api/extra", async () => ({ secret: true }));
    };
    await assert.rejects(
      buildServer({ engine, store: engine.store, auditFile, webRoot, routes: [...API_ROUTES, undeclared] }),
      /route GET \/api\/extra declares no role; expected config\.role public, viewer, operator/,
    );
    assert.equal(live(), 0, "the engine subscriptions made before the refusal are ended");
    const unknown: ApiRoutes = async (app) => {
      app.post("/api/extra", { config: { role: "admin" as "viewer" } }, async () => ({}));
    };
    await assert.rejects(
      buildServer({ engine, store: engine.store, auditFile, webRoot, routes: [unknown] }),
      /route POST \/api\/extra declares role "admin"/,
    );
    assert.equal(live(), 0);
  });

  test("a route that declares its role is served under it, with its HEAD", async () => {
    const { engine, live } = countingEngine();
    const pos = { file: "keel.yaml", line: 1, col: 1 };
    const tokens = new TokenTable([{ name: "grafana", role: "viewer", sha256: sha256Hex(VIEWER), pos }]);
    const declared: ApiRoutes = async (app) => {
      app.get("/api/extra", { config: { role: "viewer" } }, async () => ({ secret: true }));
    };
    const app = await buildServer({
      engine,
      store: engine.store,
      tokens,
      auditFile,
      webRoot,
      routes: [healthRoutes, declared],
    });
    try {
      assert.equal((await app.inject({ url: "/%61pi/extra" })).statusCode, 401);
      assert.equal((await app.inject({ method: "HEAD", url: "/api/extra" })).statusCode, 401);
      const ok = await app.inject({ url: "/api/extra", headers: { authorization: `Bearer ${VIEWER}` } });
      assert.deepEqual(ok.json(), { secret: true });
      assert.equal((await app.inject({ url: "/healthz" })).statusCode, 200);
      assert.deepEqual(app.routeTable.map((r) => `${r.method} ${r.url} ${r.config?.role}`).sort(), [
        "GET / public",
        "GET /api/extra viewer",
        "GET /healthz public",
        "GET /index.html public",
        "HEAD / public",
        "HEAD /api/extra viewer",
        "HEAD /healthz public",
        "HEAD /index.html public",
      ]);
    } finally {
      await app.close();
    }
    assert.equal(live(), 0, "closing the server ends its subscriptions");
  });

  test("the OpenAPI document takes exactly the routes of the API's URL space, by what they declare", async () => {
    const { engine } = countingEngine();
    const app = await buildServer({ engine, store: engine.store, auditFile, webRoot });
    try {
      await app.ready();
      const table = app.routeTable;
      assert.ok(
        table.some((r) => r.url === "/index.html" && !described(r)),
        "the dashboard's files are not",
      );
      for (const r of table) assert.equal(described(r), documented(r), `${r.method} ${r.url}`);
    } finally {
      await app.close();
    }
  });
});
