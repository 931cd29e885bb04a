/**
 * The registry of `src/verify/checks/index.ts` is the one list of check kinds: every name of
 * `CHECK_KINDS` has a self-describing module (transport, derive scope, derive, run), the SSH
 * kinds that `parallel.ts` keeps on the main thread are read from it, and serve's default
 * schedules per kind keep their values.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CHECK_KINDS, type CheckKind, DEFAULT_KIND_INTERVAL_MS } from "../../../src/inventory/check-kinds.js";
import { defaultServeSettings } from "../../../src/inventory/serve-settings.js";
import { checkKinds, SSH_KINDS } from "../../../src/verify/checks/index.js";
import { deriveChecks } from "../../../src/verify/derive.js";
import { isPortable } from "../../../src/verify/parallel.js";
import type { CheckSpec } from "../../../src/verify/types.js";
import { contractExample } from "../../helpers/inventory.js";

test("every kind of CHECK_KINDS has a module declaring its transport, derive scope, derive and run", () => {
  assert.deepEqual(Object.keys(checkKinds).sort(), [...CHECK_KINDS].sort());
  for (const k of CHECK_KINDS) {
    const m = checkKinds[k];
    assert.equal(m.kind, k);
    assert.ok(m.transport === "network" || m.transport === "ssh", `${k}: transport ${m.transport}`);
    assert.ok(
      ["path", "port", "server", "content", "on-host", "entry"].includes(m.scope),
      `${k}: scope ${m.scope}`,
    );
    assert.equal(typeof m.derive, "function", k);
    assert.equal(typeof m.run, "function", k);
  }
});

test("each kind derives where it did: the scopes, in CHECK_KINDS order", () => {
  const byScope = (scope: string): CheckKind[] => CHECK_KINDS.filter((k) => checkKinds[k].scope === scope);
  assert.deepEqual(byScope("path"), ["reachable", "ssh.hostkey", "ssh.key-only", "ssh.login"]);
  assert.deepEqual(byScope("port"), ["port.open", "port.closed"]);
  assert.deepEqual(byScope("server"), ["dns.records"]);
  assert.deepEqual(byScope("content"), ["http", "prometheus.targets", "grafana", "node_exporter"]);
  assert.deepEqual(byScope("on-host"), [
    "listeners",
    "sysctl",
    "wireguard.peers",
    "backup.walg",
    "backup.pgbackrest",
    "backup.pgbackrest-check",
    "backup.wal-archive",
    "backup.rehearsal",
  ]);
  assert.deepEqual(byScope("entry"), ["proxmox.cluster", "proxmox.ceph"]);
});

test("the SSH kinds parallel.ts keeps on the main thread are the modules with transport ssh", () => {
  const ssh = CHECK_KINDS.filter((k) => checkKinds[k].transport === "ssh");
  assert.deepEqual(ssh, [
    "ssh.hostkey",
    "ssh.key-only",
    "ssh.login",
    "listeners",
    "sysctl",
    "wireguard.peers",
    "backup.walg",
    "backup.pgbackrest",
    "backup.pgbackrest-check",
    "backup.wal-archive",
    "backup.rehearsal",
  ]);
  assert.deepEqual([...SSH_KINDS], ssh);
  const local = new Set(["here"]);
  for (const kind of CHECK_KINDS) {
    const spec = { id: `h/${kind}@here`, kind, host: "h", vantage: "here" } as CheckSpec;
    assert.equal(isPortable(spec, local), !ssh.includes(kind), kind);
    assert.equal(isPortable({ ...spec, vantage: "far" }, local), false, kind);
  }
});

test("serve's default schedule per kind: 30 s for reachable, port.open and http, 5 min for backup.walg and backup.pgbackrest, 6 h for backup.pgbackrest-check, else 60 s; 3 and 2", () => {
  const slow: Record<string, number> = {
    "backup.walg": 300_000,
    "backup.pgbackrest": 300_000,
    "backup.pgbackrest-check": 6 * 3_600_000,
  };
  assert.deepEqual(DEFAULT_KIND_INTERVAL_MS, {
    reachable: 30_000,
    "port.open": 30_000,
    http: 30_000,
    ...slow,
  });
  const checks = defaultServeSettings().checks;
  assert.deepEqual(checks.default, { intervalMs: 60_000, failAfter: 3, recoverAfter: 2 });
  for (const kind of CHECK_KINDS) {
    const intervalMs = slow[kind] ?? (["reachable", "port.open", "http"].includes(kind) ? 30_000 : 60_000);
    assert.deepEqual(checks[kind], { intervalMs, failAfter: 3, recoverAfter: 2 }, kind);
  }
});

test("only the restore rehearsal is on demand: keel verify does not derive it, keel serve does", () => {
  assert.deepEqual(
    CHECK_KINDS.filter((k) => checkKinds[k].onDemand),
    ["backup.rehearsal"],
  );
});

test("the derive loop hands every kind's module its own checks: params match the spec's kind", () => {
  const specs = deriveChecks(contractExample());
  const kinds = new Set(specs.map((s) => s.kind));
  for (const s of specs) assert.equal(s.params.kind, s.kind, s.id);
  // the contract example exercises every scope
  for (const k of ["reachable", "port.open", "port.closed", "listeners", "http"] as const)
    assert.ok(kinds.has(k), k);
});
