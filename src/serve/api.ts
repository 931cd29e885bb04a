/**
 * The HTTP API of `keel serve` (fastify): JSON routes over the engine's states and the store's
 * history, `/metrics`, `/sd/prometheus`, Server-Sent Events, the OpenAPI 3.1 document, and the
 * dashboard's static files. The contract is `docs/serve.md`; every route there is here.
 *
 * Access: every route declares its role (`config.role`: `public`, `viewer` or `operator`); a
 * route without one stops `buildServer` with an error naming it. A request's role is the role
 * of the route fastify's router matched it to, never read from the URL text, so every spelling
 * that reaches a route (percent-encoded, HEAD for GET) meets the same check. Only `/healthz`
 * and the dashboard's static files are public; the others need `Authorization: Bearer TOKEN`
 * (RFC 6750): without a valid one the answer is 401, and a viewer asking for an operator route
 * gets 403. A request no route matches goes to the not-found handler, which needs no token and
 * answers 404 (or the dashboard's `index.html`), never data. Operator actions go to the audit log.
 *
 * Speed: lists are filtered and paged here, from indexes kept beside the engine (checks by
 * host, host summaries recomputed only for hosts whose checks changed since the last request),
 * so a request touches the hosts or checks it answers with, not the whole site, where it can.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import picomatch from "picomatch";
import { UserError } from "../errors.js";
import type { Host, Inventory } from "../inventory/model.js";
import { SD_KINDS, type SdKind, scrapeTargets } from "../render/targets.js";
import type { ResultStore } from "../store/types.js";
import type { CheckResult } from "../verify/types.js";
import { AuditLog, type Principal, ROUTE_ROLES, type RouteRole, roleAllows, TokenTable } from "./auth.js";
import { createMetrics } from "./metrics.js";
import { buildOpenApi, type RouteRecord } from "./openapi.js";
import { errors, paging, ref, SHARED_SCHEMAS } from "./schemas.js";
import type { CheckState, CheckStateView, Engine, EngineEvent, HardState, RunSelector } from "./types.js";

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

/**
 * What the API reads from the results store (`src/store/types.ts`): each check's history
 * (spans, buckets, state changes) and the stored runs. Any `ResultStore` fits.
 */
export type ApiStore = Pick<ResultStore, "history" | "runs">;

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
}

/** Default location of the built dashboard: `dist/web` at the package root. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../dist/web", import.meta.url));

const STATUSES = ["pass", "fail", "error", "skip", "unknown"] as const;
const STATES: readonly HardState[] = ["ok", "soft", "hard", "unknown", "skipped"];
/** Worst first: the order a host's `worst` and the overview's failing list use. */
const SEVERITY: Record<HardState, number> = { hard: 4, soft: 3, unknown: 2, ok: 1, skipped: 0 };
const MAX_FAILING = 100;

type StatusKey = (typeof STATUSES)[number];
type Counts = Record<StatusKey, number>;

interface HostSummary {
  name: string;
  addresses: Host["addresses"];
  tags: string[];
  counts: Counts;
  worst: HardState;
  /** Lower-case text `q` is matched against: name, addresses, tags. */
  text: string;
}

const zeroCounts = (): Counts => ({ pass: 0, fail: 0, error: 0, skip: 0, unknown: 0 });

/**
 * Indexes over the engine's states: check ids by host, and host summaries recomputed only for
 * hosts that had events since they were last computed. Rebuilt when the engine reloads (or
 * serves another inventory object).
 */
class StateIndex {
  private inv: Inventory | undefined;
  private stale = true;
  private hostNames: string[] = [];
  private hosts = new Map<string, Host>();
  private idsByHost = new Map<string, string[]>();
  private summaries = new Map<string, HostSummary>();
  private dirty = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly engine: Engine) {
    this.unsubscribe = engine.subscribe((e) => this.onEvent(e));
  }

  private onEvent(e: EngineEvent): void {
    if (e.type === "reload") this.stale = true;
    else this.dirty.add(e.state.host);
  }

  close(): void {
    this.unsubscribe();
  }

  private fresh(): void {
    const inv = this.engine.inventory();
    if (!this.stale && inv === this.inv) return;
    this.inv = inv;
    this.stale = false;
    this.hostNames = inv.hosts.map((h) => h.name);
    this.hosts = new Map(inv.hosts.map((h) => [h.name, h]));
    this.idsByHost = new Map(this.hostNames.map((n) => [n, []]));
    this.engine.forEachState((s) => {
      const ids = this.idsByHost.get(s.host);
      if (ids) ids.push(s.id);
      else this.idsByHost.set(s.host, [s.id]);
    });
    this.summaries.clear();
    this.dirty = new Set(this.hostNames);
  }

  inventory(): Inventory {
    this.fresh();
    return this.inv!;
  }

  host(name: string): Host | undefined {
    this.fresh();
    return this.hosts.get(name);
  }

  /** The current states of a host's checks, in derivation order. */
  statesOf(host: string): CheckState[] {
    this.fresh();
    const out: CheckState[] = [];
    for (const id of this.idsByHost.get(host) ?? []) {
      const s = this.engine.state(id);
      if (s) out.push(s);
    }
    return out;
  }

  /** Summaries of every host in inventory order, each up to date. */
  summariesAll(): HostSummary[] {
    this.fresh();
    for (const name of this.dirty) {
      const h = this.hosts.get(name);
      if (h) this.summaries.set(name, this.summarise(h));
    }
    this.dirty.clear();
    return this.hostNames.map((n) => this.summaries.get(n)!);
  }

  private summarise(h: Host): HostSummary {
    const counts = zeroCounts();
    let worst: HardState | undefined;
    for (const s of this.statesOf(h.name)) {
      counts[s.status ?? "unknown"]++;
      if (worst === undefined || SEVERITY[s.state] > SEVERITY[worst]) worst = s.state;
    }
    return {
      name: h.name,
      addresses: h.addresses,
      tags: h.tags,
      counts,
      worst: worst ?? "unknown",
      text: [h.name, ...h.addresses.map((a) => a.address), ...h.tags].join("\n").toLowerCase(),
    };
  }
}

/** Parses a comma-separated filter against its allowed values. @throws HttpError 400. */
function listParam<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): Set<T> | null {
  if (value === undefined || value === "") return null;
  const out = new Set<T>();
  for (const v of value.split(",")) {
    if (!(allowed as readonly string[]).includes(v))
      throw new HttpError(400, `${name}: "${v}" is not one of ${allowed.join(", ")} (comma-separated)`);
    out.add(v as T);
  }
  return out;
}

/** An error answered as `{ error }` with this status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const GLOB_CHARS = /[*?[\]{}!]/;

/** A matcher for `q` of /api/checks: a picomatch glob (bash mode) when it has glob characters, else a case-insensitive substring. */
function idMatcher(q: string): (id: string) => boolean {
  if (GLOB_CHARS.test(q)) return picomatch(q, { bash: true });
  const needle = q.toLowerCase();
  return (id) => id.toLowerCase().includes(needle);
}

function page<T>(items: T[], offset: number, limit: number): { total: number; items: T[] } {
  return { total: items.length, items: items.slice(offset, offset + limit) };
}

/** The inventory without secrets (no SSH identities, no tokens, no serve/alerts settings). */
function publicInventory(inv: Inventory) {
  return {
    site: inv.site,
    ...(inv.domain !== undefined ? { domain: inv.domain } : {}),
    file: inv.file,
    networks: inv.networks.map(({ pos: _pos, ...n }) => n),
    hosts: inv.hosts.map(publicHost),
    vantages: inv.vantages.map(({ pos: _pos, ...v }) => v),
  };
}

function publicHost(h: Host) {
  return {
    name: h.name,
    addresses: h.addresses,
    tags: h.tags,
    services: h.services.map(({ pos: _pos, ...s }) => s),
    sysctl: h.sysctl,
    ...(h.wireguard ? { wireguard: h.wireguard } : {}),
    ...(h.ssh ? { ssh: { user: h.ssh.user, port: h.ssh.port, allow: h.ssh.allow } } : {}),
  };
}

/** The host page's service × vantage matrix from its port.open / port.closed states. */
export function posture(inv: Inventory, h: Host, states: readonly CheckState[]) {
  const byKey = new Map<string, CheckState>();
  for (const s of states) {
    if ((s.kind === "port.open" || s.kind === "port.closed") && s.service && s.vantage)
      byKey.set(`${s.service}\n${s.vantage}`, s);
  }
  const services = h.services.map((s) => s.name);
  const vantages = inv.vantages.map((v) => v.name);
  const cells = [];
  for (const service of services) {
    for (const vantage of vantages) {
      const s = byKey.get(`${service}\n${vantage}`);
      const observed = s?.observed?.state;
      cells.push({
        service,
        vantage,
        expected: s ? (s.kind === "port.open" ? "open" : "closed") : null,
        observed: typeof observed === "string" ? observed : null,
        checkId: s?.id ?? null,
        ok: s?.status === "pass" ? true : s?.status === "fail" || s?.status === "error" ? false : null,
      });
    }
  }
  return { services, vantages, cells };
}

function selectorText(sel: RunSelector): string {
  if ("all" in sel) return "all";
  if ("host" in sel) return `host ${sel.host}`;
  return `glob ${sel.glob}`;
}

function summaryOf(results: CheckResult[]): string {
  const c = { pass: 0, fail: 0, error: 0, skip: 0 };
  for (const r of results) c[r.status]++;
  return `ok: ${results.length} results (${c.pass} pass, ${c.fail} fail, ${c.error} error, ${c.skip} skip)`;
}

/** Paths of the API, `/metrics` and `/sd` (after decoding, lower-cased, slashes collapsed). */
const API_PATH = /^\/(api|metrics|sd)(\/|$)/;

/**
 * Whether an unmatched request's path names the API however it is spelled: percent-encoded
 * (decoded up to three times), in any case, with repeated slashes. Only chooses what the
 * not-found handler answers (404 JSON rather than the dashboard's `index.html`); access is
 * never decided from it.
 */
function apiLike(url: string): boolean {
  let p = url.split("?")[0] ?? "";
  for (let i = 0; i < 3; i++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(p);
    } catch {
      break;
    }
    if (decoded === p) break;
    p = decoded;
  }
  return API_PATH.test(p.toLowerCase().replace(/\/{2,}/g, "/"));
}

/**
 * Builds the server (not listening yet: call `listen`, or `inject` in tests). Closing it stops
 * its engine subscriptions and open event streams; it does not stop the engine.
 * @throws UserError when the audit log cannot be written or a token's env variable is unset.
 */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const { engine, store } = opts;
  const tokens = opts.tokens ?? new TokenTable(engine.inventory().serve.tokens);
  const audit = new AuditLog(opts.auditFile);
  const webRoot = opts.webRoot ?? DEFAULT_WEB_ROOT;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;

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

  const index = new StateIndex(engine);
  const metrics = createMetrics(engine);
  const streams = new Set<() => void>();
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
  // event streams end before the server stops accepting, or closing would wait for them
  app.addHook("preClose", async () => {
    for (const end of streams) end();
  });
  app.addHook("onClose", async () => {
    index.close();
    metrics.close();
  });
  for (const [name, schema] of Object.entries(SHARED_SCHEMAS)) app.addSchema({ $id: name, ...schema });

  // --- access control -------------------------------------------------------------------
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

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof UserError) return reply.code(400).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: err.message });
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (code === 500) req.log.error({ err }, "request failed");
    return reply.code(code).send({ error: code === 500 ? `internal error: ${err.message}` : err.message });
  });

  // --- routes ---------------------------------------------------------------------------
  app.get(
    "/healthz",
    {
      config: { role: "public" },
      schema: {
        summary: "Liveness; needs no token",
        response: {
          200: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
        },
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/api/openapi.json",
    { config: { role: "viewer" }, schema: { summary: "This document (OpenAPI 3.1)" } },
    async () => openapi(),
  );
  let openapiDoc: Record<string, unknown> | undefined;
  const openapi = () => {
    openapiDoc ??= buildOpenApi(routes, SHARED_SCHEMAS);
    return openapiDoc;
  };

  app.get(
    "/api/inventory",
    {
      config: { role: "viewer" },
      schema: {
        summary: "The served inventory, without secrets",
        response: {
          200: {
            type: "object",
            properties: {
              site: { type: "string" },
              domain: { type: "string" },
              file: { type: "string" },
              networks: { type: "array", items: ref("Network") },
              hosts: { type: "array", items: ref("Host") },
              vantages: { type: "array", items: ref("Vantage") },
              problems: { type: "array", items: ref("Problem") },
            },
            required: ["site", "file", "networks", "hosts", "vantages", "problems"],
          },
          ...errors(401),
        },
      },
    },
    async () => ({ ...publicInventory(index.inventory()), problems: engine.problems() }),
  );

  const startedAt = new Date().toISOString();
  let reloadedAt = startedAt;
  const overviewMaxAgeMs = opts.overviewMaxAgeMs ?? 1000;
  let overviewCache: { at: number; body: unknown } | undefined;
  const unsubReload = engine.subscribe((e) => {
    if (e.type === "reload") {
      reloadedAt = new Date().toISOString();
      overviewCache = undefined;
    }
  });
  app.addHook("onClose", async () => unsubReload());

  app.get(
    "/api/overview",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Counts of checks and hosts, the failing checks (hard first), inventory problems",
        response: {
          200: {
            type: "object",
            properties: {
              site: { type: "string" },
              counts: {
                type: "object",
                properties: Object.fromEntries(
                  [
                    "checks",
                    "pass",
                    "fail",
                    "error",
                    "skip",
                    "unknown",
                    "ok",
                    "soft",
                    "hard",
                    "suppressed",
                    "flapping",
                  ].map((k) => [k, { type: "integer" }]),
                ),
              },
              hosts: {
                type: "object",
                properties: { total: { type: "integer" }, failing: { type: "integer" } },
                required: ["total", "failing"],
              },
              failing: { type: "array", items: ref("CheckState") },
              problems: { type: "array", items: ref("Problem") },
              reloadedAt: { type: "string" },
              startedAt: { type: "string" },
            },
            required: ["site", "counts", "hosts", "failing", "problems", "reloadedAt", "startedAt"],
          },
          ...errors(401),
        },
      },
    },
    async () => {
      const now = Date.now();
      if (overviewCache && now - overviewCache.at < overviewMaxAgeMs) return overviewCache.body;
      const counts = {
        checks: 0,
        ...zeroCounts(),
        ok: 0,
        soft: 0,
        hard: 0,
        suppressed: 0,
        flapping: 0,
      };
      // the live states, not copies (50,000 objects a second with a dashboard open): only the
      // failing ones that are answered are copied, below
      const failing: Readonly<CheckStateView>[] = [];
      engine.forEachState((s) => {
        counts.checks++;
        counts[s.status ?? "unknown"]++;
        if (s.state === "ok" || s.state === "soft" || s.state === "hard") counts[s.state]++;
        if (s.suppressedBy) counts.suppressed++;
        if (s.flapping) counts.flapping++;
        if (s.state === "hard" || s.state === "soft") failing.push(s);
      });
      failing.sort((a, b) => SEVERITY[b.state] - SEVERITY[a.state]);
      const hosts = index.summariesAll();
      const body = {
        site: index.inventory().site,
        counts,
        hosts: {
          total: hosts.length,
          failing: hosts.filter((h) => h.counts.fail + h.counts.error > 0).length,
        },
        failing: failing
          .slice(0, MAX_FAILING)
          .map((s) => engine.state(s.id))
          .filter((s) => s !== undefined),
        problems: engine.problems(),
        reloadedAt,
        startedAt,
      };
      overviewCache = { at: now, body };
      return body;
    },
  );

  app.get<{ Querystring: { q?: string; status?: string; tag?: string; offset: number; limit: number } }>(
    "/api/hosts",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Hosts with their check counts and worst state; filtered and paged",
        querystring: {
          type: "object",
          properties: {
            q: { type: "string", description: "case-insensitive text in the name, an address or a tag" },
            status: {
              type: "string",
              enum: ["failing", "ok"],
              description: "failing: some check's latest result is fail or error; ok: none is",
            },
            tag: { type: "string", description: "only hosts with this tag" },
            ...paging,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            properties: { total: { type: "integer" }, items: { type: "array", items: ref("HostSummary") } },
            required: ["total", "items"],
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const { q, status, tag, offset, limit } = req.query;
      const needle = q?.toLowerCase();
      const items = index.summariesAll().filter((h) => {
        if (needle && !h.text.includes(needle)) return false;
        if (tag && !h.tags.includes(tag)) return false;
        if (status) {
          const failing = h.counts.fail + h.counts.error > 0;
          if ((status === "failing") !== failing) return false;
        }
        return true;
      });
      return page(items, offset, limit);
    },
  );

  app.get<{ Params: { name: string } }>(
    "/api/hosts/:name",
    {
      config: { role: "viewer" },
      schema: {
        summary: "One host: its declaration, its checks' states and its posture matrix",
        params: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        response: {
          200: {
            type: "object",
            properties: {
              host: ref("Host"),
              checks: { type: "array", items: ref("CheckState") },
              posture: ref("Posture"),
            },
            required: ["host", "checks", "posture"],
          },
          ...errors(401, 404),
        },
      },
    },
    async (req) => {
      const h = index.host(req.params.name);
      if (!h) throw new HttpError(404, `no host named "${req.params.name}"; GET /api/hosts lists them`);
      const checks = index.statesOf(h.name);
      return { host: publicHost(h), checks, posture: posture(index.inventory(), h, checks) };
    },
  );

  app.get<{
    Querystring: {
      q?: string;
      host?: string;
      kind?: string;
      status?: string;
      state?: string;
      flapping?: boolean;
      offset: number;
      limit: number;
    };
  }>(
    "/api/checks",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Check states; filtered and paged",
        querystring: {
          type: "object",
          properties: {
            q: {
              type: "string",
              description:
                "check id glob (picomatch, * also matches /), or a case-insensitive substring when it has no glob characters",
            },
            host: { type: "string", description: "only this host's checks" },
            kind: { type: "string", description: "check kinds, comma-separated" },
            status: {
              type: "string",
              description: "latest status: pass, fail, error, skip, unknown; comma-separated",
            },
            state: {
              type: "string",
              description: "state: ok, soft, hard, unknown, skipped; comma-separated",
            },
            flapping: { type: "boolean" },
            ...paging,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            properties: { total: { type: "integer" }, items: { type: "array", items: ref("CheckState") } },
            required: ["total", "items"],
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const { q, host, offset, limit, flapping } = req.query;
      const kinds = listParam("kind", req.query.kind, SHARED_SCHEMAS.CheckKind!.enum as string[]);
      const statuses = listParam("status", req.query.status, STATUSES);
      const states = listParam("state", req.query.state, STATES);
      const match = q ? idMatcher(q) : null;
      const source = host !== undefined ? index.statesOf(host) : engine.states();
      const items = source.filter(
        (s) =>
          (!kinds || kinds.has(s.kind)) &&
          (!statuses || statuses.has(s.status ?? "unknown")) &&
          (!states || states.has(s.state)) &&
          (flapping === undefined || s.flapping === flapping) &&
          (!match || match(s.id)),
      );
      return page(items, offset, limit);
    },
  );

  const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] };
  const checkOr404 = (id: string): CheckState => {
    const s = engine.state(id);
    if (!s) throw new HttpError(404, `no check with id "${id}"; GET /api/checks lists them`);
    return s;
  };

  app.get<{ Params: { id: string } }>(
    "/api/checks/:id",
    {
      config: { role: "viewer" },
      schema: {
        summary: "One check's state (the id URL-encoded: / as %2F, @ as %40)",
        params: idParams,
        response: { 200: ref("CheckState"), ...errors(401, 404) },
      },
    },
    async (req) => checkOr404(req.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: { since?: string; until?: string; limit: number } }>(
    "/api/checks/:id/history",
    {
      config: { role: "viewer" },
      schema: {
        summary: "One check's history: raw results, downsampled buckets, state changes",
        params: idParams,
        querystring: {
          type: "object",
          properties: {
            since: { type: "string", description: "ISO 8601; default: everything kept" },
            until: { type: "string", description: "ISO 8601; default: now" },
            limit: { type: "integer", minimum: 1, maximum: 10000, default: 1000 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            properties: {
              id: { type: "string" },
              points: { type: "array", items: ref("HistoryPoint") },
              buckets: { type: "array", items: ref("HistoryBucket") },
              changes: { type: "array", items: ref("StateChange") },
            },
            required: ["id", "points", "buckets", "changes"],
          },
          ...errors(400, 401, 404),
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      checkOr404(id);
      const q: { sinceMs?: number; untilMs?: number; limit: number } = { limit: req.query.limit };
      for (const k of ["since", "until"] as const) {
        const v = req.query[k];
        if (v === undefined) continue;
        const t = Date.parse(v);
        if (Number.isNaN(t))
          throw new HttpError(
            400,
            `${k}: "${v}" is not a time; expected ISO 8601, e.g. 2025-01-31T12:00:00Z`,
          );
        q[`${k}Ms`] = t;
      }
      if (q.sinceMs !== undefined && q.untilMs !== undefined && q.sinceMs > q.untilMs)
        throw new HttpError(400, "since: must not be after until");
      const h = await store.history(id, q);
      return { id, points: h.points, buckets: h.buckets, changes: h.changes };
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    "/api/runs",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Recorded runs, newest first",
        querystring: {
          type: "object",
          properties: { limit: { type: "integer", minimum: 1, maximum: 1000, default: 50 } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            properties: { items: { type: "array", items: ref("Run") } },
            required: ["items"],
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => ({ items: await store.runs(req.query.limit) }),
  );

  app.post<{ Body: Record<string, unknown> }>(
    "/api/runs",
    {
      config: { role: "operator" },
      schema: {
        summary: "Run checks now: all, one host's, or those whose id matches a glob (operator; audited)",
        body: {
          type: "object",
          description: 'exactly one of {"all": true}, {"host": NAME}, {"glob": GLOB}',
          properties: {
            all: { type: "boolean", const: true },
            host: { type: "string", minLength: 1 },
            glob: { type: "string", minLength: 1 },
          },
        },
        response: {
          200: {
            type: "object",
            properties: { results: { type: "array", items: ref("CheckResult") } },
            required: ["results"],
          },
          ...errors(400, 401, 403),
        },
      },
    },
    async (req) => {
      const b = req.body ?? {};
      const keys = Object.keys(b).filter((k) => ["all", "host", "glob"].includes(k));
      if (keys.length !== 1)
        throw new HttpError(
          400,
          'body: expected exactly one of {"all": true}, {"host": NAME}, {"glob": GLOB}',
        );
      const selector = (
        "all" in b ? { all: true } : "host" in b ? { host: String(b.host) } : { glob: String(b.glob) }
      ) as RunSelector;
      const who = req.principal!;
      const base = { who: who.name, role: who.role, action: "run", target: selectorText(selector) };
      let results: CheckResult[];
      try {
        results = await engine.runNow(selector);
      } catch (err) {
        audit.write({ ...base, result: `error: ${(err as Error).message}` });
        throw err;
      }
      audit.write({ ...base, result: summaryOf(results) });
      return { results };
    },
  );

  app.get(
    "/api/events",
    {
      config: { role: "viewer", produces: "text/event-stream" },
      schema: {
        summary: "Server-Sent Events: one EngineEvent as JSON per data: line",
        response: { ...errors(401) },
      },
    },
    (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "close",
        "x-accel-buffering": "no",
      });
      // HEAD (fastify adds it for this GET) gets the headers only: no stream, no subscription
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      res.write(": keel events\n\n");
      const unsubscribe = engine.subscribe((e) => {
        res.write(`data: ${JSON.stringify(e)}\n\n`);
      });
      const beat = setInterval(() => res.write(": heartbeat\n\n"), heartbeatMs);
      const end = () => {
        clearInterval(beat);
        unsubscribe();
        streams.delete(end);
        if (!res.writableEnded) res.end();
      };
      streams.add(end);
      req.raw.on("close", end);
    },
  );

  app.get(
    "/metrics",
    {
      config: { role: "viewer", produces: "text/plain; version=0.0.4" },
      schema: { summary: "Prometheus metrics (text exposition format)", response: { ...errors(401) } },
    },
    async (_req, reply) => {
      reply.header("content-type", metrics.registry.contentType);
      // streamed: 50,000 checks make 17 MB of text, which need not be held at once
      return Readable.from(metrics.stream());
    },
  );

  app.get<{ Querystring: { kind?: string; network?: string } }>(
    "/sd/prometheus",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Prometheus HTTP service discovery (http_sd_configs) of the inventory's exporters",
        querystring: {
          type: "object",
          properties: {
            kind: {
              type: "string",
              description: `service kinds, comma-separated, of ${SD_KINDS.join(", ")} (default node_exporter)`,
            },
            network: { type: "string", description: "scrape hosts at their address on this network" },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "array",
            items: {
              type: "object",
              properties: {
                targets: { type: "array", items: { type: "string" } },
                labels: { type: "object", additionalProperties: { type: "string" } },
              },
              required: ["targets", "labels"],
            },
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const kinds = listParam<SdKind>("kind", req.query.kind, SD_KINDS);
      const inv = index.inventory();
      const { network } = req.query;
      if (network !== undefined && !inv.networks.some((n) => n.name === network))
        throw new HttpError(
          400,
          `network: no network named "${network}"; the inventory declares ${inv.networks.map((n) => n.name).join(", ")}`,
        );
      return scrapeTargets(inv, {
        ...(kinds ? { kinds: [...kinds] } : {}),
        ...(network !== undefined ? { network } : {}),
      });
    },
  );

  // --- the dashboard --------------------------------------------------------------------
  const hasDashboard = existsSync(path.join(webRoot, "index.html"));
  if (hasDashboard) {
    const root = path.resolve(webRoot);
    // reply.sendFile for the SPA fallback below (this registration adds no route)
    await app.register(fastifyStatic, { root, serve: false });
    // one GET and HEAD route per file, in a context that declares them all public (they hold no data)
    await app.register(async (files) => {
      publicContexts.add(files);
      await files.register(fastifyStatic, {
        root,
        wildcard: false,
        index: "index.html",
        decorateReply: false,
      });
    });
  }
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    if (apiLike(req.url) || req.method !== "GET")
      return reply
        .code(404)
        .send({ error: `no route ${req.method} ${req.url.split("?")[0]}; see /api/openapi.json` });
    if (!hasDashboard)
      return reply
        .code(404)
        .send({ error: `the dashboard is not built (no ${path.join(webRoot, "index.html")})` });
    // SPA fallback: client-side routes get index.html
    return reply.type("text/html; charset=utf-8").sendFile("index.html");
  });

  return app;
}
