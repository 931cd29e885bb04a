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

/**
 * Segments `[from, to)` in ms with their value, clipped to `[start, end]`. Before the first
 * change inside the window the value is the last change before it, else that change's `from`.
 */
export function segments(
  changes: StateChange[],
  start: number,
  end: number,
): { from: number; to: number; value: string | null }[] {
  const sorted = [...changes].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const out: { from: number; to: number; value: string | null }[] = [];
  let value: string | null = null;
  let at = start;
  let seen = false;
  for (const c of sorted) {
    const t = Date.parse(c.at);
    if (t <= start) {
      value = c.to;
      seen = true;
      continue;
    }
    // changes may be cut at the window's start: the first one inside says what came before
    if (!seen) value = c.from;
    seen = true;
    if (t >= end) break;
    out.push({ from: at, to: t, value });
    value = c.to;
    at = t;
  }
  out.push({ from: at, to: end, value });
  return out.filter((s) => s.to > s.from);
}
