/**
 * A throwaway PostgreSQL server for tests (Debian's `postgresql` package, installed by
 * scripts/setup.sh): `initdb` a cluster in a temp dir, run `postgres` on 127.0.0.1 at a free
 * port (its unix socket in the same dir), trust authentication for the `keel` superuser. When the
 * tests run as root the server runs as the `postgres` system user, since PostgreSQL refuses to
 * run as root. Durability settings are off (fsync, synchronous_commit, full_page_writes): they
 * only matter for power loss, which no test simulates, and they cost the shared machine time.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { freePort, stopChild, tempDir } from "./daemons.js";

export interface Postgres {
  /** URL of the `postgres` maintenance database. */
  url: string;
  port: number;
  dir: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (SIGINT), then removes the cluster. */
  stop(): Promise<void>;
}

/** Directory of the PostgreSQL server binaries: the newest `/usr/lib/postgresql/N/bin`, else `pg_config --bindir`. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], "bin");
  }
  try {
    return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("PostgreSQL server binaries not found: run scripts/setup.sh (Debian package postgresql)");
  }
}

function account(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** Starts a fresh cluster; resolves when it accepts connections. */
export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir();
  const dir = tempDir("pg");
  const as = account();
  if (as) chownSync(dir, as.uid, as.gid);
  const env = { ...process.env, HOME: dir, LC_ALL: "C" };
  const data = join(dir, "data");
  execFileSync(
    join(bin, "initdb"),
    ["-D", data, "-A", "trust", "-U", "keel", "-E", "UTF8", "--locale=C", "--no-sync"],
    { ...as, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const port = await freePort();
  const proc: ChildProcess = spawn(
    join(bin, "postgres"),
    [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
    ],
    { ...as, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  const url = `postgres://keel@127.0.0.1:${port}/postgres`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`postgres exited ${proc.exitCode}: ${log}`);
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.query("SELECT 1");
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => undefined);
      if (Date.now() > until)
        throw new Error(`postgres did not start in 30 s: ${(err as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    port,
    dir,
    async createDatabase(name: string): Promise<string> {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
      } finally {
        await c.end();
      }
      return `postgres://keel@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    stop: async () => {
      await stopChild(proc, "SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
