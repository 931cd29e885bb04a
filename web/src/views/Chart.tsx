/**
 * History chart of one check, drawn as SVG: each span of raw results (consecutive results with
 * the same status) as its mean duration over its time with its min–max range shaded, failed
 * spans marked red, a status strip underneath; downsampled buckets (older results) as bars of
 * their mean duration with a strip coloured by their failure ratio.
 */
import type { ReactNode } from "react";
import type { HistoryBucket, HistoryPoint } from "../api.js";
import { colourOf } from "../timeline.js";

const W = 1000;
const H = 180;
const STRIP = 14;
const PAD_L = 48;
const PAD_B = 18;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function HistoryChart({
  points,
  buckets,
  start,
  end,
}: {
  points: HistoryPoint[];
  buckets: HistoryBucket[];
  start: number;
  end: number;
}): ReactNode {
  const plotH = H - STRIP - PAD_B - 6;
  const span = Math.max(1, end - start);
  const x = (t: number) => PAD_L + ((t - start) / span) * (W - PAD_L - 4);
  const pts = points
    .map((p) => {
      const t = Date.parse(p.at);
      const u = p.until ? Date.parse(p.until) : t;
      return { t, u: Number.isNaN(u) ? t : u, p };
    })
    .filter((p) => p.u >= start && p.t <= end)
    .sort((a, b) => a.t - b.t);
  const bks = buckets
    .map((b) => ({ t0: Date.parse(b.start), t1: Date.parse(b.end), b }))
    .filter((b) => b.t1 >= start && b.t0 <= end);
  const maxMs = niceMax(
    Math.max(
      0,
      ...pts.map((p) => p.p.maxMs ?? p.p.durationMs),
      ...bks.map((b) => b.b.maxMs ?? b.b.avgMs ?? 0),
    ),
  );
  const y = (ms: number) => 4 + plotH - (Math.min(ms, maxMs) / maxMs) * plotH;
  const cx = (t: number) => x(Math.min(end, Math.max(start, t)));
  // mean duration: a level over each span, joined to the next span
  const line = pts.map(
    (p, i) =>
      `${i === 0 ? "M" : "L"}${cx(p.t).toFixed(1)},${y(p.p.durationMs).toFixed(1)}L${cx(p.u).toFixed(1)},${y(p.p.durationMs).toFixed(1)}`,
  );

  // status strip: each span until the next one starts; merge neighbours of the same status
  const strip: { x0: number; x1: number; status: string }[] = [];
  for (let i = 0; i < pts.length; i++) {
    const cur = pts[i]!;
    const next = pts[i + 1];
    const x0 = cx(cur.t);
    const x1 = Math.max(x0 + 1, next ? cx(next.t) : cx(cur.u));
    const last = strip[strip.length - 1];
    if (last && last.status === cur.p.status) last.x1 = x1;
    else strip.push({ x0, x1, status: cur.p.status });
  }
  const stripY = 4 + plotH + 4;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => start + f * span);

  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label="check history: duration and status over time"
      data-testid="history-chart"
      data-points={pts.length}
      data-buckets={bks.length}
    >
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={PAD_L} x2={W - 4} y1={y(maxMs * f)} y2={y(maxMs * f)} stroke="#eaeef2" />
          <text x={PAD_L - 4} y={y(maxMs * f) + 4} fontSize="10" textAnchor="end" fill="#6a737d">
            {Math.round(maxMs * f)} ms
          </text>
        </g>
      ))}
      {bks.map((b) => {
        const total = b.b.pass + b.b.fail + b.b.error + (b.b.skip ?? 0);
        const bad = total > 0 ? (b.b.fail + b.b.error) / total : 0;
        const x0 = x(Math.max(start, b.t0));
        const w = Math.max(1, x(Math.min(end, b.t1)) - x0 - 0.5);
        const avg = b.b.avgMs ?? 0;
        return (
          <g key={b.b.start} data-testid="bucket">
            <rect
              x={x0}
              width={w}
              y={y(avg)}
              height={Math.max(0, 4 + plotH - y(avg))}
              fill="#8c959f"
              opacity={0.4}
            />
            <rect
              x={x0}
              width={w}
              y={stripY}
              height={STRIP}
              fill={bad > 0 ? "#cf222e" : "#2da44e"}
              opacity={bad > 0 ? 0.3 + 0.7 * bad : 0.6}
            >
              <title>
                {new Date(b.t0).toLocaleString()}: {b.b.pass} pass, {b.b.fail} fail, {b.b.error} error,{" "}
                {b.b.skip} skip
              </title>
            </rect>
          </g>
        );
      })}
      {pts
        .filter((p) => p.p.minMs !== undefined && p.p.maxMs !== undefined && p.u > p.t)
        .map((p) => (
          <rect
            key={`r${p.t}`}
            x={cx(p.t)}
            width={Math.max(0.5, cx(p.u) - cx(p.t))}
            y={y(p.p.maxMs ?? 0)}
            height={Math.max(0.5, y(p.p.minMs ?? 0) - y(p.p.maxMs ?? 0))}
            fill="#0969da"
            opacity={0.12}
          />
        ))}
      {line.length > 0 ? <path d={line.join("")} fill="none" stroke="#0969da" strokeWidth={1.2} /> : null}
      {pts
        .filter((p) => p.p.status === "fail" || p.p.status === "error")
        .map((p) => (
          <g key={`f${p.t}`} data-testid="failed-point">
            <line
              x1={cx(p.t)}
              x2={Math.max(cx(p.t) + 1, cx(p.u))}
              y1={y(p.p.durationMs)}
              y2={y(p.p.durationMs)}
              stroke="#cf222e"
              strokeWidth={2.5}
            />
            <circle cx={cx(p.t)} cy={y(p.p.durationMs)} r={2.5} fill="#cf222e" />
            <title>
              {new Date(p.t).toLocaleString()}
              {p.u > p.t ? ` – ${new Date(p.u).toLocaleString()}` : ""}: {p.p.count ?? 1} × {p.p.status}{" "}
              {p.p.message ?? ""}
            </title>
          </g>
        ))}
      {strip.map((s) => (
        <rect
          key={s.x0}
          x={s.x0}
          width={Math.max(1, s.x1 - s.x0)}
          y={stripY}
          height={STRIP}
          fill={colourOf(s.status)}
        >
          <title>{s.status}</title>
        </rect>
      ))}
      {ticks.map((t, i) => (
        <text
          key={t}
          x={x(t)}
          y={H - 4}
          fontSize="10"
          textAnchor={i === 0 ? "start" : i === ticks.length - 1 ? "end" : "middle"}
          fill="#6a737d"
        >
          {new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
        </text>
      ))}
    </svg>
  );
}
