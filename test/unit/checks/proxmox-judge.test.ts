/**
 * The judges of `proxmox.cluster` and `proxmox.ceph` on answers in the shapes the Proxmox VE API
 * gives (GET /cluster/status and GET /nodes as in test/fixtures/proxmox-api.json, with 0/1 for
 * the schema's booleans as the API sends them; GET /cluster/ceph/status as Ceph's status, as the
 * stand-in answers it), which errors mean "no Ceph here", and where the kinds are derived: once
 * per proxmox hypervisor, asked by the first selected local vantage.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hypervisor, ProxmoxHypervisor } from "../../../src/inventory/model.js";
import { PveApiError } from "../../../src/pve/errors.js";
import {
  CEPH_NOT_CONFIGURED,
  type ClusterStatusItem,
  cephNotConfigured,
  judgeCeph,
  judgeCluster,
  type NodeIndexItem,
} from "../../../src/verify/checks/index.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import { contractExample, vantage } from "../../helpers/inventory.js";

const pos = { file: "keel.yaml", line: 1, col: 1 };

/** GET /cluster/status of a three-node cluster (the stand-in's shape): `online` per node, 0 or 1. */
function clusterStatus(quorate: 0 | 1, online: Record<string, 0 | 1>): ClusterStatusItem[] {
  const names = Object.keys(online);
  return [
    { type: "cluster", id: "cluster", name: "keel-test", nodes: names.length, quorate, version: 5 },
    ...names.map((name, i) => ({
      type: "node",
      id: `node/${name}`,
      name,
      nodeid: i + 1,
      ip: `10.0.0.${i + 1}`,
      online: online[name],
      local: i === 0 ? 1 : 0,
      level: "",
    })),
  ] as ClusterStatusItem[];
}

/** GET /nodes: each node's `status`. */
function nodeIndex(status: Record<string, string>): NodeIndexItem[] {
  return Object.entries(status).map(([node, s]) => ({
    node,
    id: `node/${node}`,
    type: "node",
    status: s,
    level: "",
    ...(s === "online" ? { maxcpu: 16, maxmem: 68719476736, uptime: 86400 } : {}),
  })) as NodeIndexItem[];
}

test("a quorate cluster whose nodes are all online passes, naming them", () => {
  const r = judgeCluster(
    clusterStatus(1, { vega: 1, rigel: 1, altair: 1 }),
    nodeIndex({ vega: "online", rigel: "online", altair: "online" }),
  );
  assert.equal(r.status, "pass");
  assert.equal(r.message, "cluster keel-test is quorate; 3 of 3 nodes online (vega, rigel, altair)");
  assert.deepEqual(r.observed, {
    cluster: "keel-test",
    quorate: true,
    nodes: { vega: "online", rigel: "online", altair: "online" },
  });
});

test("a cluster without quorum fails, saying how many of its nodes are online, and names the offline node", () => {
  const r = judgeCluster(
    clusterStatus(0, { vega: 1, rigel: 1, altair: 0 }),
    nodeIndex({ vega: "online", rigel: "online", altair: "offline" }),
  );
  assert.equal(r.status, "fail");
  assert.equal(r.message, "cluster keel-test has no quorum (2 of 3 nodes online); node altair is offline");
});

test("a quorate cluster with a node down fails naming the node; either answer saying offline is enough", () => {
  const bothSay = judgeCluster(
    clusterStatus(1, { vega: 1, rigel: 1, altair: 0 }),
    nodeIndex({ vega: "online", rigel: "online", altair: "offline" }),
  );
  assert.deepEqual([bothSay.status, bothSay.message], ["fail", "node altair is offline"]);
  const indexSays = judgeCluster(
    clusterStatus(1, { vega: 1, rigel: 1, altair: 1 }),
    nodeIndex({ vega: "online", rigel: "offline", altair: "online" }),
  );
  assert.deepEqual([indexSays.status, indexSays.message], ["fail", "node rigel is offline"]);
});

test("a node whose status is unknown fails: Keel cannot say it is serving", () => {
  const r = judgeCluster(
    clusterStatus(1, { vega: 1, rigel: 1 }),
    nodeIndex({ vega: "online", rigel: "unknown" }),
  );
  assert.deepEqual([r.status, r.message], ["fail", "node rigel's status is unknown"]);
  assert.deepEqual(r.observed?.nodes, { vega: "online", rigel: "unknown" });
});

test("a single-node install (no cluster item) is judged on its node only", () => {
  const single = [
    { type: "node", id: "node/pve1", name: "pve1", nodeid: 0, ip: "10.0.0.5", online: 1, local: 1 },
  ];
  const up = judgeCluster(single as ClusterStatusItem[], nodeIndex({ pve1: "online" }));
  assert.deepEqual([up.status, up.message], ["pass", "node pve1 is online (a single node, not a cluster)"]);
  assert.equal(up.observed?.quorate, null);
  assert.equal(up.observed?.cluster, null);
  const unknown = judgeCluster(single as ClusterStatusItem[], nodeIndex({ pve1: "unknown" }));
  assert.deepEqual([unknown.status, unknown.message], ["fail", "node pve1's status is unknown"]);
});

test("answers that list no node are error, not a verdict", () => {
  const r = judgeCluster([], []);
  assert.equal(r.status, "error");
  assert.match(r.message, /list no node/);
});

/** GET /cluster/ceph/status as Ceph's status (the stand-in's shape). */
function cephStatus(
  status: string,
  checks: Record<string, { severity: string; message: string; muted?: boolean }> = {},
): unknown {
  return {
    fsid: "9c5f2a1e-0d44-4f4a-9d8a-2b6a7d0c4e11",
    health: {
      status,
      checks: Object.fromEntries(
        Object.entries(checks).map(([k, c]) => [
          k,
          { severity: c.severity, summary: { message: c.message, count: 1 }, muted: c.muted ?? false },
        ]),
      ),
      mutes: [],
    },
    quorum_names: ["vega", "rigel", "altair"],
  };
}

test("HEALTH_OK passes", () => {
  const r = judgeCeph(cephStatus("HEALTH_OK"));
  assert.deepEqual([r.status, r.message], ["pass", "Ceph is HEALTH_OK"]);
  assert.deepEqual(r.observed, { health: "HEALTH_OK", checks: {} });
});

test("HEALTH_WARN fails with each check's name and message: a warning needs attention", () => {
  const r = judgeCeph(
    cephStatus("HEALTH_WARN", {
      OSD_DOWN: { severity: "HEALTH_WARN", message: "1 osds down" },
      PG_DEGRADED: { severity: "HEALTH_WARN", message: "Degraded data redundancy: 12/345 objects degraded" },
    }),
  );
  assert.equal(r.status, "fail");
  assert.equal(
    r.message,
    "Ceph is HEALTH_WARN: OSD_DOWN: 1 osds down; PG_DEGRADED: Degraded data redundancy: 12/345 objects degraded; expected HEALTH_OK",
  );
  assert.deepEqual(r.observed?.checks, {
    OSD_DOWN: { severity: "HEALTH_WARN", message: "1 osds down", muted: false },
    PG_DEGRADED: {
      severity: "HEALTH_WARN",
      message: "Degraded data redundancy: 12/345 objects degraded",
      muted: false,
    },
  });
});

test("HEALTH_ERR fails, errors listed before warnings, a check's other severity named", () => {
  const r = judgeCeph(
    cephStatus("HEALTH_ERR", {
      MON_DOWN: { severity: "HEALTH_WARN", message: "1/3 mons down, quorum vega,rigel" },
      OSD_FULL: { severity: "HEALTH_ERR", message: "1 full osd(s)" },
    }),
  );
  assert.equal(r.status, "fail");
  assert.equal(
    r.message,
    "Ceph is HEALTH_ERR: OSD_FULL: 1 full osd(s); MON_DOWN (HEALTH_WARN): 1/3 mons down, quorum vega,rigel; expected HEALTH_OK",
  );
});

test("muted checks are named, never counted", () => {
  const ok = judgeCeph(
    cephStatus("HEALTH_OK", {
      OSD_NEARFULL: { severity: "HEALTH_WARN", message: "1 nearfull osd(s)", muted: true },
    }),
  );
  assert.deepEqual([ok.status, ok.message], ["pass", "Ceph is HEALTH_OK (muted: OSD_NEARFULL)"]);
  const warn = judgeCeph(
    cephStatus("HEALTH_WARN", {
      OSD_NEARFULL: { severity: "HEALTH_WARN", message: "1 nearfull osd(s)", muted: true },
      OSD_DOWN: { severity: "HEALTH_WARN", message: "1 osds down" },
    }),
  );
  assert.equal(
    warn.message,
    "Ceph is HEALTH_WARN: OSD_DOWN: 1 osds down (muted: OSD_NEARFULL); expected HEALTH_OK",
  );
});

test("an answer without a known health.status is error, not a verdict", () => {
  for (const answer of [{}, null, { health: { status: "HEALTH_SOMETHING" } }, { health: {} }]) {
    const r = judgeCeph(answer);
    assert.equal(r.status, "error", JSON.stringify(answer));
    assert.match(r.message, /answered no health\.status of HEALTH_OK, HEALTH_WARN, HEALTH_ERR/);
  }
});

test("the API's answers on a cluster without Ceph are told from other errors", () => {
  const api = (status: number, reason: string) =>
    new PveApiError(status, reason, {}, "GET", "/cluster/ceph/status", "https://vega:8006");
  for (const reason of [
    "binary not installed: /usr/bin/ceph-mon",
    "ceph binaries not installed",
    "pveceph configuration not initialized",
    "pveceph configuration not initialized - missing '/etc/pve/ceph.conf'",
    "pveceph configuration not enabled",
    "rados_connect failed - No such file or directory",
  ])
    assert.equal(cephNotConfigured(api(500, reason)), true, reason);
  // a configured Ceph whose monitors do not answer, a refused token, a missing privilege: not "no Ceph"
  for (const [status, reason] of [
    [500, "rados_connect failed - Connection timed out"],
    [401, "invalid token value!"],
    [403, "Permission check failed (/, Sys.Audit|Datastore.Audit)"],
    [595, "No route to host"],
  ] as const)
    assert.equal(cephNotConfigured(api(status, reason)), false, reason);
  assert.equal(cephNotConfigured(new Error("binary not installed: /usr/bin/ceph-mon")), false);
  assert.equal(CEPH_NOT_CONFIGURED, "Ceph is not configured on this cluster");
});

const proxmox = (name: string): ProxmoxHypervisor => ({
  name,
  driver: "proxmox",
  bridges: { lan: "vmbr0" },
  pos,
  endpoints: [
    { url: "https://vega.lab:8006", fingerprint: `${"3A:".repeat(31)}9C` },
    { url: "https://altair.lab:8006", fingerprint: `${"B7:".repeat(31)}E4` },
  ],
  token: { env: "KEEL_PVE_TOKEN" },
  node: "vega",
  storage: "local-lvm",
  isoStorage: "local",
  cloneLimit: 1,
  templates: {},
  vmidRange: { from: 1000, to: 9999 },
});

test("one proxmox.cluster and one proxmox.ceph per proxmox hypervisor, after the hosts' checks, from the first local vantage", () => {
  const inv = contractExample();
  const libvirt: Hypervisor = {
    name: "kvm",
    driver: "libvirt",
    bridges: {},
    pos,
    uri: "qemu:///system",
    storage: { pool: "default" },
  };
  inv.hypervisors = [proxmox("pve"), libvirt, proxmox("pve-2")];
  inv.vantages = [vantage("probe", { type: "via", via: "gw-vpn", networks: ["lan"] }), ...inv.vantages];
  const local = inv.vantages.find((v) => v.type === "local")!.name;
  const specs = deriveChecks(inv);
  const pve = specs.filter((s) => s.kind.startsWith("proxmox."));
  assert.deepEqual(
    pve.map((s) => [s.id, s.host, s.vantage, s.skip]),
    [
      ["pve/proxmox.cluster", "pve", local, undefined],
      ["pve-2/proxmox.cluster", "pve-2", local, undefined],
      ["pve/proxmox.ceph", "pve", local, undefined],
      ["pve-2/proxmox.ceph", "pve-2", local, undefined],
    ],
  );
  assert.deepEqual(specs.slice(-4), pve);
  // the params carry the endpoints and where the token is read from, never a token
  assert.deepEqual(pve[0]!.params, {
    kind: "proxmox.cluster",
    hypervisor: { name: "pve", endpoints: proxmox("pve").endpoints, token: { env: "KEEL_PVE_TOKEN" } },
  });
});

test("without a local vantage among the selected, the Proxmox VE checks are skip with the reason", () => {
  const inv = contractExample();
  inv.hypervisors = [proxmox("pve")];
  inv.vantages = [vantage("probe", { type: "via", via: "gw-vpn", networks: ["lan"] }), ...inv.vantages];
  const specs = deriveChecks(inv, { vantages: ["probe"] }).filter((s) => s.kind.startsWith("proxmox."));
  assert.deepEqual(
    specs.map((s) => [s.id, s.skip]),
    [
      [
        "pve/proxmox.cluster",
        "proxmox.cluster is asked by the machine running Keel, and no selected vantage is local (probe)",
      ],
      [
        "pve/proxmox.ceph",
        "proxmox.ceph is asked by the machine running Keel, and no selected vantage is local (probe)",
      ],
    ],
  );
  // an inventory without a proxmox hypervisor derives none
  inv.hypervisors = [];
  assert.equal(deriveChecks(inv).filter((s) => s.kind.startsWith("proxmox.")).length, 0);
});
