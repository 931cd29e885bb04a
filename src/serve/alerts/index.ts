/**
 * Alert delivery for `keel serve`: hard state changes go to the destinations declared in
 * `alerts:` of the inventory, through one provider per kind of destination (`provider.ts`
 * describes the contract), listed in `ALERT_PROVIDERS`:
 *
 * - `alertmanager.ts`: Alertmanager API v2 (`POST /api/v2/alerts`), re-sent while firing;
 * - `webhook.ts`: generic webhooks, one JSON POST per change.
 *
 * Delivery never blocks the checks: `fire`/`resolve` only queue. A failed delivery (network
 * error, timeout, non-2xx answer) is logged and retried with exponential backoff
 * (`retryBaseMs` doubling up to `retryMaxMs`, at most `maxAttempts` tries, then dropped with a
 * log line); for Alertmanager, a newer state of the same alert replaces the queued one.
 */
import type { AlertSettings } from "../../inventory/model.js";
import { type Clock, systemClock } from "../clock.js";
import type { CheckState } from "../types.js";
import { alertmanagerProvider } from "./alertmanager.js";
import type { AlertProvider, AlertProviderFactory, DeliveryOptions, Firing } from "./provider.js";
import { webhookProvider } from "./webhook.js";

export { amAlert } from "./alertmanager.js";
export type { AlertProvider, Firing } from "./provider.js";
export { type WebhookBody, webhookBody } from "./webhook.js";

/** The providers every dispatcher uses, in the order they are sent each change. */
export const ALERT_PROVIDERS: readonly AlertProviderFactory[] = [alertmanagerProvider, webhookProvider];

/** Default interval between re-sends of firing alerts to Alertmanager, ms. */
export const DEFAULT_RESEND_MS = 60_000;
/** Default timeout of one delivery (connect, headers and body), ms. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;

/** Options of `AlertDispatcher`. */
export interface AlertOptions {
  /** Site name (label `site`). */
  site: string;
  clock?: Clock;
  /** Log line sink (default: stderr with a `keel serve:` prefix). */
  log?: (line: string) => void;
  /** Re-send interval of firing alerts to Alertmanager, ms (default 60,000). */
  resendMs?: number;
  /** First retry delay, ms (default 1000), doubled per attempt. */
  retryBaseMs?: number;
  /** Longest retry delay, ms (default 60,000). */
  retryMaxMs?: number;
  /** Tries per delivery before it is dropped (default 8). */
  maxAttempts?: number;
  /** Timeout of one HTTP request, ms (default 10,000). */
  timeoutMs?: number;
  /** Environment for `${NAME}` in webhook headers (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** The providers (default `ALERT_PROVIDERS`). */
  providers?: readonly AlertProviderFactory[];
}

/**
 * Sends hard state changes of checks to the destinations of `alerts:` through the providers.
 * Create one per engine; `update` takes new settings after a reload.
 */
export class AlertDispatcher {
  private readonly opts: DeliveryOptions;
  private site: string;
  private settings: AlertSettings = { alertmanagers: [], webhooks: [] };
  private readonly providers: AlertProvider[];
  private readonly firing = new Map<string, Firing>();
  private resendTimer: unknown;
  private closed = false;

  constructor(settings: AlertSettings, opts: AlertOptions) {
    const clock = opts.clock ?? systemClock;
    this.opts = {
      clock,
      log: opts.log ?? ((line) => process.stderr.write(`keel serve: ${line}\n`)),
      resendMs: opts.resendMs ?? DEFAULT_RESEND_MS,
      retryBaseMs: opts.retryBaseMs ?? 1000,
      retryMaxMs: opts.retryMaxMs ?? 60_000,
      maxAttempts: opts.maxAttempts ?? 8,
      timeoutMs: opts.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS,
    };
    const env = opts.env ?? process.env;
    this.providers = (opts.providers ?? ALERT_PROVIDERS).map((make) => make({ delivery: this.opts, env }));
    this.site = opts.site;
    this.update(settings, opts.site);
    this.armResend();
  }

  /**
   * Takes new settings (after a reload). Destinations that stay keep their queues; new
   * Alertmanagers are sent every firing alert at once; removed destinations are dropped after
   * their request in flight.
   */
  update(settings: AlertSettings, site: string = this.site): void {
    this.site = site;
    this.settings = settings;
    for (const p of this.providers) p.update(settings, site, this.firing);
  }

  /** True when any Alertmanager or webhook is configured. */
  get enabled(): boolean {
    return this.settings.alertmanagers.length > 0 || this.settings.webhooks.length > 0;
  }

  /** Ids of checks whose alert is firing. */
  firingIds(): string[] {
    return [...this.firing.keys()];
  }

  /** Deliveries not yet done (queued or waiting for a retry), over all destinations. */
  pending(): number {
    let n = 0;
    for (const p of this.providers) n += p.pending();
    return n;
  }

  /**
   * The check turned hard: sends a firing alert (once; later calls for a firing check only
   * refresh the state re-sent to Alertmanager). `startsAt` is when the state turned hard (ISO 8601).
   */
  fire(state: CheckState, startsAt: string): void {
    if (this.closed) return;
    const known = this.firing.get(state.id);
    if (known) {
      known.state = state;
      return;
    }
    const f: Firing = { state, startsAt };
    this.firing.set(state.id, f);
    for (const p of this.providers) p.fire(f);
  }

  /** The check recovered (or was removed): sends the resolved alert. No-op when it was not firing. */
  resolve(state: CheckState): void {
    if (this.closed) return;
    const f = this.firing.get(state.id);
    if (!f) return;
    this.firing.delete(state.id);
    const done: Firing = { state, startsAt: f.startsAt };
    for (const p of this.providers) p.resolve(done);
  }

  /** Stops re-sends and retries, waiting for requests in flight. Firing alerts are not resolved. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resendTimer !== undefined) this.opts.clock.clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
    await Promise.all(this.providers.map((p) => p.close()));
  }

  private armResend(): void {
    this.resendTimer = this.opts.clock.setTimeout(() => {
      if (this.closed) return;
      for (const p of this.providers) p.resend?.(this.firing);
      this.armResend();
    }, this.opts.resendMs);
  }
}
