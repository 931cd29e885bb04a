/**
 * Alerts to the generic webhooks of `alerts.webhooks`: one JSON POST per change (`WebhookBody`),
 * in order per webhook, with the webhook's headers (`${NAME}` taken from the environment when
 * sent); no re-sends.
 */
import type { AlertSettings, Webhook } from "../../inventory/model.js";
import type { CheckState } from "../types.js";
import {
  type AlertProvider,
  type AlertProviderFactory,
  alertLabels,
  expandEnv,
  type Firing,
  type ProviderContext,
  summaryOf,
} from "./provider.js";
import { Target } from "./target.js";

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

/** The webhook body of `f` at `now` (epoch ms), firing or resolved. */
export function webhookBody(
  f: Firing,
  status: "firing" | "resolved",
  site: string,
  now: number,
): WebhookBody {
  const body: WebhookBody = {
    version: 1,
    status,
    site,
    labels: alertLabels(site, f.state),
    check: f.state,
    summary: summaryOf(f.state, status),
    startsAt: f.startsAt,
  };
  if (status === "resolved") body.endsAt = new Date(now).toISOString();
  return body;
}

class WebhookProvider implements AlertProvider {
  private hooks = new Map<string, { hook: Webhook; target: Target }>();
  private site = "";

  constructor(private readonly ctx: ProviderContext) {}

  update(settings: AlertSettings, site: string): void {
    this.site = site;
    const hooks = new Map<string, { hook: Webhook; target: Target }>();
    for (const hook of settings.webhooks) {
      const old = this.hooks.get(hook.name);
      if (
        old &&
        old.hook.url === hook.url &&
        JSON.stringify(old.hook.headers) === JSON.stringify(hook.headers)
      )
        hooks.set(hook.name, old);
      else {
        if (old) void old.target.close();
        const headers = () =>
          Object.fromEntries(Object.entries(hook.headers).map(([k, v]) => [k, expandEnv(v, this.ctx.env)]));
        hooks.set(hook.name, {
          hook,
          target: new Target(`webhook ${hook.name}`, hook.url, headers, this.ctx.delivery, false),
        });
      }
    }
    for (const [name, h] of this.hooks) if (!hooks.has(name)) void h.target.close();
    this.hooks = hooks;
  }

  fire(f: Firing): void {
    this.push(f, "firing");
  }

  resolve(f: Firing): void {
    this.push(f, "resolved");
  }

  pending(): number {
    let n = 0;
    for (const h of this.hooks.values()) n += h.target.pending;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.hooks.values()].map((h) => h.target.close()));
  }

  private push(f: Firing, status: "firing" | "resolved"): void {
    for (const { target } of this.hooks.values())
      target.push(f.state.id, webhookBody(f, status, this.site, this.ctx.delivery.clock.now()));
  }
}

/** The webhook provider. */
export const webhookProvider: AlertProviderFactory = (ctx) => new WebhookProvider(ctx);
