/**
 * `http`: an HTTP health path answers with the expected status (and body, if given).
 */
import type { CheckKindDefinition, CheckOutcome, HttpResponse } from "../kind.js";
import { baseUrl, excerpt, failOnProbeError, undecided } from "./common.js";

/** The params of an `http` check: derived for each service with `http:`, once per site. */
export interface HttpParams {
  kind: "http";
  url: string;
  address: string;
  port: number;
  path: string;
  expect: number;
  body?: string;
}

/**
 * Judges an HTTP health probe: pass iff the status equals `expect` and, when `bodyRegex` is
 * given (JavaScript RegExp syntax), the body matches it.
 *
 * @throws SyntaxError when `bodyRegex` is not a valid regular expression.
 */
export function judgeHttp(
  url: string,
  expect: number,
  bodyRegex: string | undefined,
  r: HttpResponse,
): CheckOutcome {
  const observed = { status: r.status, body: excerpt(r.body, 200) };
  if (r.status !== expect) {
    return {
      status: "fail",
      message: `GET ${url}: got ${r.status}, expected ${expect}; body: "${excerpt(r.body)}"`,
      observed,
    };
  }
  if (bodyRegex !== undefined && !new RegExp(bodyRegex).test(r.body)) {
    return {
      status: "fail",
      message: `GET ${url}: got ${r.status} but the body does not match /${bodyRegex}/; body: "${excerpt(r.body)}"`,
      observed,
    };
  }
  return {
    status: "pass",
    message: `GET ${url}: ${r.status}${bodyRegex ? `, body matches /${bodyRegex}/` : ""}`,
    observed,
  };
}

/** GET `path`, judged by `judgeHttp`. */
export const http: CheckKindDefinition<"http", HttpParams> = {
  kind: "http",
  transport: "network",
  scope: "content",
  derive({ service: s, address }) {
    if (!s?.http) return [];
    const params: HttpParams = {
      kind: "http",
      url: `${baseUrl(address, s.port)}${s.http.path}`,
      address,
      port: s.port,
      path: s.http.path,
      expect: s.http.expect,
    };
    if (s.http.body !== undefined) params.body = s.http.body;
    return [{ params, service: s.name }];
  },
  async run(spec, ctx) {
    const { address, port, path, expect, body, url } = spec.params;
    if (body !== undefined) {
      try {
        new RegExp(body);
      } catch (e) {
        return undecided(`body pattern /${body}/ is not a valid regular expression: ${(e as Error).message}`);
      }
    }
    try {
      const r = await ctx.prober.httpGet(address, port, path, ctx.timeoutMs, ctx.signal);
      return judgeHttp(url, expect, body, r);
    } catch (e) {
      return failOnProbeError(e);
    }
  },
};
