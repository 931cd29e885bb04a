/**
 * `grafana`: Grafana's `/api/health` reports its database `ok`
 * (https://grafana.com/docs/grafana/latest/developers/http_api/other/#health-api).
 */
import type { CheckKindDefinition, CheckOutcome, HttpResponse } from "../kind.js";
import { baseUrl, excerpt, failOnProbeError } from "./common.js";

/** The params of a `grafana` check: derived for each service of kind `grafana`, once per site. */
export interface GrafanaParams {
  kind: "grafana";
  baseUrl: string;
  address: string;
  port: number;
}

/** Judges Grafana's `/api/health`: pass iff status 200 and JSON `database` is `"ok"`. */
export function judgeGrafana(url: string, r: HttpResponse): CheckOutcome {
  let doc: unknown;
  try {
    doc = JSON.parse(r.body);
  } catch {
    doc = undefined;
  }
  const database = (doc as { database?: unknown } | undefined)?.database;
  const observed = { status: r.status, database: database ?? null };
  if (r.status === 200 && database === "ok") {
    return { status: "pass", message: `GET ${url}: database ok`, observed };
  }
  if (doc === undefined) {
    return {
      status: "fail",
      message: `GET ${url}: got ${r.status}, not JSON: "${excerpt(r.body)}"`,
      observed,
    };
  }
  return {
    status: "fail",
    message: `GET ${url}: got ${r.status}, database is ${JSON.stringify(database ?? null)}; expected "ok"`,
    observed,
  };
}

/** GET `/api/health` of Grafana. */
export const grafana: CheckKindDefinition<"grafana", GrafanaParams> = {
  kind: "grafana",
  transport: "network",
  scope: "content",
  derive({ service: s, address }) {
    if (s?.kind !== "grafana") return [];
    return [
      {
        params: { kind: "grafana", baseUrl: baseUrl(address, s.port), address, port: s.port },
        service: s.name,
      },
    ];
  },
  async run(spec, ctx) {
    const { address, port, baseUrl } = spec.params;
    try {
      const r = await ctx.prober.httpGet(address, port, "/api/health", ctx.timeoutMs, ctx.signal);
      return judgeGrafana(`${baseUrl}/api/health`, r);
    } catch (e) {
      return failOnProbeError(e);
    }
  },
};
