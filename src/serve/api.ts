/**
 * The HTTP API of `keel serve` (fastify): JSON routes over the engine's states and the store's
 * history, `/metrics`, `/sd/prometheus`, Server-Sent Events, the OpenAPI 3.1 document, and the
 * dashboard's static files. The contract is `docs/serve.md`; every route there is in one of the
 * resource plugins of `routes/` (listed in `routes/index.ts`), and this module assembles them.
 *
 * Access (`access.ts`): every route declares its role (`config.role`: `public`, `viewer` or
 * `operator`) beside its path; a route without one stops `buildServer` with an error naming it.
 * A request's role is the role of the route fastify's router matched it to, never read from the
 * URL text. Only `/healthz` and the dashboard's static files are public; the others need
 * `Authorization: Bearer TOKEN` (RFC 6750). Operator actions go to the audit log.
 *
 * Speed: lists are filtered and paged in the routes, from indexes kept beside the engine
 * (`state-index.ts`), so a request touches the hosts or checks it answers with, not the whole
 * site, where it can.
 */
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyInstance } from "fastify";
import { UserError } from "../errors.js";
import { guardRoutes } from "./access.js";
import { AuditLog, TokenTable } from "./auth.js";
import {
  type ApiRoutes,
  type ApiStore,
  HttpError,
  type MachineActionSettings,
  type RouteContext,
} from "./routes/context.js";
import { serveDashboard } from "./routes/dashboard.js";
import { API_ROUTES } from "./routes/index.js";
import { SHARED_SCHEMAS } from "./schemas.js";
import { StateIndex } from "./state-index.js";
import type { Engine } from "./types.js";

export type { ApiStore } from "./routes/context.js";

/** Options of {@link buildServer}. */
export interface ServerOptions {
  engine: Engine;
  store: ApiStore;
  /** Tokens of `serve.tokens` (read from the engine's inventory when absent). */
  tokens?: TokenTable;
  /** The audit log file (`.keel/audit.log` beside the inventory by default, see `keel serve`). */
  auditFile: string;
  /** Directory of the built dashboard (default `dist/web` of the package). */
  webRoot?: string;
  /**
   * Request logging (pino via fastify): `false` for none (the default), or a level and a
   * stream. The `Authorization` header is always redacted.
   */
  logger?: false | { level?: string; stream?: NodeJS.WritableStream };
  /** Heartbeat comment interval of `/api/events`, in ms (default 15,000). */
  heartbeatMs?: number;
  /**
   * How long (ms) one computed `/api/overview` answers later requests (default 1,000). Counting
   * 50,000 check states costs tens of ms; dashboards polling it need not each pay for it. A
   * reload of the inventory invalidates it at once.
   */
  overviewMaxAgeMs?: number;
  /** Machine actions: shutdown grace (s) and rollback gate deadline (ms); defaults 120 s and 5 min. */
  machineActions?: Partial<MachineActionSettings>;
  /** The resource plugins to register, in order (default {@link API_ROUTES}, every resource). */
  routes?: readonly ApiRoutes[];
}

/** Default location of the built dashboard: `dist/web` at the package root. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../dist/web", import.meta.url));

/**
 * Builds the server (not listening yet: call `listen`, or `inject` in tests). Closing it stops
 * its engine subscriptions and open event streams; it does not stop the engine.
 * @throws UserError when the audit log cannot be written or a token's env variable is unset.
 * @throws Error naming the route when a route declares no role or an unknown one.
 */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { engine, store } = opts;
  const tokens = opts.tokens ?? new TokenTable(engine.inventory().serve.tokens);
  const audit = new AuditLog(opts.auditFile);

  const app = Fastify({
    logger: opts.logger
      ? {
          level: opts.logger.level ?? "info",
          ...(opts.logger.stream ? { stream: opts.logger.stream } : {}),
          redact: {
            paths: [
              "req.headers.authorization",
              "request.headers.authorization",
              "headers.authorization",
              "*.headers.authorization",
            ],
            censor: "[redacted]",
          },
        }
      : false,
    ajv: { customOptions: { removeAdditional: true, coerceTypes: "array", useDefaults: true } },
    // shutdown must not wait for event streams or keep-alive sockets (SIGTERM ends them)
    forceCloseConnections: true,
  });

  // before any route: each route's role is checked as it is added, and each request against it
  const guard = guardRoutes(app, tokens, audit);
  const index = new StateIndex(engine);
  app.addHook("onClose", async () => index.close());
  for (const [name, schema] of Object.entries(SHARED_SCHEMAS)) app.addSchema({ $id: name, ...schema });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof UserError) return reply.code(400).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: err.message });
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (code === 500) req.log.error({ err }, "request failed");
    return reply.code(code).send({ error: code === 500 ? `internal error: ${err.message}` : err.message });
  });

  const context: RouteContext = {
    engine,
    store,
    audit,
    index,
    heartbeatMs: opts.heartbeatMs ?? 15_000,
    overviewMaxAgeMs: opts.overviewMaxAgeMs ?? 1000,
    machineActions: {
      shutdownGraceS: opts.machineActions?.shutdownGraceS ?? 120,
      gateDeadlineMs: opts.machineActions?.gateDeadlineMs ?? 300_000,
    },
  };
  try {
    for (const routes of opts.routes ?? API_ROUTES) await app.register(routes, context);
    await serveDashboard(app, opts.webRoot ?? DEFAULT_WEB_ROOT, guard);
  } catch (err) {
    // a route refused at registration: nothing listens, and the subscriptions made so far end
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
