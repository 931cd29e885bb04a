/**
 * Spreads a run over worker threads (`node:worker_threads`), so that on a large site the probes'
 * CPU work (socket set-up and tear-down, HTTP parsing, the promise machinery per check) uses
 * every core instead of one.
 *
 * Only network probes from `local` vantages move to workers: a worker builds its own
 * `LocalProber` from the vantage's name, and a probe from it behaves the same in any thread.
 * Checks whose kind speaks SSH (`transport: "ssh"` in its module: `SSH_KINDS` of the registry)
 * and every check from a `via` vantage stay on the main thread, so each host
 * still sees at most one SSH connection per vantage and every host key goes through the run's
 * one verifier. Skipped and filtered checks are decided on the main thread.
 *
 * Results come back in spec order, exactly as `runChecks` returns them; `onResult` sees every
 * result once, with `done` counting over the whole run.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { SSH_KINDS } from "./checks/index.js";
import { type RunOptions, resultOf, runChecks } from "./runner.js";
import type { CheckResult, CheckSpec } from "./types.js";

/** Below this many portable checks a run stays on one thread (a worker costs ~50–100 ms to start). */
export const WORKER_THRESHOLD = 1000;
/** The most worker threads `auto` starts. */
export const MAX_AUTO_WORKERS = 3;

/** What the main thread sends a worker (`workerData`). */
export interface WorkerJob {
  specs: CheckSpec[];
  concurrency: number;
  timeoutMs: number;
}

/** Messages from a worker: result batches as they come, then `done`. */
export type WorkerMessage = { type: "results"; results: CheckResult[] } | { type: "done" };

/** True when a check may run in a worker thread: a network probe from a `local` vantage. */
export function isPortable(spec: CheckSpec, localVantages: ReadonlySet<string>): boolean {
  return localVantages.has(spec.vantage) && !SSH_KINDS.has(spec.kind);
}

/**
 * Worker threads for a run: `auto` starts up to `MAX_AUTO_WORKERS` (one fewer than the CPUs
 * Node may use) when at least `WORKER_THRESHOLD` checks could move, else none.
 */
export function autoWorkers(portable: number): number {
  if (portable < WORKER_THRESHOLD) return 0;
  return Math.max(0, Math.min(MAX_AUTO_WORKERS, availableParallelism() - 1));
}

/** Options of `runChecksParallel`: those of `runChecks`, plus where checks may go. */
export interface ParallelRunOptions extends RunOptions {
  /** Worker threads besides the main thread; 0 runs everything here (`runChecks`). */
  workers: number;
  /** Names of the inventory's `local` vantages (their checks may move to workers). */
  localVantages: ReadonlySet<string>;
  /** The worker script; tests point it elsewhere to see a worker die. Default: `./worker.js`. */
  workerFile?: URL;
}

/** The worker script beside this module: `worker.js` when built, `worker.ts` when run from source (tests). */
function workerFile(): URL {
  return new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);
}

/**
 * Runs every spec, the portable ones spread round-robin over the main thread and `workers`
 * worker threads, each with an equal share of `concurrency` (at least 1).
 * Never throws for a check's failure; a worker that dies turns its unfinished checks into
 * `error` results naming the cause. `signal` aborts every thread's checks.
 */
export async function runChecksParallel(
  specs: CheckSpec[],
  opts: ParallelRunOptions,
): Promise<CheckResult[]> {
  const threads = opts.workers + 1;
  const here: CheckSpec[] = [];
  const shares: CheckSpec[][] = Array.from({ length: opts.workers }, () => []);
  let turn = 0;
  for (const spec of specs) {
    const moves =
      spec.skip === undefined && opts.filter?.(spec) === undefined && isPortable(spec, opts.localVantages);
    const slot = moves ? turn++ % threads : 0;
    if (slot === 0) here.push(spec);
    else shares[slot - 1]!.push(spec);
  }
  if (shares.every((s) => s.length === 0)) return runChecks(specs, opts);

  const share = Math.max(1, Math.floor(opts.concurrency / threads));
  const byId = new Map<string, CheckResult>();
  let done = 0;
  const record = (r: CheckResult): void => {
    byId.set(r.id, r);
    opts.onResult?.(r, ++done, specs.length);
  };

  const inWorkers = shares.filter((s) => s.length > 0).map((s) => runInWorker(s, share, opts, record));
  const local = runChecks(here, {
    ...opts,
    concurrency: Math.max(1, opts.concurrency - share * (threads - 1)),
    onResult: record,
  });
  await Promise.all([local, ...inWorkers]);
  return specs.map((s) => byId.get(s.id) ?? missing(s, "no result came back from its thread"));
}

function missing(spec: CheckSpec, why: string): CheckResult {
  return resultOf(spec, { status: "error", message: why }, 0);
}

function runInWorker(
  specs: CheckSpec[],
  concurrency: number,
  opts: ParallelRunOptions,
  record: (r: CheckResult) => void,
): Promise<void> {
  const job: WorkerJob = { specs, concurrency, timeoutMs: opts.timeoutMs };
  return new Promise<void>((resolve) => {
    const seen = new Set<string>();
    let failure: string | undefined;
    const file = opts.workerFile ?? workerFile();
    // From source (the tests), the worker registers tsx's loader before importing the .ts file.
    const worker = file.pathname.endsWith(".ts")
      ? new Worker(
          `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(file.href)}); });`,
          { eval: true, workerData: job },
        )
      : new Worker(file, { workerData: job });
    const onAbort = (): void => {
      worker.postMessage({
        type: "abort",
        reason: String((opts.signal?.reason as Error)?.message ?? "aborted"),
      });
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    worker.on("message", (m: WorkerMessage) => {
      if (m.type !== "results") return;
      for (const r of m.results) {
        seen.add(r.id);
        record(r);
      }
    });
    worker.on("error", (e) => {
      failure = `worker thread failed: ${e.message}`;
    });
    worker.on("exit", (code) => {
      opts.signal?.removeEventListener("abort", onAbort);
      const why =
        failure ??
        (code === 0 ? "its worker thread ended without a result" : `worker thread exited with ${code}`);
      for (const s of specs) if (!seen.has(s.id)) record(missing(s, why));
      resolve();
    });
  });
}
