/**
 * A check: its current state, latest message and observation, its history as a chart
 * (raw points and downsampled buckets) and its state changes. Live results of this check
 * update the state and append points without refetching.
 */
import { type ReactNode, useState } from "react";
import { type CheckState, globEscape, type History, query } from "../api.js";
import { ago, RunButton, StateBadge, StatusBadge } from "../components.js";
import { href, useApi, useLive } from "../hooks.js";
import { HistoryChart } from "./Chart.js";

const WINDOWS: [string, number][] = [
  ["1h", 3_600_000],
  ["24h", 24 * 3_600_000],
  ["7d", 7 * 24 * 3_600_000],
  ["30d", 30 * 24 * 3_600_000],
];

export function Check({ id }: { id: string }): ReactNode {
  const [windowMs, setWindowMs] = useState(24 * 3_600_000);
  const [end, setEnd] = useState(Date.now());
  const [since] = useState(() => new Date(Date.now() - 30 * 24 * 3_600_000).toISOString());
  const st = useApi<CheckState>(`api/checks/${encodeURIComponent(id)}`);
  const hist = useApi<History>(`api/checks/${encodeURIComponent(id)}/history${query({ since })}`);
  useLive((events) => {
    const mine = events.filter((e) => (e.type === "result" || e.type === "state") && e.state.id === id);
    if (mine.length === 0) return;
    const last = mine[mine.length - 1]!;
    if (last.type === "result" || last.type === "state") st.set(() => last.state);
    hist.set((h) => {
      const points = [...h.points];
      const changes = [...h.changes];
      for (const e of mine) {
        if (e.type === "result") {
          const at = e.state.lastRunAt ?? new Date().toISOString();
          const last = points[points.length - 1];
          if (last && last.status === e.result.status && last.message === e.result.message) {
            // the same span goes on: extend it (as the store does)
            const n = last.count ?? 1;
            points[points.length - 1] = {
              ...last,
              until: at,
              count: n + 1,
              durationMs: (last.durationMs * n + e.result.durationMs) / (n + 1),
              minMs: Math.min(last.minMs ?? last.durationMs, e.result.durationMs),
              maxMs: Math.max(last.maxMs ?? last.durationMs, e.result.durationMs),
            };
          } else {
            points.push({
              at,
              until: at,
              status: e.result.status,
              message: e.result.message,
              count: 1,
              durationMs: e.result.durationMs,
              minMs: e.result.durationMs,
              maxMs: e.result.durationMs,
            });
          }
          const lastChange = changes[changes.length - 1];
          if (e.result.status !== "skip" && lastChange?.to !== e.result.status)
            changes.push({
              at,
              from: lastChange?.to ?? null,
              to: e.result.status,
              message: e.result.message,
            });
        }
      }
      return { ...h, points, changes };
    });
    setEnd(Date.now());
  });

  if (st.error)
    return (
      <p className="error">
        check {id}: {st.error.message}
      </p>
    );
  const c = st.data;
  if (!c) return <p className="muted">loading…</p>;
  return (
    <div data-testid="check-page">
      <h1 className="mono">{c.id}</h1>
      <div className="kv">
        <span className="muted">state</span>
        <span data-testid="check-state" data-state={c.state}>
          <StateBadge s={c} /> since {ago(c.since)} ({c.consecutive} in a row)
        </span>
        <span className="muted">status</span>
        <span data-testid="check-status">
          <StatusBadge status={c.status} /> {c.message}
        </span>
        <span className="muted">host</span>
        <a href={href("host", c.host)}>{c.host}</a>
        <span className="muted">kind</span>
        <span>
          {c.kind}
          {c.service ? ` / ${c.service}` : ""}
          {c.vantage ? ` from ${c.vantage}` : ""}
        </span>
        {c.suppressedBy ? (
          <>
            <span className="muted">suppressed by</span>
            <a href={href("check", c.suppressedBy)} className="mono">
              {c.suppressedBy}
            </a>
          </>
        ) : null}
        <span className="muted">last run</span>
        <span>
          {ago(c.lastRunAt)} ({c.durationMs} ms); next {ago(c.nextRunAt)}
        </span>
        {c.observed ? (
          <>
            <span className="muted">observed</span>
            <code>{JSON.stringify(c.observed)}</code>
          </>
        ) : null}
      </div>
      <RunButton selector={{ glob: globEscape(c.id) }} label="Run now" onDone={hist.reload} />
      <h2>History</h2>
      <div className="filters">
        {WINDOWS.map(([label, ms]) => (
          <button
            type="button"
            key={label}
            disabled={ms === windowMs}
            onClick={() => {
              setWindowMs(ms);
              setEnd(Date.now());
            }}
          >
            {label}
          </button>
        ))}
        {hist.error ? <span className="error">{hist.error.message}</span> : null}
      </div>
      {hist.data ? (
        <div className="chart">
          <HistoryChart
            points={hist.data.points}
            buckets={hist.data.buckets}
            start={end - windowMs}
            end={end}
          />
          <h2>Changes</h2>
          <table data-testid="changes">
            <thead>
              <tr>
                <th>at</th>
                <th>from</th>
                <th>to</th>
                <th>message</th>
              </tr>
            </thead>
            <tbody>
              {[...hist.data.changes].reverse().map((ch) => (
                <tr key={`${ch.at}-${ch.to}`}>
                  <td title={ch.at}>{new Date(ch.at).toLocaleString()}</td>
                  <td>{ch.from ?? "—"}</td>
                  <td>
                    <span className={`badge s-${ch.to}`}>{ch.to}</span>
                  </td>
                  <td className="msg">{ch.message ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted">loading history…</p>
      )}
    </div>
  );
}
