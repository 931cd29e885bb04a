/**
 * Live updates: reads `GET /api/events` (Server-Sent Events, one EngineEvent JSON per `data:`
 * line) with fetch + ReadableStream, so the request can carry the Authorization header that
 * EventSource cannot send. Events are handed to subscribers in batches, at most one batch per
 * BATCH_MS, so a site with 50,000 checks does not re-render the page for every result.
 * Parsing follows the WHATWG HTML "Server-sent events" event stream format.
 */
import { authHeaders, type CheckState, type EngineEvent, setToken } from "./api.js";

/** Longest time events wait before subscribers see them, in ms. */
const BATCH_MS = 250;
/** Reconnect delays after the stream ends or fails, in ms (capped at the last one). */
const RETRY_MS = [500, 1000, 2000, 5000];

export type LiveStatus = "connecting" | "live" | "down";
type BatchListener = (events: EngineEvent[]) => void;
type StatusListener = (s: LiveStatus) => void;

/**
 * Splits an event stream into events: returns the `data` of each complete event (data lines
 * joined with "\n") and the unparsed rest of `buffer`.
 */
export function parseEventStream(buffer: string): { data: string[]; rest: string } {
  const data: string[] = [];
  // a CR at the very end may be the first half of a CRLF split across chunks: keep it raw
  const hold = buffer.endsWith("\r") ? "\r" : "";
  const normalised = (hold ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
  const blocks = normalised.split("\n\n");
  const rest = (blocks.pop() ?? "") + hold;
  for (const block of blocks) {
    const lines: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) lines.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
    if (lines.length > 0) data.push(lines.join("\n"));
  }
  return { data, rest };
}

class LiveStream {
  private readonly batchListeners = new Set<BatchListener>();
  private readonly statusListeners = new Set<StatusListener>();
  private pending: EngineEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private abort: AbortController | null = null;
  private attempt = 0;
  status: LiveStatus = "down";
  /** Events received since the page loaded (for the status line and tests). */
  received = 0;

  subscribe(l: BatchListener): () => void {
    this.batchListeners.add(l);
    return () => this.batchListeners.delete(l);
  }

  onStatus(l: StatusListener): () => void {
    this.statusListeners.add(l);
    return () => this.statusListeners.delete(l);
  }

  private setStatus(s: LiveStatus): void {
    this.status = s;
    for (const l of this.statusListeners) l(s);
  }

  /** Opens the stream (again); closes any stream already open. */
  start(): void {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    void this.run(abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
    this.setStatus("down");
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.setStatus("connecting");
      try {
        const res = await fetch("api/events", {
          headers: { ...authHeaders(), accept: "text/event-stream" },
          signal,
          cache: "no-store",
        });
        if (res.status === 401) {
          setToken(null, "the server refused the token (401) for the event stream");
          return;
        }
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        this.setStatus("live");
        this.attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const { data, rest } = parseEventStream(buffer);
          buffer = rest;
          for (const d of data) this.push(d);
        }
      } catch (e) {
        if (signal.aborted) return;
        console.warn("keel: event stream failed", e);
      }
      if (signal.aborted) return;
      this.setStatus("down");
      const delay = RETRY_MS[Math.min(this.attempt++, RETRY_MS.length - 1)] ?? 5000;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private push(data: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(data) as EngineEvent;
    } catch {
      return; // a comment or keep-alive that is not JSON
    }
    this.received++;
    this.pending.push(event);
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush(): void {
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    for (const l of this.batchListeners) l(batch);
  }
}

/** The one event stream of the page. */
export const live = new LiveStream();

/** The newest CheckState of each check in a batch of events, by check id. */
export function latestStates(events: EngineEvent[]): Map<string, CheckState> {
  const m = new Map<string, CheckState>();
  for (const e of events) if (e.type === "result" || e.type === "state") m.set(e.state.id, e.state);
  return m;
}
