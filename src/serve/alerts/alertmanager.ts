/**
 * Alerts to Alertmanager (https://prometheus.io/docs/alerting/latest/clients/, API v2 `POST
 * /api/v2/alerts`), one destination per URL of `alerts.alertmanagers`: a firing alert is sent
 * when a check turns hard and re-sent every `resendMs` while it stays firing, with `endsAt` =
 * now + 4 × `resendMs` (as Prometheus does), so Alertmanager resolves it by itself if Keel stops
 * sending; a resolved alert is sent with `endsAt` = the time of recovery. Labels identify the
 * alert (`alertLabels`); annotations carry the message. All queued alerts go in one request (a
 * JSON array), and a newer state of an alert replaces its queued one.
 */
import type { AlertSettings } from "../../inventory/model.js";
import {
  type AlertProvider,
  type AlertProviderFactory,
  alertLabels,
  type DeliveryOptions,
  type Firing,
  summaryOf,
} from "./provider.js";
import { Target } from "./target.js";

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

/** The Alertmanager alert of `f` at `now` (epoch ms), firing or resolved. */
export function amAlert(
  f: Firing,
  status: "firing" | "resolved",
  site: string,
  now: number,
  resendMs: number,
): AlertmanagerAlert {
  const s = f.state;
  const annotations: Record<string, string> = {
    summary: summaryOf(s, status),
    description: s.message,
    state: s.state,
  };
  if (s.flapping) annotations.flapping = "true";
  return {
    labels: alertLabels(site, s),
    annotations,
    startsAt: f.startsAt,
    endsAt: new Date(status === "firing" ? now + 4 * resendMs : now).toISOString(),
  };
}

class AlertmanagerProvider implements AlertProvider {
  private targets = new Map<string, Target>();
  private site = "";

  constructor(private readonly opts: DeliveryOptions) {}

  update(settings: AlertSettings, site: string, firing: ReadonlyMap<string, Firing>): void {
    this.site = site;
    const targets = new Map<string, Target>();
    for (const url of settings.alertmanagers) {
      const old = this.targets.get(url);
      if (old) targets.set(url, old);
      else {
        const t = new Target(`alertmanager ${url}`, `${url}/api/v2/alerts`, () => ({}), this.opts, true);
        targets.set(url, t);
        // a new Alertmanager learns every firing alert at once
        for (const [id, f] of firing) t.push(id, this.body(f, "firing"));
      }
    }
    for (const [url, t] of this.targets) if (!targets.has(url)) void t.close();
    this.targets = targets;
  }

  fire(f: Firing): void {
    for (const t of this.targets.values()) t.push(f.state.id, this.body(f, "firing"));
  }

  resolve(f: Firing): void {
    for (const t of this.targets.values()) t.push(f.state.id, this.body(f, "resolved"));
  }

  resend(firing: ReadonlyMap<string, Firing>): void {
    for (const [id, f] of firing) for (const t of this.targets.values()) t.push(id, this.body(f, "firing"));
  }

  pending(): number {
    let n = 0;
    for (const t of this.targets.values()) n += t.pending;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.targets.values()].map((t) => t.close()));
  }

  private body(f: Firing, status: "firing" | "resolved"): AlertmanagerAlert {
    return amAlert(f, status, this.site, this.opts.clock.now(), this.opts.resendMs);
  }
}

/** The Alertmanager provider. */
export const alertmanagerProvider: AlertProviderFactory = (ctx) => new AlertmanagerProvider(ctx.delivery);
