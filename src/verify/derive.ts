/**
 * Inventory → CheckSpec[]: the day-2 checklist compiled from the inventory. Pure and
 * deterministic: the same inventory always yields the same checks in the same order.
 *
 * Semantics follow `shared/design/inventory.md` ("Who may reach what" and "What the inventory
 * promises"):
 * - `allow` admits a vantage when it lists `any`, the vantage's name, one of the vantage's
 *   networks, or the vantage's host (`via: HOST` or a local vantage's `host:`).
 * - A vantage probes a host at the host's address on the first network they share, else at the
 *   host's first address (reached by routing).
 * - A vantage may reach a host when they share a network or one of the host's services admits
 *   the vantage; only those vantages get network checks of that host.
 * - A `via` vantage does not probe its own host: those checks are derived with `skip`.
 * - Checks that run on the host itself over SSH (listeners, sysctl, wireguard.peers) use the
 *   first vantage whose SSH access `allow` admits; their ids carry no `@VANTAGE`.
 * - Content checks (http, prometheus.targets, grafana, node_exporter) run from the first vantage
 *   the service admits, so a site is not asked the same question from every vantage.
 * - `dns.records` runs for every host in `dns.servers` (of a site with a `domain`) from every
 *   vantage its service of kind `dns` admits (without one: every vantage that may reach it), as
 *   `NS/dns.records/SERVICE@VANTAGE` (`NS/dns.records@VANTAGE` without a dns service): a
 *   resolver answering differently on one path is what it is there to find.
 * - A UDP service's `port.open`/`port.closed` carry its protocol probe (`UdpServiceProbe`): a
 *   DNS query for kind `dns`; for the host's WireGuard listen port (`port.open` only), the
 *   interface's handshakes over SSH from the same vantage, when it may log in.
 * - Checks of an inventory entry that is not a host (a Proxmox VE hypervisor's cluster and Ceph)
 *   come after every host's, asked by the machine running Keel: from the first selected local
 *   vantage, as `NAME/KIND[/SERVICE]`; without a local vantage among the selected, `skip`.
 *
 * This module holds the shared rules (who may reach what, which address to probe from where,
 * which vantage runs once-per-site and on-host checks, ids, skips); what each kind derives at a
 * site is its module's `derive` (`checks/KIND.ts`), called here in the order of `DeriveScope`.
 */

import { resolveIdentityPath } from "../inventory/load.js";
import type { Host, Inventory, Vantage } from "../inventory/model.js";
import { checkKinds } from "./checks/index.js";
import { admits, allowSummary, mayReach, probeAddress, sshAllow } from "./reach.js";
import type {
  CheckKind,
  CheckSpec,
  DeriveContext,
  DerivedOnHost,
  DeriveScope,
  ProbeSite,
  SshTarget,
} from "./types.js";
import { CHECK_KINDS } from "./types.js";

// Kept where callers have found it: the records are dns.records' own (`checks/dns-records.ts`).
export { expectedRecords } from "./checks/dns-records.js";
export { admits, mayReach, probeAddress } from "./reach.js";

export interface DeriveOptions {
  /**
   * Restrict derivation to these vantages (`--vantage`): checks from other vantages are not
   * derived, and once-per-site checks pick their vantage among these only.
   */
  vantages?: string[];
  /** Also derive the kinds marked `onDemand` (restore rehearsals): `keel serve` does, `keel verify` does not. */
  onDemand?: boolean;
}

/** Builds a check id `HOST/KIND[/SERVICE][@VANTAGE]` (the contract's stable id format). */
export function checkId(host: string, kind: CheckKind, service?: string, vantage?: string): string {
  return `${host}/${kind}${service ? `/${service}` : ""}${vantage ? `@${vantage}` : ""}`;
}

/** How vantage `v` logs in to host `h` over SSH; undefined when the host has `ssh: false`. */
export function sshTarget(inv: Inventory, h: Host, v: Vantage): SshTarget | undefined {
  if (!h.ssh) return undefined;
  const target: SshTarget = { host: h.name, address: probeAddress(h, v), port: h.ssh.port, user: h.ssh.user };
  if (h.ssh.identity) target.identity = resolveIdentityPath(inv, h.ssh.identity);
  return target;
}

/** The registered kinds of `scope`, in `CHECK_KINDS` order; on-demand kinds only when `onDemand`. */
function kindsOf(scope: DeriveScope, onDemand: boolean): CheckKind[] {
  return CHECK_KINDS.filter((k) => checkKinds[k].scope === scope && (onDemand || !checkKinds[k].onDemand));
}

/**
 * Derives every check of the inventory.
 *
 * @returns specs in a stable order: hosts in declaration order; per host, network checks per
 *   vantage (`path` kinds, `port` kinds per service, `server` kinds), then content checks per
 *   service, then on-host checks; then the `entry` kinds' checks (hypervisors); kinds of one
 *   scope in `CHECK_KINDS` order.
 */
export function deriveChecks(inv: Inventory, opts: DeriveOptions = {}): CheckSpec[] {
  const vantages = opts.vantages ? inv.vantages.filter((v) => opts.vantages?.includes(v.name)) : inv.vantages;
  const memo = new Map<string, unknown>();
  const ctx: DeriveContext = {
    inv,
    vantages,
    hostsByName: new Map(inv.hosts.map((h) => [h.name, h])),
    domain: inv.domain?.replace(/\.$/, "").toLowerCase(),
    sshTarget: (h, v) => sshTarget(inv, h, v),
    once<T>(key: string, make: () => T): T {
      if (!memo.has(key)) memo.set(key, make());
      return memo.get(key) as T;
    },
  };
  const [path, port, server, content, onHost, entry] = (
    ["path", "port", "server", "content", "on-host", "entry"] as const
  ).map((scope) => kindsOf(scope, opts.onDemand === true)) as [
    CheckKind[],
    CheckKind[],
    CheckKind[],
    CheckKind[],
    CheckKind[],
    CheckKind[],
  ];
  const specs: CheckSpec[] = [];

  const add = (
    h: Host,
    kind: CheckKind,
    v: Vantage,
    params: unknown,
    service?: string,
    withVantage = true,
  ): CheckSpec => {
    const spec: CheckSpec = {
      id: checkId(h.name, kind, service, withVantage ? v.name : undefined),
      kind,
      host: h.name,
      vantage: v.name,
      params: params as CheckSpec["params"],
    };
    if (service !== undefined) spec.service = service;
    specs.push(spec);
    return spec;
  };
  /** Adds the checks kinds `kinds` derive at `site`. */
  const deriveAt = (kinds: CheckKind[], site: ProbeSite): void => {
    for (const kind of kinds) {
      const mod = checkKinds[kind];
      if (mod.scope === "on-host" || mod.scope === "entry") continue;
      for (const d of mod.derive(site, ctx)) add(site.host, kind, site.vantage, d.params, d.service);
    }
  };

  for (const h of inv.hosts) {
    // Network checks, from every vantage that may reach the host.
    for (const v of vantages) {
      if (!mayReach(h, v)) continue;
      const first = specs.length;
      const address = probeAddress(h, v);
      deriveAt(path, { host: h, vantage: v, address });
      for (const s of h.services) deriveAt(port, { host: h, vantage: v, address, service: s });
      deriveAt(server, { host: h, vantage: v, address });
      if (v.type === "via" && v.via === h.name) {
        for (const spec of specs.slice(first)) spec.skip = `vantage ${v.name} runs on ${h.name} itself`;
      }
    }

    // Content checks, once, from the first vantage the service admits (not one running on the host).
    for (const s of h.services) {
      const v = vantages.find((x) => admits(s.allow, x) && !(x.type === "via" && x.via === h.name));
      if (!v) continue;
      deriveAt(content, { host: h, vantage: v, address: probeAddress(h, v), service: s });
    }

    // On-host checks over SSH, through the first vantage SSH admits.
    const transport = h.ssh
      ? vantages.find((v) => mayReach(h, v) && admits(sshAllow(h), v) && v.via !== h.name)
      : undefined;
    for (const kind of onHost) {
      const mod = checkKinds[kind];
      if (mod.scope !== "on-host") continue;
      for (const item of mod.derive(h, ctx)) {
        if (transport) {
          const target = sshTarget(inv, h, transport);
          if (target) ownSchedule(add(h, kind, transport, item.make(target), item.service, false), item);
          continue;
        }
        // No way in: still list the check so the report shows the promise as undecided.
        const reason = !h.ssh
          ? `${h.name} has ssh: false, so host-side checks cannot run`
          : `no selected vantage may reach ${h.name}'s SSH port (allow: ${allowSummary(h.ssh.allow)})`;
        const placeholder: SshTarget = {
          host: h.name,
          address: h.addresses[0]?.address ?? "",
          port: 0,
          user: "",
        };
        const spec: CheckSpec = {
          id: checkId(h.name, kind, item.service),
          kind,
          host: h.name,
          vantage: "",
          params: item.make(placeholder) as CheckSpec["params"],
          skip: reason,
        };
        if (item.service !== undefined) spec.service = item.service;
        specs.push(ownSchedule(spec, item));
      }
    }
  }

  // Checks of entries that are not hosts, asked by the machine running Keel (a local vantage).
  const local = vantages.find((v) => v.type === "local");
  for (const kind of entry) {
    const mod = checkKinds[kind];
    if (mod.scope !== "entry") continue;
    for (const d of mod.derive(ctx)) {
      const spec: CheckSpec = {
        id: checkId(d.entry, kind, d.service),
        kind,
        host: d.entry,
        vantage: local?.name ?? "",
        params: d.params as CheckSpec["params"],
      };
      if (d.service !== undefined) spec.service = d.service;
      if (!local)
        spec.skip = `${kind} is asked by the machine running Keel, and no selected vantage is local (${vantages.map((v) => v.name).join(", ") || "none"})`;
      specs.push(spec);
    }
  }
  return specs;
}

/** Copies what an on-host check declares of its own schedule (interval, deadline, `failAfter`) onto its spec. */
function ownSchedule(spec: CheckSpec, item: DerivedOnHost<unknown>): CheckSpec {
  if (item.intervalMs !== undefined) spec.intervalMs = item.intervalMs;
  if (item.timeoutMs !== undefined) spec.timeoutMs = item.timeoutMs;
  if (item.failAfter !== undefined) spec.failAfter = item.failAfter;
  return spec;
}
