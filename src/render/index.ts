/**
 * The list of renderers. Adding an artifact kind touches its module, its test and this list.
 */
import type { Inventory } from "../inventory/model.js";
import { ansibleRenderer } from "./ansible.js";
import { cloudInitRenderer } from "./cloud-init.js";
import { dhcpRenderer } from "./dhcp.js";
import { dnsRenderer } from "./dns.js";
import { nftablesRenderer } from "./nftables.js";
import { prometheusRenderer } from "./prometheus.js";
import type { Output, RenderContext, Renderer, RenderKind } from "./types.js";
import { wireguardRenderer } from "./wireguard.js";

export type * from "./types.js";

/** Every renderer, in the order `keel render` runs them. */
export const renderers: Renderer[] = [
  dnsRenderer,
  dhcpRenderer,
  prometheusRenderer,
  nftablesRenderer,
  wireguardRenderer,
  ansibleRenderer,
  cloudInitRenderer,
];

/**
 * Runs the renderers of `kinds` (all when undefined) on `inv` and returns their files, sorted by
 * path. @throws UserError from a renderer, or when two renderers produce the same path (a bug).
 */
export async function renderAll(
  inv: Inventory,
  ctx: RenderContext,
  kinds?: readonly RenderKind[],
): Promise<Output[]> {
  const files: Output[] = [];
  for (const r of renderers) if (!kinds || kinds.includes(r.kind)) files.push(...(await r.render(inv, ctx)));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
