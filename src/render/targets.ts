/**
 * Prometheus HTTP service discovery (`http_sd_configs`) from the inventory.
 *
 * Format (Prometheus docs, "HTTP SD"): a JSON array of target groups
 * `[{ "targets": ["host:port"], "labels": { NAME: VALUE } }]`, served as `application/json`
 * with status 200; an empty list is `[]`. Label names match `[a-zA-Z_][a-zA-Z0-9_]*`; labels
 * starting with `__meta_` are available to relabelling and dropped afterwards.
 *
 * Which targets: every service whose kind exposes Prometheus metrics at `/metrics` on its own
 * port, one target group per service: `node_exporter` by default (these are added to every
 * host tagged `monitored`), and `prometheus` and `grafana` when asked for with `?kind=`.
 */
import type { Host, Inventory, Service, ServiceKind } from "../inventory/model.js";
import { hostPort } from "../net/hostport.js";

/** One target group of the HTTP SD answer. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Service kinds that serve Prometheus metrics at `/metrics` on the service port. */
export const SD_KINDS = ["node_exporter", "prometheus", "grafana"] as const satisfies readonly ServiceKind[];
export type SdKind = (typeof SD_KINDS)[number];

/** Options of {@link scrapeTargets}. */
export interface SdOptions {
  /** Service kinds to list (default `["node_exporter"]`). */
  kinds?: readonly SdKind[];
  /**
   * Scrape each host at its address on this network (hosts without one are left out); by
   * default at the host's first (primary) address.
   */
  network?: string;
  /**
   * Where each host is scraped, instead of `network`: its address and that address's network,
   * or undefined to leave the host out (`keel render` scrapes on the network a host shares with
   * the Prometheus server).
   */
  at?: (h: Host) => { address: string; network: string } | undefined;
  /**
   * Adds the plain label `tags` (the same `,a,b,` text as `__meta_keel_tags`), which outlives
   * relabelling: `keel render`'s file SD targets carry it.
   */
  tagsLabel?: boolean;
}

/** `vpn-gateway` → `vpn_gateway`: a tag as a Prometheus label name suffix. */
export function tagLabelName(tag: string): string {
  return `__meta_keel_tag_${tag.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

function addressOf(h: Host, network: string | undefined): { address: string; network: string } | undefined {
  const a = network === undefined ? h.addresses[0] : h.addresses.find((x) => x.network === network);
  return a ? { address: a.address, network: a.network } : undefined;
}

/**
 * The HTTP SD target groups of an inventory, in inventory order. Labels of each group:
 * `site`, `host`, `service` (the service name), and the meta labels `__meta_keel_kind`,
 * `__meta_keel_network`, `__meta_keel_tags` (`,a,b,`: comma-separated with a leading and
 * trailing comma, as Prometheus' own `__meta_*_tags` labels, so `.*,a,.*` matches a tag) and
 * one `__meta_keel_tag_NAME: "true"` per tag (non-alphanumerics in NAME become `_`).
 * Only TCP services are listed. Used by `keel serve` (`/sd/prometheus`) and `keel render`
 * (Prometheus' file SD targets), so both list the same targets with the same labels.
 */
export function scrapeTargets(inv: Inventory, opts: SdOptions = {}): TargetGroup[] {
  const kinds = new Set<string>(opts.kinds ?? ["node_exporter"]);
  const out: TargetGroup[] = [];
  for (const h of inv.hosts) {
    const where = opts.at ? opts.at(h) : addressOf(h, opts.network);
    if (!where) continue;
    const tags = h.tags.length ? `,${h.tags.join(",")},` : "";
    for (const s of h.services as Service[]) {
      if (s.kind === undefined || !kinds.has(s.kind) || s.protocol !== "tcp") continue;
      const labels: Record<string, string> = { site: inv.site, host: h.name, service: s.name };
      if (opts.tagsLabel) labels.tags = tags;
      labels.__meta_keel_kind = s.kind;
      labels.__meta_keel_network = where.network;
      labels.__meta_keel_tags = tags;
      for (const t of h.tags) labels[tagLabelName(t)] = "true";
      out.push({ targets: [hostPort(where.address, s.port)], labels });
    }
  }
  return out;
}
