/**
 * `GET /api/checks` (check states, filtered and paged), `GET /api/checks/ID` (one state) and
 * `GET /api/checks/ID/history` (its history from the store).
 */
import picomatch from "picomatch";
import { errors, paging, ref, SHARED_SCHEMAS } from "../schemas.js";
import { STATES, STATUSES } from "../state-index.js";
import type { CheckState } from "../types.js";
import { type ApiRoutes, HttpError, listParam, page } from "./context.js";

const GLOB_CHARS = /[*?[\]{}!]/;

/** A matcher for `q` of /api/checks: a picomatch glob (bash mode) when it has glob characters, else a case-insensitive substring. */
function idMatcher(q: string): (id: string) => boolean {
  if (GLOB_CHARS.test(q)) return picomatch(q, { bash: true });
  const needle = q.toLowerCase();
  return (id) => id.toLowerCase().includes(needle);
}

/** The check routes (viewer). */
export const checksRoutes: ApiRoutes = async (app, { engine, store, index }) => {
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
};
