/**
 * The single pane's view of the inventory's Proxmox VE clusters (`GET /api/clusters`): per
 * hypervisor with driver `proxmox`, its quorum, its nodes and every QEMU machine on it, Keel's
 * or not, read through the cluster's API at the time of the request:
 *
 * - quorum and the cluster's name from `GET /cluster/status` (the `type: cluster` entry; a node
 *   without a cluster has none: quorum null);
 * - nodes from `GET /nodes`: status, CPU load (0–1), CPUs, memory used and total (bytes),
 *   uptime (s), null where the cluster gives none (an offline node);
 * - machines as the provider reads them (`readMachines`: QEMU only, templates flagged), each
 *   one's notes holding Keel's record or not: `managed` is the host it names when the record is
 *   this site's, else null.
 *
 * A cluster that cannot be read is listed with `error` and no nodes or machines: nothing is
 * made up. The API token is never part of an answer or an error (the client's errors never
 * carry it).
 */
import type { Inventory, ProxmoxHypervisor } from "../inventory/model.js";
import type { PowerState } from "../provision/provider.js";
import { parseRecord } from "../provision/proxmox/config.js";
import { powerOf, readMachines } from "../provision/proxmox/provider.js";
import { PveApiError } from "../pve/errors.js";
import { clientFor } from "../pve/hypervisor.js";

/** A node of a cluster (`GET /nodes`). */
export interface ClusterNode {
  name: string;
  /** Proxmox VE says `online`. */
  online: boolean;
  /** Proxmox VE's word: `online`, `offline` or `unknown`. */
  status: string;
  /** CPU load, 0 to 1 of all its CPUs; null when the cluster gives none. */
  cpu: number | null;
  cpus: number | null;
  /** Bytes. */
  memoryUsed: number | null;
  memoryTotal: number | null;
  uptimeSec: number | null;
}

/** A QEMU machine of a cluster. */
export interface ClusterMachine {
  vmid: number;
  /** Its name; `VM VMID` when it has none. */
  name: string;
  node: string;
  /** In Keel's words (as `MachineStatus.power`): running, shut off, paused, other. */
  power: PowerState;
  template: boolean;
  /** The Keel host of this site whose record its notes carry; null: a machine Keel does not manage. */
  managed: string | null;
  /** The node's own noVNC console page for it (see {@link consoleUrl}). */
  console: string;
}

/** One Proxmox VE hypervisor of the inventory as its API reports it now. */
export interface ClusterView {
  /** The hypervisor's name in the inventory. */
  name: string;
  /** The origin of the endpoint that answered (null when none did). */
  endpoint: string | null;
  /** The cluster's name; null for a node without a cluster, or when it could not be read. */
  cluster: string | null;
  /** Whether the cluster has quorum; null when unknown (no cluster entry, or not read). */
  quorate: boolean | null;
  nodes: ClusterNode[];
  /** By VMID. */
  machines: ClusterMachine[];
  /** Why the cluster could not be read; nodes and machines are then empty. */
  error?: string;
}

/**
 * The Proxmox VE web interface's own console URL for a machine (what its *Console* button
 * opens, `pve-manager` `PVE.Utils.openConsoleWindow` with `console=kvm&novnc=1`): the
 * operator logs in to the web interface there; Keel never passes its token.
 * @param endpoint an origin such as `https://vega.lab:8006`.
 */
export function consoleUrl(endpoint: string, vmid: number, name: string, node: string): string {
  const q = new URLSearchParams({
    console: "kvm",
    novnc: "1",
    vmid: String(vmid),
    vmname: name,
    node,
    resize: "off",
    cmd: "",
  });
  return `${endpoint}/?${q}`;
}

/**
 * The endpoint to open node `node`'s console on: the endpoint whose host name is the node's
 * (`https://vega.lab:8006` for node `vega`), else `used` (any node of a cluster proxies the
 * console to the machine's node).
 */
export function nodeEndpoint(h: ProxmoxHypervisor, node: string, used: string): string {
  for (const e of h.endpoints) {
    try {
      const u = new URL(e.url);
      if (u.hostname.split(".")[0]!.toLowerCase() === node.toLowerCase()) return u.origin;
    } catch {
      // not a URL: the inventory check refuses it; nothing to match
    }
  }
  return used;
}

/** `GET /cluster/status` entries, the fields read. */
interface StatusEntry {
  type: string;
  name?: string;
  quorate?: number | boolean;
}

/** `GET /nodes` entries, the fields read. */
interface NodeEntry {
  node: string;
  status: string;
  cpu?: number;
  maxcpu?: number;
  mem?: number;
  maxmem?: number;
  uptime?: number;
}

/**
 * Reads one cluster. Never throws: what went wrong is the view's `error` (the client's message,
 * naming the endpoints and why each failed, or the token's variable or file).
 */
export async function readCluster(h: ProxmoxHypervisor, site: string): Promise<ClusterView> {
  const view: ClusterView = {
    name: h.name,
    endpoint: null,
    cluster: null,
    quorate: null,
    nodes: [],
    machines: [],
  };
  try {
    const client = clientFor(h);
    const [status, nodes, vms] = await Promise.all([
      client.get<StatusEntry[]>("/cluster/status"),
      client.get<NodeEntry[]>("/nodes"),
      readMachines(client),
    ]);
    const used = client.currentEndpoint;
    const entry = status.find((s) => s.type === "cluster");
    const machines: ClusterMachine[] = vms.flatMap((m) => {
      if (!("config" in m)) {
        // removed since it was listed: not there any more
        if (m.error instanceof PveApiError && /does not exist/.test(m.error.reason)) return [];
        throw m.error;
      }
      const { resource: r, config } = m;
      const name = r.name ?? `VM ${r.vmid}`;
      const rec = parseRecord(config.description);
      return [
        {
          vmid: r.vmid,
          name,
          node: r.node,
          power: powerOf(r.status, config),
          template: r.template === 1,
          managed: rec?.site === site ? rec.host : null,
          console: consoleUrl(nodeEndpoint(h, r.node, used), r.vmid, name, r.node),
        },
      ];
    });
    const num = (v: number | undefined) => (typeof v === "number" ? v : null);
    const int = (v: number | undefined) => (typeof v === "number" ? Math.round(v) : null);
    return {
      ...view,
      endpoint: used,
      cluster: entry?.name ?? null,
      quorate: entry ? entry.quorate === 1 || entry.quorate === true : null,
      nodes: nodes
        .map((n) => ({
          name: n.node,
          online: n.status === "online",
          status: n.status,
          cpu: num(n.cpu),
          cpus: int(n.maxcpu),
          memoryUsed: int(n.mem),
          memoryTotal: int(n.maxmem),
          uptimeSec: int(n.uptime),
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      machines: machines.sort((a, b) => a.vmid - b.vmid),
    };
  } catch (e) {
    return { ...view, error: (e as Error).message };
  }
}

/** Every Proxmox VE hypervisor of `inv`, read in parallel, in inventory order. */
export async function readClusters(inv: Inventory): Promise<ClusterView[]> {
  const hvs = inv.hypervisors.filter((h): h is ProxmoxHypervisor => h.driver === "proxmox");
  return Promise.all(hvs.map((h) => readCluster(h, inv.site)));
}
