/**
 * Storing a run in the history database, as `keel verify` and `keel backup rehearse` do: in
 * `--db` or `.keel/keel.db` beside the inventory, with the inventory's retention. A database that
 * cannot be written is a warning on stderr, never an error: the checks ran and their verdict
 * (the exit status) stands; only the record of them is missing.
 */
import type { Inventory } from "../inventory/model.js";
import { defaultDbPath, isPostgresUrl, openStore, redactUrl } from "../store/index.js";
import type { Report } from "../verify/types.js";

/**
 * Saves `report` (a run over the inventory `file`) in the history database `db` (`--db`; absent:
 * the default beside the inventory). Never throws: a failure is printed as a warning naming the
 * database (a postgres:// URL without its password).
 */
export async function storeRun(
  report: Report,
  file: string,
  inv: Inventory,
  db: string | undefined,
): Promise<void> {
  const where = db ?? defaultDbPath(file);
  try {
    const store = await openStore(where, { retention: inv.serve.retention });
    try {
      await store.saveRun(report);
    } finally {
      await store.close();
    }
  } catch (err) {
    const shown = isPostgresUrl(where) ? redactUrl(where) : where;
    process.stderr.write(
      `keel: warning: ${db ? "--db: " : ""}this run was not stored in ${shown}: ${(err as Error).message}\n`,
    );
  }
}
