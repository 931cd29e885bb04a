/**
 * `keel serve`'s process life cycle and flags: --listen parsing, SIGHUP reloads, SIGTERM closes
 * the server (open event streams included) before the engine and store are stopped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { InvalidArgumentError } from "commander";
import { defaultAuditPath, parseListen, serveUntilStopped } from "../../../src/cli/serve.js";
import { buildServer } from "../../../src/serve/api.js";
import { sha256Hex } from "../../../src/serve/auth.js";
import { freePort } from "../../helpers/daemons.js";
import { contractExample } from "../../helpers/inventory.js";
import { MemoryEngine } from "../../serve/memory.js";

const dir = mkdtempSync(join(tmpdir(), "keel-serve-life-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("--listen", () => {
  test("HOST:PORT with IPv4, localhost or bracketed IPv6", () => {
    assert.deepEqual(parseListen("127.0.0.1:8484"), { host: "127.0.0.1", port: 8484 });
    assert.deepEqual(parseListen("localhost:1"), { host: "localhost", port: 1 });
    assert.deepEqual(parseListen("[::1]:65535"), { host: "::1", port: 65535 });
    assert.deepEqual(parseListen("0.0.0.0:80"), { host: "0.0.0.0", port: 80 });
  });

  test("anything else is a usage error that says what is expected", () => {
    for (const bad of [
      "8484",
      "127.0.0.1",
      "127.0.0.1:0",
      "127.0.0.1:70000",
      "::1:8484",
      "[10.0.0.1]:80",
      "example.com:80",
      "[::1]:x",
    ]) {
      assert.throws(
        () => parseListen(bad),
        (e: unknown) => e instanceof InvalidArgumentError && /expected HOST:PORT/.test(e.message),
        bad,
      );
    }
  });

  test("the audit log defaults to .keel/audit.log beside the inventory", () => {
    assert.equal(defaultAuditPath("/srv/site/keel.yaml"), "/srv/site/.keel/audit.log");
  });
});

describe("signals", () => {
  test("SIGHUP reloads; SIGTERM ends event streams, closes the server, then stops engine and store", async () => {
    const inv = contractExample();
    inv.serve.tokens = [
      { name: "v", role: "viewer", sha256: sha256Hex("tok"), pos: { file: "k", line: 1, col: 1 } },
    ];
    const engine = new MemoryEngine(inv);
    const app = await buildServer({ engine, store: engine.store, auditFile: join(dir, "audit.log") });
    const port = await freePort();
    await app.listen({ host: "127.0.0.1", port });
    const lines: string[] = [];
    let reloads = 0;
    let stoppedWhileOpen: boolean | undefined;
    const done = serveUntilStopped({
      reload: () => {
        reloads++;
      },
      // what RunningServe.close does (src/serve/start.ts): the server first, then the rest
      close: async () => {
        await app.close();
        stoppedWhileOpen = app.server.listening;
      },
      log: (l) => lines.push(l),
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const events = await fetch(`http://127.0.0.1:${port}/api/events`, {
      headers: { authorization: "Bearer tok" },
    });
    const reader = events.body!.getReader();
    await reader.read();
    process.kill(process.pid, "SIGHUP");
    for (let i = 0; i < 100 && reloads === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(reloads, 1);
    process.kill(process.pid, "SIGTERM");
    assert.equal(await done, 0);
    assert.equal(stoppedWhileOpen, false, "the server is closed before engine and store stop");
    // the event stream was ended by the shutdown
    for (;;) if ((await reader.read()).done) break;
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
    assert.deepEqual(lines, [
      "keel serve: SIGHUP: reloading the inventory",
      "keel serve: SIGTERM: shutting down",
    ]);
    assert.equal(process.listenerCount("SIGHUP"), 0);
    assert.equal(engine.listenerCount, 0, "the server's subscriptions ended with it");
  });
});
