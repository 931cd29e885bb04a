/**
 * Hosts list: virtualised rows fetched page by page from `GET /api/hosts`, filtered
 * server-side by `q` (name, address or tag) and `status=failing`. Live events refetch the
 * loaded pages at most every 3 s.
 */
import { type ReactNode, useEffect, useRef, useState } from "react";
import { type HostRow, query } from "../api.js";
import { StateOnly } from "../components.js";
import { href, useLive, usePagedList, useRoute, useThrottled } from "../hooks.js";
import { VirtualList } from "../VirtualList.js";

const ROW = 22;

/** Value of `v` once it has stopped changing for `ms`. */
function useDebounced<T>(v: T, ms: number): T {
  const [out, setOut] = useState(v);
  useEffect(() => {
    const t = setTimeout(() => setOut(v), ms);
    return () => clearTimeout(t);
  }, [v, ms]);
  return out;
}

function HostCells({ h }: { h: HostRow }): ReactNode {
  return (
    <>
      <a href={href("host", h.name)} data-testid="host-link">
        {h.name}
      </a>
      <span>
        <StateOnly state={h.worst} />
      </span>
      <span className="mono" title={h.addresses.map((a) => `${a.network}: ${a.address}`).join("\n")}>
        {h.addresses.map((a) => a.address).join(", ")}
      </span>
      <span className="muted">{h.tags.join(", ")}</span>
      <span className={h.counts.fail > 0 ? "error" : "muted"}>{h.counts.fail}</span>
      <span className={h.counts.error > 0 ? "error" : "muted"}>{h.counts.error}</span>
      <span>{h.counts.pass}</span>
      <span className="muted">{h.counts.skip}</span>
      <span className="muted">{h.counts.unknown}</span>
    </>
  );
}

export function HostsPanel({
  height,
  initialQ = "",
  initialStatus = "",
}: {
  height: number;
  initialQ?: string;
  initialStatus?: string;
}): ReactNode {
  const [q, setQ] = useState(initialQ);
  const [status, setStatus] = useState(initialStatus);
  const dq = useDebounced(q, 150);
  const list = usePagedList<HostRow>(`api/hosts${query({ q: dq, status })}`);
  const refresh = useThrottled(list.refresh, 3000);
  useLive((events) => {
    if (events.length > 0) refresh();
  });

  const marked = useRef(false);
  useEffect(() => {
    if (list.total !== null && !marked.current) {
      marked.current = true;
      performance.mark("keel:hosts");
    }
  }, [list.total]);

  return (
    <div data-testid="hosts-panel">
      <div className="filters">
        <input
          type="search"
          placeholder="filter: name, address, tag"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          data-testid="hosts-filter"
          aria-label="filter hosts"
        />
        <select
          value={status}
          onChange={(e) => setStatus(e.target.value)}
          data-testid="hosts-status"
          aria-label="host status"
        >
          <option value="">all hosts</option>
          <option value="failing">failing only</option>
        </select>
        <span className="muted" data-testid="hosts-total">
          {list.total === null ? "loading…" : `${list.total.toLocaleString("en")} hosts`}
        </span>
        {list.error ? <span className="error">{list.error.message}</span> : null}
      </div>
      <div className="vhead hosts-grid">
        <span>host</span>
        <span>worst</span>
        <span>addresses</span>
        <span>tags</span>
        <span>fail</span>
        <span>error</span>
        <span>pass</span>
        <span>skip</span>
        <span>unkn.</span>
      </div>
      <VirtualList
        count={list.total ?? 0}
        rowHeight={ROW}
        height={height}
        className="hosts-grid"
        testId="hosts-list"
        onRange={list.ensure}
        version={list.version}
        row={(i) => {
          const h = list.item(i);
          return h ? <HostCells h={h} /> : <span className="muted">…</span>;
        }}
      />
    </div>
  );
}

export function Hosts(): ReactNode {
  const route = useRoute();
  return (
    <>
      <h1>Hosts</h1>
      <HostsPanel
        height={Math.max(300, window.innerHeight - 140)}
        initialQ={route.params.get("q") ?? ""}
        initialStatus={route.params.get("status") ?? ""}
      />
    </>
  );
}
