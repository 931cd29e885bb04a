/** `GET /metrics`: the Prometheus text exposition of `../metrics.ts`, streamed. */
import { Readable } from "node:stream";
import { createMetrics } from "../metrics.js";
import { errors } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/** The metrics route (viewer). Its registry follows the engine until the server closes. */
export const metricsRoutes: ApiRoutes = async (app, { engine }) => {
  const metrics = createMetrics(engine);
  app.addHook("onClose", async () => metrics.close());

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
};
