/**
 * Alert delivery for `keel serve`: hard state changes go to Alertmanager (API v2) and to
 * generic webhooks declared in `alerts:` of the inventory.
 *
 * - Alertmanager (https://prometheus.io/docs/alerting/latest/clients/, API v2 `POST
 *   /api/v2/alerts`): a firing alert is sent when a check turns hard and re-sent every
 *   `resendMs` while it stays firing, with `endsAt` = now + 4 × `resendMs` (as Prometheus does),
 *   so Alertmanager resolves it by itself if Keel stops sending; a resolved alert is sent with
 *   `endsAt` = the time of recovery. Labels identify the alert: `alertname=KeelCheckFailing`,
 *   `site`, `check` (the check id), `kind`, `host`, and `service` / `vantage` when the check has
 *   them; annotations carry the message.
 * - Webhooks: one JSON POST per change (`WebhookBody`), in order per webhook; no re-sends.
 *
 * Delivery never blocks the checks: `fire`/`resolve` only queue. A failed delivery (network
 * error, timeout, non-2xx answer) is logged and retried with exponential backoff
 * (`retryBaseMs` doubling up to `retryMaxMs`, at most `maxAttempts` tries, then dropped with a
 * log line); for Alertmanager, a newer state of the same alert replaces the queued one.
 */
import { request } from "undici";
import type { AlertSettings, Webhook } from "../inventory/model.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { CheckState } from "./types.js";

/** `alertname` label of every alert Keel sends. */
export const ALERT_NAME = "KeelCheckFailing";
/** Default interval between re-sends of firing alerts to Alertmanager, ms. */
export const DEFAULT_RESEND_MS = 60_000;
/** Default timeout of one delivery (connect, headers and body), ms. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;

/** An alert as Alertmanager's API v2 takes it (`postableAlert`). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** ISO 8601. */
  startsAt: string;
  /** ISO 8601; in the future while firing, the recovery time once resolved. */
  endsAt: string;
  generatorURL?: string;
}

/**
 * The JSON body POSTed to a webhook on each hard state change (`Content-Type:
 * application/json`). `version` changes only with incompatible changes of this shape.
 */
export interface WebhookBody {
  version: 1;
  /** `firing` when the check turned hard, `resolved` when it recovered (or left the inventory). */
  status: "firing" | "resolved";
  site: string;
  /** Same labels as the Alertmanager alert. */
  labels: Record<string, string>;
  /** The check's state when the change happened. */
  check: CheckState;
  /** Human summary, e.g. `gpu/reachable@admin is failing: 10.20.0.10: ping timed out; …`. */
  summary: string;
  /** When the check turned hard (ISO 8601). */
  startsAt: string;
  /** When it recovered (ISO 8601); only when resolved. */
  endsAt?: string;
}

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
}

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

function summaryOf(s: CheckState, status: "firing" | "resolved"): string {
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

interface Firing {
  state: CheckState;
  startsAt: string;
}

/** A queue of deliveries to one target, retried with backoff; at most one request in flight. */
class Target {
  private readonly queue: { key: string; body: unknown; attempts: number }[] = [];
  private busy = false;
  private retryTimer: unknown;
  private retryAt = 0;
  private inflight: Promise<void> | undefined;
  closed = false;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly headers: () => Record<string, string>,
    private readonly opts: Required<Omit<AlertOptions, "site" | "env">>,
    /** Alertmanager: all queued alerts go in one request (an array); webhooks: one request per body. */
    private readonly batch: boolean,
  ) {}

  /** Queues `body` under `key`; with `batch`, a queued body with the same key is replaced. */
  push(key: string, body: unknown): void {
    if (this.closed) return;
    const i = this.batch ? this.queue.findIndex((q) => q.key === key) : -1;
    if (i >= 0) this.queue[i] = { key, body, attempts: this.queue[i]!.attempts };
    else this.queue.push({ key, body, attempts: 0 });
    if (!this.busy && this.retryTimer === undefined) this.kick();
  }

  private kick(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    this.busy = true;
    this.inflight = this.deliver().finally(() => {
      this.busy = false;
      this.inflight = undefined;
      if (this.retryTimer === undefined) this.kick();
    });
  }

  private async deliver(): Promise<void> {
    const items = this.batch ? [...this.queue] : [this.queue[0]!];
    const payload = this.batch ? items.map((q) => q.body) : items[0]!.body;
    let error: string | undefined;
    try {
      let headers: Record<string, string>;
      try {
        headers = this.headers();
      } catch (e) {
        // a missing environment variable does not come back by retrying: drop with a log line
        this.opts.log(`alert to ${this.name} not sent: ${(e as Error).message}`);
        this.remove(items);
        return;
      }
      const res = await request(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "keel-serve", ...headers },
        body: JSON.stringify(payload),
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      const text = await res.body.text().catch(() => "");
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.remove(items);
        return;
      }
      error = `HTTP ${res.statusCode}${text ? `: ${text.trim().slice(0, 200)}` : ""}`;
    } catch (e) {
      const err = e as Error & { cause?: Error; code?: string };
      error = err.cause?.message ?? err.code ?? err.message;
    }
    // failed: count an attempt on each item; drop the ones out of attempts, retry the rest later
    let next = 0;
    for (const item of items) {
      item.attempts++;
      next = Math.max(next, item.attempts);
    }
    const dropped = items.filter((q) => q.attempts >= this.opts.maxAttempts);
    this.remove(dropped);
    const left = this.queue.length;
    if (dropped.length > 0)
      this.opts.log(
        `alert to ${this.name} failed (${error}); gave up after ${this.opts.maxAttempts} attempts on ${dropped.length} alert(s)`,
      );
    if (left === 0) return;
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (Math.min(next, 30) - 1));
    this.opts.log(`alert to ${this.name} failed (${error}); retrying in ${delay} ms`);
    this.retryAt = this.opts.clock.now() + delay;
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }

  private remove(items: { key: string }[]): void {
    for (const item of items) {
      const i = this.queue.indexOf(item as (typeof this.queue)[number]);
      if (i >= 0) this.queue.splice(i, 1);
    }
  }

  /** Deliveries waiting (queued or being retried). */
  get pending(): number {
    return this.queue.length;
  }

  /** When the next retry happens (epoch ms), or 0 when none is scheduled. */
  get nextRetryAt(): number {
    return this.retryTimer === undefined ? 0 : this.retryAt;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.inflight;
  }
}

/**
 * Sends hard state changes of checks to the Alertmanagers and webhooks of `alerts:`.
 * Create one per engine; `update` takes new settings after a reload.
 */
export class AlertDispatcher {
  private readonly opts: Required<Omit<AlertOptions, "site" | "env">>;
  private readonly env: Record<string, string | undefined>;
  private site: string;
  private settings: AlertSettings = { alertmanagers: [], webhooks: [] };
  private alertmanagers = new Map<string, Target>();
  private webhooks = new Map<string, { hook: Webhook; target: Target }>();
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
    this.env = opts.env ?? process.env;
    this.site = opts.site;
    this.update(settings, opts.site);
    this.armResend();
  }

  /**
   * Takes new settings (after a reload). Targets that stay keep their queues; new Alertmanagers
   * are sent every firing alert at once; removed targets are dropped after their request in flight.
   */
  update(settings: AlertSettings, site: string = this.site): void {
    this.site = site;
    this.settings = settings;
    const ams = new Map<string, Target>();
    for (const url of settings.alertmanagers) {
      const old = this.alertmanagers.get(url);
      if (old) ams.set(url, old);
      else {
        const t = new Target(`alertmanager ${url}`, `${url}/api/v2/alerts`, () => ({}), this.opts, true);
        ams.set(url, t);
        for (const [id, f] of this.firing) t.push(id, this.amAlert(f, "firing"));
      }
    }
    for (const [url, t] of this.alertmanagers) if (!ams.has(url)) void t.close();
    this.alertmanagers = ams;
    const hooks = new Map<string, { hook: Webhook; target: Target }>();
    for (const hook of settings.webhooks) {
      const old = this.webhooks.get(hook.name);
      if (
        old &&
        old.hook.url === hook.url &&
        JSON.stringify(old.hook.headers) === JSON.stringify(hook.headers)
      )
        hooks.set(hook.name, old);
      else {
        if (old) void old.target.close();
        const headers = () =>
          Object.fromEntries(Object.entries(hook.headers).map(([k, v]) => [k, expandEnv(v, this.env)]));
        hooks.set(hook.name, {
          hook,
          target: new Target(`webhook ${hook.name}`, hook.url, headers, this.opts, false),
        });
      }
    }
    for (const [name, h] of this.webhooks) if (!hooks.has(name)) void h.target.close();
    this.webhooks = hooks;
  }

  /** True when any Alertmanager or webhook is configured. */
  get enabled(): boolean {
    return this.settings.alertmanagers.length > 0 || this.settings.webhooks.length > 0;
  }

  /** Ids of checks whose alert is firing. */
  firingIds(): string[] {
    return [...this.firing.keys()];
  }

  /** Deliveries not yet done (queued or waiting for a retry), over all targets. */
  pending(): number {
    let n = 0;
    for (const t of this.alertmanagers.values()) n += t.pending;
    for (const h of this.webhooks.values()) n += h.target.pending;
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
    for (const t of this.alertmanagers.values()) t.push(state.id, this.amAlert(f, "firing"));
    for (const { target } of this.webhooks.values()) target.push(state.id, this.webhookBody(f, "firing"));
  }

  /** The check recovered (or was removed): sends the resolved alert. No-op when it was not firing. */
  resolve(state: CheckState): void {
    if (this.closed) return;
    const f = this.firing.get(state.id);
    if (!f) return;
    this.firing.delete(state.id);
    const done: Firing = { state, startsAt: f.startsAt };
    for (const t of this.alertmanagers.values()) t.push(state.id, this.amAlert(done, "resolved"));
    for (const { target } of this.webhooks.values())
      target.push(state.id, this.webhookBody(done, "resolved"));
  }

  /** Stops re-sends and retries, waiting for requests in flight. Firing alerts are not resolved. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resendTimer !== undefined) this.opts.clock.clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
    await Promise.all([
      ...[...this.alertmanagers.values()].map((t) => t.close()),
      ...[...this.webhooks.values()].map((h) => h.target.close()),
    ]);
  }

  private armResend(): void {
    this.resendTimer = this.opts.clock.setTimeout(() => {
      if (this.closed) return;
      for (const [id, f] of this.firing)
        for (const t of this.alertmanagers.values()) t.push(id, this.amAlert(f, "firing"));
      this.armResend();
    }, this.opts.resendMs);
  }

  private amAlert(f: Firing, status: "firing" | "resolved"): AlertmanagerAlert {
    const now = this.opts.clock.now();
    const s = f.state;
    const annotations: Record<string, string> = {
      summary: summaryOf(s, status),
      description: s.message,
      state: s.state,
    };
    if (s.flapping) annotations.flapping = "true";
    return {
      labels: alertLabels(this.site, s),
      annotations,
      startsAt: f.startsAt,
      endsAt: new Date(status === "firing" ? now + 4 * this.opts.resendMs : now).toISOString(),
    };
  }

  private webhookBody(f: Firing, status: "firing" | "resolved"): WebhookBody {
    const body: WebhookBody = {
      version: 1,
      status,
      site: this.site,
      labels: alertLabels(this.site, f.state),
      check: f.state,
      summary: summaryOf(f.state, status),
      startsAt: f.startsAt,
    };
    if (status === "resolved") body.endsAt = new Date(this.opts.clock.now()).toISOString();
    return body;
  }
}
