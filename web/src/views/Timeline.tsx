/**
 * State timeline: one bar per check over a time window, coloured by the check's state (or
 * status) between its recorded changes (`GET /api/checks/:id/history` → `changes`). Histories
 * are fetched a few at a time; live `state` events extend the bars without refetching.
 */
import { type ReactNode, useEffect, useMemo, useState } from "react";
import { api, type CheckState, type History, query, type StateChange } from "../api.js";
import { CheckLink } from "../components.js";
import { useLive } from "../hooks.js";
import { colourOf, HARD_STATES, segments } from "../timeline.js";

const WINDOWS: [string, number][] = [
  ["1h", 3_600_000],
  ["6h", 6 * 3_600_000],
  ["24h", 24 * 3_600_000],
  ["7d", 7 * 24 * 3_600_000],
];
const PARALLEL = 4;

export function Timeline({ checks }: { checks: CheckState[] }): ReactNode {
  const [windowMs, setWindowMs] = useState(6 * 3_600_000);
  const [changes, setChanges] = useState<Map<string, StateChange[]>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const ids = useMemo(() => checks.map((c) => c.id), [checks]);
  const key = ids.join("\n");

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for `ids`
  useEffect(() => {
    const ac = new AbortController();
    const since = new Date(Date.now() - windowMs).toISOString();
    const queue = [...ids];
    const got = new Map<string, StateChange[]>();
    setNow(Date.now());
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const h = await api<History>(`api/checks/${encodeURIComponent(id)}/history${query({ since })}`, {
          signal: ac.signal,
        });
        got.set(id, h.changes);
      }
    };
    Promise.all(Array.from({ length: PARALLEL }, worker))
      .then(() => {
        setChanges(new Map(got));
        setError(null);
      })
      .catch((e: unknown) => {
        if ((e as Error).name !== "AbortError") setError((e as Error).message);
      });
    return () => ac.abort();
  }, [key, windowMs]);

  useLive((events) => {
    let next: Map<string, StateChange[]> | null = null;
    for (const e of events) {
      if (e.type !== "state" && e.type !== "result") continue;
      const list = (next ?? changes).get(e.state.id);
      if (!list) continue;
      const last = list[list.length - 1];
      const byState = last === undefined || HARD_STATES.has(last.to);
      const value = byState ? e.state.state : e.state.status;
      if (value === null || last?.to === value) continue;
      next ??= new Map(changes);
      next.set(e.state.id, [
        ...list,
        { at: e.state.lastRunAt ?? new Date().toISOString(), from: last?.to ?? null, to: value },
      ]);
    }
    if (next) setChanges(next);
    if (events.length > 0) setNow(Date.now());
  });

  const start = now - windowMs;
  return (
    <div data-testid="timeline">
      <div className="filters">
        <span className="muted">window</span>
        {WINDOWS.map(([label, ms]) => (
          <button type="button" key={label} disabled={ms === windowMs} onClick={() => setWindowMs(ms)}>
            {label}
          </button>
        ))}
        <span className="muted">{new Date(start).toLocaleString()} → now</span>
        {error ? <span className="error">{error}</span> : null}
      </div>
      {checks.map((c) => {
        const list = changes.get(c.id);
        const segs = list ? segments(list, start, now) : [];
        return (
          <div className="timeline-row" key={c.id} data-testid="timeline-row" data-check={c.id}>
            <CheckLink id={c.id} />
            <svg
              viewBox="0 0 1000 12"
              preserveAspectRatio="none"
              role="img"
              aria-label={`timeline of ${c.id}`}
            >
              {segs.map((s) => (
                <rect
                  key={s.from}
                  x={((s.from - start) / windowMs) * 1000}
                  width={Math.max(0.5, ((s.to - s.from) / windowMs) * 1000)}
                  y={0}
                  height={12}
                  fill={colourOf(s.value)}
                  data-value={s.value ?? "none"}
                >
                  <title>
                    {s.value ?? "no data"}: {new Date(s.from).toLocaleString()} –{" "}
                    {new Date(s.to).toLocaleString()}
                  </title>
                </rect>
              ))}
            </svg>
          </div>
        );
      })}
    </div>
  );
}
