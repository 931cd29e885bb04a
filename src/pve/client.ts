/**
 * The Proxmox VE API client: HTTPS with the server certificate pinned by its SHA-256
 * fingerprint, API-token authentication, failover over a cluster's endpoints.
 *
 * Follows the Proxmox VE API (https://pve.proxmox.com/pve-docs/api-viewer/): every path is under
 * `/api2/json`, answers are `{"data": …}`, parameters of POST and PUT are sent as
 * `application/x-www-form-urlencoded` (PVE::APIServer::AnyEvent), errors carry their reason in
 * the HTTP status line and per-parameter problems in `{"errors": {…}}`.
 */
import { openAsBlob } from "node:fs";
import type { TLSSocket } from "node:tls";
import { buildConnector, FormData, fetch, Pool } from "undici";
import {
  type EndpointFailure,
  PveApiError,
  PveFingerprintError,
  PveRequestUncertainError,
  PveUnreachableError,
} from "./errors.js";

/** A parameter value as the API takes it: booleans are sent as 1/0, arrays as repeated keys. */
export type PveParamValue = string | number | boolean | undefined | null | readonly (string | number)[];

/** Parameters of a request: query string for GET/DELETE, form body for POST/PUT. */
export type PveParams = Record<string, PveParamValue>;

/** How to reach one hypervisor (a Proxmox VE node or cluster). */
export interface PveClientOptions {
  /** Base URLs such as `https://vega:8006`, tried in order; `https:` only. */
  endpoints: string[];
  /** The API token, `USER@REALM!TOKENID=SECRET`; never appears in an error message. */
  token: string;
  /**
   * The SHA-256 fingerprint of the server certificate (`openssl x509 -fingerprint -sha256`,
   * or the node's "Certificates" panel), hex with or without colons, any case: one for every
   * endpoint, or one per endpoint (keys as in `endpoints`), since each node of a cluster has
   * its own certificate.
   */
  fingerprint: string | Record<string, string>;
  /** Per request phase (connect, then waiting for the answer), in milliseconds; default 30 000. */
  timeoutMs?: number;
  /** For uploads, waiting for the answer after the file was sent; default 30 minutes. */
  uploadTimeoutMs?: number;
  /** The hypervisor's name, used in messages. */
  name?: string;
  /**
   * Told of each endpoint that failed and was skipped (refused, timed out, fingerprint
   * mismatch), also when a later endpoint then answered: for a warning in the caller's log.
   */
  onEndpointFailure?: (failure: EndpointFailure) => void;
}

/** A file for {@link PveClient.upload}: from a path (streamed) or in memory. */
export interface PveUploadFile {
  /** The file name on the storage, e.g. `debian-12.iso`. */
  name: string;
  /** A path to read (streamed from disk, not read into memory), or the bytes. */
  path?: string;
  data?: Uint8Array;
  /** Default `application/octet-stream`. */
  contentType?: string;
}

const API_PREFIX = "/api2/json";
const TOKEN_RE = /^[^\s@!=:]+@[A-Za-z][\w.-]*![A-Za-z][\w.-]*=\S+$/;

/**
 * Normalises a SHA-256 fingerprint to upper-case hex with colons (the form of
 * `tls.PeerCertificate.fingerprint256`). Throws when it is not 32 bytes of hex.
 */
export function normaliseFingerprint(fp: string): string {
  const hex = fp.replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new Error(`"${fp}" is not a SHA-256 fingerprint (64 hex digits, with or without colons)`);
  }
  return hex.match(/../g)!.join(":");
}

/** The origin of an endpoint URL (`https://host:port`); throws for anything but https. */
function originOf(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`endpoint "${endpoint}" is not a URL (expected https://HOST:8006)`);
  }
  if (url.protocol !== "https:") throw new Error(`endpoint "${endpoint}" must use https`);
  return url.origin;
}

/** A failure before any byte of the request was sent: always safe to try another endpoint. */
class ConnectFailure extends Error {
  constructor(
    why: string,
    readonly original?: unknown,
  ) {
    super(why);
  }
}

/** Words for a connection error, without secrets. */
function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: unknown } | undefined;
  switch (e?.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return "timed out waiting for the answer";
    case "UND_ERR_SOCKET":
      return "the server closed the connection";
  }
  if (e?.code?.startsWith("ERR_SSL") || e?.code?.startsWith("ERR_TLS")) {
    return `TLS handshake failed: ${e.message ?? e.code}`;
  }
  return e?.message ?? String(err);
}

/**
 * A TLS connector that accepts the server's certificate only when its SHA-256 fingerprint is
 * the pinned one. Chain verification is off (Proxmox nodes use self-signed certificates), and
 * the pin replaces it: on mismatch the socket is destroyed in the `secureConnect` callback,
 * before undici writes a byte of the request. TLS session resumption is disabled so every
 * connection presents its certificate.
 */
function pinnedConnector(origin: string, fingerprint: string, timeoutMs: number): buildConnector.connector {
  const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0, timeout: timeoutMs });
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err || !socket) {
        callback(new ConnectFailure(describe(err), err), null);
        return;
      }
      const seen = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256 ?? "(no certificate)";
      if (seen !== fingerprint) {
        socket.destroy();
        callback(new ConnectFailure("fingerprint", new PveFingerprintError(origin, fingerprint, seen)), null);
        return;
      }
      callback(null, socket);
    });
  };
}

interface Endpoint {
  origin: string;
  fingerprint: string;
  pool: Pool;
  uploadPool?: Pool;
}

/**
 * A Proxmox VE API client for one hypervisor. Tries its endpoints in order, starting at the
 * last one that answered; only failures where no answer came (refused, timed out, TLS or
 * fingerprint failure) move on to the next endpoint, and for POST, PUT and DELETE only those
 * before the request was sent. HTTP errors are answers: they are thrown as {@link PveApiError}.
 *
 * Throws {@link PveUnreachableError} (each endpoint and why) when no endpoint answered,
 * {@link PveRequestUncertainError} when a change was sent but no answer came.
 */
export class PveClient {
  /** The hypervisor's name for messages. */
  readonly name: string;
  /** The token's id (`USER@REALM!TOKENID`), without its secret: safe to show. */
  readonly tokenId: string;
  readonly #authorization: string;
  readonly #endpoints: Endpoint[];
  readonly #timeoutMs: number;
  readonly #uploadTimeoutMs: number;
  readonly #onEndpointFailure: ((failure: EndpointFailure) => void) | undefined;
  #current = 0;

  /** Throws a plain Error (never echoing the token) for a malformed token, endpoint or fingerprint. */
  constructor(opts: PveClientOptions) {
    if (opts.endpoints.length === 0) throw new Error("a Proxmox VE client needs at least one endpoint");
    if (!TOKEN_RE.test(opts.token)) {
      throw new Error("the API token must look like USER@REALM!TOKENID=SECRET");
    }
    this.tokenId = opts.token.slice(0, opts.token.indexOf("="));
    this.#authorization = `PVEAPIToken=${opts.token}`;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#uploadTimeoutMs = opts.uploadTimeoutMs ?? 30 * 60_000;
    this.#onEndpointFailure = opts.onEndpointFailure;
    this.#endpoints = opts.endpoints.map((e) => {
      const origin = originOf(e);
      const pinned =
        typeof opts.fingerprint === "string"
          ? opts.fingerprint
          : (opts.fingerprint[e] ??
            opts.fingerprint[origin] ??
            Object.entries(opts.fingerprint).find(([k]) => originOf(k) === origin)?.[1]);
      if (pinned === undefined) throw new Error(`no certificate fingerprint given for endpoint ${e}`);
      const fingerprint = normaliseFingerprint(pinned);
      const pool = this.#pool(origin, fingerprint, this.#timeoutMs);
      return { origin, fingerprint, pool };
    });
    this.name = opts.name ?? this.#endpoints[0]!.origin;
  }

  #pool(origin: string, fingerprint: string, headersTimeout: number): Pool {
    return new Pool(origin, {
      connect: pinnedConnector(origin, fingerprint, this.#timeoutMs),
      headersTimeout,
      bodyTimeout: this.#timeoutMs,
      connections: 8,
    });
  }

  /** The origin of the endpoint the next request tries first (the last one that answered). */
  get currentEndpoint(): string {
    return this.#endpoints[this.#current]!.origin;
  }

  /** GET `path` (under `/api2/json`) with `query`; resolves to the answer's `data`. */
  get<T = unknown>(path: string, query?: PveParams): Promise<T> {
    return this.#request<T>("GET", path, query);
  }

  /** POST `path` with `params` as a form; resolves to `data` (a UPID for most changes). */
  post<T = unknown>(path: string, params?: PveParams): Promise<T> {
    return this.#request<T>("POST", path, params);
  }

  /** PUT `path` with `params` as a form; resolves to `data`. */
  put<T = unknown>(path: string, params?: PveParams): Promise<T> {
    return this.#request<T>("PUT", path, params);
  }

  /** DELETE `path` with `query`; resolves to `data`. */
  delete<T = unknown>(path: string, query?: PveParams): Promise<T> {
    return this.#request<T>("DELETE", path, query);
  }

  /**
   * Uploads a file as `multipart/form-data`: Proxmox VE API,
   * POST /nodes/{node}/storage/{storage}/upload, whose file part is named `filename` (as the
   * web interface sends it) beside `fields` such as `content: "iso"`, `checksum`,
   * `checksum-algorithm`. A file given by path is streamed from disk (`fs.openAsBlob`), not
   * read into memory. Resolves to `data` (the UPID of the import task).
   *
   * The upload endpoint has no `proxyto`: the node that receives it stores the file, so it must
   * be sent to {node} itself. This client fails over like any POST; give it (or a client made
   * for the upload) only that node's endpoint.
   */
  async upload<T = unknown>(path: string, fields: PveParams, file: PveUploadFile): Promise<T> {
    const blob = file.path
      ? await openAsBlob(file.path, { type: file.contentType ?? "application/octet-stream" })
      : new Blob([new Uint8Array(file.data ?? [])], { type: file.contentType ?? "application/octet-stream" });
    const form = new FormData();
    for (const [k, v] of entries(fields)) form.append(k, v);
    form.append("filename", blob, file.name);
    return this.#request<T>("POST", path, undefined, form);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await Promise.all(this.#endpoints.flatMap((e) => [e.pool.close(), e.uploadPool?.close()]));
  }

  #failed(failures: EndpointFailure[], f: EndpointFailure): void {
    failures.push(f);
    this.#onEndpointFailure?.(f);
  }

  async #request<T>(method: string, path: string, params?: PveParams, form?: FormData): Promise<T> {
    if (!path.startsWith("/")) throw new Error(`API path "${path}" must start with /`);
    const failures: EndpointFailure[] = [];
    const n = this.#endpoints.length;
    const start = this.#current;
    const encoded = params ? new URLSearchParams(entries(params)) : undefined;
    const inQuery = method === "GET" || method === "DELETE";
    const url = `${API_PREFIX}${path}${inQuery && encoded?.size ? `?${encoded}` : ""}`;
    for (let i = 0; i < n; i++) {
      const idx = (start + i) % n;
      const ep = this.#endpoints[idx]!;
      let dispatcher = ep.pool;
      if (form) {
        ep.uploadPool ??= this.#pool(ep.origin, ep.fingerprint, this.#uploadTimeoutMs);
        dispatcher = ep.uploadPool;
      }
      let status: number;
      let reason: string;
      let text: string;
      try {
        const res = await fetch(`${ep.origin}${url}`, {
          method,
          dispatcher,
          redirect: "error",
          headers: {
            authorization: this.#authorization,
            accept: "application/json",
            ...(!form && !inQuery && encoded ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          },
          body: form ?? (!inQuery && encoded ? encoded.toString() : undefined),
        });
        status = res.status;
        reason = res.statusText;
        text = await res.text();
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause ?? err;
        if (cause instanceof ConnectFailure) {
          const why = cause.original instanceof PveFingerprintError ? cause.original.message : cause.message;
          this.#failed(failures, { endpoint: ep.origin, why });
          continue;
        }
        const why = describe(cause);
        if (method === "GET") {
          this.#failed(failures, { endpoint: ep.origin, why });
          continue;
        }
        throw new PveRequestUncertainError(ep.origin, method, path, why);
      }
      this.#current = idx;
      let body: { data?: unknown; errors?: Record<string, string> } | undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (status >= 400 || body === undefined) {
        const why = status >= 400 ? reason : `answer is not JSON: ${text.slice(0, 80)}`;
        throw new PveApiError(status, why, body?.errors ?? {}, method, path, ep.origin);
      }
      return body.data as T;
    }
    throw new PveUnreachableError(this.name, method, path, failures);
  }
}

/** The key/value pairs of `params` as strings: booleans 1/0, arrays repeated, undefined/null left out. */
function entries(params: PveParams): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
    else if (typeof v === "boolean") out.push([k, v ? "1" : "0"]);
    else out.push([k, String(v)]);
  }
  return out;
}
