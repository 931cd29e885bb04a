/**
 * The dashboard's client of the `keel serve` HTTP API (docs/serve.md, "HTTP API"): JSON over
 * fetch with `Authorization: Bearer TOKEN`. The token lives in sessionStorage (gone when the
 * tab closes); a 401 forgets it so the token prompt comes back.
 */
import type { Problem } from "../../src/errors.js";
import type { MachineStatus } from "../../src/provision/actions.js";
import type { MachineAction } from "../../src/provision/provider.js";
import type { ClusterMachine, ClusterNode, ClusterView } from "../../src/serve/clusters.js";
import type { CheckState, EngineEvent, HardState, MachineActionState } from "../../src/serve/types.js";
import type { CheckResult, CheckStatus, PortState } from "../../src/verify/types.js";

export type {
  CheckResult,
  CheckState,
  CheckStatus,
  ClusterMachine,
  ClusterNode,
  ClusterView,
  EngineEvent,
  HardState,
  MachineAction,
  MachineActionState,
  MachineStatus,
  PortState,
  Problem,
};

const TOKEN_KEY = "keel.token";

/** Counts of `GET /api/overview`. */
export interface Counts {
  checks: number;
  pass: number;
  fail: number;
  error: number;
  skip: number;
  unknown: number;
  ok: number;
  soft: number;
  hard: number;
  suppressed: number;
  flapping: number;
}

/** `GET /api/overview`. */
export interface Overview {
  site: string;
  counts: Counts;
  hosts: { total: number; failing: number };
  /** Hard first, then soft; at most 100. */
  failing: CheckState[];
  problems: Problem[];
  reloadedAt: string | null;
  startedAt: string;
}

/** One row of `GET /api/hosts`. */
export interface HostRow {
  name: string;
  addresses: { network: string; address: string }[];
  tags: string[];
  counts: { pass: number; fail: number; error: number; skip: number; unknown: number };
  worst: HardState;
}

/** A page of a server-side filtered list. */
export interface Page<T> {
  total: number;
  items: T[];
}

/** A declared service as `GET /api/hosts/:name` lists it (no secrets). */
export interface ServiceInfo {
  name: string;
  kind?: string;
  port: number;
  protocol: "tcp" | "udp";
  allow: string[];
}

/** One cell of the posture matrix (service × vantage). */
export interface PostureCell {
  service: string;
  vantage: string;
  expected: "open" | "closed" | null;
  observed: PortState | null;
  checkId: string | null;
  ok: boolean | null;
}

export interface Posture {
  services: string[];
  vantages: string[];
  cells: PostureCell[];
}

/** `GET /api/hosts/:name`. */
export interface HostDetail {
  host: {
    name: string;
    addresses: { network: string; address: string }[];
    tags: string[];
    services: ServiceInfo[];
  };
  checks: CheckState[];
  posture: Posture;
}

/**
 * A span of consecutive results of one check with the same status and message (the store's
 * raw history, docs/serve.md; src/serve/schemas.ts `HistoryPoint`): first result `at`, last
 * `until`, `count` results, mean/min/max duration in ms.
 */
export interface HistoryPoint {
  at: string;
  until?: string;
  status: CheckStatus;
  message?: string;
  count?: number;
  durationMs: number;
  minMs?: number;
  maxMs?: number;
}

/** Every result of one check in `[start, end)` (ISO 8601), counted by status; durations in ms. */
export interface HistoryBucket {
  start: string;
  end: string;
  pass: number;
  fail: number;
  error: number;
  skip?: number;
  minMs?: number;
  avgMs?: number;
  maxMs?: number;
}

/** A change of a check's status (or hard state): `from`/`to` are CheckStatus or HardState values. */
export interface StateChange {
  checkId?: string;
  at: string;
  from: string | null;
  to: string;
  message?: string;
}

/** `GET /api/checks/:id/history`. */
export interface History {
  id: string;
  points: HistoryPoint[];
  buckets: HistoryBucket[];
  changes: StateChange[];
}

/** What `POST /api/runs` selects. */
export type RunSelector = { all: true } | { host: string } | { glob: string };

/** An HTTP error answer of the API (`{ error }` with 400/401/403/404), or a network failure (status 0). */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const tokenListeners = new Set<Listener>();

/** The token of this tab, or null when the prompt must ask for one. */
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

let forgotten: string | null = null;

/** Why the token was last forgotten (shown by the prompt), or null. */
export function forgetReason(): string | null {
  return forgotten;
}

/** Stores (or with null forgets, saying `why`) the token and tells the app. */
export function setToken(token: string | null, why: string | null = null): void {
  forgotten = token === null ? why : null;
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  for (const l of tokenListeners) l();
}

/** Calls `l` whenever the token changes (set, or forgotten after a 401); returns the unsubscribe function. */
export function onTokenChange(l: Listener): () => void {
  tokenListeners.add(l);
  return () => tokenListeners.delete(l);
}

/** Headers every API request carries. */
export function authHeaders(token = getToken()): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Fetches `path` and parses its JSON answer.
 * @throws ApiError with the server's `error` message on 4xx/5xx; a 401 also forgets the token.
 */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal; token?: string } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders(init.token ?? getToken()) };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? null : JSON.stringify(init.body),
      signal: init.signal ?? null,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, `cannot reach keel serve: ${(e as Error).message}`);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // not JSON: keep the status line
    }
    if (res.status === 401 && init.token === undefined)
      setToken(null, `the server refused the token (401): ${message}`);
    throw new ApiError(res.status, message);
  }
  return (await res.json()) as T;
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Escapes picomatch's special characters so a check id selects exactly that check. */
export function globEscape(id: string): string {
  return id.replace(/[\\*?[\]{}()!+@|^$]/g, (c) => `\\${c}`);
}

/** `GET /api/hosts/:name/machine`: the machine (null: the host has no `vm.hypervisor`) and its last action. */
export interface MachineDetail {
  machine: MachineStatus | null;
  action: MachineActionState | null;
}

/** `GET /api/clusters`: each Proxmox VE cluster of the inventory, read at `at`. */
export interface Clusters {
  at: string;
  items: ClusterView[];
}
