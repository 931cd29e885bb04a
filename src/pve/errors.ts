/**
 * The errors of the Proxmox VE API client. None of their messages ever contains the API token:
 * messages are built from the endpoint's origin, the method, the path and what the server said.
 * The provision layer turns them into its `ProviderError`s.
 */

/** The fields of a Proxmox VE API error answer (`{"errors": {param: message}, "data": null}`). */
export type PveParamErrors = Record<string, string>;

/**
 * The Proxmox VE API answered an HTTP error (4xx, 5xx): an answer, not a connection failure,
 * so the client never fails over on it. Proxmox puts the reason in the HTTP status line
 * (PVE::APIServer::AnyEvent, `$reason`) and per-parameter problems in the body's `errors`.
 */
export class PveApiError extends Error {
  override name = "PveApiError";
  constructor(
    /** HTTP status code. */
    readonly status: number,
    /** The status line's reason as Proxmox sent it, e.g. `can't lock file '…' - got timeout`. */
    readonly reason: string,
    /** The body's `errors` object: parameter name → problem; empty when none. */
    readonly errors: PveParamErrors,
    readonly method: string,
    /** The API path without `/api2/json`, e.g. `/nodes/vega/qemu/100/config`. */
    readonly path: string,
    /** The endpoint's origin that answered, e.g. `https://vega:8006`. */
    readonly endpoint: string,
  ) {
    const params = Object.entries(errors).map(([k, v]) => `${k}: ${String(v).trim()}`);
    super(
      `${method} ${path} on ${endpoint}: HTTP ${status} ${reason}${params.length ? ` (${params.join("; ")})` : ""}`,
    );
  }
}

/** Why one endpoint could not be used for a request. */
export interface EndpointFailure {
  /** The endpoint's origin, e.g. `https://vega:8006`. */
  endpoint: string;
  /** What went wrong there, without secrets, e.g. `connection refused`. */
  why: string;
}

/**
 * No endpoint of a hypervisor could be reached (refused, timed out, TLS failure, fingerprint
 * mismatch): lists each endpoint tried and why it failed.
 */
export class PveUnreachableError extends Error {
  override name = "PveUnreachableError";
  constructor(
    /** The hypervisor's name, or its first endpoint when it has none. */
    readonly hypervisor: string,
    readonly method: string,
    readonly path: string,
    readonly failures: EndpointFailure[],
  ) {
    super(
      `hypervisor "${hypervisor}": ${method} ${path}: no endpoint answered: ${failures
        .map((f) => `${f.endpoint}: ${f.why}`)
        .join("; ")}`,
    );
  }
}

/**
 * The server's certificate is not the pinned one: the connection was closed before any byte of
 * a request (and so before the token) was sent.
 */
export class PveFingerprintError extends Error {
  override name = "PveFingerprintError";
  constructor(
    readonly endpoint: string,
    /** The pinned SHA-256 fingerprint, upper-case hex with colons. */
    readonly expected: string,
    /** The certificate's SHA-256 fingerprint as seen, upper-case hex with colons. */
    readonly seen: string,
  ) {
    super(`${endpoint}: certificate fingerprint mismatch: expected SHA-256 ${expected}, seen ${seen}`);
  }
}

/**
 * A request was sent but its outcome is unknown (the connection broke or timed out after the
 * request left): for a POST, PUT or DELETE the client does not fail over, because the change
 * may have happened; the caller must read the state back.
 */
export class PveRequestUncertainError extends Error {
  override name = "PveRequestUncertainError";
  constructor(
    readonly endpoint: string,
    readonly method: string,
    readonly path: string,
    why: string,
  ) {
    super(
      `${method} ${path} on ${endpoint}: sent, but no answer (${why}); the change may or may not have happened`,
    );
  }
}

/**
 * A Proxmox VE task ended with an error exit status (anything but `OK` or `WARNINGS: n`).
 * Proxmox VE API, GET /nodes/{node}/tasks/{upid}/status (`exitstatus`) and .../log.
 */
export class PveTaskError extends Error {
  override name = "PveTaskError";
  constructor(
    readonly upid: string,
    /** The task's `exitstatus`, e.g. `cfs-lock 'storage-local-lvm' error: got lock request timeout`. */
    readonly exitstatus: string,
    /** The last lines of the task's log. */
    readonly log: string[],
  ) {
    super(
      `task ${upid} failed: ${exitstatus}${log.length ? `\n${log.map((l) => `  ${l}`).join("\n")}` : ""}`,
    );
  }
}

/**
 * A task did not stop within the time waited: it is still running on the node (it did not
 * fail); its UPID lets the caller look again.
 */
export class PveTaskTimeoutError extends Error {
  override name = "PveTaskTimeoutError";
  constructor(
    readonly upid: string,
    readonly waitedMs: number,
  ) {
    super(
      `task ${upid} is still running after ${Math.round(waitedMs / 1000)} s; it has not failed, look again later`,
    );
  }
}
