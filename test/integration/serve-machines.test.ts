/// <reference lib="dom" />
/**
 * Machine actions in the single pane: the built `keel serve` over a private libvirtd holding a
 * real machine that `keel apply` made from the Debian test image (scripts/vm-image.sh, TCG when
 * there is no /dev/kvm). In Chromium, the host page shows the machine's power state as libvirt
 * reports it; a viewer's Stop is refused (403); an operator stops and starts it from the page.
 * Through the API an operator takes a snapshot, which `keel snapshots` lists too (same provider
 * code), and rolls back to it: a memory change made with virsh since is undone and the gate runs
 * again. While an action runs, a second one of the same host is 409 and `keel vm` on the command
 * line is refused by the shared apply lock. Every action is in the audit log and the journal.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Hex } from "../../src/serve/auth.js";
import type { MachineDetail } from "../../web/src/api.js";
import { eventually } from "../helpers/alertmanager.js";
import { tempDir } from "../helpers/daemons.js";
import { type Bridge, createBridge, type Libvirtd, startLibvirtd, vmImage } from "../helpers/libvirt.js";
import { type ServeProcess, spawnServe } from "../helpers/serve.js";
import { runKeel } from "../unit/cli/built.js";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";
import { TOKENS } from "../web/site.js";

/** Third octet of the test network 10.77.N.0/24 and bridge keelbrN. */
const N = 64;
const GATE = "8m";
/** Longest wait for an action that boots the machine (a rollback's gate under TCG), ms. */
const BOOT_MS = 9 * 60_000;

describe("machine actions in keel serve on libvirt with a real machine", () => {
  let lv: Libvirtd;
  let bridge: Bridge;
  let dir: string;
  let inv: string;
  let keel: ServeProcess;
  let browser: Browser;

  const api = async <T>(method: "GET" | "POST", path: string, token: string, body?: object) => {
    const res = await fetch(`${keel.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as T & { error?: string } };
  };
  const machine = async () =>
    (await api<MachineDetail>("GET", "/api/hosts/app-1/machine", TOKENS.viewer)).json;
  /** Waits until the host's last action is no longer running; returns it. */
  const ended = (ms: number) =>
    eventually(
      "the action ends",
      async () => {
        // each read asks libvirt: not more often than a dashboard does
        await new Promise((r) => setTimeout(r, 2000));
        const a = (await machine()).action;
        return a && a.state !== "running" ? a : undefined;
      },
      ms,
    );
  const audit = () =>
    readFileSync(join(dir, ".keel", "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, string>);

  before(async () => {
    assert.equal(process.getuid?.(), 0, "the VM tests need root (libvirtd, bridges, tap devices)");
    const image = vmImage();
    const imageHex = readFileSync(`${image}.sha256`, "utf8").trim().split(/\s+/)[0]!;
    lv = await startLibvirtd();
    bridge = createBridge(N);
    dir = tempDir("keel-serve-machines-");
    mkdirSync(join(dir, "pool"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_ed25519")]);
    const pubkey = readFileSync(join(dir, "id_ed25519.pub"), "utf8").trim();
    inv = join(dir, "keel.yaml");
    writeFileSync(
      inv,
      `keel: 1
site: twin
domain: twin.internal
networks:
  lan: { cidr: 10.77.${N}.0/24, gateway: 10.77.${N}.1 }
hypervisors:
  vega: { driver: libvirt, uri: "${lv.uri}", dir: ${dir}/pool, networks: { lan: ${bridge.name} }, domain_type: qemu }
images:
  debian-12: { path: ${image}, sha256: ${imageHex} }
defaults:
  ssh: { user: keel, identity: ${dir}/id_ed25519, known_hosts: ${dir}/known_hosts }
hosts:
  app-1:
    address: { lan: 10.77.${N}.11 }
    listeners: { ignore: [127.0.0.0/8, "::1"] }
    vm:
      hypervisor: vega
      image: debian-12
      vcpus: 2
      memory: 1024
      disk: 4
      users: [{ name: keel, sudo: true, ssh_authorized_keys: ["${pubkey}"] }]
vantages:
  admin: { local: true, networks: [lan] }
serve:
  checks:
    default: { interval: 1h }
  tokens:
    - { name: ops, role: operator, sha256: ${sha256Hex(TOKENS.operator)} }
    - { name: wall, role: viewer, sha256: ${sha256Hex(TOKENS.viewer)} }
`,
    );
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", GATE);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    keel = await spawnServe(inv, { args: ["--shutdown-timeout", "3m", "--gate-timeout", GATE] });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await keel?.stop();
    await lv?.stop();
    bridge?.destroy();
  });

  test("the host page shows the power state libvirt reports; a viewer's Stop is refused, an operator stops and starts the machine", async () => {
    const viewer = await browser.page();
    await signIn(viewer, `${keel.url}/`, TOKENS.viewer);
    await viewer.goto(`${keel.url}/#/host/app-1`);
    await viewer.locator('[data-testid="machine-power"][data-power="running"]').waitFor({ timeout: 30_000 });
    assert.match(await viewer.getByTestId("machine").innerText(), /2 vCPUs, 1024 MiB, 4 GiB, autostart/);
    await viewer.getByTestId("machine-stop").click();
    await viewer.getByTestId("machine-refused").waitFor();
    assert.match(await viewer.getByTestId("machine-refused").innerText(), /^stop refused \(403\): /);
    assert.equal((await lv.virsh("domstate", "app-1")).trim(), "running");

    const op = await browser.page();
    await signIn(op, `${keel.url}/`, TOKENS.operator);
    await op.goto(`${keel.url}/#/host/app-1`);
    await op.locator('[data-testid="machine-power"][data-power="running"]').waitFor({ timeout: 30_000 });
    await op.getByTestId("machine-stop").click();
    await op
      .locator('[data-testid="machine-action"][data-action="stop"][data-state="done"]')
      .waitFor({ timeout: 4 * 60_000 });
    await op.locator('[data-testid="machine-power"][data-power="shut off"]').waitFor({ timeout: 10_000 });
    assert.equal((await lv.virsh("domstate", "app-1")).trim(), "shut off");
    await screenshot(op, "machine-stopped");
    await op.getByTestId("machine-start").click();
    await op
      .locator('[data-testid="machine-action"][data-action="start"][data-state="done"]')
      .waitFor({ timeout: 60_000 });
    await op.locator('[data-testid="machine-power"][data-power="running"]').waitFor({ timeout: 10_000 });
    assert.equal((await lv.virsh("domstate", "app-1")).trim(), "running");
    const lines = audit();
    assert.ok(
      lines.some(
        (l) =>
          l.who === "wall" &&
          l.action === "POST /api/hosts/:name/machine" &&
          l.result === "denied: needs role operator",
      ),
      JSON.stringify(lines),
    );
    for (const action of ["machine.stop", "machine.start"]) {
      assert.ok(
        lines.some((l) => l.who === "ops" && l.action === action && /^started: /.test(l.result ?? "")),
      );
      assert.ok(lines.some((l) => l.who === "ops" && l.action === action && /^ok: /.test(l.result ?? "")));
    }
  });

  test("a snapshot taken through the API is listed by keel snapshots; rollback to it undoes a virsh change and gates again; the lock is shared with the CLI", async () => {
    const s = await api<{ action: { id: string } }>("POST", "/api/hosts/app-1/machine", TOKENS.operator, {
      action: "snapshot",
    });
    assert.equal(s.status, 202, JSON.stringify(s.json));
    // one action per host at a time; and the command line waits its turn on the same lock
    const again = await api("POST", "/api/hosts/app-1/machine", TOKENS.operator, { action: "start" });
    assert.equal(again.status, 409);
    assert.match(String(again.json.error), /snapshot \(app-1-\d+\) is still running/);
    const cli = await runKeel("vm", "stop", inv, "app-1");
    assert.equal(cli.code, 2, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /keel apply is already running: the apply lock .* is held by pid \d+/);
    const snapped = await ended(BOOT_MS);
    assert.equal(snapped.state, "done", snapped.message);
    assert.match(snapped.message, /^snapshot keel-\d{8}T\d{6}Z taken$/);
    const name = snapped.snapshot!;
    const m = (await machine()).machine!;
    assert.deepEqual(
      m.snapshots.map((x) => [x.name, x.description]),
      [[name, "keel: taken by ops"]],
    );
    assert.equal(m.power, "running");
    const listed = await runKeel("snapshots", inv, "app-1");
    assert.match(listed.stdout, new RegExp(`^app-1 {2}${name} {2}\\S+ {2}keel: taken by ops$`, "m"));

    // a change made outside Keel, then the rollback through the API puts the snapshot's definition back
    await lv.virsh("setmaxmem", "app-1", "1536M", "--config");
    assert.equal((await machine()).machine!.actual?.memoryMiB, 1536);
    const rb = await api("POST", "/api/hosts/app-1/machine", TOKENS.operator, {
      action: "rollback",
      snapshot: name,
    });
    assert.equal(rb.status, 202, JSON.stringify(rb.json));
    const rolled = await ended(BOOT_MS);
    assert.equal(rolled.state, "done", rolled.message);
    assert.match(rolled.message, new RegExp(`^reverted to ${name}; gate: \\d+ checks passed$`));
    assert.match(await lv.virsh("dominfo", "app-1"), /^Max memory:\s+1048576 KiB$/m);
    const after = (await machine()).machine!;
    assert.equal(after.power, "running");
    assert.equal(after.actual?.memoryMiB, 1024);

    const lines = audit().filter((l) => l.who === "ops");
    assert.ok(lines.some((l) => l.action === "machine.snapshot" && l.result === `ok: ${snapped.message}`));
    assert.ok(lines.some((l) => l.action === "machine.rollback" && l.result === `ok: ${rolled.message}`));
    // the hypervisor calls of the actions are in apply's journal, as the command line's are
    const journal = readFileSync(join(dir, ".keel", "journal.jsonl"), "utf8");
    assert.match(journal, new RegExp(`"step":"snapshot.create".*"snapshot":"${name}"`));
    assert.match(journal, new RegExp(`"step":"snapshot.revert".*"snapshot":"${name}"`));
  });
});
