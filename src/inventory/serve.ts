/**
 * The `serve:` section: the rules the schema cannot express (listen address, interval floor,
 * flapping, retention order, API tokens), and the normalised `ServeSettings` over the defaults
 * of `serve-settings.ts`.
 */
import { isIP } from "node:net";
import type { CheckContext } from "./context.js";
import { formatDuration, parseDuration } from "./duration.js";
import type { ApiToken, CheckSchedule, ServeSettings, SourcePosition } from "./model.js";
import type { RawServe } from "./raw.js";
import { DEFAULT_FLAPPING, DEFAULT_RETENTION, defaultServeSettings, schedules } from "./serve-settings.js";
import { show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Rules of `serve:` the schema cannot express: interval floor, flapping, retention order, tokens. */
export function checkServe(ctx: CheckContext): void {
  const serve = ctx.raw.serve;
  if (!serve) return;
  if (serve.listen !== undefined && !parseListen(serve.listen))
    ctx.problem(
      ["serve", "listen"],
      `serve.listen ${show(serve.listen)} is invalid; expected HOST:PORT with an IP address or host name and a port from 0 to 65535, e.g. 127.0.0.1:8484 or [::1]:8484`,
    );
  for (const [kind, sched] of Object.entries(serve.checks ?? {})) {
    if (sched.interval === undefined) continue;
    const ms = parseDuration(sched.interval);
    if (ms !== undefined && ms < MIN_INTERVAL_MS)
      ctx.problem(
        ["serve", "checks", kind, "interval"],
        `serve.checks.${kind}.interval ${sched.interval} is too short; expected at least 1s`,
      );
  }
  const f = serve.flapping;
  if (f?.changes !== undefined) {
    const window = f.window ?? DEFAULT_FLAPPING.window;
    if (f.changes >= window)
      ctx.problem(
        ["serve", "flapping", "changes"],
        `serve.flapping.changes ${f.changes} can never be reached: ${window} results hold at most ${window - 1} changes; expected a number from 1 to ${window - 1}`,
      );
  }
  const r = serve.retention ?? {};
  for (const key of ["raw", "bucket", "max_age"] as const) {
    const text = r[key];
    if (text !== undefined && parseDuration(text) === 0)
      ctx.problem(["serve", "retention", key], `serve.retention.${key} is 0; expected a duration above zero`);
  }
  if (r.max_age !== undefined) {
    const maxAge = parseDuration(r.max_age);
    const raw = r.raw !== undefined ? parseDuration(r.raw) : DEFAULT_RETENTION.rawMs;
    if (maxAge !== undefined && maxAge > 0 && raw !== undefined && maxAge < raw)
      ctx.problem(
        ["serve", "retention", "max_age"],
        `serve.retention.max_age ${r.max_age} is shorter than raw (${r.raw ?? formatDuration(raw)}); expected at least as long as raw`,
      );
  }
  const names = new Map<string, SourcePosition>();
  (serve.tokens ?? []).forEach((t, i) => {
    const segs = ["serve", "tokens", i];
    const hasHash = t.sha256 !== undefined;
    const hasToken = t.token !== undefined;
    if (hasHash === hasToken)
      ctx.problem(
        segs,
        `${ctx.label(segs)} has ${hasHash ? "both sha256 and token" : "neither sha256 nor token"}; expected exactly one: sha256: HEX (the token's SHA-256) or token: \${ENV_VAR}`,
      );
    const first = names.get(t.name);
    if (first !== undefined)
      ctx.problem(
        [...segs, "name"],
        `API token name "${t.name}" is used twice (first at line ${first.line}); token names must be unique`,
      );
    else names.set(t.name, ctx.loc.pos([...segs, "name"]));
  });
}

/** Shortest interval `serve.checks` accepts, in ms. */
export const MIN_INTERVAL_MS = 1000;

/**
 * Splits a listen address `HOST:PORT` (`[IPv6]:PORT` for IPv6) into host and port.
 * @returns undefined when it is not one (no port, port outside 0–65535, bad host).
 */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2]!;
  const hostname =
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  return isIP(host) === 4 || hostname.test(host) ? { host, port } : undefined;
}

/** Durations that passed the schema parse; `fallback` when absent. */
function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : parseDuration(text)!;
}

/** `serve:` over the defaults; the defaults alone when absent. */
export function normaliseServe(raw: RawServe | undefined, loc: Positions): ServeSettings {
  const d = defaultServeSettings();
  if (!raw) return d;
  const declared: Record<string, Partial<CheckSchedule>> = {};
  for (const [kind, sched] of Object.entries(raw.checks ?? {})) {
    const p: Partial<CheckSchedule> = {};
    if (sched.interval !== undefined) p.intervalMs = parseDuration(sched.interval)!;
    if (sched.fail_after !== undefined) p.failAfter = sched.fail_after;
    if (sched.recover_after !== undefined) p.recoverAfter = sched.recover_after;
    declared[kind] = p;
  }
  const r = raw.retention ?? {};
  return {
    listen: raw.listen ?? d.listen,
    checks: schedules(declared),
    flapping: { ...d.flapping, ...raw.flapping },
    retention: {
      rawMs: ms(r.raw, d.retention.rawMs),
      bucketMs: ms(r.bucket, d.retention.bucketMs),
      maxAgeMs: ms(r.max_age, d.retention.maxAgeMs),
      perCheck: r.per_check ?? d.retention.perCheck,
    },
    tokens: (raw.tokens ?? []).map(
      (t, i): ApiToken => ({
        name: t.name,
        role: t.role,
        ...(t.sha256 !== undefined ? { sha256: t.sha256.toLowerCase() } : {}),
        ...(t.token !== undefined ? { env: t.token.slice(2, -1) } : {}),
        pos: loc.pos(["serve", "tokens", i]),
      }),
    ),
  };
}
