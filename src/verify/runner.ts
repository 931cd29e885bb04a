/**
 * Runs derived checks: bounded concurrency, a hard per-check timeout, routing each check to its
 * vantage's prober. Judgement lives in the check kinds; this module only schedules and turns
 * exceptions into `error` results, so one broken vantage or black-holed host cannot stall a run.
 */
import pLimit from "p-limit";
import { crashOutcome, runCheck } from "./checks/index.js";
import type { CheckKindModule, CheckOutcome, CheckResult, CheckSpec, Prober, Report } from "./types.js";
import { CheckTimeout } from "./vantages/deadline.js";

/** Default number of checks in flight at once. */
export const DEFAULT_CONCURRENCY = 64;
/** Default per-check timeout, in ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Extra time (ms) a check gets after its timeout to settle on its own (a prober that honours
 * the signal reports a precise outcome such as `filtered`) before the runner gives up on it.
 */
export const TIMEOUT_GRACE_MS = 1000;
/**
 * Delay (ms) after the timeout before the runner aborts a check's signal: probes settle at their
 * own deadline (`timeoutMs`) with a precise state such as `filtered`, and must not race the abort.
 */
export const ABORT_SLACK_MS = 250;

export interface RunOptions {
  /** Checks in flight at once (≥ 1). */
  concurrency: number;
  /** Per-check timeout in ms, handed to the check and enforced by the runner. */
  timeoutMs: number;
  /** The check kinds, by kind (normally `checkKinds` from `./checks/index.js`). */
  kinds: Record<string, CheckKindModule>;
  /** Returns the prober of a vantage; called at most once per vantage per run. */
  proberFor: (vantage: string) => Prober;
  /** Called as each result is known (for live progress and streaming stores). */
  onResult?: (result: CheckResult, done: number, total: number) => void;
  /** Returns a reason to report a check `skip` without running it (filters such as --only). */
  filter?: (spec: CheckSpec) => string | undefined;
  /** Aborts the whole run (SIGINT). */
  signal?: AbortSignal;
}

/** The report's result of `spec` with `outcome` (service and vantage carried over as the id shows them). */
export function resultOf(spec: CheckSpec, outcome: CheckOutcome, durationMs: number): CheckResult {
  const r: CheckResult = {
    id: spec.id,
    kind: spec.kind,
    host: spec.host,
    status: outcome.status,
    message: outcome.message,
    durationMs: Math.round(durationMs),
  };
  if (spec.service !== undefined) r.service = spec.service;
  if (spec.vantage && spec.id.includes("@")) r.vantage = spec.vantage;
  if (outcome.observed !== undefined) r.observed = outcome.observed;
  return r;
}

async function runOne(
  spec: CheckSpec,
  opts: RunOptions,
  probers: Map<string, Prober | Error>,
  preparing: Map<string, Promise<void>>,
  inflight: Set<AbortController>,
): Promise<CheckOutcome> {
  // No prober is set up for a kind without a module (`runCheck` would refuse it anyway).
  if (!opts.kinds[spec.kind]) return { status: "error", message: `no check kind ${spec.kind} is registered` };
  let prober = probers.get(spec.vantage);
  if (!prober) {
    // A vantage that cannot be set up makes its checks error; it must not end the run.
    try {
      prober = opts.proberFor(spec.vantage);
    } catch (err) {
      prober = err instanceof Error ? err : new Error(String(err));
    }
    probers.set(spec.vantage, prober);
  }
  if (prober instanceof Error) return crashOutcome(prober, spec);
  // The vantage's start-up (a via login) happens once, before the check's time starts.
  let ready = preparing.get(spec.vantage);
  if (!ready) {
    ready = prober.prepare?.(opts.timeoutMs).catch(() => undefined) ?? Promise.resolve();
    preparing.set(spec.vantage, ready);
  }
  await ready;
  // a check with its own deadline (a restore rehearsal) gets it instead of the run's
  const timeoutMs = spec.timeoutMs ?? opts.timeoutMs;
  // The run's signal reaches this check through `inflight` (one listener for the whole run,
  // not one per check: EventTarget listeners cost more than the probe on a fast network).
  const ac = new AbortController();
  inflight.add(ac);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckOutcome>((resolve) => {
    // First abort the check (timeout + slack), then give up on it (timeout + grace).
    timer = setTimeout(() => {
      ac.abort(new CheckTimeout(timeoutMs));
      timer = setTimeout(
        () => resolve({ status: "error", message: `no answer within the ${timeoutMs} ms timeout` }),
        TIMEOUT_GRACE_MS - ABORT_SLACK_MS,
      );
    }, timeoutMs + ABORT_SLACK_MS);
  });
  try {
    const run = runCheck(spec, { prober, timeoutMs, signal: ac.signal }, opts.kinds);
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
    inflight.delete(ac);
  }
}

/**
 * Runs every spec and returns one result per spec, in spec order.
 * Never throws for a check's failure; probers are closed before returning.
 */
export async function runChecks(specs: CheckSpec[], opts: RunOptions): Promise<CheckResult[]> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1)
    throw new RangeError("concurrency must be ≥ 1");
  const limit = pLimit(opts.concurrency);
  const probers = new Map<string, Prober | Error>();
  const preparing = new Map<string, Promise<void>>();
  const inflight = new Set<AbortController>();
  const onRunAbort = (): void => {
    for (const ac of inflight) ac.abort(opts.signal?.reason);
  };
  opts.signal?.addEventListener("abort", onRunAbort, { once: true });
  let done = 0;
  const total = specs.length;
  const finish = (r: CheckResult): CheckResult => {
    done++;
    opts.onResult?.(r, done, total);
    return r;
  };
  try {
    return await Promise.all(
      specs.map((spec) => {
        const skip = spec.skip ?? opts.filter?.(spec);
        if (skip !== undefined)
          return Promise.resolve(finish(resultOf(spec, { status: "skip", message: skip }, 0)));
        return limit(async () => {
          if (opts.signal?.aborted)
            return finish(resultOf(spec, { status: "skip", message: "run interrupted" }, 0));
          const t0 = performance.now();
          const outcome = await runOne(spec, opts, probers, preparing, inflight);
          return finish(resultOf(spec, outcome, performance.now() - t0));
        });
      }),
    );
  } finally {
    opts.signal?.removeEventListener("abort", onRunAbort);
    await Promise.allSettled([...probers.values()].map((p) => (p instanceof Error ? undefined : p.close())));
  }
}

/** Builds the contract's report object from results. */
export function buildReport(inventory: string, startedAt: Date, results: CheckResult[]): Report {
  const summary = { pass: 0, fail: 0, error: 0, skip: 0 };
  for (const r of results) summary[r.status]++;
  return {
    inventory,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(Date.now() - startedAt.getTime()),
    summary,
    checks: results,
  };
}

/** Exit status of a verify run: 0 when nothing failed or errored, else 1 (the contract). */
export function exitStatusOf(report: Report): 0 | 1 {
  return report.summary.fail > 0 || report.summary.error > 0 ? 1 : 0;
}
