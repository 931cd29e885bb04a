/**
 * Reloading the inventory of a running engine with real probes (TCP and HTTP on 127.0.0.1):
 * an editor-style replace (write a temp file, rename it over) to an invalid inventory is
 * rejected with located problems while the old checks keep running; the fix is picked up by
 * the file watch; SIGHUP reloads too. The stack is started by `startServe`, as `keel serve`
 * starts it.
 */
import assert from "node:assert/strict";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startServe } from "../../src/serve/start.js";
import type { EngineEvent } from "../../src/serve/types.js";
import { eventually } from "../helpers/alertmanager.js";
import { type Daemon, startHttp, tempDir } from "../helpers/daemons.js";

let http: Daemon;
let dir: string;

before(async () => {
  http = await startHttp(200, "ok");
  dir = tempDir("serve-reload");
});

after(async () => {
  await http?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function site(services: string[]): string {
  return `keel: 1
site: lab
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
    services:
${services.map((s) => `      - ${s}`).join("\n")}
vantages:
  probe: { local: true, networks: [lo] }
serve:
  checks:
    default: { interval: 1s }
`;
}

/** Replaces the file the way editors do: write a temp file beside it, rename it over. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

test("an invalid edit is rejected, the old checks keep running; the fix is picked up by the watch", async () => {
  const file = join(dir, "keel.yaml");
  writeFileSync(file, site([`{ name: api, port: ${http.port}, http: / }`]));
  const events: EngineEvent[] = [];
  const logs: string[] = [];
  const serve = await startServe({
    file,
    listen: { host: "127.0.0.1", port: 0 },
    db: join(dir, "watch.db"),
    auditFile: join(dir, "audit.log"),
    sighup: false,
    timeoutMs: 900,
    engine: { watchDebounceMs: 100, startupSpreadMs: 200, alerts: false },
    log: (l) => logs.push(l),
  });
  const engine = serve.engine;
  engine.subscribe((e) => events.push(e));
  const API = "web/http/api@probe";
  try {
    await eventually("the http check passes", () => engine.state(API)?.status === "pass");

    replace(file, site([`{ name: api, port: ${http.port}, http: / }`, "{ name: bad, port: 70000 }"]));
    await eventually("a rejected reload", () => events.some((e) => e.type === "reload" && !e.ok), 10_000);
    const [p] = engine.problems();
    assert.deepEqual(p?.pos, { file, line: 11, col: 28 });
    assert.match(p!.message, /port 70000 of service "bad" of host "web" is out of range/);
    assert.ok(logs.some((l) => l.includes("was not reloaded, the last valid inventory keeps running")));
    const ranAt = engine.state(API)!.lastRunAt!;
    await eventually("the old check runs on", () => engine.state(API)!.lastRunAt! > ranAt, 5000);
    assert.equal(engine.state("web/port.open/bad@probe"), undefined);
    assert.equal(engine.inventory().hosts[0]?.services.length, 1);

    replace(file, site([`{ name: api, port: ${http.port}, http: / }`, `{ name: alt, port: ${http.port} }`]));
    await eventually("an accepted reload", () => events.some((e) => e.type === "reload" && e.ok), 10_000);
    assert.deepEqual(engine.problems(), []);
    await eventually(
      "the new check runs",
      () => engine.state("web/port.open/alt@probe")?.status === "pass",
      5000,
    );
    assert.ok((engine.state(API)?.consecutive ?? 0) >= 2, "the kept check kept its state");
  } finally {
    await serve.close();
  }
});

test("SIGHUP reloads the inventory", async () => {
  const file = join(dir, "hup.yaml");
  writeFileSync(file, site([`{ name: api, port: ${http.port} }`]));
  const serve = await startServe({
    file,
    listen: { host: "127.0.0.1", port: 0 },
    db: join(dir, "hup.db"),
    auditFile: join(dir, "audit.log"),
    watch: false,
    engine: { startupSpreadMs: 200, alerts: false },
    log: () => undefined,
  });
  const engine = serve.engine;
  const events: EngineEvent[] = [];
  engine.subscribe((e) => events.push(e));
  try {
    writeFileSync(file, site([`{ name: api, port: ${http.port} }`, `{ name: two, port: ${http.port} }`]));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(engine.state("web/port.open/two@probe"), undefined, "no watch: nothing reloads by itself");
    process.kill(process.pid, "SIGHUP");
    await eventually("the reload", () => events.some((e) => e.type === "reload" && e.ok), 5000);
    assert.equal(engine.state("web/port.open/two@probe")?.state, "unknown");
  } finally {
    await serve.close();
  }
  assert.equal(process.listenerCount("SIGHUP"), 0, "stop removes the SIGHUP handler");
});
