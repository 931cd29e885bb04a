/**
 * `keel apply` (the built CLI) making real machines on a private libvirtd from the Debian test
 * image (scripts/vm-image.sh), under TCG when there is no /dev/kvm: two machines created in
 * parallel boot, take their planned addresses and host names from the rendered cloud-init, let
 * the inventory's key in and pass `keel verify`; a change made with virsh outside Keel is drift
 * and is put back; a memory change is planned as a reboot and applied with a snapshot taken
 * first; an image whose digest does not match is refused and nothing of its machine is left; a
 * host removed from the inventory leaves no domain, volume, cidata image, lock entry or zone
 * record. DNS and DHCP follow: a real BIND (test/helpers/named.ts) starts with the zones of the
 * site before its machines, and `keel apply --render-out DIR --dns-key K --dns-server S` adds the
 * new machines' records to it (RFC 2136) and writes their reservations into DIR, and removes a
 * removed host's.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { tempDir } from "../helpers/daemons.js";
import { type Bridge, createBridge, type Libvirtd, startLibvirtd, vmImage } from "../helpers/libvirt.js";
import { digShort as dig, type Named, startNamed, tsigKeygen } from "../helpers/named.js";
import { runKeel } from "../unit/cli/built.js";

/** Third octet of the test network 10.77.N.0/24 and bridge keelbrN. */
const N = 62;
const GATE = "8m";

describe("keel apply on libvirt with real machines", () => {
  let lv: Libvirtd;
  let bridge: Bridge;
  let dir: string;
  let inv: string;
  let image: string;
  let imageHex: string;
  let pubkey: string;
  let named: Named | undefined;
  /** The TSIG key file named accepts updates with; the directory apply renders DNS and DHCP into. */
  let keyFile: string;
  let out: string;
  /** apply's follow flags: render into `out`, send the zones' changes to `named`. */
  const follow = () => [
    "--render-out",
    out,
    "--dns-key",
    keyFile,
    "--dns-server",
    `127.0.0.1:${named!.port}`,
  ];

  /**
   * The inventory: `hosts` (name → extra vm keys), `extra` appended under images:. The zones'
   * name server `ns` stands for the BIND this test starts on 127.0.0.1: it is on a network no
   * vantage is on and has `ssh: false`, so neither keel verify nor a gate derives a check of it.
   */
  const inventory = (hosts: Record<string, string>, extraImages = ""): string => `keel: 1
site: twin
domain: twin.internal
dns: { servers: [ns] }
networks:
  lan: { cidr: 10.77.${N}.0/24, gateway: 10.77.${N}.1 }
  infra: { cidr: 10.78.${N}.0/24 }
hypervisors:
  vega: { driver: libvirt, uri: "${lv.uri}", dir: ${dir}/pool, networks: { lan: ${bridge.name} }, domain_type: qemu }
images:
  debian-12: { path: ${image}, sha256: ${imageHex} }
${extraImages}defaults:
  ssh: { user: keel, identity: ${dir}/id_ed25519, known_hosts: ${dir}/known_hosts }
  vm:
    hypervisor: vega
    image: debian-12
    vcpus: 2
    memory: 1024
    disk: 4
    users: [{ name: keel, sudo: true, ssh_authorized_keys: ["${pubkey}"] }]
hosts:
  ns: { address: { infra: 10.78.${N}.53 }, ssh: false }
${Object.entries(hosts)
  .map(
    ([name, vm], i) =>
      `  ${name}: { address: { lan: 10.77.${N}.${11 + i} }, listeners: { ignore: [127.0.0.0/8, "::1"] }, vm: { ${vm} } }`,
  )
  .join("\n")}
vantages:
  admin: { local: true, networks: [lan] }
`;

  const write = (text: string) => writeFileSync(inv, text);
  const domains = async () =>
    (await lv.virsh("list", "--all", "--name"))
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const volumes = async () =>
    (await lv.virsh("vol-list", "--pool", "keel-twin-vega"))
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0]!)
      .filter((n) => n !== "" && n !== "Name" && !/^-+$/.test(n))
      .sort();

  before(async () => {
    assert.equal(process.getuid?.(), 0, "the VM tests need root (libvirtd, bridges, tap devices)");
    image = vmImage();
    imageHex = readFileSync(`${image}.sha256`, "utf8").trim().split(/\s+/)[0]!;
    lv = await startLibvirtd();
    bridge = createBridge(N);
    dir = tempDir("keel-apply-");
    mkdirSync(join(dir, "pool"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_ed25519")]);
    pubkey = readFileSync(join(dir, "id_ed25519.pub"), "utf8").trim();
    inv = join(dir, "keel.yaml");
    keyFile = join(dir, "keel-apply.key");
    writeFileSync(keyFile, tsigKeygen("keel-apply"), { mode: 0o600 });
    out = join(dir, "out");
    // BIND serving the site's zones as they are before its machines: without app-1 and app-2
    write(inventory({}));
    const zones = join(dir, "zones-before");
    const r = await runKeel("render", inv, "--out", zones, "--only", "dns");
    assert.equal(r.code, 0, r.stderr);
    named = await startNamed(
      [`twin.internal`, `${N}.77.10.in-addr.arpa`, `${N}.78.10.in-addr.arpa`].map((name) => ({
        name,
        file: join(zones, "dns", `db.${name}`),
        update: true,
      })),
      readFileSync(keyFile, "utf8"),
      "keel-apply",
    );
    assert.deepEqual(dig(named, "app-1.twin.internal", "A"), []);
  });

  after(async () => {
    await named?.stop();
    await lv?.stop();
    bridge?.destroy();
  });

  test("two machines created in parallel boot with their planned addresses and names, and pass keel verify", async () => {
    write(inventory({ "app-1": "", "app-2": "" }));
    const r = await runKeel("apply", inv, "--yes", "--parallel", "2", "--gate-timeout", GATE, ...follow());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^\+ app-1 on vega: create$/m);
    assert.match(r.stdout, /^ {2}app-1 on vega: create done in [\d.]+ s: gate: \d+ checks passed$/m);
    assert.match(r.stdout, /^ {2}app-2 on vega: create done in [\d.]+ s: gate: \d+ checks passed$/m);
    assert.deepEqual(await domains(), ["app-1", "app-2"]);
    // DNS and DHCP followed: named answers the new machines' planned addresses, and DIR holds
    // their reservations with the MACs apply recorded in keel.lock
    assert.match(
      r.stdout,
      /\nDNS and DHCP:\n {2}rendered dns, dhcp into \S+: \d+ files changed, 0 unchanged\n/,
    );
    assert.match(
      r.stdout,
      new RegExp(`^ {4}\\+ app-1\\.twin\\.internal\\. 3600 A 10\\.77\\.${N}\\.11$`, "m"),
    );
    assert.match(r.stdout, /^ {2}applied 4 changes in 2 zones$/m);
    assert.deepEqual(dig(named!, "app-1.twin.internal", "A"), [`10.77.${N}.11`]);
    assert.deepEqual(dig(named!, "app-2.twin.internal", "A"), [`10.77.${N}.12`]);
    assert.deepEqual(dig(named!, `12.${N}.77.10.in-addr.arpa`, "PTR"), ["app-2.twin.internal."]);
    const lock = readFileSync(join(dir, "keel.lock"), "utf8");
    const dnsmasq = readFileSync(join(out, "dhcp", "dnsmasq.conf"), "utf8");
    const kea = readFileSync(join(out, "dhcp", "kea-dhcp4.conf"), "utf8");
    for (const [host, addr] of [
      ["app-1", `10.77.${N}.11`],
      ["app-2", `10.77.${N}.12`],
    ] as const) {
      const mac = new RegExp(`^ {2}${host}: "?([0-9a-f:]{17})"?$`, "m").exec(lock)?.[1];
      assert.ok(mac !== undefined, `${host}'s MAC in keel.lock:\n${lock}`);
      assert.match(dnsmasq, new RegExp(`^dhcp-host=${mac},${addr.replace(/\./g, "\\.")},${host}$`, "m"));
      assert.ok(kea.includes(`"hw-address": "${mac}"`), kea);
      assert.match(await lv.virsh("domiflist", host), new RegExp(mac));
    }
    // the machines took the rendered names and addresses: ask them over SSH with the inventory's key
    for (const [host, addr] of [
      ["app-1", `10.77.${N}.11`],
      ["app-2", `10.77.${N}.12`],
    ] as const) {
      const out = execFileSync(
        "ssh",
        [
          "-i",
          join(dir, "id_ed25519"),
          "-o",
          `UserKnownHostsFile=${dir}/known_hosts`,
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          "BatchMode=yes",
          `keel@${addr}`,
          "hostname; ip -4 -o addr show eth0",
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.match(out, new RegExp(`^${host}\\n`));
      assert.match(out, new RegExp(`inet ${addr.replace(/\./g, "\\.")}/24`));
    }
    const v = await runKeel("verify", inv, "--no-history");
    assert.equal(v.code, 0, v.stdout);
    // recorded: the allocated MACs in keel.lock, each step in the journal
    assert.match(readFileSync(join(dir, "keel.lock"), "utf8"), /app-1/);
    const journal = readFileSync(join(dir, ".keel", "journal.jsonl"), "utf8");
    assert.match(journal, /"step":"domain.define"/);
    assert.match(journal, /"step":"machine.done"/);
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 0, p.stdout);
  });

  test("a change made with virsh outside Keel is drift; apply puts it back in place", async () => {
    await lv.virsh("autostart", "--disable", "app-1");
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 3, p.stdout);
    assert.match(
      p.stdout,
      /~ app-1 on vega: update in place\n {4}autostart: false -> true \(changed outside Keel\)/,
    );
    assert.match(p.stdout, /app-1 on vega: autostart is false, Keel applied true/);
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", GATE);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(await lv.virsh("dominfo", "app-1"), /^Autostart:\s+enable$/m);
  });

  test("an image whose digest does not match is refused, naming both digests, and nothing of its machine is made", async () => {
    const wrong = "f".repeat(64);
    write(
      inventory(
        { "app-1": "", "app-2": "", "app-3": "image: tampered" },
        `  tampered: { path: ${image}, sha256: ${wrong} }\n`,
      ),
    );
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", GATE);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `app-3 on vega: create FAILED in [\\d.]+ s: image "tampered": sha256 of ${image.replace(/[.]/g, "\\.")} is ${imageHex}, but the inventory declares ${wrong}; the image is not used`,
      ),
    );
    assert.deepEqual(await domains(), ["app-1", "app-2"]);
    assert.ok(!(await volumes()).some((v) => v.startsWith("app-3")));
  });

  test("a memory change is planned as a reboot with a snapshot, and applied with the snapshot taken first", async () => {
    write(inventory({ "app-1": "", "app-2": "memory: 1536" }));
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 3, p.stdout);
    assert.match(
      p.stdout,
      /~ app-2 on vega: update with reboot\n {4}memory: 1024 MiB -> 1536 MiB\n[^\n]*\n {4}a snapshot is taken first/,
    );
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", GATE);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /app-2 on vega: reboot done in [\d.]+ s: gate: \d+ checks passed \(snapshot keel-\d{8}T\d{6}Z\)/,
    );
    assert.match(await lv.virsh("dominfo", "app-2"), /^Max memory:\s+1572864 KiB$/m);
    assert.match(await lv.virsh("snapshot-list", "app-2", "--name"), /^keel-\d{8}T\d{6}Z$/m);
    const journal = readFileSync(join(dir, ".keel", "journal.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; host?: string; step?: string });
    const order = journal.filter((x) => x.type === "intent" && x.host === "app-2").map((x) => x.step);
    const last = order.slice(order.lastIndexOf("domain.shutdown"));
    assert.deepEqual(last.slice(0, 3), ["domain.shutdown", "snapshot.create", "domain.define"]);
  });

  test("keel snapshots lists the rollback point; keel vm stops, reports and starts; keel rollback reverts and gates again", async () => {
    const snaps = await runKeel("snapshots", inv, "app-2");
    assert.equal(snaps.code, 0, snaps.stderr);
    assert.match(
      snaps.stdout,
      /^app-2 {2}keel-\d{8}T\d{6}Z {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}keel: before changing app-2$/m,
    );
    const stop = await runKeel("vm", "stop", inv, "app-1");
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    assert.match(
      (await runKeel("vm", "status", inv, "app-1")).stdout,
      /^app-1 on vega: shut off; 2 vcpus, 1024 MiB, 4 GiB; autostart on; mac 02:/m,
    );
    const start = await runKeel("vm", "start", inv, "app-1");
    assert.equal(start.code, 0, start.stdout + start.stderr);
    assert.equal((await lv.virsh("domstate", "app-1")).trim(), "running");
    const rb = await runKeel("rollback", inv, "app-2", "--yes", "--gate-timeout", GATE);
    assert.equal(rb.code, 0, rb.stdout + rb.stderr);
    assert.match(rb.stdout, /app-2: reverted to keel-\d{8}T\d{6}Z; gate: \d+ checks passed/);
    // the definition saved with the snapshot is back: the memory change is undone, and planned again
    assert.match(await lv.virsh("dominfo", "app-2"), /^Max memory:\s+1048576 KiB$/m);
    const p = await runKeel("plan", inv);
    assert.match(p.stdout, /~ app-2 on vega: update with reboot\n {4}memory: 1024 MiB -> 1536 MiB\n/);
  });

  test("a host removed from the inventory leaves no domain, volume, cidata image, lock entry or zone record", async () => {
    const render = async (to: string) => {
      const r = await runKeel("render", inv, "--out", to, "--only", "dns");
      assert.equal(r.code, 0, r.stderr);
      return readdirSync(join(to, "dns"))
        .map((f) => readFileSync(join(to, "dns", f), "utf8"))
        .join("\n");
    };
    const zonesBefore = await render(join(dir, "out-before"));
    assert.match(zonesBefore, /app-2/);
    const seedsBefore = readdirSync(join(dir, ".keel", "cidata"));
    write(inventory({ "app-1": "" }));
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", GATE, ...follow());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^- app-2 on vega: delete$/m);
    // DNS and DHCP followed: app-2's records left named and the files in DIR
    assert.match(r.stdout, new RegExp(`^ {4}- app-2\\.twin\\.internal\\. 3600 A 10\\.77\\.${N}\\.12$`, "m"));
    assert.deepEqual(dig(named!, "app-2.twin.internal", "A"), []);
    assert.deepEqual(dig(named!, `12.${N}.77.10.in-addr.arpa`, "PTR"), []);
    assert.deepEqual(dig(named!, "app-1.twin.internal", "A"), [`10.77.${N}.11`]);
    for (const f of [
      "dns/db.twin.internal",
      `dns/db.${N}.77.10.in-addr.arpa`,
      "dhcp/dnsmasq.conf",
      "dhcp/kea-dhcp4.conf",
    ])
      assert.doesNotMatch(readFileSync(join(out, f), "utf8"), /app-2/, f);
    assert.match(readFileSync(join(out, "dns", "db.twin.internal"), "utf8"), /^app-1\s/m);
    assert.deepEqual(await domains(), ["app-1"]);
    assert.ok(!(await volumes()).some((v) => v.startsWith("app-2")), (await volumes()).join(", "));
    assert.ok(!readFileSync(join(dir, "keel.lock"), "utf8").includes("app-2"));
    const seedsAfter = readdirSync(join(dir, ".keel", "cidata"));
    assert.equal(seedsAfter.length, 1, `${seedsBefore.join(", ")} -> ${seedsAfter.join(", ")}`);
    assert.doesNotMatch(await render(join(dir, "out-after")), /app-2/);
    assert.ok(existsSync(join(dir, ".keel", "journal.jsonl")));
  });

  test("keel destroy removes a machine now, with its volumes and cidata image; the next plan creates it again", async () => {
    const r = await runKeel("destroy", inv, "app-1", "--yes");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^- app-1 on vega: delete \(running\)$/m);
    assert.deepEqual(await domains(), []);
    assert.deepEqual(await volumes(), [`keel-image-debian-12-${imageHex.slice(0, 12)}.qcow2`]);
    assert.deepEqual(readdirSync(join(dir, ".keel", "cidata")), []);
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 3);
    assert.match(p.stdout, /^\+ app-1 on vega: create$/m);
  });
});
