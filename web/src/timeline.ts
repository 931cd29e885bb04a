/** Pure helpers of the state timeline and the history chart: colours and segments. */
import type { StateChange } from "./api.js";

/** Colour of a state or status value. */
export function colourOf(v: string | null | undefined): string {
  switch (v) {
    case "ok":
    case "pass":
      return "#2da44e";
    case "soft":
      return "#d4a72c";
    case "hard":
    case "fail":
    case "error":
      return "#cf222e";
    default:
      return "#d0d7de";
  }
}

/** Values of `changes[].to` that are hard states (the rest are statuses). */
export const HARD_STATES = new Set(["ok", "soft", "hard", "unknown", "skipped"]);

/** Segments `[from, to)` in ms with their value, clipped to `[start, end]`. */
export function segments(
  changes: StateChange[],
  start: number,
  end: number,
): { from: number; to: number; value: string | null }[] {
  const sorted = [...changes].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const out: { from: number; to: number; value: string | null }[] = [];
  let value: string | null = null;
  let at = start;
  for (const c of sorted) {
    const t = Date.parse(c.at);
    if (t <= start) {
      value = c.to;
      continue;
    }
    if (t >= end) break;
    out.push({ from: at, to: t, value });
    value = c.to;
    at = t;
  }
  out.push({ from: at, to: end, value });
  return out.filter((s) => s.to > s.from);
}
