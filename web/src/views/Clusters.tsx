/**
 * Clusters: each Proxmox VE cluster of the inventory as its API reports it now
 * (`GET /api/clusters`): its quorum, its nodes (online or offline, CPU load, memory, uptime),
 * and every QEMU machine on it with its power state and node, the Keel host that manages it
 * (a link to that host's page, where its Machine section acts on it) or *unmanaged*, and the
 * console link (the node's own noVNC page, in a new tab: the operator logs in to Proxmox VE
 * there). A cluster that cannot be read shows why. Read again every 10 s.
 */
import { type ReactNode, useEffect } from "react";
import type { ClusterMachine, ClusterNode, Clusters as ClustersAnswer, ClusterView } from "../api.js";
import { age, bytes } from "../backups.js";
import { href, useApi } from "../hooks.js";

/** How often the view reads the clusters again, in ms. */
const POLL_MS = 10_000;

function Quorum({ c }: { c: ClusterView }): ReactNode {
  if (c.quorate === null) return <span className="badge s-unknown">no cluster quorum</span>;
  return (
    <span className={`badge ${c.quorate ? "s-ok" : "s-hard"}`} data-testid="quorum" data-quorate={c.quorate}>
      {c.quorate ? "quorate" : "no quorum"}
    </span>
  );
}

function NodeRow({ n }: { n: ClusterNode }): ReactNode {
  return (
    <tr data-testid="cluster-node" data-node={n.name} data-online={n.online}>
      <td>{n.name}</td>
      <td>
        <span className={`badge ${n.online ? "s-ok" : "s-hard"}`}>{n.status}</span>
      </td>
      <td>{n.cpu === null ? "—" : `${(n.cpu * 100).toFixed(0)} % of ${n.cpus ?? "?"} CPUs`}</td>
      <td>{n.memoryTotal === null ? "—" : `${bytes(n.memoryUsed)} of ${bytes(n.memoryTotal)}`}</td>
      <td>{n.uptimeSec === null ? "—" : age(n.uptimeSec)}</td>
    </tr>
  );
}

function MachineRow({ m }: { m: ClusterMachine }): ReactNode {
  return (
    <tr data-testid="cluster-machine" data-vmid={m.vmid} data-managed={m.managed ?? ""}>
      <td className="mono">{m.vmid}</td>
      <td>{m.name}</td>
      <td data-testid="cluster-machine-power">{m.template ? "template" : m.power}</td>
      <td>{m.node}</td>
      <td>
        {m.managed !== null ? (
          <a href={href("host", m.managed)} data-testid="cluster-machine-host">
            {m.managed}
          </a>
        ) : (
          <span className="muted">unmanaged</span>
        )}
      </td>
      <td>
        {m.template ? null : (
          <a href={m.console} target="_blank" rel="noopener noreferrer" data-testid="cluster-machine-console">
            console
          </a>
        )}
      </td>
    </tr>
  );
}

function Cluster({ c }: { c: ClusterView }): ReactNode {
  return (
    <section data-testid="cluster" data-cluster={c.name}>
      <h2>
        {c.name} {c.cluster !== null ? <span className="muted">(cluster {c.cluster})</span> : null}{" "}
        {c.error === undefined ? <Quorum c={c} /> : null}
      </h2>
      {c.error !== undefined ? (
        <p className="error" data-testid="cluster-error">
          cannot be read: {c.error}
        </p>
      ) : (
        <>
          <p className="muted">through {c.endpoint}</p>
          <h3>Nodes</h3>
          <table data-testid="cluster-nodes">
            <thead>
              <tr>
                <th>node</th>
                <th>state</th>
                <th>CPU</th>
                <th>memory</th>
                <th>uptime</th>
              </tr>
            </thead>
            <tbody>
              {c.nodes.map((n) => (
                <NodeRow key={n.name} n={n} />
              ))}
            </tbody>
          </table>
          <h3>Machines</h3>
          <table data-testid="cluster-machines">
            <thead>
              <tr>
                <th>VMID</th>
                <th>name</th>
                <th>power</th>
                <th>node</th>
                <th>managed</th>
                <th>console</th>
              </tr>
            </thead>
            <tbody>
              {c.machines.map((m) => (
                <MachineRow key={m.vmid} m={m} />
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function Clusters(): ReactNode {
  const r = useApi<ClustersAnswer>("api/clusters");
  const { reload } = r;
  useEffect(() => {
    const t = setInterval(reload, POLL_MS);
    return () => clearInterval(t);
  }, [reload]);
  if (r.error) return <p className="error">clusters: {r.error.message}</p>;
  if (!r.data) return <p className="muted">Reading the clusters…</p>;
  if (r.data.items.length === 0)
    return <p className="muted">The inventory has no Proxmox VE hypervisor (driver proxmox).</p>;
  return (
    <div data-testid="clusters">
      <h1>Clusters</h1>
      {r.data.items.map((c) => (
        <Cluster key={c.name} c={c} />
      ))}
    </div>
  );
}
