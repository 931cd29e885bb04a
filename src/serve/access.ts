/**
 * Access control on the routes of the serve API: every route declares the role it needs
 * (`config.role`), checked when the route is added, and each request is held to the role of
 * the route fastify's router matched it to, never to anything read from the URL text. So every
 * spelling that reaches a route (percent-encoded, HEAD for GET) meets the same check.
 *
 * `public` routes need no token; the others need `Authorization: Bearer TOKEN` (RFC 6750) of a
 * token of `serve.tokens` (`TokenTable`): without a valid one the answer is 401, and a viewer
 * asking for an operator route gets 403, written to the audit log. A request no route matches
 * is not checked here: the not-found handler answers it without data.
 */
import type { FastifyInstance } from "fastify";
import {
  type AuditLog,
  type Principal,
  ROUTE_ROLES,
  type RouteRole,
  roleAllows,
  type TokenTable,
} from "./auth.js";
import type { RouteRecord } from "./openapi.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * Least role the route needs; `public` needs no token. Every route declares it: one without
     * it (or with another value) makes `buildServer` throw. The dashboard's files, whose routes
     * @fastify/static adds, get `public` from the context they are registered in.
     */
    role?: RouteRole;
  }
  interface FastifyRequest {
    /** The token that authenticated the request (routes other than `public` ones). */
    principal?: Principal;
  }
  interface FastifyInstance {
    /**
     * Every route of the server as it was added (one record per method, auto-added HEAD routes
     * included), each with its declared role in `config.role`. Read-only.
     */
    routeTable: readonly RouteRecord[];
  }
}

/** What {@link guardRoutes} hands back. */
export interface RouteGuard {
  /**
   * Declares every route added in `context` public (the dashboard's files, whose routes
   * @fastify/static adds without a config of ours). Call it before those routes are added.
   */
  publicContext(context: FastifyInstance): void;
}

/**
 * Installs access control on `app`, before any route is added to it or to its children:
 * - an `onRoute` hook that refuses a route declaring no role or an unknown one, throwing an
 *   Error that names the method, the path and the expected roles (so a route registered
 *   without one stops `buildServer`), and records every route in `app.routeTable`;
 * - an `onRequest` hook that authenticates the bearer token and compares its role with the
 *   matched route's `req.routeOptions.config.role`: 401 with `WWW-Authenticate: Bearer
 *   realm="keel"` without a valid token, 403 (audited) for a role below the route's.
 */
export function guardRoutes(app: FastifyInstance, tokens: TokenTable, audit: AuditLog): RouteGuard {
  const routes: RouteRecord[] = [];
  /** Contexts whose every route is public: the dashboard's files (@fastify/static adds them). */
  const publicContexts = new WeakSet<FastifyInstance>();
  // Every route declares its role, checked as it is added (auto-added HEAD routes included): an
  // undeclared route is a programming error that stops the server before it listens.
  app.addHook("onRoute", function (r) {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const role = r.config?.role ?? (publicContexts.has(this) ? "public" : undefined);
    if (role === undefined || !ROUTE_ROLES.includes(role))
      throw new Error(
        `route ${methods.join(",")} ${r.url} declares ${role === undefined ? "no role" : `role "${role}"`}; expected config.role ${ROUTE_ROLES.join(", ")}`,
      );
    r.config = { ...r.config, role };
    for (const m of methods) routes.push({ method: m, url: r.url, schema: r.schema, config: r.config });
  });
  app.decorate("routeTable", routes);

  app.addHook("onRequest", async (req, reply) => {
    // no route matched: the not-found handler answers 404 or index.html, neither holds data
    if (req.is404) return;
    const role = req.routeOptions.config.role;
    if (role === "public") return;
    if (role !== "viewer" && role !== "operator")
      // unreachable: onRoute refused the route; refuse rather than serve it
      return reply.code(500).send({ error: `route ${req.routeOptions.url} declares no role` });
    const who = tokens.authenticate(req.headers.authorization);
    if (!who) {
      reply.header("www-authenticate", 'Bearer realm="keel"');
      return reply
        .code(401)
        .send({ error: "expected a valid API token in the Authorization header: Bearer TOKEN" });
    }
    req.principal = who;
    if (!roleAllows(who.role, role)) {
      audit.write({
        who: who.name,
        role: who.role,
        action: `${req.method} ${req.routeOptions.url ?? req.url}`,
        target: "-",
        result: `denied: needs role ${role}`,
      });
      return reply.code(403).send({ error: `token ${who.name} has role ${who.role}; this needs ${role}` });
    }
  });

  return { publicContext: (context) => publicContexts.add(context) };
}
