/**
 * A real BIND (`/usr/sbin/named -g`, Debian package bind9) on 127.0.0.1 at a free port, in its
 * own temp directory (config, zone files, journals), serving zone files as primary with a TSIG
 * key made by `tsig-keygen`. For `keel dns sync` and `keel apply --dns-key` tests.
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Daemon, freePort, stopChild, tempDir, waitForPort } from "./daemons.js";

/** A TSIG key file as `tsig-keygen -a hmac-sha256 NAME` writes it. */
export function tsigKeygen(name: string): string {
  return execFileSync("tsig-keygen", ["-a", "hmac-sha256", name], { encoding: "utf8" });
}

export interface NamedZone {
  /** Zone name without the final dot. */
  name: string;
  /** The zone file to copy into named's directory. */
  file: string;
  /** Whether the key may update the zone (`allow-update { key NAME; }`; else `{ none; }`). */
  update: boolean;
}

export interface Named extends Daemon {
  /** Path of the key file (also included by named.conf). */
  keyFile: string;
  /** named's stderr so far (its log, `-g`). */
  log(): string;
}

/** Starts named serving `zones`, with transfers and (per zone) updates allowed to key `keyName`. */
export async function startNamed(zones: NamedZone[], keyText: string, keyName: string): Promise<Named> {
  const dir = tempDir("named");
  const port = await freePort();
  const keyFile = join(dir, "tsig.key");
  writeFileSync(keyFile, keyText, { mode: 0o600 });
  const conf = [
    "options {",
    `\tdirectory "${dir}";`,
    `\tlisten-on port ${port} { 127.0.0.1; };`,
    "\tlisten-on-v6 { none; };",
    "\tpid-file none;",
    "\trecursion no;",
    "\tnotify no;",
    "\tdnssec-validation no;",
    "};",
    // no rndc command channel: named would otherwise listen on 127.0.0.1#953 and ::1#953
    "controls { };",
    `include "${keyFile}";`,
    ...zones.map((z) => {
      copyFileSync(z.file, join(dir, `db.${z.name}`));
      const update = z.update ? `key ${keyName};` : "none;";
      return `zone "${z.name}" { type primary; file "db.${z.name}"; allow-transfer { key ${keyName}; }; allow-update { ${update} }; };`;
    }),
  ].join("\n");
  writeFileSync(join(dir, "named.conf"), `${conf}\n`);
  const proc = spawn("/usr/sbin/named", ["-g", "-c", join(dir, "named.conf")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (b: Buffer) => {
    log += b.toString();
  });
  proc.stdout.on("data", () => undefined);
  await waitForPort("127.0.0.1", port, 15_000);
  // TCP is up before the zones are loaded: wait for named to say so
  const until = Date.now() + 15_000;
  while (!/all zones loaded/.test(log)) {
    if (Date.now() > until || proc.exitCode !== null)
      throw new Error(`named did not load its zones:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    dir,
    proc,
    keyFile,
    log: () => log,
    stop: async () => {
      await stopChild(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** dig's short answer from `named` for NAME TYPE (sorted lines), asked with named's own key. */
export function digShort(named: Named, name: string, type: string): string[] {
  const out = execFileSync(
    "dig",
    [
      "-k",
      named.keyFile,
      "-p",
      String(named.port),
      "@127.0.0.1",
      name,
      type,
      "+short",
      "+norec",
      "+time=5",
      "+tries=1",
    ],
    { encoding: "utf8" },
  );
  return out.split("\n").filter(Boolean).sort();
}
