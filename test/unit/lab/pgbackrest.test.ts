import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadInventory } from "../../../src/inventory/load.js";
import type { Inventory } from "../../../src/inventory/model.js";
import { dataParent, planBackups, postgresConf, sshLoginUsers } from "../../../src/lab/pgbackrest.js";
import { planLab } from "../../../src/lab/plan.js";
import { sshdConfig } from "../../../src/lab/sshd.js";
import { emptyState } from "../../../src/lab/state.js";
import type { Lab } from "../../../src/lab/twin.js";
import { labInventory } from "../../lab/fixture.js";

const example = join(import.meta.dirname, "../../../examples/backups/keel.yaml");
const load = (): Inventory => loadInventory(example);

test("the example stanza: primary db-1, repository backup-1, rehearsal on restore-1, all as root", () => {
  const [p, ...more] = planBackups(load());
  assert.equal(more.length, 0);
  assert.deepEqual(p!.primary, {
    host: "db-1",
    index: 1,
    data: "/var/lib/postgresql/15/main",
    port: 5432,
    listen: ["10.30.0.10", "10.31.0.10"],
  });
  assert.equal(p!.repository, "backup-1");
  assert.deepEqual(p!.runners, { "db-1": "root", "backup-1": "root", "restore-1": "root" });
  assert.deepEqual(p!.rehearsal, { host: "restore-1", dir: "/var/tmp/keel-rehearsal" });
  assert.deepEqual(p!.standbysLeftOut, []);
});

test("pgbackrest.conf of each host: repository reaches pg1 as postgres, the others reach the repository", () => {
  const p = planBackups(load())[0]!;
  assert.equal(
    p.configs["backup-1"],
    [
      "[global]",
      "repo1-path=/var/lib/pgbackrest",
      "repo1-retention-full=2",
      "start-fast=y",
      "compress-type=lz4",
      "",
      "[main]",
      "pg1-host=10.30.0.10",
      "pg1-host-user=postgres",
      "pg1-path=/var/lib/postgresql/15/main",
      "pg1-port=5432",
      "",
    ].join("\n"),
  );
  assert.equal(
    p.configs["db-1"],
    [
      "[global]",
      "repo1-host=10.30.0.20",
      "repo1-host-user=root",
      "compress-type=lz4",
      "",
      "[main]",
      "pg1-path=/var/lib/postgresql/15/main",
      "pg1-port=5432",
      "pg1-user=postgres",
      "",
    ].join("\n"),
  );
  assert.match(p.configs["restore-1"]!, /^repo1-host=10\.30\.0\.20$/m);
  assert.match(p.configs["restore-1"]!, /^\[main\]\npg1-path=\/var\/tmp\/keel-rehearsal$/m);
});

test("SSH hops: archive-push and check from db-1, backups from backup-1, restores from restore-1", () => {
  const p = planBackups(load())[0]!;
  assert.deepEqual(
    p.hops.map((h) => `${h.user}@${h.host} -> ${h.as}@${h.to} (${h.address}:${h.port})`),
    [
      "postgres@db-1 -> root@backup-1 (10.30.0.20:22)",
      "root@db-1 -> root@backup-1 (10.30.0.20:22)",
      "root@backup-1 -> postgres@db-1 (10.30.0.10:22)",
      "root@restore-1 -> root@backup-1 (10.30.0.20:22)",
      "postgres@restore-1 -> root@backup-1 (10.30.0.20:22)",
    ],
  );
  const inv = load();
  assert.deepEqual(sshLoginUsers(inv, "db-1"), ["postgres"]);
  assert.deepEqual(sshLoginUsers(inv, "backup-1"), []);
});

test("a stanza user: pgbackrest runs as it everywhere and logs in to the repository as it", () => {
  const inv = load();
  inv.backups.pgbackrest[0]!.user = "pgbackrest";
  const p = planBackups(inv)[0]!;
  assert.deepEqual(p.runners, { "db-1": "pgbackrest", "backup-1": "pgbackrest", "restore-1": "pgbackrest" });
  assert.match(p.configs["db-1"]!, /^repo1-host-user=pgbackrest$/m);
  assert.deepEqual(sshLoginUsers(inv, "backup-1"), ["pgbackrest"]);
  const lab = {
    inventory: inv,
    dir: "/lab",
    plan: planLab(inv),
    state: emptyState(inv.site, inv.file),
  } as Lab;
  assert.match(
    sshdConfig(lab, "backup-1", 22),
    /\nMatch User pgbackrest\n {2}AuthorizedKeysFile \.ssh\/authorized_keys\n$/,
  );
  assert.doesNotMatch(sshdConfig(lab, "restore-1", 22), /Match/);
});

test("a repository on the primary: one configuration, no SSH", () => {
  const inv = load();
  inv.backups.pgbackrest[0]!.repository = "db-1";
  delete inv.backups.pgbackrest[0]!.rehearsal;
  const p = planBackups(inv)[0]!;
  assert.deepEqual(Object.keys(p.configs), ["db-1"]);
  assert.match(p.configs["db-1"]!, /^repo1-path=\/var\/lib\/pgbackrest$/m);
  assert.doesNotMatch(p.configs["db-1"]!, /-host/);
  assert.deepEqual(p.hops, []);
});

test("standbys are left out and named; the primary keeps its pgN index", () => {
  const inv = load();
  const s = inv.backups.pgbackrest[0]!;
  const primary = s.postgres[0]!;
  s.postgres = [
    { ...primary, host: "restore-1", index: 1, role: "standby" },
    { ...primary, index: 2 },
  ];
  delete s.rehearsal;
  const p = planBackups(inv)[0]!;
  assert.deepEqual(p.standbysLeftOut, ["restore-1"]);
  assert.equal(p.primary.index, 2);
  assert.match(p.configs["backup-1"]!, /^pg2-host=10\.30\.0\.10$/m);
  assert.match(p.configs["db-1"]!, /^pg2-path=/m);
});

test("postgresql.conf: the host's addresses, the Debian socket directory, WAL archived with archive-push", () => {
  const conf = postgresConf(planBackups(load())[0]!);
  assert.match(conf, /^listen_addresses = 'localhost,10\.30\.0\.10,10\.31\.0\.10'$/m);
  assert.match(conf, /^unix_socket_directories = '\/var\/run\/postgresql'$/m);
  assert.match(conf, /^archive_mode = on$/m);
  assert.match(conf, /^archive_command = 'pgbackrest --stanza=main archive-push %p'$/m);
  assert.match(conf, /^fsync = off$/m);
  assert.equal(dataParent("/var/lib/postgresql/15/main/"), "/var/lib/postgresql/15");
});

test("the primary's declared postgres service is PostgreSQL itself; a site without backups runs none", () => {
  const plan = planLab(load());
  const db = plan.hosts.find((h) => h.host === "db-1")!;
  assert.deepEqual(
    db.services.find((s) => s.service === "postgres"),
    { service: "postgres", port: 5432, protocol: "tcp", daemon: "postgres", real: true },
  );
  const plain = planLab(labInventory({ site: "unit", dir: "/nonexistent", octet: 20 }));
  assert.equal(
    plain.hosts.flatMap((h) => h.services).some((s) => s.daemon === "postgres"),
    false,
  );
  assert.deepEqual(planBackups(labInventory({ site: "unit", dir: "/nonexistent", octet: 20 })), []);
});

test("a host serving two stanzas cannot be twinned: refused before anything is built", () => {
  const inv = load();
  const main = inv.backups.pgbackrest[0]!;
  inv.backups.pgbackrest.push({
    ...main,
    stanza: "other",
    postgres: [{ ...main.postgres[0]!, host: "restore-1" }],
  });
  delete inv.backups.pgbackrest[1]!.rehearsal;
  assert.throws(
    () => planLab(inv),
    (err: Error) => /host backup-1 serves pgBackRest stanzas "main" and "other"/.test(err.message),
  );
});
