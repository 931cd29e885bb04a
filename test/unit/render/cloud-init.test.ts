/**
 * The cloud-init renderer: `cloud-init schema` accepts user-data and network-config, meta-data
 * carries a stable instance-id that changes only with `vm.instance`, and `cidata.iso` has volume
 * id `cidata` (isoinfo), holds the three files, and is byte-identical across renders made at
 * different times.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import type { Inventory } from "../../../src/inventory/model.js";
import { cidataIsoTo, cloudInitRenderer } from "../../../src/render/cloud-init.js";
import { sha256Hex } from "../../../src/render/digest.js";
import { isKept, isStaged, type RenderContext, type RenderedFile } from "../../../src/render/types.js";
import { contractExample, host } from "../../helpers/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "keel-render-ci-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { now: new Date(0), previous: () => undefined };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIc7xv0wPmMdzYy8KCUVXGk8nS2cH8m8e3kfJ3F1GtXq ops@lab";

function inventory(instance = 1): Inventory {
  const inv = contractExample();
  inv.networks[0]!.cidr = "10.41.20.0/24";
  inv.networks[0]!.gateway = "10.41.20.1";
  inv.hosts.find((h) => h.name === "ns1")!.addresses = [{ network: "lan", address: "10.41.20.4" }];
  inv.hosts.push(
    host(
      "web-1",
      { lan: "10.41.20.128" },
      {
        vm: {
          mac: "02:6b:65:1a:2b:3c",
          macAllocated: false,
          pos: inv.hosts[0]!.pos,
          instance,
          users: [
            { name: "ops", sshAuthorizedKeys: [KEY], sudo: true },
            { name: "audit", sshAuthorizedKeys: [KEY], sudo: false },
          ],
          packages: ["qemu-guest-agent", "nginx"],
          packageUpgrade: true,
        },
      },
    ),
  );
  return inv;
}

const get = (files: RenderedFile[], p: string) => files.find((f) => f.path === p)!.content;

function schema(content: string) {
  const file = join(dir, `cloud-config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, content);
  return spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
}

/** The renderer's files; without `ctx.exists` it never keeps an image, so every output has bytes. */
async function render(inv: Inventory, c: RenderContext = ctx): Promise<RenderedFile[]> {
  const out = await cloudInitRenderer.render(inv, c);
  return out.map((f) => {
    if (isKept(f)) throw new Error(`${f.path} kept without ctx.exists`);
    if (isStaged(f)) throw new Error(`${f.path} staged without ctx.stageDir`);
    return f;
  });
}

describe("cloud-init renderer", async () => {
  const files = await render(inventory());

  test("only VMs get seeds: user-data, meta-data, network-config, cidata.iso", () => {
    assert.deepEqual(
      files.map((f) => f.path),
      ["user-data", "meta-data", "network-config", "cidata.iso"].map((n) => `cloud-init/web-1/${n}`),
    );
  });

  test("cloud-init schema accepts user-data; users, keys, sudo, packages, package_upgrade", () => {
    const ud = String(get(files, "cloud-init/web-1/user-data"));
    assert.ok(ud.startsWith("#cloud-config\n"));
    const r = schema(ud);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const doc = parse(ud);
    assert.deepEqual(doc.users[0], {
      name: "ops",
      shell: "/bin/bash",
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      ssh_authorized_keys: [KEY],
    });
    assert.equal(doc.users[1].sudo, undefined);
    assert.deepEqual(doc.packages, ["qemu-guest-agent", "nginx"]);
    assert.equal(doc.package_upgrade, true);
    assert.equal(doc.ssh_pwauth, false);
  });

  test("cloud-init schema rejects a broken user-data (the check is real)", () => {
    const r = schema("#cloud-config\nusers: 5\npackage_upgrade: maybe\n");
    assert.notEqual(r.status, 0);
  });

  test("network-config v2: matched by MAC, static address, gateway, resolvers; cloud-init net-convert reads it", () => {
    const nc = String(get(files, "cloud-init/web-1/network-config"));
    const doc = parse(nc);
    assert.deepEqual(doc, {
      version: 2,
      ethernets: {
        eth0: {
          match: { macaddress: "02:6b:65:1a:2b:3c" },
          "set-name": "eth0",
          addresses: ["10.41.20.128/24"],
          routes: [{ to: "0.0.0.0/0", via: "10.41.20.1" }],
          nameservers: { addresses: ["10.41.20.4"], search: ["lab.internal"] },
        },
      },
    });
    // cloud-init 22.4 (Debian 12) has no network-config schema; its own v2 parser, through
    // `cloud-init devel net-convert`, must read it and write the same interface for Debian.
    const src = join(dir, "network-config");
    writeFileSync(src, nc);
    const out = mkdtempSync(join(dir, "net-convert-"));
    execFileSync(
      "cloud-init",
      ["devel", "net-convert", "-p", src, "-k", "yaml", "-D", "debian", "-d", out, "-O", "eni"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const eni = readFileSync(join(out, "etc/network/interfaces.d/50-cloud-init"), "utf8");
    assert.match(eni, /iface eth0 inet static\n\s+address 10\.41\.20\.128\/24/);
    assert.match(eni, /dns-nameservers 10\.41\.20\.4/);
    assert.match(eni, /gateway 10\.41\.20\.1|route add default gw 10\.41\.20\.1|via 10\.41\.20\.1/);
    const udev = readFileSync(join(out, "etc/udev/rules.d/70-persistent-net.rules"), "utf8");
    assert.match(udev, /ATTR\{address\}=="02:6b:65:1a:2b:3c", NAME="eth0"/);
  });

  test("instance-id is stable and changes only when vm.instance is bumped", async () => {
    const md = (inv: Inventory) => render(inv);
    const a = parse(String(get(await md(inventory(1)), "cloud-init/web-1/meta-data")));
    const b = parse(String(get(await md(inventory(1)), "cloud-init/web-1/meta-data")));
    const c = parse(String(get(await md(inventory(2)), "cloud-init/web-1/meta-data")));
    assert.deepEqual(a, { "instance-id": "keel-lab-web-1-1", "local-hostname": "web-1" });
    assert.deepEqual(b, a);
    assert.equal(c["instance-id"], "keel-lab-web-1-2");
  });

  test("cidata.iso: volume id cidata, the three files, same bytes when rendered a second later", async () => {
    const iso = get(files, "cloud-init/web-1/cidata.iso") as Uint8Array;
    const file = join(dir, "cidata.iso");
    writeFileSync(file, iso);
    const info = execFileSync("isoinfo", ["-d", "-i", file], { encoding: "utf8" });
    assert.match(info, /^Volume id: cidata$/m);
    assert.match(info, /Rock Ridge signatures version/);
    assert.match(info, /Joliet with UCS level 3/);
    const listing = execFileSync("isoinfo", ["-R", "-f", "-i", file], { encoding: "utf8" });
    assert.deepEqual(listing.trim().split("\n").sort(), ["/meta-data", "/network-config", "/user-data"]);
    const ud = execFileSync("isoinfo", ["-R", "-x", "/user-data", "-i", file], { encoding: "utf8" });
    assert.equal(ud, get(files, "cloud-init/web-1/user-data"));
    await new Promise((r) => setTimeout(r, 1100));
    const again = await render(inventory());
    assert.ok(Buffer.from(iso).equals(Buffer.from(get(again, "cloud-init/web-1/cidata.iso") as Uint8Array)));
  });
});

test("an image whose three files did not change is kept, not rebuilt; a change rebuilds it", async () => {
  const first = await render(inventory());
  const byPath = new Map(first.map((f) => [f.path, f.content]));
  const onDisk: RenderContext = {
    now: new Date(),
    previous: (p) => {
      const c = byPath.get(p);
      return typeof c === "string" ? c : undefined;
    },
    exists: (p) => byPath.has(p),
  };
  const again = await cloudInitRenderer.render(inventory(), onDisk);
  const iso = again.find((f) => f.path === "cloud-init/web-1/cidata.iso")!;
  assert.ok(isKept(iso), "unchanged inputs: the image on disk is kept");
  const changed = inventory();
  changed.hosts.find((h) => h.name === "web-1")!.vm!.packages.push("htop");
  const rebuilt = (await cloudInitRenderer.render(changed, onDisk)).find((f) =>
    f.path.endsWith("cidata.iso"),
  )!;
  assert.ok(
    !isKept(rebuilt) &&
      !isStaged(rebuilt) &&
      rebuilt.content instanceof Uint8Array &&
      rebuilt.content.length > 0,
  );
  const gone: RenderContext = { ...onDisk, exists: () => false };
  const missing = (await cloudInitRenderer.render(inventory(), gone)).find((f) =>
    f.path.endsWith("cidata.iso"),
  )!;
  assert.ok(!isKept(missing), "an image missing from the directory is built again");
});

test("a MAC of decimal digits is quoted: PyYAML (YAML 1.1, what cloud-init reads with) gets the string back", async () => {
  // 02:12:34:56:10:20 is a base-60 integer in YAML 1.1 when written plain
  const inv = inventory();
  const mac = "02:12:34:56:10:20";
  inv.hosts.find((h) => h.name === "web-1")!.vm!.mac = mac;
  const nc = get(await render(inv), "cloud-init/web-1/network-config") as string;
  const read = execFileSync(
    "python3",
    ["-c", "import sys, yaml; print(yaml.safe_load(sys.stdin)['ethernets']['eth0']['match']['macaddress'])"],
    { input: nc, encoding: "utf8" },
  );
  assert.equal(read.trim(), mac);
});

test("meta-data and network-config are JSON, which PyYAML (cloud-init's reader) reads as the same document", async () => {
  const files = await render(inventory());
  for (const name of ["meta-data", "network-config"]) {
    const text = get(files, `cloud-init/web-1/${name}`) as string;
    const asJson = JSON.parse(text) as unknown;
    const viaPyYaml = execFileSync(
      "python3",
      ["-c", "import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))"],
      { input: text, encoding: "utf8" },
    );
    assert.deepEqual(JSON.parse(viaPyYaml), asJson, name);
  }
  assert.deepEqual(JSON.parse(get(files, "cloud-init/web-1/meta-data") as string), {
    "instance-id": "keel-lab-web-1-1",
    "local-hostname": "web-1",
  });
});

test("the manifest's digests decide whether an image is kept, without the files on disk", async () => {
  const first = await render(inventory());
  const digests = new Map(
    first.filter((f) => typeof f.content === "string").map((f) => [f.path, sha256Hex(f.content)]),
  );
  const byDigest: RenderContext = {
    now: new Date(),
    previous: () => {
      throw new Error("previous() read although the manifest had a digest");
    },
    previousDigest: (p) => digests.get(p),
    exists: () => true,
  };
  const again = await cloudInitRenderer.render(inventory(), byDigest);
  assert.ok(isKept(again.find((f) => f.path === "cloud-init/web-1/cidata.iso")!));
  const changed = inventory();
  changed.hosts.find((h) => h.name === "web-1")!.vm!.packages.push("htop");
  const rebuilt = (await cloudInitRenderer.render(changed, byDigest)).find((f) =>
    f.path.endsWith("cidata.iso"),
  )!;
  assert.ok(!isKept(rebuilt), "a digest that differs rebuilds the image");
});

test("cidataIsoTo into a stage whose path has = and \\ (graft-point syntax): the image has the three seeds, and none is left in the stage", async () => {
  const work = mkdtempSync(join(dir, "a=b\\c-"));
  const seeds = {
    "user-data": "#cloud-config\n{}\n",
    "meta-data": '{"instance-id": "i-1"}\n',
    "network-config": '{"version": 2}\n',
  };
  const out = join(work, "vm-1.iso");
  const { size, sha256 } = await cidataIsoTo(seeds, out, work);
  const bytes = readFileSync(out);
  assert.equal(size, bytes.length);
  assert.equal(sha256, sha256Hex(bytes));
  for (const [name, content] of Object.entries(seeds))
    assert.equal(execFileSync("isoinfo", ["-R", "-x", `/${name}`, "-i", out], { encoding: "utf8" }), content);
  assert.deepEqual(readdirSync(work), ["vm-1.iso"], "the seed files are removed");
  // every timestamp normalised: the same seeds a second later give the same bytes
  await new Promise((r) => setTimeout(r, 1100));
  const again = join(work, "vm-1-again.iso");
  await cidataIsoTo(seeds, again, work);
  assert.ok(readFileSync(again).equals(bytes));
});
