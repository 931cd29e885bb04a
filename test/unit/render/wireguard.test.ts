/**
 * The WireGuard renderer: configurations accepted by `wg-quick strip` and loaded with `wg
 * setconf` into a real (wireguard-go) interface in a throwaway namespace; public keys equal
 * `wg pubkey`'s; private keys come only from the key directory, and missing or malformed key
 * files are errors naming the file (exit 2 through the CLI); files are written 0600.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { writeRender } from "../../../src/cli/render.js";
import { UserError } from "../../../src/errors.js";
import type { Inventory } from "../../../src/inventory/model.js";
import { publicKeyOf, wireguardRenderer } from "../../../src/render/wireguard.js";
import { contractExample } from "../../helpers/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "keel-render-wg-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const genkey = () => execFileSync("wg", ["genkey"]).toString().trim();
const pubkey = (k: string) =>
  execFileSync("wg", ["pubkey"], { input: `${k}\n` })
    .toString()
    .trim();

/** The contract example with `admin` given a tunnel address and `mon` a WireGuard peer of gw-vpn. */
function inventory(): Inventory {
  const inv = contractExample();
  const gw = inv.hosts.find((h) => h.name === "gw-vpn")!;
  gw.wireguard = { interface: "wg0", port: 51820, peers: ["admin", "mon"] };
  const mon = inv.hosts.find((h) => h.name === "mon")!;
  mon.wireguard = { interface: "wg1", port: 51821, peers: ["gw-vpn"] };
  inv.vantages.find((v) => v.name === "admin")!.addresses = [{ network: "vpn", address: "10.99.0.250" }];
  return inv;
}

const keys = join(dir, "keys");
mkdirSync(keys);
const gwKey = genkey();
const monKey = genkey();
const adminPub = pubkey(genkey());
writeFileSync(join(keys, "gw-vpn.key"), `${gwKey}\n`);
writeFileSync(join(keys, "mon.key"), `${monKey}\n`);
writeFileSync(join(keys, "admin.pub"), `${adminPub}\n`);
const ctx = { now: new Date(0), previous: () => undefined, keysDir: keys };

function errorOf(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e;
  }
  assert.fail("expected a UserError");
}

describe("wireguard renderer", () => {
  test("public keys derived with node:crypto equal wg pubkey's", () => {
    for (let i = 0; i < 5; i++) {
      const k = genkey();
      assert.equal(publicKeyOf(k), pubkey(k));
    }
  });

  test("one config per host with wireguard: addresses, keys, peers, endpoints; mode 0600", async () => {
    const files = await wireguardRenderer.render(inventory(), ctx);
    assert.deepEqual(
      files.map((f) => [f.path, f.mode]),
      [
        ["wireguard/gw-vpn/wg0.conf", 0o600],
        ["wireguard/mon/wg1.conf", 0o600],
      ],
    );
    const gw = String(files[0]!.content);
    assert.match(gw, /^Address = 10\.99\.0\.1\/24$/m);
    assert.match(gw, /^ListenPort = 51820$/m);
    assert.ok(gw.includes(`PrivateKey = ${gwKey}\n`));
    assert.ok(
      gw.includes(`[Peer]\n# admin\nPublicKey = ${adminPub}\nAllowedIPs = 10.99.0.250/32\n`),
      "admin: key from admin.pub, no endpoint",
    );
    assert.ok(
      gw.includes(
        `[Peer]\n# mon\nPublicKey = ${pubkey(monKey)}\nAllowedIPs = 10.99.0.3/32\nEndpoint = 10.20.0.3:51821\n`,
      ),
      gw,
    );
    const mon = String(files[1]!.content);
    assert.ok(
      mon.includes(`PublicKey = ${pubkey(gwKey)}\nAllowedIPs = 10.99.0.1/32\nEndpoint = 10.20.0.2:51820\n`),
    );
    writeRender(join(dir, "out"), files, ["wireguard"]);
    assert.equal(statSync(join(dir, "out/wireguard/gw-vpn/wg0.conf")).mode & 0o777, 0o600);
  });

  test("wg-quick strip accepts each config, and wg setconf loads it into a wireguard-go interface", async () => {
    const files = await wireguardRenderer.render(inventory(), ctx);
    const ns = `kr-${process.pid % 100000}-wg`;
    spawnSync("ip", ["netns", "del", ns]);
    execFileSync("ip", ["netns", "add", ns]);
    try {
      for (const f of files) {
        const name = f.path.split("/").pop()!;
        const iface = name.replace(/\.conf$/, "");
        const sub = mkdtempSync(join(dir, "strip-"));
        const file = join(sub, name);
        writeFileSync(file, f.content);
        chmodSync(file, 0o600);
        const stripped = execFileSync("wg-quick", ["strip", file], { encoding: "utf8" });
        assert.doesNotMatch(stripped, /^Address/m);
        const wgconf = join(sub, "stripped.conf");
        writeFileSync(wgconf, stripped);
        // wireguard-go daemonizes; its output must not hold our pipes open.
        execFileSync("ip", ["netns", "exec", ns, "wireguard-go", iface], { stdio: "ignore" });
        execFileSync("ip", ["netns", "exec", ns, "wg", "setconf", iface, wgconf]);
        const dump = execFileSync("ip", ["netns", "exec", ns, "wg", "show", iface, "dump"], {
          encoding: "utf8",
        });
        const [self, ...peers] = dump.trim().split("\n");
        assert.equal(self!.split("\t")[0], f.path.includes("gw-vpn") ? gwKey : monKey);
        assert.equal(peers.length, f.path.includes("gw-vpn") ? 2 : 1);
      }
    } finally {
      // Deleting the interfaces ends their wireguard-go daemons.
      for (const iface of ["wg0", "wg1"]) spawnSync("ip", ["netns", "exec", ns, "ip", "link", "del", iface]);
      spawnSync("ip", ["netns", "del", ns]);
    }
  });

  test("no --keys, a missing host key, a missing peer key and a malformed key are errors naming the file", () => {
    const inv = inventory();
    assert.match(
      errorOf(() => wireguardRenderer.render(inv, { ...ctx, keysDir: undefined })).message,
      /^--keys: host gw-vpn has wireguard; expected --keys DIR/,
    );
    const empty = mkdtempSync(join(dir, "empty-"));
    assert.match(
      errorOf(() => wireguardRenderer.render(inv, { ...ctx, keysDir: empty })).message,
      new RegExp(`^${join(empty, "gw-vpn.key")}: missing; expected the WireGuard private key of gw-vpn`),
    );
    const partial = mkdtempSync(join(dir, "partial-"));
    writeFileSync(join(partial, "gw-vpn.key"), gwKey);
    assert.match(
      errorOf(() => wireguardRenderer.render(inv, { ...ctx, keysDir: partial })).message,
      new RegExp(
        `^${join(partial, "admin.pub")}: missing; .* or its private key as ${join(partial, "admin.key")}`,
      ),
    );
    writeFileSync(join(partial, "gw-vpn.key"), "not-a-key\n");
    assert.match(
      errorOf(() => wireguardRenderer.render(inv, { ...ctx, keysDir: partial })).message,
      /gw-vpn\.key: not a WireGuard private key; expected 44 base64 characters/,
    );
  });

  test("a peer without an address on the tunnel network is a located error", () => {
    const inv = inventory();
    inv.vantages.find((v) => v.name === "admin")!.addresses = [];
    assert.match(
      errorOf(() => wireguardRenderer.render(inv, ctx)).message,
      /^test\.yaml:1:1: wireguard peer admin of gw-vpn has no address on gw-vpn's tunnel networks \(vpn\)/,
    );
  });

  test("keel render without a needed key file exits 2 naming it, and writes nothing", () => {
    const site = join(dir, "site");
    mkdirSync(site, { recursive: true });
    const file = join(site, "keel.yaml");
    writeFileSync(
      file,
      stringify({
        keel: 1,
        site: "lab",
        networks: { lan: { cidr: "10.41.30.0/24" }, vpn: { cidr: "10.41.31.0/24" } },
        hosts: {
          gw: {
            address: { lan: "10.41.30.2", vpn: "10.41.31.1" },
            wireguard: { interface: "wg0", port: 51820, peers: ["peer"] },
          },
          peer: { address: { lan: "10.41.30.3", vpn: "10.41.31.2" } },
        },
      }),
    );
    const keysDir = mkdtempSync(join(dir, "k-"));
    writeFileSync(join(keysDir, "gw.key"), gwKey);
    const out = join(dir, "cli-out");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "render",
        file,
        "--out",
        out,
        "--only",
        "wireguard",
        "--keys",
        keysDir,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${join(keysDir, "peer.pub")}: missing`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.throws(() => readFileSync(join(out, "wireguard/gw/wg0.conf")));
    writeFileSync(join(keysDir, "peer.key"), genkey());
    const ok = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "render",
        file,
        "--out",
        out,
        "--only",
        "wireguard",
        "--keys",
        keysDir,
      ],
      { encoding: "utf8" },
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(readFileSync(join(out, "wireguard/gw/wg0.conf"), "utf8"), /AllowedIPs = 10\.41\.31\.2\/32/);
  });
});
