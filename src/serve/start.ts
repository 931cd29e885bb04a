/**
 * Starting the serve stack: the one way the results store, the engine and the HTTP server are
 * put together and started, used by `keel serve` (`src/cli/serve.ts`), the tests and the
 * benchmarks alike.
 *
 * Start-up order: inventory, tokens, store, engine (not yet running), server, listen; only then
 * do the checks start, so a refused start probes nothing and writes nothing. Stopping closes the
 * server first (open event streams included), then stops the engine, then flushes and closes
 * the store.
 */
import type { FastifyInstance } from "fastify";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { isPostgresUrl, openStore, type ResultStore, redactUrl } from "../store/index.js";
import { buildServer } from "./api.js";
import { TokenTable } from "./auth.js";
import { type EngineOptions, KeelEngine } from "./engine.js";
import type { MachineActionSettings } from "./routes/context.js";

/** Where to listen: an IP address (or `localhost`) and a TCP port (0: any free port). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Options of {@link startServe}. */
export interface ServeOptions {
  /** The inventory file (watched for changes; reloaded on SIGHUP when `sighup`). */
  file: string;
  /** The inventory already loaded from `file` (loaded with `loadInventory` when absent). */
  inventory?: Inventory;
  /** Where to listen. */
  listen: ListenAddress;
  /** How the listen address was given, for error messages (default `--listen`). */
  listenFrom?: string;
  /** The results store: a SQLite file or a `postgres://` URL. */
  db: string;
  /** How the store was given, for error messages (e.g. `--db`); none by default. */
  dbFrom?: string;
  /** The audit log of operator actions. */
  auditFile: string;
  /** Checks run at once (default: the engine's). */
  concurrency?: number;
  /** Per-check timeout, ms (default: the engine's). */
  timeoutMs?: number;
  /** Watch the inventory file and reload it when it changes (default true). */
  watch?: boolean;
  /** Reload the inventory on SIGHUP (default true). */
  sighup?: boolean;
  /** Makes the prober factory of an inventory (default: the engine's, as `keel verify`). */
  probers?: EngineOptions["probers"];
  /** Engine options tests and benchmarks tune (start-up spread, alert settings, ...). */
  engine?: Pick<EngineOptions, "startupSpreadMs" | "watchDebounceMs" | "alerts">;
  /** Machine actions' shutdown grace (s) and rollback gate deadline (ms) (see `buildServer`). */
  machineActions?: Partial<MachineActionSettings>;
  /** Request logging of the server (see `buildServer`); none by default. */
  logger?: false | { level?: string; stream?: NodeJS.WritableStream };
  /** One line per event (warnings, reloads), without a trailing newline; default: stderr. */
  log?: (line: string) => void;
}

/** A started serve stack. */
export interface RunningServe {
  app: FastifyInstance;
  engine: KeelEngine;
  store: ResultStore;
  /** Base URL it answers on, e.g. `http://127.0.0.1:8484` (IPv6 in brackets), no trailing slash. */
  url: string;
  /** Closes the server, then stops the engine, then flushes and closes the store. Idempotent. */
  close: () => Promise<void>;
}

/** Why listening failed, in words, from the error's code (libuv names, as in listen(2)). */
function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "EADDRINUSE":
      return "the port is already in use (another keel serve?); expected a free port";
    case "EADDRNOTAVAIL":
      return "the address is not one of this machine's; expected a local address";
    case "EACCES":
      return "permission denied (ports below 1024 need privileges); expected a port from 1024";
    default:
      return err.message;
  }
}

/**
 * Opens the store, builds the engine and the server, listens, then starts the checks.
 * @throws UserError for an invalid inventory (from `loadInventory`), a store that cannot be
 *   opened (the message names the store without its password), or an address that cannot be
 *   listened on; nothing is left running or open when it throws.
 */
export async function startServe(o: ServeOptions): Promise<RunningServe> {
  const log = o.log ?? ((line: string) => process.stderr.write(`keel serve: ${line}\n`));
  const inv = o.inventory ?? loadInventory(o.file);
  const tokens = new TokenTable(inv.serve.tokens);
  if (tokens.size === 0)
    log(
      `warning: ${o.file} declares no serve.tokens, so every endpoint but /healthz answers 401; see docs/serve.md "Access control"`,
    );

  let store: ResultStore;
  try {
    store = await openStore(o.db, { retention: inv.serve.retention });
  } catch (err) {
    const where = isPostgresUrl(o.db) ? redactUrl(o.db) : o.db;
    throw new UserError(
      `${o.dbFrom ? `${o.dbFrom}: ` : ""}cannot open the results store ${where}: ${(err as Error).message}`,
    );
  }

  const engine = new KeelEngine({
    file: o.file,
    inventory: inv,
    store,
    // the last run of a check hours or days apart (a restore rehearsal) survives a restart
    lastStored: async (id) => {
      const last = (await store.history(id, { limit: 1 })).points.at(-1);
      return last ? { atMs: Date.parse(last.until), status: last.status, message: last.message } : undefined;
    },
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.probers ? { probers: o.probers } : {}),
    ...o.engine,
    watch: o.watch ?? true,
    sighup: o.sighup ?? true,
    log,
  });
  // a reloaded inventory may change the retention
  engine.subscribe((e) => {
    if (e.type === "reload" && e.ok) store.setRetention(engine.inventory().serve.retention);
  });
  const stopBehind = async () => {
    await engine.stop();
    await store.close();
  };

  let app: FastifyInstance;
  try {
    app = await buildServer({
      engine,
      store,
      tokens,
      auditFile: o.auditFile,
      ...(o.machineActions !== undefined ? { machineActions: o.machineActions } : {}),
      ...(o.logger !== undefined ? { logger: o.logger } : {}),
    });
  } catch (err) {
    await stopBehind();
    throw err;
  }
  try {
    await app.listen({ host: o.listen.host, port: o.listen.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    await stopBehind();
    const shown = o.listen.host.includes(":")
      ? `[${o.listen.host}]:${o.listen.port}`
      : `${o.listen.host}:${o.listen.port}`;
    throw new UserError(
      `${o.listenFrom ?? "--listen"}: cannot listen on ${shown}: ${listenProblem(err as NodeJS.ErrnoException)}`,
    );
  }
  const where = app.server.address();
  const url =
    where && typeof where === "object"
      ? `http://${where.family === "IPv6" ? `[${where.address}]` : where.address}:${where.port}`
      : `http://${o.listen.host}:${o.listen.port}`;
  engine.start();
  let closing: Promise<void> | undefined;
  return {
    app,
    engine,
    store,
    url,
    close: () => {
      closing ??= app.close().then(stopBehind);
      return closing;
    },
  };
}
