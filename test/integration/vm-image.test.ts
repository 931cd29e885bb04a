/**
 * The VM test infrastructure end to end, with Keel's own cloud-init renderer: the Debian test
 * image (scripts/vm-image.sh) booted by a private libvirtd from a qcow2 overlay, seeded with the
 * `cidata.iso` the built `keel render` writes, comes up at its planned static address on a test
 * bridge and lets the inventory's user in over SSH with the inventory's key. Runs under TCG on
 * every machine, as the other VM tests do (docs/testing.md: a /dev/kvm may be there and unusable).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { waitForPort } from "../helpers/daemons.js";
import { type Bridge, createBridge, type Libvirtd, startLibvirtd, vmImage } from "../helpers/libvirt.js";
import { runKeel } from "../unit/cli/built.js";

/** Third octet of the test network 10.77.N.0/24 and the bridge keelbrN. */
const N = 61;
const HOST = "vmt-1";
const ADDRESS = `10.77.${N}.10`;
const BOOT_DEADLINE_MS = 4 * 60_000;

const tmp = mkdtempSync(join(tmpdir(), "keel-vmimage-"));

/** The domain: the overlay as a virtio disk, the seed as an IDE CD-ROM, one virtio NIC on the bridge, the serial console to a file. */
function domainXml(o: {
  name: string;
  disk: string;
  iso: string;
  mac: string;
  bridge: string;
  console: string;
}): string {
  return `<domain type='qemu'>
  <name>${o.name}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${o.disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${o.iso}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <mac address='${o.mac}'/>
      <source bridge='${o.bridge}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='${o.console}'/>
      <target port='0'/>
    </serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
`;
}

describe("the Debian test image boots from Keel's cloud-init seed", () => {
  let libvirt: Libvirtd | undefined;
  let bridge: Bridge | undefined;
  let image = "";
  const consoleLog = join(tmp, "console.log");

  before(() => {
    assert.equal(process.getuid?.(), 0, "the VM tests need root (libvirtd, bridges, tap devices)");
    const t0 = Date.now();
    image = vmImage();
    console.log(`# image ${image} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  after(async () => {
    await libvirt?.stop();
    bridge?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("a VM from an overlay of the image comes up at its planned address and the inventory's user logs in with the inventory's key", {
    timeout: 10 * 60_000,
  }, async (t) => {
    const key = join(tmp, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "keel-vm-test", "-f", key]);
    const pub = readFileSync(`${key}.pub`, "utf8").trim();
    bridge = createBridge(N);
    const inv = join(tmp, "keel.yaml");
    writeFileSync(
      inv,
      `keel: 1
site: vmtest
networks:
  lan: { cidr: ${bridge.cidr}, gateway: ${bridge.address} }
hosts:
  ${HOST}:
    address: { lan: ${ADDRESS} }
    vm:
      mac: auto
      users:
        - name: keel
          ssh_authorized_keys: [${JSON.stringify(pub)}]
          sudo: true
`,
    );
    const out = join(tmp, "out");
    const r = await runKeel("render", inv, "--out", out, "--only", "cloud-init");
    assert.equal(r.code, 0, r.stderr);
    const seed = join(out, "cloud-init", HOST);
    const net = JSON.parse(readFileSync(join(seed, "network-config"), "utf8"));
    const mac: string = net.ethernets.eth0.match.macaddress;
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);

    libvirt = await startLibvirtd();
    const overlay = join(tmp, `${HOST}.qcow2`);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, overlay, "4G"]);
    const xml = join(tmp, `${HOST}.xml`);
    writeFileSync(
      xml,
      domainXml({
        name: HOST,
        disk: overlay,
        iso: join(seed, "cidata.iso"),
        mac,
        bridge: bridge.name,
        console: consoleLog,
      }),
    );
    await libvirt.virsh("define", xml);
    const t0 = Date.now();
    await libvirt.virsh("start", HOST);
    try {
      await waitForPort(ADDRESS, 22, BOOT_DEADLINE_MS);
      const up = Date.now() - t0;
      const known = join(tmp, "known_hosts");
      const ssh = (command: string) =>
        execFileSync(
          "ssh",
          [
            "-i",
            key,
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            `UserKnownHostsFile=${known}`,
            "-o",
            "ConnectTimeout=10",
            `keel@${ADDRESS}`,
            command,
          ],
          { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 },
        );
      // sshd can accept connections a moment before cloud-init has written the user's keys
      let got = "";
      let attempts = 0;
      const until = Date.now() + 60_000;
      for (;;) {
        try {
          attempts++;
          got = ssh("hostname; sudo -n true && echo sudo-ok");
          break;
        } catch (e) {
          if (Date.now() > until) throw e;
          await new Promise((res) => setTimeout(res, 2000));
        }
      }
      const login = Date.now() - t0;
      t.diagnostic(
        `TCG: port 22 open ${(up / 1000).toFixed(1)} s after start, ssh login ${(login / 1000).toFixed(1)} s (attempt ${attempts})`,
      );
      assert.deepEqual(got.trim().split("\n"), [HOST, "sudo-ok"]);
      // cloud-init renders network config v2 to systemd-networkd in this image, and renames the
      // NIC to the name Keel's config gives it
      assert.match(ssh("ls /etc/systemd/network/"), /^10-cloud-init-eth0\.network$/m);
      assert.match(ssh("ip -br addr show eth0"), new RegExp(` ${ADDRESS.replaceAll(".", "\\.")}/24\\b`));
      // growpart and resizefs took the root file system to the overlay's 4 GiB
      assert.ok(Number(ssh("findmnt -bno SIZE /")) > 3.5 * 2 ** 30, "the root file system was not grown");
      // every cloud-init stage ran without an error (result.json is written when the last ends)
      const result = JSON.parse(ssh("cloud-init status --wait >/dev/null; cat /run/cloud-init/result.json"));
      assert.deepEqual(result.v1.errors, [], JSON.stringify(result));
      assert.match(result.v1.datasource, /NoCloud/);
      t.diagnostic(ssh("systemd-analyze; systemd-analyze blame | head -8").trim());
    } catch (e) {
      const tail = existsSync(consoleLog)
        ? readFileSync(consoleLog, "utf8").split("\n").slice(-60).join("\n")
        : "";
      throw new Error(`${(e as Error).message}\n--- serial console (last 60 lines) ---\n${tail}`);
    }
  });
});
