/**
 * `GET /api/overview`: counts of checks and hosts, the failing checks (hard first) and the
 * inventory's problems; computed at most once per `overviewMaxAgeMs` (a reload refreshes it).
 */

import { errors, ref } from "../schemas.js";
import { SEVERITY, zeroCounts } from "../state-index.js";
import type { CheckStateView } from "../types.js";
import type { ApiRoutes } from "./context.js";

/** At most this many failing checks are answered. */
const MAX_FAILING = 100;

/** The overview route (viewer). Follows the engine's reloads until the server closes. */
export const overviewRoutes: ApiRoutes = async (app, { engine, index, overviewMaxAgeMs }) => {
  const startedAt = new Date().toISOString();
  let reloadedAt = startedAt;
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
};
