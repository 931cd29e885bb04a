/**
 * waitWireguard: the lab configures a wireguard-go interface only once wg(8) can reach its UAPI
 * socket, not as soon as the TUN link exists (CI once ran `wg set` in between and got "Unable to
 * modify interface: Protocol not supported"). Runs in a throwaway network namespace.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Place } from "../../../src/lab/run.js";
import { waitWireguard } from "../../../src/lab/wireguard.js";

const tag = process.pid % 100000;
const ns = `kwr${tag}`;
// The test's own mount namespace: /var/run/wireguard is the one wireguard-go writes to.
const place: Place = { ns, mnt: "/proc/self/ns/mnt" };
let dir = "";
const procs: ChildProcess[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keel-wg-ready-"));
  execFileSync("ip", ["netns", "add", ns]);
});

after(() => {
  for (const p of procs) p.kill();
  spawnSync("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
});

test("a TUN link without wireguard-go's UAPI socket is not ready: a LabError naming it, after the timeout", async () => {
  execFileSync("ip", ["netns", "exec", ns, "ip", "tuntap", "add", "kwrtun0", "mode", "tun"]);
  const t0 = Date.now();
  await assert.rejects(waitWireguard(place, "kwrtun0", 600), (err: Error) => {
    assert.equal(err.name, "LabError");
    assert.match(err.message, /kwrtun0 did not become ready in kwr\d+ within 600 ms/);
    assert.match(err.message, /UAPI socket/);
    return true;
  });
  assert.ok(Date.now() - t0 >= 600, "waited the whole timeout");
});

test("once it returns, wg set configures the wireguard-go interface at once", async () => {
  const ifname = "kwrwg0";
  procs.push(
    spawn("ip", ["netns", "exec", ns, "wireguard-go", ifname], {
      stdio: "ignore",
      env: { ...process.env, WG_PROCESS_FOREGROUND: "1" },
    }),
  );
  await waitWireguard(place, ifname);
  const priv = execFileSync("wg", ["genkey"], { encoding: "utf8" });
  const key = join(dir, "key");
  writeFileSync(key, priv, { mode: 0o600 });
  execFileSync("ip", ["netns", "exec", ns, "wg", "set", ifname, "private-key", key, "listen-port", "51999"]);
  const shown = execFileSync("ip", ["netns", "exec", ns, "wg", "show", ifname, "listen-port"], {
    encoding: "utf8",
  });
  assert.equal(shown.trim(), "51999");
});
