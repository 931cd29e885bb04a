/**
 * A worker thread of `runChecksParallel`: runs its share of network probes from `local`
 * vantages with `runChecks` and posts the results back in batches (every 50 ms, or sooner at
 * 500 results), then `{ type: "done" }`. A `{ type: "abort" }` message aborts its checks.
 */
import { parentPort, workerData } from "node:worker_threads";
import { checkKinds } from "./checks/index.js";
import type { WorkerJob, WorkerMessage } from "./parallel.js";
import { runChecks } from "./runner.js";
import type { CheckResult } from "./types.js";
import { LocalProber } from "./vantages/local.js";

const port = parentPort;
if (!port) throw new Error("verify/worker.js runs only as a worker thread");
const job = workerData as WorkerJob;
const ac = new AbortController();
port.on("message", (m: { type: string; reason?: string }) => {
  if (m.type === "abort") ac.abort(new Error(m.reason ?? "aborted"));
});

let batch: CheckResult[] = [];
let timer: NodeJS.Timeout | undefined;
const flush = (): void => {
  if (timer) clearTimeout(timer);
  timer = undefined;
  if (batch.length === 0) return;
  port.postMessage({ type: "results", results: batch } satisfies WorkerMessage);
  batch = [];
};

await runChecks(job.specs, {
  concurrency: job.concurrency,
  timeoutMs: job.timeoutMs,
  kinds: checkKinds,
  proberFor: (vantage) => new LocalProber(vantage),
  signal: ac.signal,
  onResult: (r) => {
    batch.push(r);
    if (batch.length >= 500) flush();
    else timer ??= setTimeout(flush, 50);
  },
});
flush();
port.postMessage({ type: "done" } satisfies WorkerMessage);
port.close();
