/**
 * Store writes of the engine of `keel serve`: where results go (`ResultSink`, which the store's
 * `ResultStore` fits) and the writes in flight, so that `stop()` can wait for them. A failed
 * write is logged; it never stops the engine.
 */
import type { CheckResult, Report } from "../verify/types.js";

/** Where results go: the store (src/store/types.ts `ResultStore`) fits. */
export interface ResultSink {
  /**
   * Records results that arrived at `at` (skips are never passed). A rejection is logged; the
   * engine's in-memory state is updated regardless.
   */
  saveResults(results: readonly CheckResult[], at: Date): Promise<void>;
  /**
   * Records the results of one `runNow` as a stored run (`GET /api/runs` lists it); resolves with
   * its id. When present, those results go here instead of `saveResults`, so each is stored
   * once. A rejection is logged; `runNow` still resolves with its results.
   */
  saveRun?(report: Report): Promise<number>;
}

/** The writes to a `ResultSink` in flight. */
export class StoreWrites {
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly sink: ResultSink,
    private readonly log: (line: string) => void,
  ) {}

  /** Stores one result that arrived at `now` (epoch ms); a failure is logged naming it. */
  saveResult(r: CheckResult, now: number): void {
    void this.track(this.sink.saveResults([r], new Date(now)), (why) => {
      return `store: the result of ${r.id} at ${new Date(now).toISOString()} was not stored: ${why}`;
    });
  }

  /**
   * Stores `report` as one run (when the sink records runs); resolves once written or logged.
   * `what` names the run in the log line of a failure.
   */
  saveRun(report: Report, what: string): Promise<void> {
    if (!this.sink.saveRun) return Promise.resolve();
    return this.track(this.sink.saveRun(report), (why) => {
      return `store: the run of ${what} at ${report.startedAt} was not stored: ${why}`;
    });
  }

  /** The writes not yet settled. */
  pending(): Promise<void>[] {
    return [...this.writes];
  }

  private track(p: Promise<unknown>, message: (why: string) => string): Promise<void> {
    const write: Promise<void> = p
      .then(
        () => undefined,
        (err: unknown) => this.log(message((err as Error).message)),
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
    return write;
  }
}
