/**
 * `GET /api/runs` (stored runs, newest first) and `POST /api/runs` (run checks now; operator,
 * audited).
 */
import type { CheckResult } from "../../verify/types.js";
import { errors, ref } from "../schemas.js";
import type { RunSelector } from "../types.js";
import { type ApiRoutes, HttpError } from "./context.js";

/** How a selector is named in the audit log: `all`, `host NAME`, `glob GLOB`. */
function selectorText(sel: RunSelector): string {
  if ("all" in sel) return "all";
  if ("host" in sel) return `host ${sel.host}`;
  return `glob ${sel.glob}`;
}

/** The audit log's result of a run: `ok: N results (… pass, … fail, … error, … skip)`. */
function summaryOf(results: CheckResult[]): string {
  const c = { pass: 0, fail: 0, error: 0, skip: 0 };
  for (const r of results) c[r.status]++;
  return `ok: ${results.length} results (${c.pass} pass, ${c.fail} fail, ${c.error} error, ${c.skip} skip)`;
}

/** The run routes: listing (viewer) and running (operator, each run audited). */
export const runsRoutes: ApiRoutes = async (app, { engine, store, audit }) => {
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
};
