/**
 * The dashboard's fixture server: serves dist/web and the routes of docs/serve.md ("HTTP
 * API") from a {@link SiteData}, so the dashboard can be developed and tested before (and
 * independently of) the real `keel serve`. Fastify, like the real API.
 *
 * Tests drive it through {@link FixtureServer}: `update` changes a check and streams the
 * `result` and `state` events `keel serve` would; `setProblems` mimics a rejected reload.
 *
 * Run by hand: `node --import tsx test/web/server.ts [--big] [--port 8484]`
 * (tokens: `operator-token`, `viewer-token`).
 */
import path from "node:path";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import picomatch from "picomatch";
import type { Problem } from "../../src/errors.js";
import type { CheckState, EngineEvent, HardState } from "../../src/serve/types.js";
import type { CheckResult, CheckStatus } from "../../src/verify/types.js";
import { bigSite, historyOf, labSite, type SiteData } from "./data.js";

const root = path.resolve(import.meta.dirname, "../..");

/** Tokens the fixture accepts, by role. */
export const TOKENS = { operator: "operator-token", viewer: "viewer-token" } as const;

/** A running fixture server. */
export interface FixtureServer {
  /** Base URL, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  data: SiteData;
  /**
   * Gives check `id` a new latest result and state (soft/hard decided by the caller) and
   * streams a `result` event, plus a `state` event when the state changed.
   */
  update(
    id: string,
    status: CheckStatus,
    state: HardState,
    message: string,
    observed?: Record<string, unknown>,
  ): void;
  /** Replaces the inventory problems and streams a `reload` event. */
  setProblems(problems: Problem[]): void;
  /** Number of open event streams. */
  streams(): number;
  close(): Promise<void>;
}

const WORST: HardState[] = ["hard", "soft", "unknown", "ok", "skipped"];

function worstOf(states: CheckState[]): HardState {
  let best = WORST.length - 1;
  for (const s of states) best = Math.min(best, WORST.indexOf(s.state));
  return WORST[best] ?? "skipped";
}

function bad(reply: FastifyReply, code: number, error: string) {
  return reply.code(code).send({ error });
}

function int(v: unknown, def: number, max: number): number {
  const n = Number.parseInt(String(v ?? ""), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : def;
}

/** Starts the fixture server on 127.0.0.1:`port` (0: any free port). */
export async function startFixtureServer(data: SiteData, port = 0): Promise<FixtureServer> {
  const app = Fastify({ logger: false });
  const byId = new Map(data.states.map((s, i) => [s.id, i]));
  const byHost = new Map<string, number[]>();
  data.states.forEach((s, i) => {
    const list = byHost.get(s.host) ?? [];
    if (list.length === 0) byHost.set(s.host, list);
    list.push(i);
  });
  const hostIndex = new Map(data.hosts.map((h) => [h.name, h]));
  const startedAt = new Date().toISOString();
  const listeners = new Set<(e: EngineEvent) => void>();
  const emit = (e: EngineEvent) => {
    for (const l of listeners) l(e);
  };
  const runs: {
    id: number;
    startedAt: string;
    durationMs: number;
    who: string;
    selector: unknown;
    pass: number;
    fail: number;
    error: number;
    skip: number;
  }[] = [];

  function roleOf(req: FastifyRequest): "operator" | "viewer" | null {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (m?.[1] === TOKENS.operator) return "operator";
    if (m?.[1] === TOKENS.viewer) return "viewer";
    return null;
  }

  app.addHook("onRequest", async (req, reply) => {
    if (!req.url.startsWith("/api/") && !req.url.startsWith("/metrics") && !req.url.startsWith("/sd/"))
      return;
    if (roleOf(req) === null)
      return bad(reply, 401, "missing or unknown token: send Authorization: Bearer TOKEN");
  });

  await app.register(fastifyStatic, { root: path.join(root, "dist/web"), prefix: "/" });

  app.get("/healthz", async () => ({ ok: true }));

  app.get("/api/inventory", async () => ({
    site: data.site,
    file: data.file,
    networks: data.networks,
    hosts: data.hosts,
    vantages: data.vantages,
    problems: data.problems,
  }));

  app.get("/api/overview", async () => {
    const counts = {
      checks: 0,
      pass: 0,
      fail: 0,
      error: 0,
      skip: 0,
      unknown: 0,
      ok: 0,
      soft: 0,
      hard: 0,
      suppressed: 0,
      flapping: 0,
    };
    const failing: CheckState[] = [];
    const soft: CheckState[] = [];
    const failingHosts = new Set<string>();
    for (const s of data.states) {
      counts.checks++;
      counts[s.status ?? "unknown"]++;
      if (s.state === "ok" || s.state === "soft" || s.state === "hard") counts[s.state]++;
      if (s.suppressedBy) counts.suppressed++;
      if (s.flapping) counts.flapping++;
      if (s.state === "hard") failing.push(s);
      if (s.state === "soft") soft.push(s);
      if (s.state === "hard" || s.state === "soft") failingHosts.add(s.host);
    }
    return {
      site: data.site,
      counts,
      hosts: { total: data.hosts.length, failing: failingHosts.size },
      failing: [...failing, ...soft].slice(0, 100),
      problems: data.problems,
      reloadedAt: null,
      startedAt,
    };
  });

  app.get("/api/hosts", async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const needle = (q.q ?? "").toLowerCase();
    const offset = int(q.offset, 0, Number.MAX_SAFE_INTEGER);
    const limit = int(q.limit, 100, 1000);
    const rows = [];
    for (const h of data.hosts) {
      if (
        needle &&
        !h.name.toLowerCase().includes(needle) &&
        !h.addresses.some((a) => a.address.includes(needle)) &&
        !h.tags.some((t) => t.toLowerCase().includes(needle))
      )
        continue;
      const states = (byHost.get(h.name) ?? []).map((i) => data.states[i]!);
      const worst = worstOf(states);
      if (q.status === "failing" && worst !== "hard" && worst !== "soft") continue;
      rows.push({ h, states, worst });
    }
    return {
      total: rows.length,
      items: rows.slice(offset, offset + limit).map(({ h, states, worst }) => {
        const counts = { pass: 0, fail: 0, error: 0, skip: 0, unknown: 0 };
        for (const s of states) counts[s.status ?? "unknown"]++;
        return { name: h.name, addresses: h.addresses, tags: h.tags, counts, worst };
      }),
    };
  });

  app.get("/api/hosts/:name", async (req, reply) => {
    const { name } = req.params as { name: string };
    const host = hostIndex.get(name);
    if (!host) return bad(reply, 404, `no host "${name}" in the inventory`);
    const checks = (byHost.get(name) ?? []).map((i) => data.states[i]!);
    // every declared service × every vantage, as the real API builds it
    const services = host.services.map((x) => x.name);
    const vantages = data.vantages.map((v) => v.name);
    const byKey = new Map<string, CheckState>();
    for (const c of checks)
      if ((c.kind === "port.open" || c.kind === "port.closed") && c.service && c.vantage)
        byKey.set(`${c.service}\n${c.vantage}`, c);
    const cells = [];
    for (const service of services)
      for (const vantage of vantages) {
        const c = byKey.get(`${service}\n${vantage}`);
        const observed = c?.observed?.state;
        cells.push({
          service,
          vantage,
          expected: c ? (c.kind === "port.open" ? "open" : "closed") : null,
          observed: typeof observed === "string" ? observed : null,
          checkId: c?.id ?? null,
          ok: c?.status === "pass" ? true : c?.status === "fail" || c?.status === "error" ? false : null,
        });
      }
    return { host, checks, posture: { services, vantages, cells } };
  });

  app.get("/api/checks", async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const match = q.q ? picomatch(q.q) : null;
    const offset = int(q.offset, 0, Number.MAX_SAFE_INTEGER);
    const limit = int(q.limit, 100, 1000);
    const items = data.states.filter(
      (s) =>
        (!match || match(s.id)) &&
        (!q.host || s.host === q.host) &&
        (!q.kind || s.kind === q.kind) &&
        (!q.status || s.status === q.status) &&
        (!q.state || s.state === q.state),
    );
    return { total: items.length, items: items.slice(offset, offset + limit) };
  });

  app.get("/api/checks/:id", async (req, reply) => {
    const { id } = req.params as { id: string };
    const i = byId.get(id);
    if (i === undefined) return bad(reply, 404, `no check "${id}"`);
    return data.states[i];
  });

  app.get("/api/checks/:id/history", async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as Record<string, string | undefined>;
    const i = byId.get(id);
    if (i === undefined) return bad(reply, 404, `no check "${id}"`);
    const h = historyOf(data.states[i]!, data.intervalMs, Date.now());
    const since = q.since ? Date.parse(q.since) : Number.NEGATIVE_INFINITY;
    if (Number.isNaN(since)) return bad(reply, 400, `since: "${q.since}" is not an ISO 8601 time`);
    return {
      id,
      points: h.points.filter((p) => Date.parse(p.until) >= since),
      buckets: h.buckets.filter((b) => Date.parse(b.end) >= since),
      changes: h.changes.filter((c) => Date.parse(c.at) >= since),
    };
  });

  app.get("/api/runs", async () => ({ items: runs.slice(-100).reverse() }));

  app.post("/api/runs", async (req, reply) => {
    const role = roleOf(req);
    if (role !== "operator")
      return bad(reply, 403, "running checks needs an operator token; this token is a viewer");
    const body = (req.body ?? {}) as { all?: boolean; host?: string; glob?: string };
    const match = body.glob ? picomatch(body.glob) : null;
    const selected = data.states.filter(
      (s) =>
        body.all === true || (body.host !== undefined && s.host === body.host) || (match?.(s.id) ?? false),
    );
    if (selected.length === 0)
      return bad(reply, 400, "the selection matches no check: expected { all: true }, { host } or { glob }");
    const now = new Date().toISOString();
    const results: CheckResult[] = selected.map((s) => {
      s.lastRunAt = now;
      const result: CheckResult = {
        id: s.id,
        kind: s.kind,
        host: s.host,
        ...(s.service ? { service: s.service } : {}),
        ...(s.vantage ? { vantage: s.vantage } : {}),
        status: s.status ?? "skip",
        message: s.message,
        ...(s.observed ? { observed: s.observed } : {}),
        durationMs: s.durationMs,
      };
      emit({ type: "result", result, state: s });
      return result;
    });
    const count = (st: CheckStatus) => results.filter((r) => r.status === st).length;
    runs.push({
      id: runs.length + 1,
      startedAt: now,
      durationMs: 1,
      who: "operator",
      selector: body,
      pass: count("pass"),
      fail: count("fail"),
      error: count("error"),
      skip: count("skip"),
    });
    return { results };
  });

  app.get("/api/events", (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.write(": keel fixture\n\n");
    const send = (e: EngineEvent) => res.write(`data: ${JSON.stringify(e)}\n\n`);
    listeners.add(send);
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    req.raw.on("close", () => {
      clearInterval(ping);
      listeners.delete(send);
    });
  });

  const address = await app.listen({ host: "127.0.0.1", port });
  return {
    url: `${address}/`,
    data,
    update(id, status, state, message, observed) {
      const i = byId.get(id);
      if (i === undefined) throw new Error(`fixture: no check ${id}`);
      const old = data.states[i]!;
      const now = new Date().toISOString();
      const next: CheckState = {
        ...old,
        status,
        message,
        ...(observed ? { observed } : {}),
        state,
        consecutive: old.status === status ? old.consecutive + 1 : 1,
        since: old.state === state ? old.since : now,
        lastRunAt: now,
      };
      data.states[i] = next;
      const result: CheckResult = {
        id,
        kind: next.kind,
        host: next.host,
        ...(next.service ? { service: next.service } : {}),
        ...(next.vantage ? { vantage: next.vantage } : {}),
        status,
        message,
        ...(observed ? { observed } : {}),
        durationMs: next.durationMs,
      };
      emit({ type: "result", result, state: next });
      if (old.state !== state) emit({ type: "state", state: next, from: old.state });
    },
    setProblems(problems) {
      data.problems = problems;
      emit({ type: "reload", ok: problems.length === 0, problems });
    },
    streams: () => listeners.size,
    close: async () => {
      listeners.clear();
      await app.close();
    },
  };
}

if (process.argv[1] === import.meta.filename) {
  const big = process.argv.includes("--big");
  const portArg = process.argv.indexOf("--port");
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 8484;
  const s = await startFixtureServer(big ? bigSite() : labSite(), port);
  console.log(`fixture server on ${s.url} (tokens: ${TOKENS.operator}, ${TOKENS.viewer})`);
}
