/**
 * HTTP GET through an undici dispatcher, for the via prober (a `direct-tcpip` channel through
 * the via host). Kept apart from `http.ts` so that undici loads only when a via vantage runs.
 */
import { type Dispatcher, request } from "undici";
import { type HttpResponse, ProbeError, VantageError } from "../types.js";
import { raceDeadline } from "./deadline.js";
import { DEFAULT_MAX_BODY_BYTES, describeHttpError, responseOf, USER_AGENT } from "./http.js";

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
