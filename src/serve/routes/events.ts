/**
 * `GET /api/events`: Server-Sent Events, one `EngineEvent` as JSON per `data:` line, with a
 * heartbeat comment every `heartbeatMs`. Open streams end when the server closes.
 */
import { errors } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/** The event stream route (viewer); `HEAD` answers the stream's headers and ends. */
export const eventsRoutes: ApiRoutes = async (app, { engine, heartbeatMs }) => {
  const streams = new Set<() => void>();
  // event streams end before the server stops accepting, or closing would wait for them
  app.addHook("preClose", async () => {
    for (const end of streams) end();
  });

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
};
