/**
 * A host's machine on its host page: its power state and managed fields as the hypervisor
 * reports them, its snapshots, and for operators start, stop, reboot, snapshot and rollback
 * (`POST /api/hosts/:name/machine`, the code `keel vm` and `keel rollback` run). A machine on a
 * Proxmox VE cluster also shows its node and console link (from `GET /api/clusters`) and can be
 * migrated to another node; the migration task's status is shown while it runs. An action runs
 * on the server after the answer; the panel polls the machine every 2 s until it ends and shows
 * how it ended. Nothing is shown for a host Keel manages no machine for.
 */
import { type ReactNode, useEffect, useState } from "react";
import {
  ApiError,
  api,
  type Clusters,
  type MachineAction,
  type MachineActionState,
  type MachineDetail,
} from "../api.js";
import { useApi } from "../hooks.js";

/** How often the panel reads the machine again while an action runs, in ms. */
const POLL_MS = 2000;

const BUTTONS: { action: MachineAction; label: string }[] = [
  { action: "start", label: "Start" },
  { action: "stop", label: "Stop" },
  { action: "reboot", label: "Reboot" },
  { action: "snapshot", label: "Take snapshot" },
  { action: "rollback", label: "Roll back" },
];

function ActionLine({ a }: { a: MachineActionState }): ReactNode {
  const cls = a.state === "failed" ? "error" : "muted";
  return (
    <p className={cls} data-testid="machine-action" data-state={a.state} data-action={a.action}>
      {a.action}
      {a.target !== undefined ? ` to ${a.target}` : ""} by {a.who}: {a.state}
      {a.state === "running" ? "…" : `: ${a.message}`}
      {a.progress !== undefined ? <span data-testid="machine-progress"> — {a.progress}</span> : null}
    </p>
  );
}

export function MachinePanel({ host }: { host: string }): ReactNode {
  const m = useApi<MachineDetail>(`api/hosts/${encodeURIComponent(host)}/machine`);
  const [to, setTo] = useState("");
  const [target, setTarget] = useState("");
  // a machine on a Proxmox VE cluster (it has a node): its cluster's nodes and its console link
  const onCluster = m.data?.machine?.node !== undefined;
  const cl = useApi<Clusters>(onCluster ? "api/clusters" : null);
  const [refused, setRefused] = useState<string | null>(null);
  const running = m.data?.action?.state === "running";
  const { reload } = m;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(reload, POLL_MS);
    return () => clearInterval(t);
  }, [running, reload]);
  // once an action ends, read the cluster again (a migrated machine's node and console link)
  const reloadCluster = cl.reload;
  useEffect(() => {
    if (!running) reloadCluster();
  }, [running, reloadCluster]);
  if (m.error) return <p className="error">machine: {m.error.message}</p>;
  const d = m.data;
  if (!d?.machine) return null;
  const mc = d.machine;
  const act = async (action: MachineAction) => {
    setRefused(null);
    try {
      const body =
        action === "rollback" && to !== ""
          ? { action, snapshot: to }
          : action === "migrate"
            ? { action, target }
            : { action };
      await api(`api/hosts/${encodeURIComponent(host)}/machine`, { method: "POST", body });
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 0;
      setRefused(`${action} refused (${status}): ${(e as Error).message}`);
    }
    reload();
  };
  const a = mc.actual;
  const cluster = cl.data?.items.find((c) => c.name === mc.hypervisor);
  const vm = cluster?.machines.find((x) => x.managed === host);
  const targets = (cluster?.nodes ?? []).filter((n) => n.name !== mc.node);
  return (
    <section data-testid="machine">
      <h2>Machine</h2>
      <div className="kv">
        <span className="muted">power</span>
        <span data-testid="machine-power" data-power={mc.power}>
          {mc.power}
          {mc.error ? ` (${mc.error})` : ""}
        </span>
        <span className="muted">hypervisor</span>
        <span>{mc.hypervisor}</span>
        {mc.node !== undefined ? (
          <>
            <span className="muted">node</span>
            <span data-testid="machine-node">
              {mc.node} (VMID {mc.vmid ?? "?"})
              {vm ? (
                <>
                  {" "}
                  <a
                    href={vm.console}
                    target="_blank"
                    rel="noopener noreferrer"
                    data-testid="machine-console"
                  >
                    console
                  </a>
                </>
              ) : null}
            </span>
          </>
        ) : null}
        {a ? (
          <>
            <span className="muted">size</span>
            <span>
              {a.vcpus ?? "?"} vCPUs, {a.memoryMiB ?? "?"} MiB, {a.diskGiB ?? "?"} GiB
              {a.autostart ? ", autostart" : ""}
            </span>
            <span className="muted">network</span>
            <span className="mono">
              {a.mac ?? "?"} on {a.bridge ?? "?"}
            </span>
          </>
        ) : null}
      </div>
      <span className="actions">
        {BUTTONS.map((b) => (
          <button
            key={b.action}
            type="button"
            disabled={running || mc.power === "absent" || mc.power === "unknown"}
            onClick={() => act(b.action)}
            data-testid={`machine-${b.action}`}
          >
            {b.label}
          </button>
        ))}
        <select
          value={to}
          onChange={(e) => setTo(e.currentTarget.value)}
          data-testid="machine-rollback-to"
          title="the snapshot Roll back reverts to"
        >
          <option value="">newest snapshot</option>
          {mc.snapshots.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        {mc.node !== undefined ? (
          <>
            <select
              value={target}
              onChange={(e) => setTarget(e.currentTarget.value)}
              data-testid="machine-migrate-target"
              title="the node Migrate moves the machine to"
            >
              <option value="">target node…</option>
              {targets.map((n) => (
                <option key={n.name} value={n.name} disabled={!n.online}>
                  {n.name}
                  {n.online ? "" : " (offline)"}
                </option>
              ))}
            </select>
            <button
              type="button"
              disabled={running || target === "" || mc.power === "absent" || mc.power === "unknown"}
              onClick={() => act("migrate")}
              data-testid="machine-migrate"
            >
              Migrate
            </button>
          </>
        ) : null}
      </span>
      {refused ? (
        <p className="error" data-testid="machine-refused">
          {refused}
        </p>
      ) : null}
      {d.action ? <ActionLine a={d.action} /> : null}
      {mc.snapshots.length === 0 ? <p className="muted">No snapshots.</p> : null}
      <table data-testid="machine-snapshots" hidden={mc.snapshots.length === 0}>
        <thead>
          <tr>
            <th>snapshot</th>
            <th>taken</th>
            <th>description</th>
          </tr>
        </thead>
        <tbody>
          {mc.snapshots.map((s) => (
            <tr key={s.name}>
              <td className="mono">{s.name}</td>
              <td>{s.createdAt}</td>
              <td>{s.description}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
