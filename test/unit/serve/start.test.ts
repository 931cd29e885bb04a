/**
 * `startServe` (src/serve/start.ts), the one way `keel serve`, the tests and the benchmarks
 * start the stack: a loopback site (a listener on 127.0.0.1 the test owns) is probed by the
 * real engine, its results reach the store and the API; `close` stops the server before the
 * engine and the store; a port in use is refused with nothing left open.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { sha256Hex } from "../../../src/serve/auth.js";
import { startServe } from "../../../src/serve/start.js";
import type { CheckState } from "../../../src/serve/types.js";
import { openStore } from "../../../src/store/index.js";
import { eventually } from "../../helpers/alertmanager.js";

const dir = mkdtempSync(join(tmpdir(), "keel-start-"));
const TOKEN = "start-test-viewer";
let open: Server;
let port = 0;

before(async () => {
  open = createServer((s) => s.end());
  await new Promise<void>((r) => open.listen(0, "127.0.0.1", r));
  port = (open.address() as { port: number }).port;
});
after(async () => {
  await new Promise((r) => open.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function site(): string {
  return `keel: 1
site: start
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
    services:
      - { name: api, port: ${port} }
vantages:
  probe: { local: true, networks: [lo] }
serve:
  checks:
    default: { interval: 1s }
  tokens:
    - { name: t, role: viewer, sha256: ${sha256Hex(TOKEN)} }
`;
}

test("the engine probes, results reach the API and the store; close stops the server first", async () => {
  const file = join(dir, "keel.yaml");
  writeFileSync(file, site());
  const db = join(dir, "keel.db");
  const lines: string[] = [];
  const s = await startServe({
    file,
    listen: { host: "127.0.0.1", port: 0 },
    db,
    auditFile: join(dir, "audit.log"),
    engine: { startupSpreadMs: 0 },
    watch: false,
    sighup: false,
    log: (l) => lines.push(l),
  });
  const id = "web/port.open/api@probe";
  let closed = false;
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const state = await eventually("the check passed, seen through the API", async () => {
      const res = await fetch(`${s.url}/api/checks/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = (await res.json()) as CheckState;
      return body.status === "pass" ? body : undefined;
    });
    assert.match(state.message, new RegExp(`127\\.0\\.0\\.1:${port}/tcp is open`));
    // the server is closed before the engine stops and the store closes
    let listeningAtEngineStop: boolean | undefined;
    const stop = s.engine.stop.bind(s.engine);
    s.engine.stop = async () => {
      listeningAtEngineStop = s.app.server.listening;
      return stop();
    };
    await s.close();
    closed = true;
    assert.equal(listeningAtEngineStop, false);
    await assert.rejects(fetch(`${s.url}/healthz`));
    assert.deepEqual(lines, []);
  } finally {
    if (!closed) await s.close();
  }
  const store = await openStore(db);
  try {
    const h = await store.history(id);
    assert.ok(h.points.length > 0 && h.points.every((p) => p.status === "pass"), JSON.stringify(h));
  } finally {
    await store.close();
  }
});

test("a port in use is refused naming the flag; no check ran and nothing stays open", async () => {
  const busy: Server = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const taken = (busy.address() as { port: number }).port;
  const file = join(dir, "busy.yaml");
  writeFileSync(file, site());
  const db = join(dir, "busy.db");
  try {
    await assert.rejects(
      startServe({
        file,
        listen: { host: "127.0.0.1", port: taken },
        db,
        auditFile: join(dir, "audit.log"),
        engine: { startupSpreadMs: 0 },
        log: () => undefined,
      }),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          `--listen: cannot listen on 127.0.0.1:${taken}: the port is already in use (another keel serve?); expected a free port`,
    );
  } finally {
    await new Promise((r) => busy.close(r));
  }
  assert.equal(process.listenerCount("SIGHUP"), 0, "no SIGHUP handler left behind");
  const store = await openStore(db);
  try {
    assert.deepEqual((await store.history("web/port.open/api@probe")).points, []);
  } finally {
    await store.close();
  }
});
