/**
 * Delivery of JSON bodies to one HTTP destination for the alert providers (`provider.ts`): a
 * queue with at most one request in flight, retried with exponential backoff (`retryBaseMs`
 * doubling up to `retryMaxMs`, at most `maxAttempts` tries, then dropped with a log line).
 */
import { request } from "undici";
import type { DeliveryOptions } from "./provider.js";

/** A queue of deliveries to one target, retried with backoff; at most one request in flight. */
export class Target {
  private readonly queue: { key: string; body: unknown; attempts: number }[] = [];
  private busy = false;
  private retryTimer: unknown;
  private retryAt = 0;
  private inflight: Promise<void> | undefined;
  closed = false;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly headers: () => Record<string, string>,
    private readonly opts: DeliveryOptions,
    /** Alertmanager: all queued alerts go in one request (an array); webhooks: one request per body. */
    private readonly batch: boolean,
  ) {}

  /** Queues `body` under `key`; with `batch`, a queued body with the same key is replaced. */
  push(key: string, body: unknown): void {
    if (this.closed) return;
    const i = this.batch ? this.queue.findIndex((q) => q.key === key) : -1;
    if (i >= 0) this.queue[i] = { key, body, attempts: this.queue[i]!.attempts };
    else this.queue.push({ key, body, attempts: 0 });
    if (!this.busy && this.retryTimer === undefined) this.kick();
  }

  private kick(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    this.busy = true;
    this.inflight = this.deliver().finally(() => {
      this.busy = false;
      this.inflight = undefined;
      if (this.retryTimer === undefined) this.kick();
    });
  }

  private async deliver(): Promise<void> {
    const items = this.batch ? [...this.queue] : [this.queue[0]!];
    const payload = this.batch ? items.map((q) => q.body) : items[0]!.body;
    let error: string | undefined;
    try {
      let headers: Record<string, string>;
      try {
        headers = this.headers();
      } catch (e) {
        // a missing environment variable does not come back by retrying: drop with a log line
        this.opts.log(`alert to ${this.name} not sent: ${(e as Error).message}`);
        this.remove(items);
        return;
      }
      const res = await request(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "keel-serve", ...headers },
        body: JSON.stringify(payload),
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      const text = await res.body.text().catch(() => "");
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.remove(items);
        return;
      }
      error = `HTTP ${res.statusCode}${text ? `: ${text.trim().slice(0, 200)}` : ""}`;
    } catch (e) {
      const err = e as Error & { cause?: Error; code?: string };
      error = err.cause?.message ?? err.code ?? err.message;
    }
    // failed: count an attempt on each item; drop the ones out of attempts, retry the rest later
    let next = 0;
    for (const item of items) {
      item.attempts++;
      next = Math.max(next, item.attempts);
    }
    const dropped = items.filter((q) => q.attempts >= this.opts.maxAttempts);
    this.remove(dropped);
    const left = this.queue.length;
    if (dropped.length > 0)
      this.opts.log(
        `alert to ${this.name} failed (${error}); gave up after ${this.opts.maxAttempts} attempts on ${dropped.length} alert(s)`,
      );
    if (left === 0) return;
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (Math.min(next, 30) - 1));
    this.opts.log(`alert to ${this.name} failed (${error}); retrying in ${delay} ms`);
    this.retryAt = this.opts.clock.now() + delay;
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }

  private remove(items: { key: string }[]): void {
    for (const item of items) {
      const i = this.queue.indexOf(item as (typeof this.queue)[number]);
      if (i >= 0) this.queue.splice(i, 1);
    }
  }

  /** Deliveries waiting (queued or being retried). */
  get pending(): number {
    return this.queue.length;
  }

  /** When the next retry happens (epoch ms), or 0 when none is scheduled. */
  get nextRetryAt(): number {
    return this.retryTimer === undefined ? 0 : this.retryAt;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.inflight;
  }
}
