/**
 * `keel serve` refusing to start: each mistake exits 2 with a message naming the flag, the
 * inventory key (file:line:col) or the environment variable, and no stack trace. None of these
 * runs starts a check: a refused start probes nothing and stores no result.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { openStore } from "../../../src/store/index.js";
import { CLI, ensureBuilt } from "./built.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-serve-cli-"));
before(() => ensureBuilt());
after(() => rmSync(dir, { recursive: true, force: true }));

function site(extra = ""): string {
  return `keel: 1
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
${extra}`;
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Runs the built CLI to its end (at most 20 s) with a clean environment for tokens. */
function keel(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`keel ${args.join(" ")} did not exit within 20 s: ${stderr}`));
    }, 20_000);
    child.on("exit", (status) => {
      clearTimeout(timer);
      assert.ok(!stderr.includes("    at "), `no stack trace: ${stderr}`);
      resolve({ status, stderr });
    });
  });
}

for (const [args, expected] of [
  [
    ["--listen", "8484"],
    /option '--listen <host:port>' argument '8484' is invalid\. "8484" is not HOST:PORT/,
  ],
  [["--listen", "example.com:80"], /"example\.com" is not an IPv4 address or localhost; expected HOST:PORT/],
  [
    ["--concurrency", "0"],
    /option '--concurrency <n>' argument '0' is invalid\. expected a whole number from 1 to 10000/,
  ],
  [["--timeout", "soon"], /option '--timeout <ms>' argument 'soon' is invalid/],
] as const) {
  test(`keel serve ${args.join(" ")} exits 2 naming the flag`, async () => {
    const r = await keel(["serve", write("flags.yaml", site()), ...args]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, expected);
  });
}

test("an invalid inventory exits 2 with its located problems", async () => {
  const file = write("bad.yaml", site().replace("port: 9", "port: 70000"));
  const r = await keel(["serve", file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`^${file}:10:\\d+: .*port 70000 .*out of range`, "m"));
});

test("a token whose environment variable is unset exits 2, located, naming the variable", async () => {
  const file = write(
    "env.yaml",
    site(`serve:
  tokens:
    - { name: grafana, role: viewer, token: "\${KEEL_TEST_UNSET_TOKEN}" }
`),
  );
  const r = await keel(["serve", file, "--listen", "127.0.0.1:1"]);
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    new RegExp(
      `^${file}:15:\\d+: serve\\.tokens: token grafana: environment variable KEEL_TEST_UNSET_TOKEN is not set; expected the token in it$`,
      "m",
    ),
  );
});

test("a port in use exits 2 naming --listen; no check ran; no tokens is warned about", async () => {
  const busy: Server = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const port = (busy.address() as { port: number }).port;
  const db = path.join(dir, "busy.db");
  try {
    const file = write("busy.yaml", site());
    const r = await keel(["serve", file, "--listen", `127.0.0.1:${port}`, "--db", db]);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      new RegExp(
        `^--listen: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use \\(another keel serve\\?\\); expected a free port$`,
        "m",
      ),
    );
    assert.match(
      r.stderr,
      /warning: .*busy\.yaml declares no serve\.tokens, so every endpoint but \/healthz answers 401/,
    );
    const store = await openStore(db);
    const stats = await store.stats();
    await store.close();
    assert.equal(stats.rawResults, 0, "no check ran before the server listened");
  } finally {
    busy.close();
  }
});

test("an audit log that is not a regular file (a FIFO) exits 2 naming it, without waiting for a reader", async () => {
  const fifo = path.join(dir, "audit.fifo");
  execFileSync("mkfifo", [fifo]);
  const r = await keel(["serve", write("fifo.yaml", site()), "--listen", "127.0.0.1:1", "--audit", fifo]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`^--audit: cannot write the audit log ${fifo}: `, "m"));
});
