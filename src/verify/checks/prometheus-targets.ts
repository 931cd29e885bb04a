/**
 * `prometheus.targets`: every monitored host is an active Prometheus target that is up, and no
 * active target is down. Observed with the Prometheus HTTP API `GET /api/v1/targets?state=active`
 * (https://prometheus.io/docs/prometheus/latest/querying/api/#targets).
 */
import type { CheckKindDefinition, CheckOutcome, HttpResponse } from "../kind.js";
import { baseUrl, excerpt, hostOfHostPort, outcomeOfError, parseAddress } from "./common.js";

/** The params of a `prometheus.targets` check: derived for each service of kind `prometheus`, once per site. */
export interface PrometheusTargetsParams {
  kind: "prometheus.targets";
  /** Base URL of the Prometheus server, e.g. `http://10.20.0.3:9090`. */
  baseUrl: string;
  address: string;
  port: number;
  /**
   * Monitored hosts: name, addresses and node_exporter port; each must be an active target
   * on that port that is up. (`port` is optional for callers that match by host alone.)
   */
  monitored: { host: string; addresses: string[]; port?: number }[];
}

/** The fields Keel reads of one entry of `data.activeTargets`. */
export interface ActiveTarget {
  discoveredLabels?: Record<string, string>;
  labels?: Record<string, string>;
  scrapeUrl?: string;
  lastError?: string;
  /** `up`, `down` or `unknown` (not scraped yet). */
  health?: string;
}

/** API path the check GETs. */
export const TARGETS_PATH = "/api/v1/targets?state=active";

/** Largest targets document read, in bytes (a few hundred targets fit easily). */
export const TARGETS_MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Parses the API answer `{ status: "success", data: { activeTargets: [...] } }`.
 *
 * @throws Error with a short reason when the body is not such a document.
 */
export function parseTargets(body: string): ActiveTarget[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new Error(`not JSON: "${excerpt(body)}"`);
  }
  const d = doc as { status?: unknown; data?: { activeTargets?: unknown }; error?: unknown };
  if (d.status !== "success")
    throw new Error(`API status ${JSON.stringify(d.status)}: ${String(d.error ?? "")}`);
  if (!Array.isArray(d.data?.activeTargets)) throw new Error("no data.activeTargets in the answer");
  return d.data.activeTargets as ActiveTarget[];
}

function sameAddress(a: string, b: string): boolean {
  const x = parseAddress(a);
  const y = parseAddress(b);
  if (x && y) return x.kind() === y.kind() && x.toNormalizedString() === y.toNormalizedString();
  return a === b;
}

/** The port of `HOST:PORT` or `[V6]:PORT`; undefined when the text gives none. */
function portOfHostPort(text: string): number | undefined {
  const m = /^(?:\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The port Prometheus scrapes `t` on: that of `scrapeUrl` (the address after relabelling: a
 * blackbox job's is the exporter's, e.g. 9115; no port means the scheme's, 80 or 443), else that
 * of `discoveredLabels.__address__` or `labels.instance`; undefined when none gives one.
 */
function scrapedPort(t: ActiveTarget): number | undefined {
  if (t.scrapeUrl) {
    try {
      const u = new URL(t.scrapeUrl);
      if (u.port) return Number(u.port);
      if (u.protocol === "http:") return 80;
      if (u.protocol === "https:") return 443;
    } catch {
      // not a URL: fall back to the labels
    }
  }
  for (const hp of [t.discoveredLabels?.__address__, t.labels?.instance]) {
    const p = hp ? portOfHostPort(hp) : undefined;
    if (p !== undefined) return p;
  }
  return undefined;
}

/**
 * True when `t` scrapes `host`'s node_exporter: `labels.host` is the host name, or the host part
 * of `labels.instance` or of `discoveredLabels.__address__` is one of its addresses (or its name,
 * or a name starting with `NAME.`); and, when `port` is given, Prometheus scrapes it on that port
 * (see `scrapedPort`; a target that gives no port anywhere matches any). A host's other exporters
 * (a blackbox job, whose scrape URL is the exporter's, or an application on another port) do not
 * stand in for it.
 */
export function targetMatchesHost(
  t: ActiveTarget,
  host: string,
  addresses: string[],
  port?: number,
): boolean {
  if (port !== undefined) {
    const p = scrapedPort(t);
    if (p !== undefined && p !== port) return false;
  }
  if (t.labels?.host === host) return true;
  for (const hp of [t.labels?.instance, t.discoveredLabels?.__address__]) {
    if (!hp) continue;
    const h = hostOfHostPort(hp);
    if (h === host || h.startsWith(`${host}.`)) return true;
    if (addresses.some((a) => sameAddress(a, h))) return true;
  }
  return false;
}

function targetName(t: ActiveTarget): string {
  return t.labels?.instance ?? t.discoveredLabels?.__address__ ?? t.scrapeUrl ?? "?";
}

/**
 * Judges the active targets: each monitored host needs a matching target (on its node_exporter
 * port, when given) with health `up`; any target with health `down` fails the check (with its
 * `lastError`). Missing hosts are named `HOST:PORT` in the message, by name in `observed`.
 */
export function judgeTargets(
  targets: ActiveTarget[],
  monitored: { host: string; addresses: string[]; port?: number }[],
): CheckOutcome {
  const missing: string[] = [];
  const missingText: string[] = [];
  const notUp: string[] = [];
  for (const m of monitored) {
    const mine = targets.filter((t) => targetMatchesHost(t, m.host, m.addresses, m.port));
    if (mine.length === 0) {
      missing.push(m.host);
      missingText.push(m.port !== undefined ? `${m.host}:${m.port}` : m.host);
    } else if (!mine.some((t) => t.health === "up"))
      notUp.push(`${m.host} (${mine.map((t) => t.health ?? "?").join(", ")})`);
  }
  const down = targets
    .filter((t) => t.health === "down")
    .map((t) => ({
      target: targetName(t),
      job: t.labels?.job ?? null,
      lastError: t.lastError ?? "",
    }));
  const observed = {
    active: targets.length,
    up: targets.filter((t) => t.health === "up").length,
    missingHosts: missing,
    hostsNotUp: notUp,
    down,
  };
  const problems: string[] = [];
  if (missing.length) problems.push(`not active targets: ${missingText.join(", ")}`);
  if (notUp.length) problems.push(`no target up for ${notUp.join(", ")}`);
  for (const d of down) {
    problems.push(
      `${d.target}${d.job ? ` (job ${d.job})` : ""} is down${d.lastError ? `: ${d.lastError}` : ""}`,
    );
  }
  if (problems.length) return { status: "fail", message: problems.join("; "), observed };
  return {
    status: "pass",
    message: `all ${monitored.length} monitored hosts are up among ${targets.length} active targets, none down`,
    observed,
  };
}

/** GETs the active targets from Prometheus and judges with `judgeTargets`. */
export const prometheusTargets: CheckKindDefinition<"prometheus.targets", PrometheusTargetsParams> = {
  kind: "prometheus.targets",
  transport: "network",
  scope: "content",
  derive({ service: s, address }, ctx) {
    if (s?.kind !== "prometheus") return [];
    const params: PrometheusTargetsParams = {
      kind: "prometheus.targets",
      baseUrl: baseUrl(address, s.port),
      address,
      port: s.port,
      monitored: ctx.inv.hosts
        .filter((m) => m.tags.includes("monitored") && m.services.some((x) => x.kind === "node_exporter"))
        .map((m) => ({
          host: m.name,
          addresses: m.addresses.map((a) => a.address),
          port: m.services.find((x) => x.kind === "node_exporter")!.port,
        })),
    };
    return [{ params, service: s.name }];
  },
  async run(spec, ctx) {
    const { address, port, baseUrl, monitored } = spec.params;
    const url = `${baseUrl}${TARGETS_PATH}`;
    let r: HttpResponse;
    try {
      r = await ctx.prober.httpGet(address, port, TARGETS_PATH, ctx.timeoutMs, ctx.signal, {
        maxBodyBytes: TARGETS_MAX_BODY_BYTES,
      });
    } catch (e) {
      return outcomeOfError(e, (pe) => ({ status: "fail", message: pe.message }));
    }
    if (r.status !== 200) {
      return {
        status: "fail",
        message: `GET ${url}: got ${r.status}, expected 200; body: "${excerpt(r.body)}"`,
      };
    }
    if (r.truncated)
      return { status: "error", message: `GET ${url}: answer larger than ${TARGETS_MAX_BODY_BYTES} bytes` };
    let targets: ActiveTarget[];
    try {
      targets = parseTargets(r.body);
    } catch (e) {
      return { status: "fail", message: `GET ${url}: ${(e as Error).message}` };
    }
    return judgeTargets(targets, monitored);
  },
};
