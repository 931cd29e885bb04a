/**
 * Every check: virtualised rows from `GET /api/checks`, filtered server-side by id glob
 * (`q`, picomatch), state and status. Live events refetch the loaded pages at most every 3 s.
 */
import { type ReactNode, useEffect, useState } from "react";
import { type CheckState, query } from "../api.js";
import { ago, CheckLink, StateBadge, StatusBadge } from "../components.js";
import { useLive, usePagedList, useRoute, useThrottled } from "../hooks.js";
import { VirtualList } from "../VirtualList.js";

const STATES = ["", "hard", "soft", "ok", "unknown", "skipped"];
const STATUSES = ["", "fail", "error", "pass", "skip"];

export function Checks(): ReactNode {
  const route = useRoute();
  const [q, setQ] = useState(route.params.get("q") ?? "");
  const [dq, setDq] = useState(q);
  const [state, setState] = useState(route.params.get("state") ?? "");
  const [status, setStatus] = useState(route.params.get("status") ?? "");
  useEffect(() => {
    const t = setTimeout(() => setDq(q), 200);
    return () => clearTimeout(t);
  }, [q]);
  const list = usePagedList<CheckState>(`api/checks${query({ q: dq, state, status })}`);
  const refresh = useThrottled(list.refresh, 3000);
  useLive((events) => {
    if (events.length > 0) refresh();
  });
  return (
    <>
      <h1>Checks</h1>
      <div className="filters">
        <input
          type="search"
          placeholder="id glob, e.g. gpu/** or */port.*"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          data-testid="checks-filter"
          aria-label="filter checks by id glob"
          size={36}
        />
        <select value={state} onChange={(e) => setState(e.target.value)} aria-label="state">
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s || "any state"}
            </option>
          ))}
        </select>
        <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="status">
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s || "any status"}
            </option>
          ))}
        </select>
        <span className="muted" data-testid="checks-total">
          {list.total === null ? "loading…" : `${list.total.toLocaleString("en")} checks`}
        </span>
        {list.error ? <span className="error">{list.error.message}</span> : null}
      </div>
      <div className="vhead checks-grid">
        <span>check</span>
        <span>state</span>
        <span>status</span>
        <span>since</span>
        <span>message</span>
        <span>last run</span>
      </div>
      <VirtualList
        count={list.total ?? 0}
        rowHeight={22}
        height={Math.max(300, window.innerHeight - 140)}
        className="checks-grid"
        testId="checks-list"
        onRange={list.ensure}
        version={list.version}
        row={(i) => {
          const c = list.item(i);
          if (!c) return <span className="muted">…</span>;
          return (
            <>
              <CheckLink id={c.id} />
              <StateBadge s={c} />
              <StatusBadge status={c.status} />
              <span title={c.since ?? ""}>{ago(c.since)}</span>
              <span title={c.message}>{c.message}</span>
              <span title={c.lastRunAt ?? ""}>{ago(c.lastRunAt)}</span>
            </>
          );
        }}
      />
    </>
  );
}
