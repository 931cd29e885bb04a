/**
 * A host: its addresses and services, its machine (power state and actions, when Keel manages
 * one), the posture matrix (service × vantage: expected
 * open/closed against the observed port state), its checks and their state timeline.
 * Live events patch the checks and posture cells of this host at once.
 */
import type { ReactNode } from "react";
import type { CheckState, HostDetail, PostureCell } from "../api.js";
import { CheckTable, RunButton } from "../components.js";
import { latestStates } from "../events.js";
import { useApi, useLive } from "../hooks.js";
import { cellText } from "../posture.js";
import { MachinePanel } from "./Machine.js";
import { Timeline } from "./Timeline.js";

/** `ok` of a posture cell from a check's latest status: pass → true, fail/error → false. */
function cellOk(s: CheckState): boolean | null {
  if (s.status === "pass") return true;
  if (s.status === "fail" || s.status === "error") return false;
  return null;
}

/** Applies live states to the cells whose check they are. */
export function patchPosture(cells: PostureCell[], updates: Map<string, CheckState>): PostureCell[] {
  let changed = false;
  const out = cells.map((cell) => {
    const s = cell.checkId ? updates.get(cell.checkId) : undefined;
    if (!s) return cell;
    changed = true;
    const observed = (s.observed?.state as PostureCell["observed"] | undefined) ?? null;
    return { ...cell, observed, ok: cellOk(s) };
  });
  return changed ? out : cells;
}

function PostureMatrix({ posture }: { posture: HostDetail["posture"] }): ReactNode {
  const byKey = new Map(posture.cells.map((c) => [`${c.service}\u0000${c.vantage}`, c]));
  if (posture.services.length === 0 || posture.vantages.length === 0)
    return <p className="muted">No port checks for this host.</p>;
  return (
    <table className="matrix" data-testid="posture">
      <thead>
        <tr>
          <th>service \ vantage</th>
          {posture.vantages.map((v) => (
            <th key={v}>{v}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {posture.services.map((s) => (
          <tr key={s}>
            <th>{s}</th>
            {posture.vantages.map((v) => {
              const c = byKey.get(`${s}\u0000${v}`);
              if (!c)
                return (
                  <td key={v} className="cell cell-none" data-testid={`posture-${s}-${v}`} data-ok="none">
                    —
                  </td>
                );
              const cls = c.ok === false ? "cell-bad" : c.ok === true ? "cell-ok" : "cell-none";
              const body = cellText(c);
              return (
                <td
                  key={v}
                  className={`cell ${cls}`}
                  data-testid={`posture-${s}-${v}`}
                  data-ok={c.ok === null ? "none" : String(c.ok)}
                  data-observed={c.observed ?? ""}
                  title={c.checkId ?? ""}
                >
                  {c.checkId ? <a href={`#/check/${encodeURIComponent(c.checkId)}`}>{body}</a> : body}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Host({ name }: { name: string }): ReactNode {
  const h = useApi<HostDetail>(`api/hosts/${encodeURIComponent(name)}`);
  useLive((events) => {
    const updates = latestStates(events);
    if (updates.size === 0) return;
    h.set((d) => {
      const mine = new Map([...updates].filter(([, s]) => s.host === d.host.name));
      if (mine.size === 0) return d;
      return {
        ...d,
        checks: d.checks.map((c) => mine.get(c.id) ?? c),
        posture: { ...d.posture, cells: patchPosture(d.posture.cells, mine) },
      };
    });
  });
  if (h.error)
    return (
      <p className="error">
        host {name}: {h.error.message}
      </p>
    );
  const d = h.data;
  if (!d) return <p className="muted">loading…</p>;
  const failing = d.checks.filter((c) => c.state === "hard" || c.state === "soft").length;
  return (
    <div data-testid="host-page">
      <h1>
        {d.host.name}{" "}
        <span className="muted">
          {d.checks.length} checks, {failing} failing
        </span>
      </h1>
      <div className="kv">
        <span className="muted">addresses</span>
        <span className="mono">{d.host.addresses.map((a) => `${a.address} (${a.network})`).join(", ")}</span>
        <span className="muted">tags</span>
        <span>{d.host.tags.join(", ") || "—"}</span>
      </div>
      <RunButton selector={{ host: d.host.name }} label="Run this host's checks now" onDone={h.reload} />
      <MachinePanel host={d.host.name} />
      <h2>Services</h2>
      <table data-testid="services">
        <thead>
          <tr>
            <th>service</th>
            <th>kind</th>
            <th>port</th>
            <th>allow</th>
          </tr>
        </thead>
        <tbody>
          {d.host.services.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>{s.kind ?? "—"}</td>
              <td className="mono">
                {s.port}/{s.protocol}
              </td>
              <td>{s.allow.join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Posture (service × vantage)</h2>
      <PostureMatrix posture={d.posture} />
      <h2>Checks</h2>
      <CheckTable checks={d.checks} testId="host-checks" />
      <h2>State timeline</h2>
      <Timeline checks={d.checks} />
    </div>
  );
}
