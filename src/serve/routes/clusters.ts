/**
 * `GET /api/clusters` (viewer): each Proxmox VE hypervisor of the served inventory as its API
 * reports it at the time of the request: quorum, nodes, and every QEMU machine with the Keel
 * host that manages it (or none) and its console link (`../clusters.ts`). A cluster that cannot
 * be read is listed with `error`.
 */
import { errors, ref } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/** The clusters' module, loaded on first use (it brings the Proxmox VE client). */
const clusters = () => import("../clusters.js");

/** The cluster routes. */
export const clustersRoutes: ApiRoutes = async (app, { index }) => {
  app.get(
    "/api/clusters",
    {
      config: { role: "viewer" },
      schema: {
        summary:
          "Each Proxmox VE cluster of the inventory: quorum, nodes and every QEMU machine, managed by Keel or not, read now",
        response: {
          200: {
            type: "object",
            properties: {
              at: { type: "string", description: "ISO 8601: when the clusters were read" },
              items: { type: "array", items: ref("Cluster") },
            },
            required: ["at", "items"],
          },
          ...errors(401),
        },
      },
    },
    async () => {
      const at = new Date().toISOString();
      return { at, items: await (await clusters()).readClusters(index.inventory()) };
    },
  );
};
