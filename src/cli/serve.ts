/**
 * `keel serve FILE`: runs the derived checks continuously (the engine, `src/serve/engine.ts`),
 * writes their results to the store (`src/store/`) and serves the dashboard, the JSON API,
 * `/metrics` and Prometheus SD (`src/serve/api.ts`) until SIGINT or SIGTERM. Exit 0 after a
 * clean stop, 1 when shutting down failed, 2 for an invalid inventory, a bad flag, a token whose
 * environment variable is unset, a store that cannot be opened, an audit log that cannot be
 * written (or is not a regular file, or cannot be made 0600) or an address that cannot be
 * listened on (e.g. the port is in use). See docs/serve.md.
 *
 * The stack is started by `startServe` (`src/serve/start.ts`), the same function the tests and
 * the benchmarks use; this module adds the flags and the signal handling.
 */
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import ipaddr from "ipaddr.js";
import { loadInventory, parseListen as parseInventoryListen } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import type { ListenAddress } from "../serve/start.js";
import { defaultDbPath } from "../store/index.js";
import { proberFactory } from "../verify/vantages/index.js";
import {
  concurrencyOption,
  durationFlag,
  type RegisterCommand,
  STRICT_HOST_KEYS_HELP,
  timeoutOption,
} from "./options.js";

export type { ListenAddress } from "../serve/start.js";

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
  /**
   * SIGHUP: re-read the inventory (the engine keeps the last valid one on errors). Leave it
   * out when the engine handles SIGHUP itself.
   */
  reload?: () => Promise<void> | void;
  /** Stops everything: the server first (event streams included), then the engine and the store. */
  close: () => Promise<void>;
  /** One line per event, to stderr by default. */
  log?: (line: string) => void;
}

/**
 * Runs until SIGINT or SIGTERM, then calls `close` (see `RunningServe.close` of
 * `src/serve/start.ts`). SIGHUP calls `reload` (a failing reload is logged; serving continues).
 * Resolves with the exit status: 0 after a signal, 1 when shutting down failed.
 */
export function serveUntilStopped(o: LifeCycle): Promise<number> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
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
      o.close().then(
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
  strictHostKeys?: boolean;
  gateTimeout: number;
  shutdownTimeout: number;
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
    .option("--strict-host-keys", STRICT_HOST_KEYS_HELP)
    .addOption(
      new Option(
        "--shutdown-timeout <duration>",
        "machine actions: how long a machine gets to shut down before it is powered off",
      )
        .argParser(durationFlag())
        .default(120_000, "2m"),
    )
    .addOption(
      new Option(
        "--gate-timeout <duration>",
        "machine actions: how long a rolled-back machine gets to pass its gate",
      )
        .argParser(durationFlag())
        .default(300_000, "5m"),
    )
    .action(async (file: string, flags: ServeFlags) => {
      process.exitCode = await serve(file, flags);
    });
};

async function serve(file: string, flags: ServeFlags): Promise<number> {
  // The engine and the HTTP server (fastify, prom-client, undici) load only for this command,
  // so `keel verify` and the rest start without them.
  const [{ startServe }, { limitHeapGrowth }] = await Promise.all([
    import("../serve/start.js"),
    import("../serve/heap.js"),
  ]);
  limitHeapGrowth();
  const inv = loadInventory(file);
  // serve.listen was validated with the inventory
  const listen = flags.listen ?? parseInventoryListen(inv.serve.listen)!;
  const running = await startServe({
    file,
    inventory: inv,
    ...(flags.strictHostKeys
      ? { probers: (i: Inventory) => proberFactory(i, { hostKeyChecking: "strict" }) }
      : {}),
    listen,
    listenFrom: flags.listen ? "--listen" : `serve.listen (${file}; --listen overrides it)`,
    db: flags.db ?? defaultDbPath(file),
    ...(flags.db ? { dbFrom: "--db" } : {}),
    auditFile: flags.audit ?? defaultAuditPath(file),
    concurrency: flags.concurrency,
    timeoutMs: flags.timeout,
    machineActions: {
      shutdownGraceS: Math.ceil(flags.shutdownTimeout / 1000),
      gateDeadlineMs: flags.gateTimeout,
    },
  });
  process.stderr.write(`keel serve: listening on ${running.url}\n`);
  return serveUntilStopped({ close: running.close });
}
