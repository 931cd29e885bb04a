/**
 * A windowed list: only the rows in view (plus `overscan`) are in the DOM, each absolutely
 * positioned in a container as tall as all rows. Fixed row height, so scrolling costs the
 * same for 50 rows as for 50,000.
 */
import { type ReactNode, type UIEvent, useEffect, useRef, useState } from "react";

export interface VirtualListProps {
  /** Number of rows. */
  count: number;
  /** Row height in px. */
  rowHeight: number;
  /** Viewport height in px. */
  height: number;
  /** Extra rows rendered above and below the viewport. */
  overscan?: number;
  /** Renders row `i`; `style` positions it and must be applied. */
  row: (i: number) => ReactNode;
  /** Told which rows are (about to be) visible: start inclusive, end exclusive. */
  onRange?: (start: number, end: number) => void;
  /** Class of each row (the grid template). */
  className?: string;
  testId?: string;
  /** Changes when rows' content changes, to re-render the visible rows. */
  version?: number;
}

export function VirtualList(p: VirtualListProps): ReactNode {
  const [scrollTop, setScrollTop] = useState(0);
  const ref = useRef<HTMLDivElement>(null);
  const overscan = p.overscan ?? 10;
  const start = Math.max(0, Math.floor(scrollTop / p.rowHeight) - overscan);
  const end = Math.min(p.count, Math.ceil((scrollTop + p.height) / p.rowHeight) + overscan);
  const { onRange } = p;

  useEffect(() => {
    onRange?.(start, end);
  }, [start, end, onRange]);

  // A new list (filter changed) starts at the top.
  const countRef = useRef(p.count);
  useEffect(() => {
    if (p.count < countRef.current && ref.current) {
      ref.current.scrollTop = 0;
      setScrollTop(0);
    }
    countRef.current = p.count;
  }, [p.count]);

  const rows: ReactNode[] = [];
  for (let i = start; i < end; i++) {
    rows.push(
      <div
        key={i}
        className={`vrow ${p.className ?? ""}`}
        style={{ top: i * p.rowHeight, height: p.rowHeight }}
        data-index={i}
      >
        {p.row(i)}
      </div>,
    );
  }
  return (
    <div
      ref={ref}
      className="vlist"
      style={{ height: Math.max(p.rowHeight * 3, Math.min(p.height, p.count * p.rowHeight + 2)) }}
      data-testid={p.testId}
      data-count={p.count}
      data-version={p.version}
      onScroll={(e: UIEvent<HTMLDivElement>) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: p.count * p.rowHeight, position: "relative" }}>{rows}</div>
    </div>
  );
}
