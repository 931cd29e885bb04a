/**
 * `keel backup rehearse` flag mistakes, against the built CLI: each exits 2 with one line naming
 * the flag, what is declared and what is expected, and no stack trace. None of these runs
 * reaches the rehearsal host: the inventories' hosts are documentation addresses, never probed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { CLI, ensureBuilt } from "./built.js";

const dir = mkdtempSync(path.join(tmpdir(), "keel-backup-cli-"));
before(() => ensureBuilt());
after(() => rmSync(dir, { recursive: true, force: true }));

const inventory = path.join(dir, "keel.yaml");
writeFileSync(
  inventory,
  `keel: 1
site: lab
networks:
  lan: { cidr: 192.0.2.0/24 }
hosts:
  db-1: { address: { lan: 192.0.2.30 } }
  db-2: { address: { lan: 192.0.2.31 } }
  backup-1: { address: { lan: 192.0.2.40 } }
backups:
  pgbackrest:
    main:
      repository: backup-1
      postgres: [{ host: db-1, data: /var/lib/postgresql/15/main }]
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
      rehearsal: { host: backup-1, dir: /var/tmp/keel-rehearsal }
    other:
      repository: backup-1
      postgres: [{ host: db-2, data: /var/lib/postgresql/15/main }]
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
  walg:
    app:
      host: db-2
      data: /var/lib/postgresql/16/app
      schedule: { full: 1d }
      objectives: { backup: 26h, wal: 15m }
      rehearsal: { host: backup-1, dir: /var/tmp/keel-app }
`,
);

function keel(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, "backup", "rehearse", ...args], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.ok(!r.stderr.includes("    at "), `no stack trace: ${r.stderr}`);
  return r;
}

for (const [args, expected] of [
  [
    ["--stanza", "nope"],
    /^--stanza: no pgBackRest stanza named "nope" is declared \(the inventory declares main, other\); the pgBackRest stanzas with a rehearsal are main$/m,
  ],
  [
    ["--stanza", "other"],
    /^--stanza: pgBackRest stanza "other" declares no rehearsal \(expected a rehearsal: mapping under it\); the pgBackRest stanzas with a rehearsal are main$/m,
  ],
  [
    ["--backup", "main"],
    /^--backup: no WAL-G backup named "main" is declared \(the inventory declares app\); the WAL-G backups with a rehearsal are app$/m,
  ],
  [
    ["--set", "20261206-101500F"],
    /^--set: names one backup, and 2 rehearsals would run \(stanza main, WAL-G backup app\); choose one with --stanza or --backup$/m,
  ],
  [["--bogus"], /unknown option '--bogus'/],
  [["--stanza"], /option '--stanza <name>' argument missing/],
] as const) {
  test(`keel backup rehearse ${args.join(" ")} exits 2 naming the flag`, () => {
    const r = keel(inventory, "--no-history", ...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, expected);
    assert.equal(r.stdout, "");
  });
}

test("an inventory without any rehearsal is exit 2, saying where one is declared", () => {
  const r = keel("examples/lab/keel.yaml", "--no-history");
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    /^the inventory declares no restore rehearsal; expected a rehearsal: mapping under a stanza of backups\.pgbackrest or a backup of backups\.walg/m,
  );
});

test("an invalid inventory is exit 2 with its location; a missing file argument is a usage error", () => {
  const bad = path.join(dir, "bad.yaml");
  writeFileSync(bad, "keel: 1\nsite: lab\nhosts: [1]\n");
  const r = keel(bad);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.yaml:3:\d+: /);
  const none = keel();
  assert.equal(none.status, 2);
  assert.match(none.stderr, /missing required argument 'file'/);
});

test("keel backup --help lists rehearse; keel backup rehearse --help lists its flags", () => {
  const top = spawnSync(process.execPath, [CLI, "backup", "--help"], { encoding: "utf8" });
  assert.equal(top.status, 0);
  assert.match(top.stdout, /rehearse \[options\] <file>/);
  const help = keel("--help");
  assert.equal(help.status, 0);
  for (const flag of [
    "--stanza <name>",
    "--backup <name>",
    "--set <label>",
    "--json",
    "--db <path|url>",
    "--no-history",
  ])
    assert.ok(help.stdout.includes(flag), flag);
});
