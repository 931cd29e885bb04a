/**
 * What the backup check kinds share: ages and instants for people, and how a command is run as
 * the user a backup tool runs as (`sudo -n -u USER`, sudo(8): `-n` fails instead of asking for a
 * password).
 */
import { shellQuote } from "../vantages/deadline.js";

/** An age or interval for people: `45 s`, `12 min`, `3 h 12 min`, `26 h`, `7 d 1 h`. */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** `2026-05-01T09:12:00Z`: an instant (ms since the epoch) to the second, UTC. */
export function instant(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** `sudo -n -u 'USER' ` when a user is declared, else nothing (the command runs as the SSH user). */
export function sudoPrefix(user: string | undefined): string {
  return user !== undefined ? `sudo -n -u ${shellQuote(user)} ` : "";
}

/** `7 d 1 h (schedule.full 7 d + grace 1 h)`; undefined when the type is not scheduled. */
export function scheduleLimit(
  intervalMs: number | undefined,
  graceMs: number,
  type: string,
): string | undefined {
  if (intervalMs === undefined) return undefined;
  return `${humanAge(intervalMs + graceMs)} (schedule.${type} ${humanAge(intervalMs)} + grace ${humanAge(graceMs)})`;
}

/**
 * Splits the output of a command followed by `date +%s` into what the command printed and the
 * host's clock (ms since the epoch); undefined clock when the last line is not a Unix time.
 */
export function splitClock(stdout: string): { printed: string; nowMs: number | undefined } {
  const lines = stdout.trimEnd().split("\n");
  const last = lines.at(-1) ?? "";
  const now = /^\d+$/.test(last) ? Number(last) : 0;
  return { printed: lines.slice(0, -1).join("\n"), nowMs: now > 0 ? now * 1000 : undefined };
}
