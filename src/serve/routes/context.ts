/**
 * What every route plugin of the serve API gets (`RouteContext`) and the helpers they share:
 * `HttpError` (answered as `{ error }` with its status by `buildServer`'s error handler), list
 * filters and paging.
 */
import type { FastifyPluginAsync } from "fastify";
import type { ResultStore } from "../../store/types.js";
import type { AuditLog } from "../auth.js";
import type { StateIndex } from "../state-index.js";
import type { Engine } from "../types.js";

/**
 * What the API reads from the results store (`src/store/types.ts`): each check's history
 * (spans, buckets, state changes) and the stored runs. Any `ResultStore` fits.
 */
export type ApiStore = Pick<ResultStore, "history" | "runs">;

/** The server's parts a route plugin may use; one object shared by every plugin of a server. */
export interface RouteContext {
  engine: Engine;
  store: ApiStore;
  /** The audit log operator actions are written to. */
  audit: AuditLog;
  /** Indexes over the engine's states (closed with the server). */
  index: StateIndex;
  /** Heartbeat comment interval of `/api/events`, in ms. */
  heartbeatMs: number;
  /** How long (ms) one computed `/api/overview` answers later requests. */
  overviewMaxAgeMs: number;
  /** Machine actions: the shutdown grace (s) and a rollback's gate deadline (ms). */
  machineActions: MachineActionSettings;
}

/** Settings of the machine actions (`keel serve --shutdown-timeout`, `--gate-timeout`). */
export interface MachineActionSettings {
  /** Seconds a machine asked to shut down gets before it is powered off (default 120). */
  shutdownGraceS: number;
  /** Milliseconds a rolled-back machine gets to pass its verify gate (default 300,000). */
  gateDeadlineMs: number;
}

/**
 * One resource of the API: a fastify plugin that adds its routes, each declaring its role in
 * `config.role` beside its path, and its own hooks (closing what it opened).
 */
export type ApiRoutes = FastifyPluginAsync<RouteContext>;

/** An error answered as `{ error }` with this status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/**
 * Parses a comma-separated filter (`kind=a,b`) against its allowed values; null when absent or
 * empty. @throws HttpError 400 naming the parameter, the value and the allowed values.
 */
export function listParam<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): Set<T> | null {
  if (value === undefined || value === "") return null;
  const out = new Set<T>();
  for (const v of value.split(",")) {
    if (!(allowed as readonly string[]).includes(v))
      throw new HttpError(400, `${name}: "${v}" is not one of ${allowed.join(", ")} (comma-separated)`);
    out.add(v as T);
  }
  return out;
}

/** One page of a list: `{ total, items }` with `limit` items from `offset`. */
export function page<T>(items: T[], offset: number, limit: number): { total: number; items: T[] } {
  return { total: items.length, items: items.slice(offset, offset + limit) };
}
