/** `GET /api/openapi.json`: the OpenAPI 3.1 document of the server's own routes (`../openapi.ts`). */
import { buildOpenApi } from "../openapi.js";
import { SHARED_SCHEMAS } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/**
 * The document route (viewer). The document is built on the first request, from the server's
 * `routeTable` (every route is added by then), and kept.
 */
export const openApiRoutes: ApiRoutes = async (app) => {
  let doc: Record<string, unknown> | undefined;
  app.get(
    "/api/openapi.json",
    { config: { role: "viewer" }, schema: { summary: "This document (OpenAPI 3.1)" } },
    async () => {
      doc ??= buildOpenApi(app.routeTable, SHARED_SCHEMAS);
      return doc;
    },
  );
};
