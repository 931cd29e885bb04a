/**
 * The built `keel verify FILE --json` runs `proxmox.cluster` and `proxmox.ceph` against the
 * stateful stand-in of the Proxmox VE API (test/helpers/pve-standin.ts: one HTTPS endpoint per
 * node with its own certificate; every request and answer checked against
 * test/fixtures/proxmox-api.json). A Proxmox VE cluster cannot run here: what is tested is Keel
 * against the API's contract. No root is needed.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { CheckResult, Report } from "../../../src/verify/types.js";
import { tempDir } from "../../helpers/daemons.js";
import { PveStandin } from "../../helpers/pve-standin.js";
import { ensureBuilt, runKeel } from "../cli/built.js";

describe("keel verify: proxmox.cluster and proxmox.ceph against the API stand-in", () => {
  let pve: PveStandin;
  let dir: string;

  /**
   * An inventory with hypervisor pve: endpoints of nodes `order` (pinned to `pins`, default the
   * stand-in's), the token from `tokenFile`; one host without SSH so the checklist is small.
   */
  const inventory = (opts: { order?: string[]; pins?: Record<string, string>; tokenFile?: string } = {}) => {
    const pins = opts.pins ?? pve.fingerprints;
    const endpoints = (opts.order ?? ["vega", "rigel", "altair"])
      .map((n) => `      - { url: "${pve.endpointOf(n)}", fingerprint: "${pins[pve.endpointOf(n)]}" }`)
      .join("\n");
    const file = join(dir, `keel-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      `keel: 1
site: lab
networks:
  lan: { cidr: 127.0.0.0/8 }
hypervisors:
  pve:
    driver: proxmox
    endpoints:
${endpoints}
    token: { file: ${opts.tokenFile ?? join(dir, "pve.token")} }
    node: vega
    storage: local-lvm
    templates: {}
    networks: { lan: vmbr0 }
hosts:
  other: { address: 127.0.0.99, ssh: false }
vantages:
  admin: { local: true, networks: [lan] }
`,
    );
    return file;
  };

  /** Runs the built `keel verify FILE --json --no-history --only 'pve/*'` and returns its exit code and the two checks. */
  const verify = async (file: string) => {
    const r = await runKeel("verify", file, "--json", "--no-history", "--only", "pve/*");
    assert.equal(
      r.stderr.includes(pve.token.slice(pve.token.indexOf("=") + 1)),
      false,
      "the token's secret on stderr",
    );
    const report = JSON.parse(r.stdout) as Report;
    const byId = (id: string): CheckResult => {
      const c = report.checks.find((x) => x.id === id);
      assert.ok(c, `no check ${id} in ${r.stdout}`);
      return c;
    };
    assert.equal(
      r.stdout.includes(pve.token.slice(pve.token.indexOf("=") + 1)),
      false,
      "the token's secret in the report",
    );
    return { code: r.code, cluster: byId("pve/proxmox.cluster"), ceph: byId("pve/proxmox.ceph") };
  };

  before(async () => {
    ensureBuilt();
    dir = tempDir("pve-checks");
    pve = await PveStandin.start();
    writeFileSync(join(dir, "pve.token"), `${pve.token}\n`, { mode: 0o600 });
  });
  afterEach(async () => {
    assert.deepEqual(pve.violations, []);
    pve.setQuorum(true);
    pve.setCeph();
    for (const n of pve.nodes) await pve.nodeUp(n);
  });
  after(async () => {
    await pve?.close();
  });

  test("a healthy cluster without Ceph: cluster passes, Ceph is skip with its reason", async () => {
    const r = await verify(inventory());
    assert.equal(r.cluster.status, "pass", r.cluster.message);
    assert.equal(
      r.cluster.message,
      "cluster keel-test is quorate; 3 of 3 nodes online (vega, rigel, altair)",
    );
    assert.equal(r.cluster.host, "pve");
    assert.equal(r.cluster.vantage, undefined);
    assert.deepEqual([r.ceph.status, r.ceph.message], ["skip", "Ceph is not configured on this cluster"]);
    assert.deepEqual(r.ceph.observed, { answer: "HTTP 500 binary not installed: /usr/bin/ceph-mon" });
    assert.equal(r.code, 0);
  });

  test("a healthy cluster with Ceph HEALTH_OK: both pass", async () => {
    pve.setCeph("HEALTH_OK");
    const r = await verify(inventory());
    assert.deepEqual([r.cluster.status, r.ceph.status], ["pass", "pass"]);
    assert.equal(r.ceph.message, "Ceph is HEALTH_OK");
    assert.equal(r.code, 0);
  });

  test("quorum lost: proxmox.cluster fails saying so", async () => {
    pve.setQuorum(false);
    const r = await verify(inventory());
    assert.equal(r.cluster.status, "fail");
    assert.equal(r.cluster.message, "cluster keel-test has no quorum (3 of 3 nodes online)");
    assert.equal(r.cluster.observed?.quorate, false);
    assert.equal(r.code, 1);
  });

  test("a node down: proxmox.cluster fails naming it, answered by another node's endpoint", async () => {
    await pve.nodeDown("altair");
    const r = await verify(inventory({ order: ["vega", "altair"] }));
    assert.equal(r.cluster.status, "fail");
    assert.equal(r.cluster.message, "node altair is offline");
    assert.deepEqual(r.cluster.observed?.nodes, { vega: "online", rigel: "online", altair: "offline" });
    // the first endpoint listed is down: the client fails over to the next and still observes
    const r2 = await verify(inventory({ order: ["altair", "rigel"] }));
    assert.deepEqual([r2.cluster.status, r2.cluster.message], ["fail", "node altair is offline"]);
  });

  test("Ceph HEALTH_WARN fails with the check's name and message", async () => {
    pve.setCeph("HEALTH_WARN", { OSD_DOWN: { message: "1 osds down" } });
    const r = await verify(inventory());
    assert.equal(r.ceph.status, "fail");
    assert.equal(r.ceph.message, "Ceph is HEALTH_WARN: OSD_DOWN: 1 osds down; expected HEALTH_OK");
    assert.equal(r.cluster.status, "pass");
    assert.equal(r.code, 1);
  });

  test("Ceph HEALTH_ERR fails, each check named", async () => {
    pve.setCeph("HEALTH_ERR", {
      OSD_FULL: { message: "1 full osd(s)" },
      MON_DOWN: { severity: "HEALTH_WARN", message: "1/3 mons down, quorum vega,rigel" },
    });
    const r = await verify(inventory());
    assert.equal(r.ceph.status, "fail");
    assert.equal(
      r.ceph.message,
      "Ceph is HEALTH_ERR: OSD_FULL: 1 full osd(s); MON_DOWN (HEALTH_WARN): 1/3 mons down, quorum vega,rigel; expected HEALTH_OK",
    );
  });

  test("a pinned fingerprint that is not the certificate's: both error, no request sent", async () => {
    const wrong = Object.fromEntries(Object.keys(pve.fingerprints).map((e) => [e, `${"AA:".repeat(31)}AA`]));
    const before = pve.requests.length;
    const r = await verify(inventory({ order: ["vega"], pins: wrong }));
    for (const c of [r.cluster, r.ceph]) {
      assert.equal(c.status, "error", c.message);
      assert.match(
        c.message,
        /^hypervisor "pve": GET \/cluster\/(status|ceph\/status): no endpoint answered: /,
      );
      assert.match(c.message, /certificate fingerprint mismatch: expected SHA-256 AA:AA:.*, seen /);
    }
    assert.equal(pve.requests.length, before, "a request reached the stand-in");
    assert.equal(r.code, 1);
  });

  test("no endpoint reachable: both error naming each endpoint", async () => {
    await pve.nodeDown("vega");
    await pve.nodeDown("rigel");
    const r = await verify(inventory({ order: ["vega", "rigel"] }));
    for (const c of [r.cluster, r.ceph]) {
      assert.equal(c.status, "error", c.message);
      assert.match(c.message, new RegExp(`${pve.endpointOf("vega")}: connection refused`));
      assert.match(c.message, new RegExp(`${pve.endpointOf("rigel")}: connection refused`));
    }
  });

  test("a token the API refuses: both error, naming the token's file but never its secret", async () => {
    const bad = join(dir, "bad.token");
    writeFileSync(bad, "root@pam!keel=00000000-0000-0000-0000-000000000000\n", { mode: 0o600 });
    const r = await verify(inventory({ tokenFile: bad }));
    for (const c of [r.cluster, r.ceph]) {
      assert.equal(c.status, "error", c.message);
      assert.match(c.message, new RegExp(`^hypervisor "pve": the API refused the token from file ${bad}: `));
      assert.match(c.message, /HTTP 401 invalid token value!/);
      assert.equal(c.message.includes("00000000-0000"), false, "the refused token's secret in the message");
    }
  });

  test("a token file that is missing: both error naming the file", async () => {
    const missing = join(dir, "none.token");
    const r = await verify(inventory({ tokenFile: missing }));
    for (const c of [r.cluster, r.ceph]) {
      assert.equal(c.status, "error", c.message);
      assert.equal(c.message, `hypervisor "pve": cannot read its API token file ${missing}: no such file`);
    }
  });
});
