/** Small pieces shared by the views: badges, check rows, the Run now button, time formatting. */
import { type ReactNode, useState } from "react";
import {
  ApiError,
  api,
  type CheckResult,
  type CheckState,
  type CheckStatus,
  type HardState,
  type Problem,
  type RunSelector,
} from "./api.js";
import { href } from "./hooks.js";

/** A hard/soft state badge, with flapping and suppression marks. */
export function StateBadge({ s }: { s: Pick<CheckState, "state" | "flapping" | "suppressedBy"> }): ReactNode {
  return (
    <span>
      <span className={`badge s-${s.state}`} data-testid="state">
        {s.state}
      </span>
      {s.flapping ? (
        <span className="badge s-soft" title="too many state changes within the flapping window">
          flapping
        </span>
      ) : null}
      {s.suppressedBy ? (
        <span className="badge s-unknown" title={`suppressed: ${s.suppressedBy} is failing`}>
          suppressed
        </span>
      ) : null}
    </span>
  );
}

/** The latest result's status. */
export function StatusBadge({ status }: { status: CheckStatus | null }): ReactNode {
  return <span className={`badge s-${status ?? "none"}`}>{status ?? "—"}</span>;
}

export function StateOnly({ state }: { state: HardState }): ReactNode {
  return <span className={`badge s-${state}`}>{state}</span>;
}

/** "12s ago", "3m ago", "in 20s"; `—` for null. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = Math.round((now - t) / 1000);
  const abs = Math.abs(d);
  const s =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.floor(abs / 60)}m`
        : abs < 86400
          ? `${Math.floor(abs / 3600)}h`
          : `${Math.floor(abs / 86400)}d`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

export function CheckLink({ id }: { id: string }): ReactNode {
  return (
    <a href={href("check", id)} className="mono">
      {id}
    </a>
  );
}

/** A dense table of check states (failing checks, a host's checks). */
export function CheckTable({ checks, testId }: { checks: CheckState[]; testId: string }): ReactNode {
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          <th>check</th>
          <th>state</th>
          <th>status</th>
          <th>since</th>
          <th>message</th>
        </tr>
      </thead>
      <tbody>
        {checks.map((c) => (
          <tr
            key={c.id}
            data-testid="check-row"
            data-check={c.id}
            data-state={c.state}
            data-status={c.status}
          >
            <td>
              <CheckLink id={c.id} />
            </td>
            <td>
              <StateBadge s={c} />
            </td>
            <td>
              <StatusBadge status={c.status} />
            </td>
            <td title={c.since ?? ""}>{ago(c.since)}</td>
            <td className="msg">{c.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Inventory validation errors, located as `file:line:col: message`. */
export function ProblemList({ problems }: { problems: Problem[] }): ReactNode {
  return (
    <ul data-testid="problems">
      {problems.map((p) => {
        const where = p.pos ? `${p.pos.file}:${p.pos.line}:${p.pos.col}` : "";
        return (
          <li key={`${where}:${p.message}`} className="mono">
            {where ? `${where}: ` : ""}
            {p.message}
          </li>
        );
      })}
    </ul>
  );
}

/**
 * "Run now": `POST /api/runs` with `selector` (operators only). Shows how many results came
 * back, or the server's error: a viewer token gets 403 and its message.
 */
export function RunButton({
  selector,
  label,
  onDone,
}: {
  selector: RunSelector;
  label: string;
  onDone?: (results: CheckResult[]) => void;
}): ReactNode {
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const run = async () => {
    setBusy(true);
    setMsg(null);
    try {
      const r = await api<{ results: CheckResult[] }>("api/runs", { method: "POST", body: selector });
      const bad = r.results.filter((x) => x.status === "fail" || x.status === "error").length;
      setMsg({ ok: true, text: `ran ${r.results.length} check(s), ${bad} failing` });
      onDone?.(r.results);
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 0;
      const text = e instanceof Error ? e.message : String(e);
      setMsg({ ok: false, text: status === 403 ? `refused (403): ${text}` : `failed (${status}): ${text}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="actions">
      <button type="button" onClick={run} disabled={busy} data-testid="run-now">
        {busy ? "running…" : label}
      </button>
      {msg ? (
        <span className={msg.ok ? "muted" : "error"} data-testid={msg.ok ? "run-result" : "run-error"}>
          {msg.text}
        </span>
      ) : null}
    </span>
  );
}

/** Replaces the states in `list` that `updates` has newer versions of (same id). */
export function patchStates(list: CheckState[], updates: Map<string, CheckState>): CheckState[] {
  let changed = false;
  const out = list.map((c) => {
    const u = updates.get(c.id);
    if (u) changed = true;
    return u ?? c;
  });
  return changed ? out : list;
}
