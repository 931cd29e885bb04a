/**
 * The built `keel serve --db postgres://...` end to end against a real PostgreSQL server
 * (test/helpers/postgres.ts): a loopback site (one port this test keeps open, one where nothing
 * listens) is checked, the results are in PostgreSQL's tables, a restarted serve keeps the
 * history and its history API reads what the first one stored. The URL's password reaches
 * neither serve's output nor its API answers.
 *
 * Needs `npm run build` (dist/cli) and Debian's postgresql (scripts/setup.sh).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { sha256Hex } from "../../src/serve/auth.js";
import type { HistoryPoint } from "../../src/store/types.js";
import { eventually } from "../helpers/alertmanager.js";
import { type Postgres, startPostgres } from "../helpers/postgres.js";
import { type ServeProcess, spawnServe } from "../helpers/serve.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-serve-pg-"));
const TOKEN = `pg-view-${process.pid}-${Date.now()}`;
const PASSWORD = `pw-${process.pid}-${Date.now()}-secret`;
const UP = "web/port.open/api@probe";
const DOWN = "web/port.open/gone@probe";
let postgres: Postgres;
let open: Server;
let closedPort = 0;
let dbUrl = "";
let serve: ServeProcess | undefined;

before(async () => {
  postgres = await startPostgres();
  const plain = await postgres.createDatabase("keel_serve");
  // the password is ignored by the cluster's trust authentication, so only Keel could leak it
  dbUrl = plain.replace("postgres://keel@", `postgres://keel:${PASSWORD}@`);
  open = createServer((s) => s.end());
  await new Promise<void>((r) => open.listen(0, "127.0.0.1", r));
  const spare = createServer();
  await new Promise<void>((r) => spare.listen(0, "127.0.0.1", r));
  closedPort = (spare.address() as { port: number }).port;
  await new Promise((r) => spare.close(r));
});

after(async () => {
  await serve?.stop();
  await new Promise((r) => open?.close(r));
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function site(): string {
  return `keel: 1
site: pg
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
    services:
      - { name: api, port: ${(open.address() as { port: number }).port} }
      - { name: gone, port: ${closedPort} }
vantages:
  probe: { local: true, networks: [lo] }
serve:
  checks:
    default: { interval: 1s }
  tokens:
    - { name: t, role: viewer, sha256: ${sha256Hex(TOKEN)} }
`;
}

async function get<T>(route: string): Promise<{ status: number; text: string; body: T }> {
  const res = await fetch(`${serve!.url}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as T };
}

interface History {
  points: HistoryPoint[];
  changes: { at: string; to: string }[];
}

test("keel serve --db postgres:// stores results in PostgreSQL; a restarted serve reads the history back", async () => {
  const file = path.join(dir, "keel.yaml");
  writeFileSync(file, site());
  const args = ["--db", dbUrl, "--audit", path.join(dir, "audit.log")];
  serve = await spawnServe(file, { args });
  const answers: string[] = [];
  await eventually("both checks have results", async () => {
    const r = await get<{ items: { id: string; status: string | null }[] }>("/api/checks");
    answers.push(r.text);
    const by = new Map(r.body.items.map((c) => [c.id, c.status]));
    return by.get(UP) === "pass" && by.get(DOWN) === "fail";
  });
  await new Promise((r) => setTimeout(r, 2000)); // a few more rounds
  for (const route of [
    "/api/overview",
    "/api/inventory",
    "/metrics",
    `/api/checks/${encodeURIComponent(UP)}`,
  ])
    answers.push((await get<unknown>(route).catch(() => ({ text: "" }))).text);
  const firstStop = new Date();
  assert.equal(await serve.stop(), 0, serve.stderr());
  const firstErr = serve.stderr();

  // in PostgreSQL's own tables, read with its own client
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  let rows: { check_id: string; status: string; count: number }[];
  try {
    rows = (
      await c.query(
        `SELECT k.check_id, s.status, sum(s.count)::int AS count FROM keel_spans s
           JOIN keel_checks k ON k.key = s.check_key GROUP BY k.check_id, s.status ORDER BY k.check_id`,
      )
    ).rows;
  } finally {
    await c.end();
  }
  assert.deepEqual(
    rows.map((r) => [r.check_id, r.status]),
    [
      [UP, "pass"],
      [DOWN, "fail"],
      ["web/reachable@probe", "pass"],
    ],
  );
  assert.ok(
    rows.every((r) => r.count >= 2),
    JSON.stringify(rows),
  );

  // a second serve on the same database: the history API shows what the first one stored
  serve = await spawnServe(file, { args });
  const before = (p: { at: string }) => Date.parse(p.at) < firstStop.getTime();
  const up = await get<History>(`/api/checks/${encodeURIComponent(UP)}/history`);
  assert.equal(up.status, 200);
  const old = up.body.points.filter(before);
  assert.ok(old.length > 0, `history before the restart: ${up.text}`);
  assert.ok(old.every((p) => p.status === "pass"));
  assert.ok(old.reduce((n, p) => n + p.count, 0) >= 2);
  const down = await get<History>(`/api/checks/${encodeURIComponent(DOWN)}/history`);
  assert.ok(down.body.points.filter(before).some((p) => p.status === "fail" && /refused/.test(p.message)));
  assert.ok(
    down.body.changes.some((ch) => before(ch) && ch.to === "fail"),
    down.text,
  );
  answers.push(up.text, down.text);
  // and it goes on adding to it
  await eventually("new results after the restart", async () => {
    const h = await get<History>(`/api/checks/${encodeURIComponent(UP)}/history`);
    return h.body.points.some((p) => Date.parse(p.until) > firstStop.getTime());
  });
  assert.equal(await serve.stop(), 0, serve.stderr());

  for (const text of [firstErr, serve.stderr(), ...answers])
    assert.equal(text.includes(PASSWORD), false, `the database password leaked: ${text.slice(0, 500)}`);
});

test("a PostgreSQL server that refuses the connection is a clear error naming --db, without the password", async () => {
  const file = path.join(dir, "refused.yaml");
  writeFileSync(file, site());
  const wrong = `postgres://keel:${PASSWORD}@127.0.0.1:${closedPort}/keel_serve`;
  await assert.rejects(
    spawnServe(file, { args: ["--db", wrong, "--audit", path.join(dir, "a.log")] }),
    (e) => {
      const message = (e as Error).message;
      assert.match(
        message,
        /keel serve exited 2: .*--db: cannot open the results store postgres:\/\/keel:\*+@127\.0\.0\.1:/s,
      );
      assert.equal(message.includes(PASSWORD), false, message);
      assert.equal(message.includes("    at "), false, "no stack trace");
      return true;
    },
  );
});
