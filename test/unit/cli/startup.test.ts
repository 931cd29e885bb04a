/**
 * Start-up cost: each command loads only the libraries it needs. `keel verify` starts in well
 * under a second on a 2-core machine only because the server stack (fastify, prom-client, pg,
 * undici) and the store drivers load on first use; this test keeps it that way.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { ensureBuilt } from "./built.js";

const run = promisify(execFile);

/** Runs the built CLI with `args` and returns the npm packages it loaded. */
async function packagesLoadedBy(...args: string[]): Promise<string[]> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "keel-startup-"));
  const out = join(dir, "packages");
  try {
    await run(
      process.execPath,
      ["--require", "./test/fixtures/list-packages.cjs", "dist/cli/main.js", ...args],
      {
        env: { ...process.env, KEEL_TEST_PACKAGES: out },
      },
    ).catch((e: { code?: number }) => {
      if (e.code !== 1) throw e; // 1: some checks failed, which is fine here
    });
    return readFileSync(out, "utf8").split("\n").filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SERVER_STACK = ["fastify", "@fastify/static", "prom-client", "pg", "undici", "ssh2"];

test("keel validate loads neither the server stack nor a store driver", async () => {
  const loaded = await packagesLoadedBy("validate", "examples/lab/keel.yaml");
  assert.ok(loaded.includes("commander"), `the preload saw the CLI's packages: ${loaded.join(", ")}`);
  for (const p of [...SERVER_STACK, "better-sqlite3"]) assert.ok(!loaded.includes(p), `validate loaded ${p}`);
});

/** A one-host inventory on this machine's loopback: two port checks, nothing leaves the machine. */
const LOOPBACK_SITE = `keel: 1
site: startup
networks:
  lo: { cidr: 127.0.0.0/8 }
vantages:
  here: { local: true, networks: [lo] }
hosts:
  h1:
    address: 127.0.0.1
    ssh: false
    services:
      - { name: web, port: 9, http: /health }
`;

test("keel verify --no-history loads neither the server stack nor a store driver", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keel-startup-site-"));
  try {
    const file = join(dir, "keel.yaml");
    writeFileSync(file, LOOPBACK_SITE);
    const loaded = await packagesLoadedBy("verify", file, "--no-history", "--json", "--timeout", "500");
    assert.ok(loaded.includes("picomatch") || loaded.includes("p-limit"), `ran verify: ${loaded.join(", ")}`);
    for (const p of [...SERVER_STACK, "better-sqlite3"]) assert.ok(!loaded.includes(p), `verify loaded ${p}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
