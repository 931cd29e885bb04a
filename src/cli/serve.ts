/**
 * `keel serve FILE`: runs the derived checks continuously (the engine, `src/serve/engine.ts`),
 * writes their results to the store (`src/store/`) and serves the dashboard, the JSON API,
 * `/metrics` and Prometheus SD (`src/serve/api.ts`) until SIGINT or SIGTERM. Exit 0 after a
 * clean stop, 1 when shutting down failed, 2 for an invalid inventory, a bad flag, a token whose
 * environment variable is unset, a store that cannot be opened, an audit log that cannot be
 * written or an address that cannot be listened on (e.g. the port is in use). See README,
 * "Serving: `keel serve`".
 *
 * Start-up order: inventory, tokens, store, engine (not yet running), server, listen; only then
 * do the checks start, so a refused start probes nothing and writes nothing.
 */
import path from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import type { FastifyInstance } from "fastify";
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.js";
import { loadInventory, parseListen as parseInventoryListen } from "../inventory/load.js";
import { TokenTable } from "../serve/auth.js";
import { isPostgresUrl, openStore, type ResultStore, redactUrl } from "../store/index.js";

import type { RegisterCommand } from "./commands.js";
import { concurrencyOption, timeoutOption } from "./options.js";
import { defaultDbPath } from "./verify.js";

/** Where to listen: an IP address (or `localhost`) and a TCP port. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT` (IPv6 in brackets, `[::1]:8484`), as in `serve.listen` and `--listen`.
 * @throws InvalidArgumentError (commander turns it into a usage error naming the flag, exit 2).
 */
export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const expected = "expected HOST:PORT, e.g. 127.0.0.1:8484 or [::1]:8484";
  if (!m) throw new InvalidArgumentError(`"${value}" is not HOST:PORT; ${expected}.`);
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`port ${m[3]} is not 1-65535; ${expected}.`);
  if (m[1] !== undefined && !ipaddr.IPv6.isValid(host))
    throw new InvalidArgumentError(`"${host}" is not an IPv6 address; ${expected}.`);
  if (m[2] !== undefined && host !== "localhost" && !ipaddr.IPv4.isValidFourPartDecimal(host))
    throw new InvalidArgumentError(`"${host}" is not an IPv4 address or localhost; ${expected}.`);
  return { host, port };
}

/** The default audit log of an inventory: `.keel/audit.log` beside it. */
export function defaultAuditPath(inventoryFile: string): string {
  return path.join(path.dirname(path.resolve(inventoryFile)), ".keel", "audit.log");
}

/** Options of {@link serveUntilStopped}. */
export interface LifeCycle {
  app: FastifyInstance;
  listen: ListenAddress;
  /**
   * SIGHUP: re-read the inventory (the engine keeps the last valid one on errors). Leave it
   * out when the engine handles SIGHUP itself.
   */
  reload?: () => Promise<void> | void;
  /** Once listening, before waiting for signals (e.g. start the engine). */
  started?: () => void;
  /** After the server closed: stop the engine, flush and close the store. */
  stop: () => Promise<void>;
  /** One line per event, to stderr by default. */
  log?: (line: string) => void;
}

/**
 * Listens, then runs until SIGINT or SIGTERM: the server stops accepting and closes its
 * connections (event streams included), then `stop` runs. SIGHUP calls `reload` (a failing
 * reload is logged; serving continues). Resolves with the exit status: 0 after a signal, 1 when
 * shutting down failed.
 * @throws Error from `listen` (e.g. EADDRINUSE) before any handler is installed.
 */
export async function serveUntilStopped(o: LifeCycle): Promise<number> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await o.app.listen({ host: o.listen.host, port: o.listen.port });
  const where = o.app.server.address();
  const shown =
    where && typeof where === "object"
      ? `${where.family === "IPv6" ? `[${where.address}]` : where.address}:${where.port}`
      : `${o.listen.host}:${o.listen.port}`;
  log(`keel serve: listening on http://${shown}`);
  o.started?.();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const reload = o.reload;
    const onHup = () => {
      if (!reload) return;
      log("keel serve: SIGHUP: reloading the inventory");
      Promise.resolve()
        .then(reload)
        .catch((err: Error) => log(`keel serve: reload failed: ${err.message}`));
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log(`keel serve: ${signal}: shutting down`);
      process.removeListener("SIGHUP", onHup);
      process.removeListener("SIGINT", onStop);
      process.removeListener("SIGTERM", onStop);
      o.app
        .close()
        .then(o.stop)
        .then(
          () => resolve(0),
          (err: Error) => {
            log(`keel serve: shutdown failed: ${err.message}`);
            resolve(1);
          },
        );
    };
    if (reload) process.on("SIGHUP", onHup);
    process.on("SIGINT", onStop);
    process.on("SIGTERM", onStop);
  });
}

interface ServeFlags {
  listen?: ListenAddress;
  db?: string;
  audit?: string;
  concurrency: number;
  timeout: number;
}

export const register: RegisterCommand = (program: Command) => {
  program
    .command("serve")
    .description("run the checks continuously; serve the dashboard, the API, /metrics and Prometheus SD")
    .argument("<file>", "inventory file (keel.yaml)")
    .option(
      "--listen <host:port>",
      "address to listen on (default: serve.listen, else 127.0.0.1:8484)",
      parseListen,
    )
    .option(
      "--db <path|url>",
      "results store: a SQLite file or a postgres:// URL (default: .keel/keel.db beside the inventory)",
    )
    .option("--audit <file>", "audit log of operator actions (default: .keel/audit.log beside the inventory)")
    .addOption(concurrencyOption())
    .addOption(timeoutOption())
    .action(async (file: string, flags: ServeFlags) => {
      process.exitCode = await serve(file, flags);
    });
};

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

async function serve(file: string, flags: ServeFlags): Promise<number> {
  // The engine and the HTTP server (fastify, prom-client, undici) load only for this command,
  // so `keel verify` and the rest start without them.
  const [{ buildServer }, { KeelEngine }, { limitHeapGrowth }] = await Promise.all([
    import("../serve/api.js"),
    import("../serve/engine.js"),
    import("../serve/heap.js"),
  ]);
  limitHeapGrowth();
  const inv = loadInventory(file);
  const tokens = new TokenTable(inv.serve.tokens);
  const log = (line: string) => process.stderr.write(`keel serve: ${line}\n`);
  if (tokens.size === 0)
    log(
      `warning: ${file} declares no serve.tokens, so every endpoint but /healthz answers 401; see README "Access control"`,
    );
  // serve.listen was validated with the inventory
  const listen = flags.listen ?? parseInventoryListen(inv.serve.listen)!;
  const listenFrom = flags.listen ? "--listen" : `serve.listen (${file}; --listen overrides it)`;

  const db = flags.db ?? defaultDbPath(file);
  let store: ResultStore;
  try {
    store = await openStore(db, { retention: inv.serve.retention });
  } catch (err) {
    const where = isPostgresUrl(db) ? redactUrl(db) : db;
    throw new UserError(
      `${flags.db ? "--db: " : ""}cannot open the results store ${where}: ${(err as Error).message}`,
    );
  }

  const engine = new KeelEngine({
    file,
    inventory: inv,
    store,
    concurrency: flags.concurrency,
    timeoutMs: flags.timeout,
    watch: true,
    sighup: true,
    log,
  });
  // a reloaded inventory may change the retention
  engine.subscribe((e) => {
    if (e.type === "reload" && e.ok) store.setRetention(engine.inventory().serve.retention);
  });
  const stop = async () => {
    await engine.stop();
    await store.close();
  };

  let app: FastifyInstance;
  try {
    app = await buildServer({
      engine,
      store,
      tokens,
      auditFile: flags.audit ?? defaultAuditPath(file),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  try {
    return await serveUntilStopped({ app, listen, started: () => engine.start(), stop });
  } catch (err) {
    await app.close().catch(() => undefined);
    await stop();
    const shown = listen.host.includes(":")
      ? `[${listen.host}]:${listen.port}`
      : `${listen.host}:${listen.port}`;
    throw new UserError(
      `${listenFrom}: cannot listen on ${shown}: ${listenProblem(err as NodeJS.ErrnoException)}`,
    );
  }
}
