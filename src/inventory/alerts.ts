/**
 * The `alerts:` section: URLs that parse and hold no credentials, unique webhook names; and the
 * normalised `AlertSettings`.
 */
import type { CheckContext } from "./context.js";
import type { AlertSettings, SourcePosition, Webhook } from "./model.js";
import type { RawAlerts } from "./raw.js";
import { show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Rules of `alerts:` the schema cannot express: URLs that parse, unique webhook names. */
export function checkAlerts(ctx: CheckContext): void {
  const alerts = ctx.raw.alerts;
  if (!alerts) return;
  (alerts.alertmanager ?? []).forEach((url, i) => {
    const why = urlProblem(url);
    if (why)
      ctx.problem(
        ["alerts", "alertmanager", i],
        `alertmanager URL ${why.secret ? `(item ${i + 1})` : show(url)} ${why.message}; expected Alertmanager's base URL such as http://10.20.0.3:9093`,
      );
  });
  const names = new Map<string, SourcePosition>();
  (alerts.webhooks ?? []).forEach((w, i) => {
    const segs = ["alerts", "webhooks", i];
    const why = urlProblem(w.url);
    if (why)
      ctx.problem(
        [...segs, "url"],
        `url ${why.secret ? "" : `${show(w.url)} `}of ${ctx.label(segs)} ${why.message}; expected e.g. http://10.20.0.5:8080/hook`,
      );
    const first = names.get(w.name);
    if (first !== undefined)
      ctx.problem(
        [...segs, "name"],
        `webhook name "${w.name}" is used twice (first at line ${first.line}); webhook names must be unique`,
      );
    else names.set(w.name, ctx.loc.pos([...segs, "name"]));
  });
}

/**
 * Why `url` is not a usable http(s) URL (for sending alerts, for fetching images), or undefined
 * when it is; `secret` when the URL holds credentials and must not be echoed.
 */
export function urlProblem(url: string): { message: string; secret?: true } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { message: "is not a URL" };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return { message: "is not http:// or https://" };
  if (u.hostname === "") return { message: "has no host" };
  if (u.username !== "" || u.password !== "")
    return { message: "holds credentials (user:password@), a literal secret in the inventory", secret: true };
  return undefined;
}

/** `alerts:` normalised: Alertmanager URLs without a trailing `/`, webhooks with their positions. */
export function normaliseAlerts(raw: RawAlerts | undefined, loc: Positions): AlertSettings {
  return {
    alertmanagers: (raw?.alertmanager ?? []).map((u) => u.replace(/\/+$/, "")),
    webhooks: (raw?.webhooks ?? []).map(
      (w, i): Webhook => ({
        name: w.name,
        url: w.url,
        headers: { ...w.headers },
        pos: loc.pos(["alerts", "webhooks", i]),
      }),
    ),
  };
}
