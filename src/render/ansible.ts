/**
 * Ansible inventory of `keel render` (contract `docs/render.md`):
 * `ansible/inventory.yml`, in the YAML inventory format (Ansible docs, "How to build your
 * inventory"; the `yaml` inventory plugin).
 *
 * - `all.hosts`: every host, with `ansible_host` (its first address), and, unless the host says
 *   `ssh: false`, `ansible_user`, `ansible_port` and `ansible_ssh_private_key_file` (the identity
 *   path as written) from its SSH settings.
 * - `all.children`: one group per tag, holding the hosts with that tag. Group names must be
 *   valid Python identifiers for Ansible: every character outside `[A-Za-z0-9_]` becomes `_`
 *   (`vpn-gateway` → `vpn_gateway`), a name starting with a digit or equal to `all` or
 *   `ungrouped` gets the prefix `tag_`. Tags that map to the same name share the group.
 */
import type { Inventory } from "../inventory/model.js";
import type { RenderedFile, Renderer } from "./types.js";
import { toYaml } from "./yaml.js";

/** The Ansible group name of a tag (see module doc). */
export function groupName(tag: string): string {
  const g = tag.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(g) || g === "all" || g === "ungrouped" ? `tag_${g}` : g;
}

/** The inventory document (see module doc). */
export function ansibleInventory(inv: Inventory): unknown {
  const hosts: Record<string, Record<string, string | number>> = {};
  const groups = new Map<string, Record<string, null>>();
  for (const h of inv.hosts) {
    const vars: Record<string, string | number> = {};
    const primary = h.addresses[0];
    if (primary) vars.ansible_host = primary.address;
    if (h.ssh) {
      vars.ansible_user = h.ssh.user;
      vars.ansible_port = h.ssh.port;
      if (h.ssh.identity !== undefined) vars.ansible_ssh_private_key_file = h.ssh.identity;
    }
    hosts[h.name] = vars;
    for (const t of h.tags) {
      const g = groupName(t);
      if (!groups.has(g)) groups.set(g, {});
      groups.get(g)![h.name] = null;
    }
  }
  const children: Record<string, { hosts: Record<string, null> }> = {};
  for (const g of [...groups.keys()].sort()) children[g] = { hosts: groups.get(g)! };
  return { all: { vars: { keel_site: inv.site }, hosts, ...(groups.size ? { children } : {}) } };
}

/** The Ansible renderer: `ansible/inventory.yml`. */
export const ansibleRenderer: Renderer<RenderedFile> = {
  kind: "ansible",
  render(inv: Inventory): RenderedFile[] {
    return [
      {
        path: "ansible/inventory.yml",
        content:
          "# Rendered by keel render from the inventory; edit the inventory, not this file.\n" +
          toYaml(ansibleInventory(inv)),
      },
    ];
  },
};
