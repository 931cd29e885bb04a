/**
 * `proxmox.cluster`: a Proxmox VE hypervisor's cluster is quorate and every node is online.
 * Asked by the machine running Keel through the hypervisor's API (its endpoints in order, each
 * pinned to its certificate): Proxmox VE API, GET /cluster/status (an item of type `cluster`
 * with `name`, `nodes` and `quorate`, and one of type `node` per member with `name` and
 * `online`; a single-node install has no `cluster` item) and GET /nodes (each node's `status`:
 * online, offline or unknown). Both need `Sys.Audit` on `/` for the cluster's status. An API
 * that cannot be reached or a refused token is `error`: Keel could not observe.
 */
import type { CheckKindDefinition, CheckOutcome } from "../kind.js";
import { undecided } from "./common.js";
import { deriveProxmox, type ProxmoxTarget, proxmoxClient, proxmoxError } from "./proxmox-common.js";

/** The params of a `proxmox.cluster` check: derived once per hypervisor with driver `proxmox`. */
export interface ProxmoxClusterParams {
  kind: "proxmox.cluster";
  hypervisor: ProxmoxTarget;
}

/**
 * One item of GET /cluster/status (Proxmox VE API), as far as the check reads it: the
 * cluster's (`type: "cluster"`: `name`, `nodes` the member count, `quorate`) or a member's
 * (`type: "node"`: `name`, `online`). The schema types `quorate` and `online` as booleans; the
 * API sends 0 or 1.
 */
export interface ClusterStatusItem {
  type: string;
  name: string;
  nodes?: number;
  quorate?: number | boolean;
  online?: number | boolean;
}

/** One item of GET /nodes (Proxmox VE API): a node's name and `status` (`online`, `offline`, `unknown`). */
export interface NodeIndexItem {
  node: string;
  status: string;
}

/** A node as the check judges it. */
type NodeState = "online" | "offline" | "unknown";

const truthy = (v: unknown): boolean => v === 1 || v === true || v === "1";

/**
 * Judges the answers of GET /cluster/status (`status`) and GET /nodes (`nodes`): pass when the
 * cluster is quorate and every node is online; fail naming each problem — the cluster without
 * quorum (with how many of its nodes are online), a node offline (either answer says so), a node
 * whose status is unknown. Without a `cluster` item (a single node, no cluster) only the nodes
 * are judged. Answers that list no node at all are `error`.
 */
export function judgeCluster(
  status: readonly ClusterStatusItem[],
  nodes: readonly NodeIndexItem[],
): CheckOutcome {
  const cluster = status.find((i) => i.type === "cluster");
  const members = status.filter((i) => i.type === "node" && typeof i.name === "string");
  const indexed = new Map(nodes.filter((n) => typeof n.node === "string").map((n) => [n.node, n.status]));
  const names = [...new Set([...members.map((m) => m.name), ...indexed.keys()])];
  if (names.length === 0)
    return undecided("GET /cluster/status and GET /nodes list no node; expected the cluster's nodes");

  const states: Record<string, NodeState> = {};
  for (const name of names) {
    const member = members.find((m) => m.name === name);
    const listed = indexed.get(name);
    const memberOffline = member?.online !== undefined && !truthy(member.online);
    if (listed === "offline" || memberOffline) states[name] = "offline";
    else if (listed === "online" || (listed === undefined && member?.online !== undefined))
      states[name] = "online";
    else states[name] = "unknown";
  }
  const online = names.filter((n) => states[n] === "online");
  const quorate = cluster ? truthy(cluster.quorate) : null;
  const observed = { cluster: cluster?.name ?? null, quorate, nodes: states };

  const problems: string[] = [];
  if (cluster && !quorate) {
    const total = typeof cluster.nodes === "number" ? cluster.nodes : members.length;
    problems.push(`cluster ${cluster.name} has no quorum (${online.length} of ${total} nodes online)`);
  }
  for (const name of names) {
    if (states[name] === "offline") problems.push(`node ${name} is offline`);
    else if (states[name] === "unknown") problems.push(`node ${name}'s status is unknown`);
  }
  if (problems.length > 0) return { status: "fail", message: problems.join("; "), observed };
  if (!cluster)
    return {
      status: "pass",
      message:
        names.length === 1
          ? `node ${names[0]} is online (a single node, not a cluster)`
          : `nodes ${names.join(", ")} are online (no cluster)`,
      observed,
    };
  return {
    status: "pass",
    message: `cluster ${cluster.name} is quorate; ${online.length} of ${names.length} nodes online (${online.join(", ")})`,
    observed,
  };
}

/** Asks GET /cluster/status and GET /nodes of the hypervisor and judges them with `judgeCluster`. */
export const proxmoxCluster: CheckKindDefinition<"proxmox.cluster", ProxmoxClusterParams> = {
  kind: "proxmox.cluster",
  transport: "network",
  scope: "entry",
  derive(ctx) {
    return deriveProxmox("proxmox.cluster", ctx);
  },
  async run(spec, ctx) {
    const h = spec.params.hypervisor;
    try {
      const client = await proxmoxClient(h, ctx);
      const [status, nodes] = await Promise.all([
        client.get<unknown>("/cluster/status"),
        client.get<unknown>("/nodes"),
      ]);
      if (!Array.isArray(status))
        return undecided(`hypervisor "${h.name}": GET /cluster/status answered something other than a list`);
      if (!Array.isArray(nodes))
        return undecided(`hypervisor "${h.name}": GET /nodes answered something other than a list`);
      return judgeCluster(status as ClusterStatusItem[], nodes as NodeIndexItem[]);
    } catch (e) {
      return proxmoxError(h, e, "Sys.Audit on /");
    }
  },
};
