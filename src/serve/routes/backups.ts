/**
 * `GET /api/backups`: every backup of the served inventory (pgBackRest stanzas, WAL-G backups)
 * with its newest backups by type, its WAL archive, its last restore rehearsal, whether its
 * objectives are met and the checks it is made of, built from the engine's latest results
 * (`../backups.ts`); nothing is probed for it.
 */
import { backupViews } from "../backups.js";
import { errors, ref } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/** The backups route (viewer). */
export const backupsRoutes: ApiRoutes = async (app, { engine }) => {
  app.get(
    "/api/backups",
    {
      config: { role: "viewer" },
      schema: {
        summary:
          "Each declared backup: newest backups by type, WAL archive lag and backlog, last rehearsal, objectives met or not, its checks",
        response: {
          200: {
            type: "object",
            properties: {
              at: { type: "string", description: "ISO 8601: the time ages are counted at" },
              items: { type: "array", items: ref("Backup") },
            },
            required: ["at", "items"],
          },
          ...errors(401),
        },
      },
    },
    async () => {
      const now = Date.now();
      return {
        at: new Date(now).toISOString(),
        items: backupViews(engine.inventory(), (id) => engine.state(id), now),
      };
    },
  );
};
