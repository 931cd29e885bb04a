/**
 * Pure pieces of the Backups view: ages and sizes in human units, and how an objective's state
 * is shown. Ages use the units of the API's reasons (`src/serve/backups.ts`: `45 s`, `12 min`,
 * `3 h 12 min`, `26 h`, `7 d 1 h`), so a table and a reason beside it read alike.
 */
import type { ObjectiveState } from "../../src/serve/backups.js";

/** Seconds as `45 s`, `12 min`, `3 h 12 min`, `26 h`, `7 d 1 h`; `—` for null. */
export function age(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return "—";
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** Bytes in IEC units (`1.0 GiB`, `512 MiB`); `—` for null. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** An objective's badge: its text, its CSS state class and its `data-met` value. */
export function objectiveBadge(o: ObjectiveState): {
  text: string;
  cls: string;
  met: "true" | "false" | "none";
} {
  if (o.met === true) return { text: "met", cls: "s-pass", met: "true" };
  if (o.met === false) return { text: "not met", cls: "s-fail", met: "false" };
  return { text: "not observed", cls: "s-none", met: "none" };
}
