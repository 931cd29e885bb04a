/**
 * `GET /sd/prometheus`: Prometheus HTTP service discovery (`http_sd_configs`), the target
 * groups of `src/render/targets.ts` for the served inventory.
 */
import { SD_KINDS, type SdKind, scrapeTargets } from "../../render/targets.js";
import { errors } from "../schemas.js";
import { type ApiRoutes, HttpError, listParam } from "./context.js";

/** The service discovery route (viewer). */
export const sdRoutes: ApiRoutes = async (app, { index }) => {
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
};
