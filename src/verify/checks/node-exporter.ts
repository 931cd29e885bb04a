/**
 * `node_exporter`: `/metrics` serves `node_` metrics (Prometheus text exposition format).
 */
import type { CheckKindDefinition, CheckOutcome, HttpResponse } from "../kind.js";
import { baseUrl, excerpt, failOnProbeError } from "./common.js";

/** The params of a `node_exporter` check: derived for each service of kind `node_exporter`, once per site. */
export interface NodeExporterParams {
  kind: "node_exporter";
  baseUrl: string;
  address: string;
  port: number;
}

/** Names of the `node_*` metrics in a Prometheus text exposition (comment lines ignored). */
export function nodeMetricNames(body: string): string[] {
  const names = new Set<string>();
  for (const m of body.matchAll(/^(node_[A-Za-z0-9_:]*)(?=[{ \t])/gm)) names.add(m[1]!);
  return [...names];
}

/** Judges `/metrics` of node_exporter: pass iff status 200 and at least one `node_` metric line. */
export function judgeNodeExporter(url: string, r: HttpResponse): CheckOutcome {
  const names = nodeMetricNames(r.body);
  const observed = { status: r.status, nodeMetrics: names.length };
  if (r.status !== 200) {
    return { status: "fail", message: `GET ${url}: got ${r.status}, expected 200`, observed };
  }
  if (names.length === 0) {
    return {
      status: "fail",
      message: `GET ${url}: no node_ metrics${r.truncated ? " in the first bytes read" : ""}; body: "${excerpt(r.body)}"`,
      observed,
    };
  }
  return { status: "pass", message: `GET ${url}: ${names.length} node_ metrics`, observed };
}

/** Largest `/metrics` body read: node_ metrics follow the go_ ones, so read well past 64 KiB. */
export const NODE_EXPORTER_MAX_BODY_BYTES = 1024 * 1024;

/** GET `/metrics` of node_exporter. */
export const nodeExporter: CheckKindDefinition<"node_exporter", NodeExporterParams> = {
  kind: "node_exporter",
  transport: "network",
  scope: "content",
  derive({ service: s, address }) {
    if (s?.kind !== "node_exporter") return [];
    const params: NodeExporterParams = {
      kind: "node_exporter",
      baseUrl: baseUrl(address, s.port),
      address,
      port: s.port,
    };
    return [{ params, service: s.name }];
  },
  async run(spec, ctx) {
    const { address, port, baseUrl } = spec.params;
    try {
      const r = await ctx.prober.httpGet(address, port, "/metrics", ctx.timeoutMs, ctx.signal, {
        maxBodyBytes: NODE_EXPORTER_MAX_BODY_BYTES,
      });
      return judgeNodeExporter(`${baseUrl}/metrics`, r);
    } catch (e) {
      return failOnProbeError(e);
    }
  },
};
