/**
 * The resources of the serve API, one fastify plugin per file, in the order they are added
 * (the order of the OpenAPI document's paths). The dashboard's files are added after them by
 * `serveDashboard` (`dashboard.ts`).
 */
import { backupsRoutes } from "./backups.js";
import { checksRoutes } from "./checks.js";
import { clustersRoutes } from "./clusters.js";
import type { ApiRoutes } from "./context.js";
import { eventsRoutes } from "./events.js";
import { healthRoutes } from "./health.js";
import { hostsRoutes } from "./hosts.js";
import { inventoryRoutes } from "./inventory.js";
import { machinesRoutes } from "./machines.js";
import { metricsRoutes } from "./metrics.js";
import { openApiRoutes } from "./openapi.js";
import { overviewRoutes } from "./overview.js";
import { runsRoutes } from "./runs.js";
import { sdRoutes } from "./sd.js";

/** Every resource of the API; `buildServer` registers each with the shared `RouteContext`. */
export const API_ROUTES: readonly ApiRoutes[] = [
  healthRoutes,
  openApiRoutes,
  inventoryRoutes,
  overviewRoutes,
  hostsRoutes,
  machinesRoutes,
  clustersRoutes,
  backupsRoutes,
  checksRoutes,
  runsRoutes,
  eventsRoutes,
  metricsRoutes,
  sdRoutes,
];
