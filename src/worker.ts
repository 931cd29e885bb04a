/**
 * Starting worker threads (`node:worker_threads`) on a module of this package, the same way from
 * the built `dist/` (a `.js` file) and from the sources under the tests (a `.ts` file, which the
 * worker can load only after registering tsx's loader).
 */
import { type TransferListItem, Worker } from "node:worker_threads";

/**
 * The module `name` (without extension) beside the module whose `import.meta.url` is `from`:
 * `NAME.js` when that module is built, `NAME.ts` when it runs from the sources.
 */
export function siblingModule(from: string, name: string): URL {
  return new URL(`./${name}${from.endsWith(".ts") ? ".ts" : ".js"}`, from);
}

/**
 * A worker thread running the module `file` with `workerData` (structured-cloned; the buffers
 * in `transferList` are moved, not copied). A `.ts` file is loaded through tsx.
 */
export function startWorker(file: URL, workerData: unknown, transferList?: TransferListItem[]): Worker {
  const options = { workerData, ...(transferList ? { transferList } : {}) };
  return file.pathname.endsWith(".ts")
    ? new Worker(
        `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(file.href)}); });`,
        { eval: true, ...options },
      )
    : new Worker(file, options);
}
