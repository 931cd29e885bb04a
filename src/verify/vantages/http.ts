/**
 * HTTP GET for probes: one-shot `node:http` exchanges for the local prober, and the pieces the
 * via prober's undici path (`http-via.ts`) shares with it.
 */
import http from "node:http";
import { hostPort } from "../../net/hostport.js";
import { type HttpResponse, ProbeError } from "../types.js";
import { errorMessage, raceDeadline } from "./deadline.js";

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
export function responseOf(
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
 * The agent of one-shot probes: no keep-alive (each socket is closed after its response) and no
 * limit on sockets per origin (the runner bounds concurrency). One shared agent rather than
 * `agent: false`, which builds an agent per request.
 */
const ONE_SHOT = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

/**
 * One GET over a fresh, unshared TCP connection with Node's own HTTP/1.1 client (`node:http`,
 * no keep-alive, `Connection: close`), for probes from a local vantage.
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
      { host, port, path, agent: ONE_SHOT, headers: { connection: "close", "user-agent": USER_AGENT } },
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
