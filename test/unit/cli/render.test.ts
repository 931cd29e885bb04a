import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { CLI, type CliRun, ensureBuilt, runKeel } from "./built.js";

const tmp = mkdtempSync(join(tmpdir(), "keel-render-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const keel = runKeel;

/** Every file under `dir` (relative path → content). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const p = join(dir, f);
    try {
      out[f] = readFileSync(p, "utf8");
    } catch {
      // a directory
    }
  }
  return out;
}

const TWO_NETS = `keel: 1
site: r
domain: r.internal
dns: { servers: [ns1] }
networks:
  lan: { cidr: 10.46.0.0/24 }
  dmz: { cidr: 10.46.1.0/24 }
hosts:
  ns1: { address: 10.46.0.2 }
  web: { address: 10.46.1.5 }
`;

test("keel render writes the example lab's zones, the manifest, and the same bytes twice", async () => {
  const out = join(tmp, "lab");
  const r = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `examples/lab/keel.yaml: rendered 4 files into ${out}\n`);
  const first = snapshot(out);
  assert.deepEqual(JSON.parse(first[".keel-render.json"]!).files, [
    "dns/db.0.20.10.in-addr.arpa",
    "dns/db.0.99.10.in-addr.arpa",
    "dns/db.lab.internal",
    "dns/named.conf.zones",
  ]);
  const zone = join(out, "dns", "db.lab.internal");
  const inode = statSync(zone).ino;
  const again = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns");
  assert.equal(again.code, 0);
  assert.equal(again.stdout, `examples/lab/keel.yaml: rendered 4 files into ${out} (0 changed)\n`);
  assert.deepEqual(snapshot(out), first);
  assert.equal(statSync(zone).ino, inode, "an up-to-date file is left alone, not replaced");
});

test("keel render: a failing renderer writes nothing (exit 2, the output as it was)", async () => {
  const out = join(tmp, "atomic");
  const f = join(tmp, "atomic.yaml");
  writeFileSync(f, TWO_NETS);
  assert.equal((await keel("render", f, "--out", out)).code, 0);
  const before = snapshot(out);
  // the zones now have no name server: the dns renderer fails after the inventory loaded
  writeFileSync(f, TWO_NETS.replace("dns: { servers: [ns1] }\n", "").replace("10.46.1.5", "10.46.1.6"));
  const r = await keel("render", f, "--out", out);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `${f}: the zones of domain r.internal need a name server; declare dns: { servers: [HOST] } or give a host a service of kind dns\n`,
  );
  assert.deepEqual(snapshot(out), before);
});

test("keel render: files no longer produced are removed, and the manifest says so", async () => {
  const out = join(tmp, "stale");
  const f = join(tmp, "stale.yaml");
  writeFileSync(f, TWO_NETS);
  assert.equal((await keel("render", f, "--out", out, "--only", "dns")).code, 0);
  assert.ok(existsSync(join(out, "dns", "db.1.46.10.in-addr.arpa")));
  writeFileSync(
    f,
    TWO_NETS.replace("  dmz: { cidr: 10.46.1.0/24 }\n", "").replace("  web: { address: 10.46.1.5 }\n", ""),
  );
  const r = await keel("render", f, "--out", out, "--only", "dns");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${f}: rendered 3 files into ${out} (2 changed), removed 1 no longer produced\n`);
  assert.ok(!existsSync(join(out, "dns", "db.1.46.10.in-addr.arpa")));
  assert.deepEqual(JSON.parse(readFileSync(join(out, ".keel-render.json"), "utf8")).files, [
    "dns/db.0.46.10.in-addr.arpa",
    "dns/db.r.internal",
    "dns/named.conf.zones",
  ]);
});

test("keel render: --only with an unknown kind exits 2 naming the flag; --only dhcp leaves dns alone", async () => {
  const out = join(tmp, "only");
  const r = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns,bind");
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /option '--only <kinds>' argument 'dns,bind' is invalid\. unknown kind "bind"; expected one or more of dns, dhcp, cloud-init, prometheus, nftables, wireguard, ansible/,
  );
  assert.ok(!existsSync(out));
  assert.equal((await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns")).code, 0);
  const dns = snapshot(out);
  // the lab has no VM and no dhcp network: --only dhcp renders nothing and keeps the zones
  assert.equal((await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dhcp")).code, 0);
  assert.deepEqual(snapshot(out), dns);
});

test("keel render: an invalid inventory is a located error, exit 2, nothing written", async () => {
  const out = join(tmp, "bad");
  const f = join(tmp, "bad.yaml");
  writeFileSync(f, TWO_NETS.replace("dns: { servers: [ns1] }", "dns: { servers: [ns1], ttl: 4294967296 }"));
  const r = await keel("render", f, "--out", out);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `${f}:4:29: ttl 4294967296 of dns is out of range; expected a TTL in seconds from 0 to 2147483647 (RFC 2181 §8)\n`,
  );
  assert.ok(!existsSync(out));
});

test("keel render: the manifest records each file's digest; a file edited by hand is rewritten, not trusted", async () => {
  const out = join(tmp, "digests");
  assert.equal((await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "ansible")).code, 0);
  const manifest = JSON.parse(readFileSync(join(out, ".keel-render.json"), "utf8")) as {
    entries: [string, string, number, number, number][];
  };
  const zone = join(out, "ansible", "inventory.yml");
  const row = manifest.entries.find((e) => e[0] === "ansible/inventory.yml")!;
  const text = readFileSync(zone);
  assert.equal(row[1], createHash("sha256").update(text).digest("hex"));
  assert.equal(row[2], text.length);
  assert.equal(row[3], statSync(zone).mtimeMs);
  assert.equal(row[4], 0o644);
  // same size, other bytes, a new mtime: the quick check does not match, the file is compared and rewritten
  writeFileSync(zone, text.toString("utf8").replace("keel_site", "keel_sitf"));
  const r = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "ansible");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `examples/lab/keel.yaml: rendered 1 file into ${out}\n`);
  assert.deepEqual(readFileSync(zone), text);
});

const VMS = `keel: 1
site: st
networks:
  lan: { cidr: 10.48.0.0/24, gateway: 10.48.0.1 }
hosts:
  vm-a: { address: 10.48.0.10, vm: {} }
  vm-b: { address: 10.48.0.11, vm: {} }
  vm-c: { address: 10.48.0.12, vm: {} }
`;

/** Runs the built CLI with `env` (for a PATH with an injected genisoimage). */
async function keelWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliRun> {
  ensureBuilt();
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test("keel render: cidata images are built in a stage directory inside DIR and renamed into place; none is left, the bytes are the same each time", async () => {
  const f = join(tmp, "vms.yaml");
  writeFileSync(f, VMS);
  const a = join(tmp, "vms-a");
  const b = join(tmp, "vms-b");
  for (const out of [a, b]) {
    const r = await keel("render", f, "--out", out, "--only", "cloud-init");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      readdirSync(out).filter((n) => n.startsWith(".keel-stage-")),
      [],
      "the stage directory is removed",
    );
  }
  const manifest = JSON.parse(readFileSync(join(a, ".keel-render.json"), "utf8")) as {
    entries: [string, string, number, number, number][];
  };
  for (const vm of ["vm-a", "vm-b", "vm-c"]) {
    const p = `cloud-init/${vm}/cidata.iso`;
    const iso = readFileSync(join(a, p));
    assert.deepEqual(iso, readFileSync(join(b, p)), `${p}: same bytes in both renders`);
    const row = manifest.entries.find((e) => e[0] === p)!;
    assert.equal(
      row[1],
      createHash("sha256").update(iso).digest("hex"),
      `${p}: the manifest's digest is the file's`,
    );
    assert.equal(row[2], iso.length);
    assert.equal(statSync(join(a, p)).mode & 0o777, 0o644);
    // genisoimage's image with the three seeds, as isoinfo (Debian genisoimage) lists them
    const listing = execFileSync("isoinfo", ["-i", join(a, p), "-J", "-f"], { encoding: "utf8" });
    assert.deepEqual(listing.trim().split("\n").sort(), ["/meta-data", "/network-config", "/user-data"]);
  }
});

test("keel render: genisoimage failing for one VM exits 1 naming the image; DIR is as it was and no stage is left", async () => {
  const f = join(tmp, "vms-fail.yaml");
  writeFileSync(f, VMS);
  // a genisoimage that fails for vm-b's image and runs the real one for the others
  const bin = mkdtempSync(join(tmp, "bin-"));
  writeFileSync(
    join(bin, "genisoimage"),
    '#!/bin/sh\ncase "$*" in *vm-b.iso*) echo "injected: write error" >&2; exit 1;; esac\nexec /usr/bin/genisoimage "$@"\n',
    { mode: 0o755 },
  );
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  // into a directory two levels below one that does not exist yet: neither is left behind
  const fresh = join(tmp, "vms-fresh");
  const r = await keelWith(env, "render", f, "--out", join(fresh, "site"));
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    "keel render: cloud-init/vm-b/cidata.iso: genisoimage failed: injected: write error; nothing was written\n",
  );
  assert.equal(existsSync(fresh), false, "the directories this run made for --out are removed");
  // into an earlier render's directory: every file as it was, no stage left
  const out = join(tmp, "vms-kept");
  assert.equal((await keel("render", f, "--out", out)).code, 0);
  const before = snapshot(out);
  writeFileSync(f, VMS.replace("10.48.0.11", "10.48.0.21").replace("10.48.0.10", "10.48.0.20"));
  const again = await keelWith(env, "render", f, "--out", out);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /cloud-init\/vm-b\/cidata\.iso: genisoimage failed/);
  assert.deepEqual(snapshot(out), before);
  assert.deepEqual(
    readdirSync(out).filter((n) => n.startsWith(".keel-stage-")),
    [],
  );
});

test("keel render: --out naming a file (or a path under one) exits 2 naming the flag, with no stack trace", async () => {
  const file = join(tmp, "not-a-dir");
  writeFileSync(file, "x");
  for (const out of [file, join(file, "sub")]) {
    const r = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns");
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `--out ${out}: cannot write there: it (or a parent) is not a directory; expected a directory (created if missing)\n`,
    );
  }
  assert.equal(readFileSync(file, "utf8"), "x");
});

test("keel render: SIGINT while images are built exits 130; no image is written, the stage is removed, DIR is as it was", async () => {
  const hosts = Array.from(
    { length: 300 },
    (_, i) => `  vm-${i}: { address: 10.49.${i >> 7}.${(i & 127) + 1}, vm: {} }`,
  );
  const f = join(tmp, "many-vms.yaml");
  writeFileSync(
    f,
    `keel: 1\nsite: sig\nnetworks:\n  lan: { cidr: 10.49.0.0/16 }\nhosts:\n${hosts.join("\n")}\n`,
  );
  const out = join(tmp, "many-vms");
  assert.equal((await keel("render", f, "--out", out, "--only", "ansible")).code, 0);
  const before = snapshot(out);
  ensureBuilt();
  const child = spawn(process.execPath, [CLI, "render", f, "--out", out], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // wait until the first images are in the stage directory, then interrupt
  const staged = () => {
    const stage = readdirSync(out).find((n) => n.startsWith(".keel-stage-"));
    return stage !== undefined && readdirSync(join(out, stage)).some((n) => n.endsWith(".iso"));
  };
  for (let i = 0; i < 400 && !staged(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(staged(), "images were being built");
  child.kill("SIGINT");
  assert.equal(await exited, 130, stderr);
  assert.equal(stderr, "keel render: interrupted; nothing was written\n");
  assert.deepEqual(
    readdirSync(out).filter((n) => n.startsWith(".keel-stage-")),
    [],
  );
  assert.deepEqual(snapshot(out), before);
});

test("keel render removes stage directories left by renders that are gone (SIGKILL), not those of a running one", async () => {
  const out = join(tmp, "stale");
  assert.equal((await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns")).code, 0);
  const dead = spawnSync("true").pid!; // waited for: no such process any more
  const stale = join(out, `.keel-stage-${dead}-a1b2c3`);
  mkdirSync(stale);
  writeFileSync(join(stale, "vm-1.iso"), "half an image");
  const live = join(out, `.keel-stage-${process.pid}-d4e5f6`); // this test's process runs
  mkdirSync(live);
  const r = await keel("render", "examples/lab/keel.yaml", "--out", out, "--only", "dns");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(stale), false, "the dead render's stage is removed");
  assert.equal(existsSync(live), true, "a running render's stage is left alone");
  rmSync(live, { recursive: true });
});
