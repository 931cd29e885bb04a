/** `GET /api/inventory`: the served inventory without its secrets, and its problems. */
import type { Host, Inventory } from "../../inventory/model.js";
import { errors, ref } from "../schemas.js";
import type { ApiRoutes } from "./context.js";

/** The inventory without secrets (no SSH identities, no tokens, no serve/alerts settings). */
function publicInventory(inv: Inventory) {
  return {
    site: inv.site,
    ...(inv.domain !== undefined ? { domain: inv.domain } : {}),
    file: inv.file,
    networks: inv.networks.map(({ pos: _pos, ...n }) => n),
    hosts: inv.hosts.map(publicHost),
    vantages: inv.vantages.map(({ pos: _pos, ...v }) => v),
  };
}

/** A host without secrets: its SSH settings lose the identity, its items their positions. */
export function publicHost(h: Host) {
  return {
    name: h.name,
    addresses: h.addresses,
    tags: h.tags,
    services: h.services.map(({ pos: _pos, ...s }) => s),
    sysctl: h.sysctl,
    ...(h.wireguard ? { wireguard: h.wireguard } : {}),
    ...(h.ssh ? { ssh: { user: h.ssh.user, port: h.ssh.port, allow: h.ssh.allow } } : {}),
  };
}

/** The inventory route (viewer). */
export const inventoryRoutes: ApiRoutes = async (app, { engine, index }) => {
  app.get(
    "/api/inventory",
    {
      config: { role: "viewer" },
      schema: {
        summary: "The served inventory, without secrets",
        response: {
          200: {
            type: "object",
            properties: {
              site: { type: "string" },
              domain: { type: "string" },
              file: { type: "string" },
              networks: { type: "array", items: ref("Network") },
              hosts: { type: "array", items: ref("Host") },
              vantages: { type: "array", items: ref("Vantage") },
              problems: { type: "array", items: ref("Problem") },
            },
            required: ["site", "file", "networks", "hosts", "vantages", "problems"],
          },
          ...errors(401),
        },
      },
    },
    async () => ({ ...publicInventory(index.inventory()), problems: engine.problems() }),
  );
};
