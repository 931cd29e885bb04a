/// <reference lib="dom" />
/**
 * The single pane over a Proxmox VE cluster: the built `keel serve` against the API stand-in
 * (test/helpers/pve-standin.ts: one HTTPS endpoint per node, every request and answer checked
 * against the API's description), after the built `keel apply` made two machines there. The
 * stand-in's machines have no guest: the hosts declare no service and `ssh: false`, so their
 * verify gate has nothing to check.
 *
 * `GET /api/clusters` lists the nodes, the quorum and every machine, Keel's with their host and
 * one Keel did not make as unmanaged, with the console link of the Proxmox VE web interface; a
 * node that is down shows offline, a lost quorum shows, and a hypervisor whose certificate is not
 * the pinned one is listed with the error. A viewer reads but cannot act; an operator migrates a
 * machine to another node (the task's status in the action while it runs, the audit log), and
 * the other actions work on a Proxmox VE machine; a migrate of a libvirt host is 400. In
 * Chromium, the Clusters view shows the nodes and the unmanaged machine, and the machine panel
 * of a host on the cluster has the console link and the migrate control.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Hex } from "../../src/serve/auth.js";
import type { Clusters, MachineActionState, MachineDetail } from "../../web/src/api.js";
import { tempDir } from "../helpers/daemons.js";
import { PveStandin } from "../helpers/pve-standin.js";
import { type ServeProcess, spawnServe } from "../helpers/serve.js";
import { ensureBuilt, runKeel } from "../unit/cli/built.js";
import { type Browser, launch, screenshot, signIn } from "../web/browser.js";
import { TOKENS } from "../web/site.js";

const TEMPLATE = 9000;
/** How long the stand-in's migration task runs, ms: long enough to be seen running. */
const MIGRATE_MS = 1500;

describe("Proxmox VE clusters in keel serve (against the API's contract)", () => {
  let pve: PveStandin;
  let dir: string;
  let inv: string;
  let keel: ServeProcess;
  let browser: Browser;

  /** The inventory: hypervisor pve (and, served, a wrongly pinned one and a libvirt one). */
  const inventory = (served: boolean) => {
    const endpoints = (pins: (e: string) => string) =>
      ["vega", "rigel", "altair"]
        .map((n) => `      - { url: "${pve.endpointOf(n)}", fingerprint: "${pins(pve.endpointOf(n))}" }`)
        .join("\n");
    const pveHv = (name: string, pins: (e: string) => string) => `  ${name}:
    driver: proxmox
    endpoints:
${endpoints(pins)}
    token: { file: ${join(dir, "pve.token")} }
    node: vega
    storage: local-lvm
    templates: { debian-12: ${TEMPLATE} }
    networks: { lan: vmbr0 }`;
    return `keel: 1
site: lab
networks:
  lan: { cidr: 127.0.0.0/8 }
hypervisors:
${pveHv("pve", (e) => pve.fingerprints[e]!)}
${
  served
    ? `${pveHv("pve-pinned-wrong", () => `${"AA:".repeat(31)}AA`)}
  lv: { driver: libvirt, uri: "qemu+unix:///system?socket=${dir}/no-such.sock", dir: ${dir}/pool, networks: { lan: br0 } }`
    : ""
}
images:
  debian-12: { url: "https://cloud.example/debian-12.qcow2", sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 }
hosts:
  web-1: { address: 127.0.0.71, ssh: false, vm: { hypervisor: pve, image: debian-12 } }
  web-2: { address: 127.0.0.72, ssh: false, vm: { hypervisor: pve, image: debian-12 } }
${served ? "  lv-1: { address: 127.0.0.73, ssh: false, vm: { hypervisor: lv, image: debian-12 } }" : ""}
vantages:
  admin: { local: true, networks: [lan] }
serve:
  checks:
    default: { interval: 1h }
  tokens:
    - { name: ops, role: operator, sha256: ${sha256Hex(TOKENS.operator)} }
    - { name: wall, role: viewer, sha256: ${sha256Hex(TOKENS.viewer)} }
`;
  };

  const api = async <T>(method: "GET" | "POST", path: string, token: string, body?: object) => {
    const res = await fetch(`${keel.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) as T & { error?: string } };
  };
  const clusters = async () => {
    const r = await api<Clusters>("GET", "/api/clusters", TOKENS.viewer);
    assert.equal(r.status, 200, r.text);
    // the token's secret is in no answer
    assert.ok(!r.text.includes(pve.token.split("=")[1]!), "the API token's secret is not in the answer");
    return r.json;
  };
  const machine = async (host: string) =>
    (await api<MachineDetail>("GET", `/api/hosts/${host}/machine`, TOKENS.viewer)).json;
  /** Asks `action` of `host`'s machine as the operator and waits for it to end; returns its states seen. */
  const act = async (host: string, body: { action: string; target?: string; snapshot?: string }) => {
    const r = await api<{ action: MachineActionState }>(
      "POST",
      `/api/hosts/${host}/machine`,
      TOKENS.operator,
      body,
    );
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.action.state, "running");
    const seen: MachineActionState[] = [r.json.action];
    const until = Date.now() + 60_000;
    for (;;) {
      const a = (await machine(host)).action!;
      seen.push(a);
      if (a.state !== "running") return { ended: a, seen };
      assert.ok(Date.now() < until, `${body.action} of ${host} still running`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const audit = () =>
    readFileSync(join(dir, ".keel", "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, string>);

  before(async () => {
    ensureBuilt();
    dir = tempDir("serve-pve");
    inv = join(dir, "keel.yaml");
    pve = await PveStandin.start({ taskMs: { qmigrate: MIGRATE_MS } });
    writeFileSync(join(dir, "pve.token"), `${pve.token}\n`, { mode: 0o600 });
    pve.addVm({ vmid: TEMPLATE, node: "vega", name: "debian-12-template", template: true });
    pve.addVm({ vmid: 120, node: "rigel", name: "grafana", status: "running", unmanaged: true });
    writeFileSync(inv, inventory(false));
    const r = await runKeel("apply", inv, "--yes", "--gate-timeout", "30s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    writeFileSync(inv, inventory(true));
    keel = await spawnServe(inv, { args: ["--shutdown-timeout", "10s", "--gate-timeout", "30s"] });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await keel?.stop();
    await pve?.close();
  });

  const vmOf = (name: string) => [...pve.vms.values()].find((v) => v.config.name === name)!;

  test("GET /api/clusters: nodes, quorum, managed and unmanaged machines with their console link; a wrong pin is an error", async () => {
    const { items } = await clusters();
    assert.deepEqual(
      items.map((c) => c.name),
      ["pve", "pve-pinned-wrong"],
    );
    const c = items[0]!;
    assert.equal(c.error, undefined);
    assert.equal(c.endpoint, pve.endpointOf("vega"));
    assert.equal(c.cluster, "keel-test");
    assert.equal(c.quorate, true);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.online, n.status]),
      [
        ["altair", true, "online"],
        ["rigel", true, "online"],
        ["vega", true, "online"],
      ],
    );
    const vega = c.nodes.find((n) => n.name === "vega")!;
    assert.equal(vega.cpus, 16);
    assert.equal(vega.memoryTotal, 64 * 2 ** 30);
    assert.equal(vega.memoryUsed, 8 * 2 ** 30);
    assert.equal(vega.uptimeSec, 86400);
    assert.equal(typeof vega.cpu, "number");
    const web1 = vmOf("web-1");
    const web2 = vmOf("web-2");
    assert.deepEqual(
      c.machines.map((m) => [m.vmid, m.name, m.node, m.power, m.template, m.managed]),
      [
        [120, "grafana", "rigel", "running", false, null],
        [web1.vmid, "web-1", "vega", "running", false, "web-1"],
        [web2.vmid, "web-2", "vega", "running", false, "web-2"],
        [TEMPLATE, "debian-12-template", "vega", "shut off", true, null],
      ].sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    const grafana = c.machines.find((m) => m.vmid === 120)!;
    assert.equal(
      grafana.console,
      `${pve.endpointOf("vega")}/?console=kvm&novnc=1&vmid=120&vmname=grafana&node=rigel&resize=off&cmd=`,
    );
    const bad = items[1]!;
    assert.equal(bad.endpoint, null);
    assert.equal(bad.quorate, null);
    assert.deepEqual([bad.nodes, bad.machines], [[], []]);
    assert.match(
      String(bad.error),
      /hypervisor "pve-pinned-wrong".*fingerprint mismatch: expected SHA-256 AA:AA/s,
    );
    // the route is in the OpenAPI document, the viewer's
    const doc = await api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/api/openapi.json",
      TOKENS.viewer,
    );
    assert.ok(doc.json.paths["/api/clusters"]?.get);
    assert.deepEqual(pve.violations, []);
  });

  test("a node that is down shows offline; a lost quorum shows", async () => {
    await pve.nodeDown("altair");
    pve.setQuorum(false);
    try {
      const c = (await clusters()).items[0]!;
      const altair = c.nodes.find((n) => n.name === "altair")!;
      assert.deepEqual(
        [altair.online, altair.status, altair.cpu, altair.memoryUsed, altair.uptimeSec],
        [false, "offline", null, null, null],
      );
      assert.ok(c.nodes.filter((n) => n.name !== "altair").every((n) => n.online));
      assert.equal(c.quorate, false);
    } finally {
      pve.setQuorum(true);
      await pve.nodeUp("altair");
    }
    assert.equal((await clusters()).items[0]!.quorate, true);
  });

  test("a viewer reads the machine but cannot act (403, audited)", async () => {
    const m = (await machine("web-1")).machine!;
    assert.deepEqual(
      [m.power, m.node, m.vmid, m.managedByKeel],
      ["running", "vega", vmOf("web-1").vmid, true],
    );
    const r = await api("POST", "/api/hosts/web-1/machine", TOKENS.viewer, {
      action: "migrate",
      target: "rigel",
    });
    assert.equal(r.status, 403);
    assert.equal(vmOf("web-1").node, "vega");
    assert.ok(
      audit().some(
        (l) =>
          l.who === "wall" &&
          l.action === "POST /api/hosts/:name/machine" &&
          l.result === "denied: needs role operator",
      ),
    );
  });

  test("an operator migrates a machine to another node: running with the task's progress, then done, audited", async () => {
    const vmid = vmOf("web-1").vmid;
    const { ended, seen } = await act("web-1", { action: "migrate", target: "rigel" });
    assert.equal(ended.state, "done", ended.message);
    assert.equal(ended.target, "rigel");
    assert.equal(ended.message, "migrated from node vega to rigel");
    // while it ran, the action carried the migration task's status
    assert.ok(
      seen.some(
        (a) =>
          a.state === "running" &&
          new RegExp(
            `^task UPID:vega:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:qmigrate:${vmid}:\\S+: running$`,
          ).test(a.progress ?? ""),
      ),
      JSON.stringify(seen),
    );
    assert.match(ended.progress ?? "", /qmigrate.*: stopped \(OK\)$/);
    assert.equal(vmOf("web-1").node, "rigel");
    assert.equal(vmOf("web-1").status, "running", "moved online");
    assert.equal((await machine("web-1")).machine!.node, "rigel");
    const c = (await clusters()).items[0]!;
    const m = c.machines.find((x) => x.managed === "web-1")!;
    assert.equal(m.node, "rigel");
    assert.match(m.console, /&node=rigel&/);
    const lines = audit().filter((l) => l.who === "ops" && l.action === "machine.migrate");
    assert.ok(lines.some((l) => l.target === "host web-1" && /^started: web-1-\d+$/.test(l.result!)));
    assert.ok(
      lines.some((l) => l.result === "ok: migrated from node vega to rigel"),
      JSON.stringify(lines),
    );
    assert.match(
      readFileSync(join(dir, ".keel", "journal.jsonl"), "utf8"),
      /"step":"vm\.migrate".*"from":"vega".*"to":"rigel"/,
    );
    assert.deepEqual(pve.violations, []);
  });

  test("migrate is refused for a libvirt host, without a target, and a target is refused for other actions (400)", async () => {
    const lv = await api("POST", "/api/hosts/lv-1/machine", TOKENS.operator, {
      action: "migrate",
      target: "rigel",
    });
    assert.equal(lv.status, 400);
    assert.match(
      String(lv.json.error),
      /^migrate is for machines on a Proxmox VE cluster; host "lv-1" is on hypervisor "lv"/,
    );
    const none = await api("POST", "/api/hosts/web-2/machine", TOKENS.operator, { action: "migrate" });
    assert.equal(none.status, 400);
    assert.match(String(none.json.error), /a migrate needs the node to move to/);
    const stray = await api("POST", "/api/hosts/web-2/machine", TOKENS.operator, {
      action: "stop",
      target: "rigel",
    });
    assert.equal(stray.status, 400);
    assert.equal(vmOf("web-2").status, "running");
  });

  test("stop, start, reboot, snapshot and rollback work on a Proxmox VE machine", async () => {
    const stop = await act("web-2", { action: "stop" });
    assert.equal(stop.ended.state, "done", stop.ended.message);
    assert.equal(vmOf("web-2").status, "stopped");
    assert.equal((await machine("web-2")).machine!.power, "shut off");
    const start = await act("web-2", { action: "start" });
    assert.equal(start.ended.state, "done", start.ended.message);
    assert.equal(vmOf("web-2").status, "running");
    const reboot = await act("web-2", { action: "reboot" });
    assert.equal(reboot.ended.state, "done", reboot.ended.message);
    assert.equal(vmOf("web-2").status, "running");
    const snap = await act("web-2", { action: "snapshot" });
    assert.equal(snap.ended.state, "done", snap.ended.message);
    const name = snap.ended.snapshot!;
    assert.match(name, /^keel-\d{8}T\d{6}Z$/);
    assert.equal(vmOf("web-2").snapshots.get(name)?.description, "keel: taken by ops");
    assert.deepEqual(
      (await machine("web-2")).machine!.snapshots.map((s) => s.name),
      [name],
    );
    const rb = await act("web-2", { action: "rollback", snapshot: name });
    assert.equal(rb.ended.state, "done", rb.ended.message);
    assert.match(rb.ended.message, new RegExp(`^reverted to ${name}; gate: `));
    assert.equal(vmOf("web-2").status, "running");
    for (const action of ["stop", "start", "reboot", "snapshot", "rollback"])
      assert.ok(
        audit().some((l) => l.who === "ops" && l.action === `machine.${action}` && /^ok: /.test(l.result!)),
        action,
      );
    assert.deepEqual(pve.violations, []);
  });

  test("the Clusters view shows the nodes and the unmanaged machine; the machine panel has the console link and Migrate", async () => {
    const page = await browser.page();
    await signIn(page, `${keel.url}/`, TOKENS.viewer);
    await page.getByTestId("nav-clusters").click();
    const cluster = page.locator('[data-testid="cluster"][data-cluster="pve"]');
    await cluster.locator('[data-testid="cluster-node"][data-node="vega"][data-online="true"]').waitFor();
    assert.match(await cluster.getByTestId("quorum").innerText(), /quorate/i);
    const grafana = cluster.locator('[data-testid="cluster-machine"][data-vmid="120"]');
    assert.match(await grafana.innerText(), /grafana\s+running\s+rigel\s+unmanaged/);
    const consoleLink = grafana.getByTestId("cluster-machine-console");
    assert.equal(await consoleLink.getAttribute("target"), "_blank");
    assert.equal(
      await consoleLink.getAttribute("href"),
      `${pve.endpointOf("vega")}/?console=kvm&novnc=1&vmid=120&vmname=grafana&node=rigel&resize=off&cmd=`,
    );
    const web1 = cluster.locator('[data-testid="cluster-machine"][data-managed="web-1"]');
    assert.equal(await web1.getByTestId("cluster-machine-host").getAttribute("href"), "#/host/web-1");
    assert.match(
      await page
        .locator('[data-testid="cluster"][data-cluster="pve-pinned-wrong"]')
        .getByTestId("cluster-error")
        .innerText(),
      /fingerprint mismatch/,
    );
    await screenshot(page, "clusters");
    await web1.getByTestId("cluster-machine-host").click();
    await page.getByTestId("machine-node").waitFor();
    assert.match(await page.getByTestId("machine-node").innerText(), /^rigel \(VMID \d+\)/);
    await page.getByTestId("machine-console").waitFor();
    assert.match(String(await page.getByTestId("machine-console").getAttribute("href")), /&node=rigel&/);
    const options = await page.getByTestId("machine-migrate-target").locator("option").allInnerTexts();
    assert.deepEqual(options, ["target node…", "altair", "vega"]);
    await page.getByTestId("machine-migrate-target").selectOption("vega");
    await page.getByTestId("machine-migrate").click();
    await page.getByTestId("machine-refused").waitFor();
    assert.match(await page.getByTestId("machine-refused").innerText(), /^migrate refused \(403\): /);
    assert.equal(vmOf("web-1").node, "rigel");
  });
});
