/**
 * Pieces of `keel serve FILE` that do not depend on the engine and the store: the `--listen`
 * parser, the default audit log path, and the process life cycle (listen, SIGHUP reloads,
 * SIGINT/SIGTERM shut down gracefully). The command itself is registered once the engine
 * (`src/serve/engine.ts`) and the store (`src/store/`) are on main; see README "keel serve".
 */
import path from "node:path";
import { InvalidArgumentError } from "commander";
import type { FastifyInstance } from "fastify";
import ipaddr from "ipaddr.js";

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
