/**
 * HTTP GET on top of `undici`, shared by the local prober (plain TCP) and the via prober (a
 * `direct-tcpip` channel through the via host).
 */
import http from "node:http";
import { type Dispatcher, request } from "undici";
import { type HttpResponse, ProbeError, VantageError } from "../types.js";
import { errorMessage, hostPort, raceDeadline } from "./deadline.js";

/** User-Agent of Keel's HTTP probes. */
export const USER_AGENT = "keel-probe";

/** Default cap on the body kept from a response, in bytes (64 KiB). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Names a failed request's cause the way a person would (`connection refused`, `no route to host`). */
export function describeHttpError(e: unknown): string {
  const err = e as { code?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "EHOSTUNREACH":
      return "no route to host";
    case "ENETUNREACH":
      return "network unreachable";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timed out";
    case "UND_ERR_HEADERS_TIMEOUT":
      return "no response headers in time";
    case "UND_ERR_BODY_TIMEOUT":
      return "response body stalled";
    default:
      return err.cause?.message ?? errorMessage(e);
  }
}

/** The probe's view of a response: headers flattened (repeated ones joined with `, `), body as UTF-8. */
function responseOf(
  status: number,
  raw: Record<string, string | string[] | undefined>,
  chunks: Buffer[],
  truncated: boolean,
): HttpResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  const out: HttpResponse = { status, headers, body: Buffer.concat(chunks).toString("utf8") };
  if (truncated) out.truncated = true;
  return out;
}

/**
 * GETs `url` through `dispatcher` and keeps at most `maxBodyBytes` bytes of the body (the rest
 * is not read; `truncated` is then true).
 *
 * @param timeoutMs deadline for the whole exchange (connect, headers and body), in ms.
 * @param closeConnection close the connection after the response (`reset`): right for direct
 *   TCP probes, where keep-alive would hold thousands of idle sockets; wrong over an SSH channel,
 *   which never reports the close undici then waits for before its next request.
 * @throws ProbeError `GET URL: connection refused` / `… no response within N ms` and the like.
 */
export function httpGetVia(
  dispatcher: Dispatcher,
  url: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  closeConnection = false,
): Promise<HttpResponse> {
  const ac = new AbortController();
  let finished = false;
  const work = (async (): Promise<HttpResponse> => {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher,
        method: "GET",
        signal: ac.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        reset: closeConnection,
        headers: { "user-agent": USER_AGENT },
      });
    } catch (e) {
      // A via host that failed stays a VantageError (the check is undecided, not failed).
      if (e instanceof VantageError) throw e;
      throw new ProbeError(`GET ${url}: ${describeHttpError(e)}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        if (size + b.length > maxBodyBytes) {
          chunks.push(b.subarray(0, maxBodyBytes - size));
          size = maxBodyBytes;
          truncated = true;
          break;
        }
        chunks.push(b);
        size += b.length;
      }
    } catch (e) {
      throw new ProbeError(`GET ${url}: reading the body failed: ${describeHttpError(e)}`);
    } finally {
      if (truncated) res.body.destroy();
    }
    finished = true;
    return responseOf(res.statusCode, res.headers, chunks, truncated);
  })();
  return raceDeadline(
    work,
    timeoutMs,
    signal,
    () => {
      throw new ProbeError(`GET ${url}: no response within ${timeoutMs} ms`);
    },
    // abort only an exchange still under way (an abort builds an error object: not for nothing)
    () => {
      if (!finished) ac.abort();
    },
  );
}

/**
 * One GET over a fresh, unshared TCP connection with Node's own HTTP/1.1 client (`node:http`,
 * `agent: false`, `Connection: close`), for probes from a local vantage.
 *
 * Why not undici here: a probe run talks to thousands of distinct origins once each, and
 * undici builds a pool and a client per origin (and an error object when each is torn down),
 * which cost about twice the CPU of the exchange itself in `npm run bench`. Over SSH channels
 * (`httpGetVia`) undici stays, since it takes a custom connector.
 *
 * @param host address (IPv6 without brackets); @param port TCP port; @param path absolute path.
 * @param timeoutMs deadline for the whole exchange (connect, headers and body), in ms.
 * @throws ProbeError `GET URL: connection refused` / `… no response within N ms` and the like.
 */
export function httpGetOnce(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
): Promise<HttpResponse> {
  const url = `http://${hostPort(host, port)}${path}`;
  let req: http.ClientRequest | undefined;
  let finished = false;
  const work = new Promise<HttpResponse>((resolve, reject) => {
    req = http.get(
      { host, port, path, agent: false, headers: { connection: "close", "user-agent": USER_AGENT } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const done = (): void => {
          finished = true;
          resolve(responseOf(res.statusCode ?? 0, res.headers, chunks, truncated));
        };
        res.on("data", (b: Buffer) => {
          if (truncated) return;
          if (size + b.length > maxBodyBytes) {
            chunks.push(b.subarray(0, maxBodyBytes - size));
            size = maxBodyBytes;
            truncated = true;
            done();
            res.destroy();
            return;
          }
          chunks.push(b);
          size += b.length;
        });
        res.on("end", () => {
          if (!truncated) done();
        });
        res.on("error", (e) => {
          if (!finished)
            reject(new ProbeError(`GET ${url}: reading the body failed: ${describeHttpError(e)}`));
        });
        res.on("close", () => {
          if (!finished && !res.complete)
            reject(new ProbeError(`GET ${url}: reading the body failed: connection reset`));
        });
      },
    );
    req.on("error", (e) => {
      if (!finished) reject(new ProbeError(`GET ${url}: ${describeHttpError(e)}`));
    });
  });
  return raceDeadline(
    work,
    timeoutMs,
    signal,
    () => {
      throw new ProbeError(`GET ${url}: no response within ${timeoutMs} ms`);
    },
    () => {
      if (!finished) req?.destroy();
    },
  );
}
