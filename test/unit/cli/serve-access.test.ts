/**
 * The built `keel serve` guarding its data: percent-encoded spellings of viewer routes answer
 * 401 without a token and the data only with one, and a pre-existing audit log readable by all
 * is made 0600 at start.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { sha256Hex } from "../../../src/serve/auth.js";
import { freePort } from "../../helpers/daemons.js";
import { CLI, ensureBuilt } from "./built.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-serve-access-"));
before(() => ensureBuilt());
after(() => rmSync(dir, { recursive: true, force: true }));

const VIEWER = "cli-viewer-token-0123456789abcdef";

/** GET with the path sent as written (no normalisation); status and body. */
function get(port: number, urlPath: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${urlPath}: no answer within 5 s`)));
    req.on("error", reject);
  });
}

test("keel serve: /%61pi/overview, /%61pi/inventory, /%6detrics, /%73d/prometheus need a token; the audit log is made 0600", async () => {
  const file = path.join(dir, "keel.yaml");
  writeFileSync(
    file,
    `keel: 1
site: cli
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
    services:
      - { name: api, port: 9 }
vantages:
  probe: { local: true, networks: [lo] }
serve:
  tokens:
    - { name: grafana, role: viewer, sha256: ${sha256Hex(VIEWER)} }
`,
  );
  const audit = path.join(dir, "audit.log");
  writeFileSync(audit, "", { mode: 0o644 });
  assert.equal(statSync(audit).mode & 0o777, 0o644);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      CLI,
      "serve",
      file,
      "--listen",
      `127.0.0.1:${port}`,
      "--db",
      path.join(dir, "keel.db"),
      "--audit",
      audit,
    ],
    { env: { PATH: process.env.PATH }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`keel serve did not listen within 20 s: ${stderr}`)),
        20_000,
      );
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
        if (stderr.includes("listening on")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`keel serve exited: ${stderr}`)));
    });
    for (const p of ["/%61pi/overview", "/%61pi/inventory", "/%6detrics", "/%73d/prometheus"]) {
      const none = await get(port, p);
      assert.equal(none.status, 401, `${p}: ${none.body.slice(0, 200)}`);
      assert.deepEqual(Object.keys(JSON.parse(none.body)), ["error"], p);
      const viewer = await get(port, p, VIEWER);
      assert.equal(viewer.status, 200, `${p} with the viewer token`);
    }
    assert.equal((statSync(audit).mode & 0o7777).toString(8), "600", "the audit log is 0600 once serving");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, stderr);
});
