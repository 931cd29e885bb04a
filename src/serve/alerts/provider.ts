/**
 * The contract between the alert dispatcher of `keel serve` (`index.ts`) and each way of
 * delivering alerts (`alertmanager.ts`, `webhook.ts`), and what they share: the alert's labels
 * and summary, and `${NAME}` expansion for header values.
 */
import type { AlertSettings } from "../../inventory/model.js";
import type { Clock } from "../clock.js";
import type { CheckState } from "../types.js";

/** `alertname` label of every alert Keel sends. */
export const ALERT_NAME = "KeelCheckFailing";

/** A check's alert: its state when it last changed, and when it turned hard. */
export interface Firing {
  state: CheckState;
  /** When the check turned hard (ISO 8601). */
  startsAt: string;
}

/** Delivery settings every provider gets (defaults filled in by the dispatcher). */
export interface DeliveryOptions {
  clock: Clock;
  /** Log line sink. */
  log: (line: string) => void;
  /** Interval between re-sends of firing alerts (to providers that re-send), ms. */
  resendMs: number;
  /** First retry delay, ms, doubled per attempt. */
  retryBaseMs: number;
  /** Longest retry delay, ms. */
  retryMaxMs: number;
  /** Tries per delivery before it is dropped. */
  maxAttempts: number;
  /** Timeout of one HTTP request, ms. */
  timeoutMs: number;
}

/** What a provider is made with. */
export interface ProviderContext {
  delivery: DeliveryOptions;
  /** Environment for `${NAME}` in configured values such as headers. */
  env: Record<string, string | undefined>;
}

/**
 * One way of delivering alerts (one kind of destination of `alerts:`), made once per engine by
 * an `AlertProviderFactory` listed in `ALERT_PROVIDERS` (`index.ts`).
 *
 * - What it receives: `update` with the whole `alerts:` settings and the site name, at start and
 *   after every accepted reload, with the alerts firing at that moment (a destination that is
 *   new may be sent them); `fire` when a check turns hard (once per firing alert), `resolve`
 *   when it recovers or leaves the inventory (only for an alert that fired), and, every
 *   `resendMs` while alerts are firing, `resend` with all of them (providers that need no
 *   re-sends leave it out).
 * - When: the dispatcher calls it synchronously from the engine's result handling, so these
 *   methods must only queue: never block, never throw for a delivery problem.
 * - Retries: a failed delivery (network error, timeout, non-2xx answer) is the provider's to
 *   log and retry with exponential backoff (`retryBaseMs` doubling up to `retryMaxMs`, at most
 *   `maxAttempts` tries, then dropped with a log line); `target.ts` does this for HTTP.
 * - Errors: a problem that retrying cannot fix (e.g. an unset `${NAME}` in a header) is logged
 *   and the delivery dropped; nothing is thrown to the engine.
 */
export interface AlertProvider {
  /** Takes (new) settings; destinations that stay keep their queues, removed ones are closed. */
  update(settings: AlertSettings, site: string, firing: ReadonlyMap<string, Firing>): void;
  /** A check turned hard: queue its firing alert. */
  fire(f: Firing): void;
  /** A firing check recovered (or was removed): queue its resolved alert (`f.state` is the new state). */
  resolve(f: Firing): void;
  /** Every `resendMs`: the alerts still firing, by check id. */
  resend?(firing: ReadonlyMap<string, Firing>): void;
  /** Deliveries not yet done (queued or waiting for a retry). */
  pending(): number;
  /** Stops retries and waits for requests in flight; queued deliveries are dropped. */
  close(): Promise<void>;
}

/** Makes a provider; one per dispatcher. */
export type AlertProviderFactory = (ctx: ProviderContext) => AlertProvider;

/** The labels of a check's alert (Alertmanager and webhooks alike). */
export function alertLabels(site: string, s: CheckState): Record<string, string> {
  const labels: Record<string, string> = {
    alertname: ALERT_NAME,
    site,
    check: s.id,
    kind: s.kind,
    host: s.host,
  };
  if (s.service !== undefined) labels.service = s.service;
  if (s.vantage !== undefined) labels.vantage = s.vantage;
  return labels;
}

/** One line saying what happened to the check, e.g. `gpu/reachable@admin is failing: …`. */
export function summaryOf(s: CheckState, status: "firing" | "resolved"): string {
  return status === "firing" ? `${s.id} is failing: ${s.message}` : `${s.id} recovered: ${s.message}`;
}

/**
 * Replaces every `${NAME}` in `value` with the environment variable NAME.
 * @throws Error naming the variable when it is not set (the value may hold a secret, so it is never shown).
 */
export function expandEnv(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`environment variable ${name} is not set`);
    return v;
  });
}
