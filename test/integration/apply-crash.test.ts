/**
 * `keel apply` killed (SIGKILL, its whole process group: keel and the virsh it runs) at every
 * step in turn, on a private libvirtd with the Debian test image: each kill lands just after the
 * step's intent reached the journal; the next `keel plan` says what is unfinished, and the next
 * `keel apply` picks it up. The create chain kills a run at each of the create steps in order
 * (each run finishing what the one before left, then stopping at the next step); the last run
 * ends with the machine up, through its gate, and nothing orphaned: one domain, its root and
 * seed volumes, the image, one cidata image in `.keel/cidata`, no partial files. The delete
 * chain does the same for a removal and ends with nothing of the machine left.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { tempDir } from "../helpers/daemons.js";
import { type Bridge, createBridge, type Libvirtd, startLibvirtd, vmImage } from "../helpers/libvirt.js";
import { CLI, ensureBuilt, runKeel } from "../unit/cli/built.js";

const N = 63;
const HOST = "crash-1";
const CREATE_STEPS = [
  "pool.define",
  "image.upload",
  "root.create",
  "seed.upload",
  "domain.define",
  "domain.autostart",
  "domain.start",
  "machine.gate",
  "machine.done",
];
const DELETE_STEPS = ["domain.destroy", "domain.undefine", "volume.delete", "machine.removed"];

interface Record {
  run: string;
  seq: number;
  type: string;
  step?: string;
  host?: string;
}

describe("keel apply killed at every step", () => {
  let lv: Libvirtd;
  let bridge: Bridge;
  let dir: string;
  let inv: string;
  let image: string;
  let imageHex: string;
  let pubkey: string;
  const journalPath = () => join(dir, ".keel", "journal.jsonl");

  const inventory = (withHost: boolean) => `keel: 1
site: crash
networks:
  lan: { cidr: 10.77.${N}.0/24, gateway: 10.77.${N}.1 }
hypervisors:
  vega: { driver: libvirt, uri: "${lv.uri}", dir: ${dir}/pool, networks: { lan: ${bridge.name} }, domain_type: qemu }
images:
  debian-12: { path: ${image}, sha256: ${imageHex} }
defaults:
  ssh: { user: keel, identity: ${dir}/id_ed25519, known_hosts: ${dir}/known_hosts }
hosts:
  ${withHost ? HOST : "other"}: { address: { lan: 10.77.${N}.11 }, listeners: { ignore: [127.0.0.0/8, "::1"] }, ${
    withHost
      ? `vm: { hypervisor: vega, image: debian-12, vcpus: 2, memory: 1024, disk: 4, users: [{ name: keel, sudo: true, ssh_authorized_keys: ["${pubkey}"] }] }`
      : "ssh: false"
  } }
vantages:
  admin: { local: true, networks: [lan] }
`;

  const records = (): Record[] =>
    existsSync(journalPath())
      ? readFileSync(journalPath(), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .flatMap((l) => {
            try {
              return [JSON.parse(l) as Record];
            } catch {
              return []; // a torn last line
            }
          })
      : [];

  /** Runs `keel apply --yes` and SIGKILLs its process group once `step`'s intent is in the journal; resolves with the run's id. */
  const applyKilledAt = (step: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const seen = new Set(records().map((r) => r.run));
      const child = spawn(process.execPath, [CLI, "apply", inv, "--yes", "--gate-timeout", "8m"], {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        out += c.toString();
      });
      const timer = setInterval(() => {
        const mine = records().filter((r) => !seen.has(r.run));
        const hit = mine.find((r) => r.type === "intent" && r.step === step);
        if (hit) {
          clearInterval(timer);
          process.kill(-child.pid!, "SIGKILL");
          resolve(hit.run);
        }
      }, 5);
      child.on("exit", (code) => {
        clearInterval(timer);
        if (!child.killed && code !== null)
          reject(new Error(`apply ended (exit ${code}) before step ${step}:\n${out}`));
      });
    });

  const domains = async () =>
    (await lv.virsh("list", "--all", "--name"))
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  const volumes = async () =>
    (await lv.virsh("vol-list", "--pool", "keel-crash-vega"))
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0]!)
      .filter((n) => n !== "" && n !== "Name" && !/^-+$/.test(n))
      .sort();
  const stateFiles = (sub: string) =>
    existsSync(join(dir, ".keel", sub)) ? readdirSync(join(dir, ".keel", sub)) : [];

  before(async () => {
    assert.equal(process.getuid?.(), 0, "the VM tests need root (libvirtd, bridges, tap devices)");
    ensureBuilt();
    image = vmImage();
    imageHex = readFileSync(`${image}.sha256`, "utf8").trim().split(/\s+/)[0]!;
    lv = await startLibvirtd();
    bridge = createBridge(N);
    dir = tempDir("keel-crash-");
    mkdirSync(join(dir, "pool"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_ed25519")]);
    pubkey = readFileSync(join(dir, "id_ed25519.pub"), "utf8").trim();
    inv = join(dir, "keel.yaml");
  });

  after(async () => {
    await lv?.stop();
    bridge?.destroy();
  });

  test("a create killed at each step in turn is finished by the next apply, with nothing orphaned", async () => {
    writeFileSync(inv, inventory(true));
    // true when the last killed run ended before its kill (possible only at machine.done)
    let endedBeforeKill = false;
    for (const step of CREATE_STEPS) {
      endedBeforeKill = false;
      const run = await applyKilledAt(step);
      const mine = records().filter((r) => r.run === run);
      // the kill landed at this step: it is the run's last intent, without a result
      assert.equal(mine.filter((r) => r.type === "intent").at(-1)?.step, step);
      const p = await runKeel("plan", inv);
      if (mine.some((r) => r.type === "run-end")) {
        // the last step does nothing on the hypervisor: the run could end before the kill came,
        // and then nothing is unfinished
        assert.equal(step, "machine.done");
        assert.equal(p.code, 0, `after a kill at ${step}:\n${p.stdout}${p.stderr}`);
        endedBeforeKill = true;
        continue;
      }
      assert.equal(p.code, 3, `after a kill at ${step}:\n${p.stdout}${p.stderr}`);
      assert.match(p.stdout, new RegExp(`${HOST} on vega: (create|finish what an earlier apply started)\\n`));
      // the kill came after the intent; a quick step (machine.done does nothing on the
      // hypervisor) may have recorded its result before it, and then the run's end is what is missing
      const intentSeq = mine.filter((r) => r.type === "intent").at(-1)!.seq;
      const answered = mine.some((r) => r.type === "result" && r.seq === intentSeq);
      assert.match(
        p.stdout,
        answered
          ? /the last apply stopped before recording it done/
          : new RegExp(`the last apply stopped during ${step.replace(".", "\\.")}`),
      );
    }
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "8m");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      endedBeforeKill
        ? new RegExp(`${HOST} on vega: no changes\\n[\\s\\S]*nothing to apply`)
        : new RegExp(`${HOST} on vega: finish done in [\\d.]+ s: gate: \\d+ checks passed`),
    );
    assert.deepEqual(await domains(), [HOST]);
    const vols = await volumes();
    assert.equal(vols.length, 3, vols.join(", "));
    assert.match(vols[0]!, new RegExp(`^${HOST}-cidata-[0-9a-f]{12}\\.iso$`));
    assert.deepEqual(vols.slice(1), [`${HOST}.qcow2`, `keel-image-debian-12-${imageHex.slice(0, 12)}.qcow2`]);
    assert.equal(stateFiles("cidata").length, 1, stateFiles("cidata").join(", "));
    assert.ok(!readdirSync(join(dir, "pool")).some((f) => f.includes(".part")));
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 0, p.stdout);
    assert.match(p.stdout, new RegExp(`^ {2}${HOST} on vega: no changes$`, "m"));
  });

  test("a removal killed at each step in turn is finished by the next apply, leaving nothing of the machine", async () => {
    writeFileSync(inv, inventory(false));
    for (const step of DELETE_STEPS) {
      const run = await applyKilledAt(step);
      const mine = records().filter((r) => r.run === run);
      assert.equal(mine.filter((r) => r.type === "intent").at(-1)?.step, step);
      const p = await runKeel("plan", inv);
      if (mine.some((r) => r.type === "run-end")) {
        // as for machine.done: the run ended before the kill came, and nothing is left to do
        assert.equal(step, "machine.removed");
        assert.doesNotMatch(p.stdout, new RegExp(HOST), `after a kill at ${step}:\n${p.stdout}`);
        continue;
      }
      assert.match(
        p.stdout,
        new RegExp(`^- ${HOST} on vega: delete$`, "m"),
        `after a kill at ${step}:\n${p.stdout}`,
      );
    }
    const r = await runKeel("apply", inv, "--yes");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await domains(), []);
    assert.deepEqual(await volumes(), [`keel-image-debian-12-${imageHex.slice(0, 12)}.qcow2`]);
    assert.deepEqual(stateFiles("cidata"), []);
    const p = await runKeel("plan", inv);
    assert.equal(p.code, 0, p.stdout);
  });
});
