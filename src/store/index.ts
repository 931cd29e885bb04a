/**
 * Opening a results store: SQLite for a file path, PostgreSQL for a `postgres://` or
 * `postgresql://` URL (libpq connection URI syntax, as `pg` reads it). Design and interface:
 * `src/store/types.ts`.
 */
import path from "node:path";
import { DEFAULT_RETENTION } from "../inventory/serve-settings.js";
import type { ResultStore, StoreOptions } from "./types.js";

export type * from "./types.js";
export { redactUrl } from "./url.js";

/** Default results database of an inventory file: `.keel/keel.db` beside it. */
export function defaultDbPath(inventoryFile: string): string {
  return path.join(path.dirname(path.resolve(inventoryFile)), ".keel", "keel.db");
}

/** True when `spec` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/**
 * Opens the store at `spec` (a SQLite file, created with its directory if missing; or a
 * PostgreSQL URL), creating or migrating its tables, and loads each check's newest span.
 * @throws Error when the database cannot be opened, reached or migrated (the message says which),
 * or was written by a newer Keel.
 *
 * The backend's driver (`pg` or `better-sqlite3`) is imported here, on first use, so commands
 * that never open a store do not pay for loading it.
 */
export async function openStore(spec: string, opts: StoreOptions = {}): Promise<ResultStore> {
  const bucketMs = (opts.retention ?? DEFAULT_RETENTION).bucketMs;
  const backend = isPostgresUrl(spec)
    ? await (await import("./postgres.js")).PostgresBackend.connect(spec)
    : new (await import("./sqlite.js")).SqliteBackend(spec, bucketMs);
  const { BufferedStore } = await import("./store.js");
  return BufferedStore.open(backend, opts);
}
