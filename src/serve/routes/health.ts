/** `GET /healthz`: liveness, the one API route that needs no token. */
import type { ApiRoutes } from "./context.js";

/** The liveness route: `{ ok: true }` (public). */
export const healthRoutes: ApiRoutes = async (app) => {
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
};
