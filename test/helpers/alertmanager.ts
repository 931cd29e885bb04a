/**
 * A real Alertmanager (Debian's prometheus-alertmanager) for integration tests: on 127.0.0.1 at
 * a free port, clustering off, its storage in a temp dir; and a webhook receiver (node:http)
 * that records what it is sent.
 */
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { request } from "undici";
import { type Daemon, freePort, stopChild, tempDir, waitForPort } from "./daemons.js";

/** An alert as Alertmanager's `GET /api/v2/alerts` lists it (the fields the tests read). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

export interface Alertmanager extends Daemon {
  url: string;
  /** `GET /api/v2/alerts` (active, silenced, inhibited and unprocessed alike). */
  alerts(): Promise<GettableAlert[]>;
}

/** Starts `prometheus-alertmanager` with one receiver that sends nowhere. */
export async function startAlertmanager(): Promise<Alertmanager> {
  const dir = tempDir("am");
  const port = await freePort();
  writeFileSync(
    join(dir, "alertmanager.yml"),
    JSON.stringify({ route: { receiver: "none", group_wait: "1s" }, receivers: [{ name: "none" }] }),
  );
  const proc = spawn(
    "prometheus-alertmanager",
    [
      `--config.file=${join(dir, "alertmanager.yml")}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  try {
    await waitForPort("127.0.0.1", port, 20_000);
  } catch (e) {
    proc.kill("SIGTERM");
    throw new Error(`alertmanager did not start: ${(e as Error).message}\n${log.slice(-2000)}`);
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    dir,
    proc,
    url,
    alerts: async () => {
      const res = await request(`${url}/api/v2/alerts`);
      if (res.statusCode !== 200) throw new Error(`GET /api/v2/alerts: HTTP ${res.statusCode}`);
      return (await res.body.json()) as GettableAlert[];
    },
    stop: async () => {
      await stopChild(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface WebhookReceiver {
  url: string;
  /** Requests received, in order. */
  received: { path: string; headers: IncomingHttpHeaders; body: unknown }[];
  /** Status to answer with, per request (default 200); set by tests to inject failures. */
  status: () => number;
  stop(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request's JSON body and answers `status()`. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const r: WebhookReceiver = {
    url: "",
    received: [],
    status: () => 200,
    stop: async () => undefined,
  };
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (b: Buffer) => {
      text += b.toString();
    });
    req.on("end", () => {
      const status = r.status();
      if (status < 300) {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // recorded as text
        }
        r.received.push({ path: req.url ?? "", headers: req.headers, body });
      }
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(status < 300 ? "ok" : "try later");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  r.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}

/** Polls `probe` every 100 ms until it returns a truthy value, or throws after `ms`. */
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  ms = 30_000,
): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
