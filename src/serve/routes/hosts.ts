/**
 * `GET /api/hosts` (hosts with their check counts and worst state, filtered and paged) and
 * `GET /api/hosts/NAME` (one host, its checks' states and its posture matrix).
 */
import type { Host, Inventory } from "../../inventory/model.js";
import { errors, paging, ref } from "../schemas.js";
import type { CheckState } from "../types.js";
import { type ApiRoutes, HttpError, page } from "./context.js";
import { publicHost } from "./inventory.js";

/**
 * The host page's service × vantage matrix from its `port.open` / `port.closed` states: one
 * cell per service of `h` and vantage of `inv`, `expected` and `ok` null where no check (or a
 * skipped one) covers it, `observed` the latest result's `observed.state`.
 */
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

/** The host routes (viewer). */
export const hostsRoutes: ApiRoutes = async (app, { index }) => {
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
};
