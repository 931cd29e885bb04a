/**
 * The built `keel` executable run by its interpreter line, as an operator runs it: the line
 * starts node with V8's young generation capped (`--max-semi-space-size=8`, src/cli/main.ts),
 * which V8 reads only at process start and which keeps `keel serve`'s memory small.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { sha256Hex } from "../../../src/serve/auth.js";
import { CLI as CLI_PATH, spawnServe } from "../../helpers/serve.js";
import { ensureBuilt } from "./built.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-executable-"));
before(() => ensureBuilt());
after(() => rmSync(dir, { recursive: true, force: true }));

const VIEWER = "executable-viewer-token-0123456789";

test("the keel executable runs by its interpreter line", async () => {
  const { stdout } = await promisify(execFile)(CLI_PATH, ["--version"]);
  assert.equal(stdout.trim(), "0.1.0");
});

test("keel serve started by the executable runs with V8's young generation capped at 8 MB semi-spaces", async () => {
  const file = path.join(dir, "keel.yaml");
  writeFileSync(
    file,
    `keel: 1
site: executable
networks:
  lo: { cidr: 127.0.0.0/8 }
hosts:
  web:
    address: 127.0.0.1
    ssh: false
vantages:
  probe: { local: true, networks: [lo] }
serve:
  tokens:
    - { name: grafana, role: viewer, sha256: ${sha256Hex(VIEWER)} }
`,
  );
  const serve = await spawnServe(file, {
    args: ["--db", path.join(dir, "keel.db"), "--audit", path.join(dir, "audit.log")],
  });
  try {
    // proc(5): the arguments of the process that serves (env(1) -S exec'd node with them)
    const argv = readFileSync(`/proc/${serve.child.pid}/cmdline`, "utf8").split("\0");
    assert.ok(argv.includes("--max-semi-space-size=8"), argv.join(" "));
    assert.ok(argv.includes("serve"), argv.join(" "));
    // and V8 applied it: the young generation (two semi-spaces) is at most 16 MiB
    const res = await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${VIEWER}` } });
    assert.equal(res.status, 200);
    const m = /^keel_nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(await res.text());
    assert.ok(m, "the young generation's size is among serve's metrics");
    assert.ok(Number(m[1]) <= 16 * 1048576, `young generation ${m[1]} bytes`);
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
  }
});
