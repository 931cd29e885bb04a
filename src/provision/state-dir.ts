/**
 * Keel's state directory beside an inventory, `.keel/`, as `keel apply`'s journal
 * (`journal.ts`) and lock (`lock.ts`) use it: created with mode 0700 when missing, and every
 * new name in it made durable by an fsync of the directory.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";

/** The state directory's name inside the inventory's directory. */
export const STATE_DIR = ".keel";

/**
 * The state directory of the inventory directory `dir` (`Inventory.dir`), created with mode 0700
 * (and the new entry fsync'd in `dir`) when missing. An existing one is left as it is: other
 * commands keep files there too.
 * @throws Error from fs when it cannot be created (`dir` missing, not writable, `.keel` a file).
 */
export function stateDir(dir: string): string {
  const d = path.join(dir, STATE_DIR);
  try {
    mkdirSync(d, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return d;
    throw e;
  }
  fsyncDir(dir);
  return d;
}

/** Makes the entries of directory `d` durable (a file created, renamed or removed in it). */
export function fsyncDir(d: string): void {
  const fd = openSync(d, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
