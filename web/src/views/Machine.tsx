/**
 * A host's machine on its host page: its power state and managed fields as the hypervisor
 * reports them, its snapshots, and for operators start, stop, reboot, snapshot and rollback
 * (`POST /api/hosts/:name/machine`, the code `keel vm` and `keel rollback` run). An action runs
 * on the server after the answer; the panel polls the machine every 2 s until it ends and shows
 * how it ended. Nothing is shown for a host Keel manages no machine for.
 */
import { type ReactNode, useEffect, useState } from "react";
import { ApiError, api, type MachineAction, type MachineActionState, type MachineDetail } from "../api.js";
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
      {a.action} by {a.who}: {a.state}
      {a.state === "running" ? "…" : `: ${a.message}`}
    </p>
  );
}

export function MachinePanel({ host }: { host: string }): ReactNode {
  const m = useApi<MachineDetail>(`api/hosts/${encodeURIComponent(host)}/machine`);
  const [to, setTo] = useState("");
  const [refused, setRefused] = useState<string | null>(null);
  const running = m.data?.action?.state === "running";
  const { reload } = m;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(reload, POLL_MS);
    return () => clearInterval(t);
  }, [running, reload]);
  if (m.error) return <p className="error">machine: {m.error.message}</p>;
  const d = m.data;
  if (!d?.machine) return null;
  const mc = d.machine;
  const act = async (action: MachineAction) => {
    setRefused(null);
    try {
      const body = action === "rollback" && to !== "" ? { action, snapshot: to } : { action };
      await api(`api/hosts/${encodeURIComponent(host)}/machine`, { method: "POST", body });
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 0;
      setRefused(`${action} refused (${status}): ${(e as Error).message}`);
    }
    reload();
  };
  const a = mc.actual;
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
