/**
 * The `backups:` section (Keel extension, docs/inventory.md): pgBackRest stanzas and WAL-G
 * backups normalised with their defaults, and one located error per rule, each asserted on both
 * the fast path (`parseInventory`) and the located path (`parseLocated`). Lines 1–7 are BASE,
 * 8–13 the hosts below, 14–16 open `backups.pgbackrest.main`; a stanza's keys start at line 17.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatProblem, UserError } from "../../../src/errors.js";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import { BASE, yaml } from "./helpers.js";

/** Hosts the backups name (lines 8–13), then the opening of stanza `main` (lines 14–16). */
const HOSTS = [
  "  db-1: { address: 10.20.0.11 }",
  "  db-2: { address: 10.20.0.12 }",
  "  db-3: { address: 10.20.0.13 }",
  "  backup-1: { address: 10.20.0.20 }",
  "  restore-1: { address: 10.20.0.21 }",
  "  nossh: { address: 10.20.0.22, ssh: false }",
  "backups:",
  "  pgbackrest:",
  "    main:",
];

/** A valid stanza, lines 17–22. */
const STANZA = [
  "      repository: backup-1",
  "      postgres:",
  "        - { host: db-1, data: /var/lib/postgresql/16/main, role: primary }",
  "        - { host: db-2, data: /var/lib/postgresql/16/main }",
  "      schedule: { full: 7d, diff: 1d, incr: 1h }",
  "      objectives: { backup: 26h, wal: 15m }",
];

/** The inventory with stanza `main` made of `lines`. */
const site = (...lines: string[]) => yaml(...BASE, ...HOSTS, ...lines);

/** STANZA with line `line` (17–22) replaced by `text` (none: removed). */
function replace(line: number, ...text: string[]): string[] {
  return STANZA.flatMap((l, i) => (i === line - 17 ? text : [l]));
}

/** A WAL-G backup after a valid stanza: `walg:` on line 23, `app:` on 24, its keys from 25. */
const walg = (...lines: string[]) => site(...STANZA, "  walg:", "    app:", ...lines);

/** A valid WAL-G backup, lines 25–28. */
const WALG = [
  "      host: db-3",
  "      data: /var/lib/postgresql/16/main",
  "      schedule: { full: 1d }",
  "      objectives: { backup: 26h, wal: 15m }",
];

/** The problems of `text` on both paths (asserted equal), as `file:line:col: message`. */
function problems(text: string): string[] {
  const of = (load: typeof parseInventory): string[] => {
    try {
      load(text, "t.yaml");
    } catch (e) {
      if (e instanceof UserError) return e.problems.map(formatProblem);
      throw e;
    }
    return assert.fail("expected the inventory to be rejected");
  };
  const fast = of(parseInventory);
  assert.deepEqual(of(parseLocated), fast, "the fast and the located path disagree");
  return fast;
}

/** The one problem of `text` on both paths. */
function one(text: string): string {
  const ps = problems(text);
  assert.equal(ps.length, 1, `expected one problem, got:\n${ps.join("\n")}`);
  return ps[0]!;
}

/** Loads `text` on both paths (asserted equal) and returns the fast path's model. */
function load(text: string) {
  const inv = parseInventory(text, "t.yaml");
  assert.deepEqual(JSON.parse(JSON.stringify(parseLocated(text, "t.yaml"))), JSON.parse(JSON.stringify(inv)));
  return inv;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// ---- normalised model ---------------------------------------------------------------------------

test("without backups: both lists are empty", () => {
  assert.deepEqual(load(yaml(...BASE)).backups, { pgbackrest: [], walg: [] });
});

test("a stanza and a WAL-G backup normalise: durations in ms, pgN indices, roles, defaults, positions", () => {
  const inv = load(
    site(
      "      repository: backup-1",
      "      user: pgbackrest",
      "      postgres:",
      "        - { host: db-1, data: /var/lib/postgresql/16/main, role: primary }",
      "        - { host: db-2, data: /var/lib/postgresql/16/main/, port: 5433 }",
      "      schedule: { full: 7d, diff: 1d, incr: 1h }",
      "      grace: 2h",
      "      objectives: { backup: 26h, wal: 15m }",
      "      check_interval: 12h",
      "      rehearsal:",
      "        host: restore-1",
      "        dir: /var/tmp/keel-rehearsal",
      "        interval: 14d",
      '        queries: ["select count(*) from pg_class", "select 1"]',
      "  walg:",
      "    app:",
      "      host: db-3",
      "      data: /srv/pg/./main",
      "      user: postgres",
      "      env: envdir /run/etc/wal-e.d/env",
      "      schedule: { full: 1d, delta: 6h }",
      "      objectives: { backup: 26h, wal: 15m }",
    ),
  );
  const [main] = inv.backups.pgbackrest;
  const { pos, postgres, rehearsal, ...rest } = main!;
  assert.deepEqual([pos.line, pos.col], [16, 5]);
  assert.deepEqual(rest, {
    stanza: "main",
    repository: "backup-1",
    user: "pgbackrest",
    primary: "db-1",
    schedule: { full: 7 * DAY, diff: DAY, incr: HOUR },
    graceMs: 2 * HOUR,
    objectives: { backupMs: 26 * HOUR, walMs: 15 * 60_000 },
    checkIntervalMs: 12 * HOUR,
  });
  assert.deepEqual(
    postgres.map(({ pos, ...p }) => [p, pos.line]),
    [
      [{ index: 1, host: "db-1", data: "/var/lib/postgresql/16/main", port: 5432, role: "primary" }, 20],
      [{ index: 2, host: "db-2", data: "/var/lib/postgresql/16/main", port: 5433, role: "standby" }, 21],
    ],
  );
  const { pos: rpos, ...r } = rehearsal!;
  assert.deepEqual(r, {
    host: "restore-1",
    dir: "/var/tmp/keel-rehearsal",
    intervalMs: 14 * DAY,
    queries: ["select count(*) from pg_class", "select 1"],
  });
  assert.equal(rpos.line, 26);
  const [app] = inv.backups.walg;
  const { pos: wpos, ...w } = app!;
  assert.equal(wpos.line, 32);
  assert.deepEqual(w, {
    name: "app",
    host: "db-3",
    data: "/srv/pg/main",
    port: 5432,
    user: "postgres",
    env: "envdir /run/etc/wal-e.d/env",
    schedule: { full: DAY, delta: 6 * HOUR },
    graceMs: HOUR,
    objectives: { backupMs: 26 * HOUR, walMs: 15 * 60_000 },
  });
});

test("defaults: one server is the primary, grace 1h, check every 6h, rehearsal every 7d with no queries, no user", () => {
  const inv = load(
    site(
      "      repository: db-1",
      "      postgres: [{ host: db-1, data: /var/lib/postgresql/16/main }]",
      "      schedule: { full: 1d }",
      "      objectives: { backup: 1d, wal: 1d }",
      "      rehearsal: { host: backup-1, dir: /var/tmp/r }",
    ),
  );
  const s = inv.backups.pgbackrest[0]!;
  assert.equal(s.user, undefined);
  assert.equal(s.primary, "db-1");
  assert.equal(s.postgres[0]!.role, "primary");
  assert.equal(s.graceMs, HOUR);
  assert.equal(s.checkIntervalMs, 6 * HOUR);
  assert.equal(s.rehearsal!.intervalMs, 7 * DAY);
  assert.deepEqual(s.rehearsal!.queries, []);
});

// ---- located errors: pgBackRest -------------------------------------------------------------------

test("the repository must be a declared host", () => {
  assert.equal(
    one(site(...replace(17, "      repository: backup-2"))),
    't.yaml:17:19: repository "backup-2" of stanza "main" is not a declared host (did you mean "backup-1"?); expected one of a, db-1, db-2, db-3, backup-1, restore-1, nossh',
  );
});

test("a host named in backups must have SSH", () => {
  assert.equal(
    one(site(...replace(17, "      repository: nossh"))),
    't.yaml:17:19: repository "nossh" of stanza "main" names host "nossh", which has ssh: false, and Keel runs the backup tools\' commands over SSH; expected a host Keel can log in to',
  );
});

test("a PostgreSQL host must be declared", () => {
  assert.equal(
    one(site(...replace(19, "        - { host: db-9, data: /var/lib/postgresql/16/main, role: primary }"))),
    't.yaml:19:19: host "db-9" of pg1 of stanza "main" is not a declared host (did you mean "db-1"?); expected one of a, db-1, db-2, db-3, backup-1, restore-1, nossh',
  );
});

test("a host appears at most once in a stanza", () => {
  assert.equal(
    one(site(...replace(20, "        - { host: db-1, data: /srv/pg }"))),
    't.yaml:20:19: host "db-1" is pg2 of stanza "main" and already pg1 (line 19); expected each PostgreSQL host once in a stanza',
  );
});

test("a stanza has exactly one primary: none", () => {
  assert.equal(
    one(site(...replace(19, "        - { host: db-1, data: /var/lib/postgresql/16/main, role: standby }"))),
    't.yaml:18:7: stanza "main" has no primary among its 2 PostgreSQL servers; expected exactly one with role: primary (the others default to standby)',
  );
});

test("a stanza has exactly one primary: two", () => {
  assert.equal(
    one(site(...replace(20, "        - { host: db-2, data: /var/lib/postgresql/16/main, role: primary }"))),
    't.yaml:20:66: pg2 of stanza "main" is a second primary (pg1 is one); expected exactly one primary per stanza, the others role: standby',
  );
});

test("a role is primary or standby", () => {
  assert.equal(
    one(site(...replace(20, "        - { host: db-2, data: /var/lib/postgresql/16/main, role: replica }"))),
    't.yaml:20:66: role "replica" of pg2 of stanza "main" is not a role; expected primary or standby',
  );
});

test("a data directory is an absolute path, without .., not /", () => {
  const at = (data: string) => one(site(...replace(20, `        - { host: db-2, data: ${data} }`)));
  assert.equal(
    at("var/lib/pg"),
    't.yaml:20:31: data "var/lib/pg" of pg2 of stanza "main" is not an absolute path; expected a path starting with "/", e.g. /var/lib/postgresql/16/main',
  );
  assert.equal(
    at("/var/lib/../pg"),
    't.yaml:20:31: data "/var/lib/../pg" of pg2 of stanza "main" has a ".." segment; expected an absolute path without one, e.g. /var/lib/postgresql/16/main',
  );
  assert.equal(
    at("/"),
    't.yaml:20:31: data "/" of pg2 of stanza "main" is the root directory; expected a directory of its own, e.g. /var/lib/postgresql/16/main',
  );
});

test("a port is a whole number from 1 to 65535", () => {
  for (const port of ["70000", "0", '"5432"'])
    assert.equal(
      one(site(...replace(20, `        - { host: db-2, data: /pg, port: ${port} }`))),
      `t.yaml:20:42: port ${port} of pg2 of stanza "main" is not a port number; expected a whole number from 1 to 65535`,
    );
});

test("unknown keys are rejected, naming the keys expected there", () => {
  assert.equal(
    one(site(...replace(20, "        - { host: db-2, data: /pg, path: /x }"))),
    't.yaml:20:36: unknown key "path" in pg2 of stanza "main"; expected one of host, data, port, role',
  );
  assert.equal(
    one(site(...STANZA, "      retention: 2")),
    't.yaml:23:7: unknown key "retention" in stanza "main"; expected one of repository, user, postgres, schedule, grace, objectives, rehearsal, check_interval',
  );
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 7d, differential: 1d }"))),
    't.yaml:21:29: unknown key "differential" in schedule of stanza "main"; expected one of full, diff, incr',
  );
  assert.equal(
    one(yaml(...BASE, "backups:", "  barman: {}")),
    't.yaml:9:3: unknown key "barman" in backups; expected one of pgbackrest, walg',
  );
});

test("postgres, schedule and objectives are required; postgres and schedule are not empty", () => {
  assert.equal(
    one(site(STANZA[0]!, ...STANZA.slice(4))),
    't.yaml:16:5: stanza "main" is missing required key "postgres"',
  );
  assert.equal(
    one(site(...STANZA.slice(0, 5))),
    't.yaml:16:5: stanza "main" is missing required key "objectives"',
  );
  assert.equal(
    one(site(STANZA[0]!, "      postgres: []", ...STANZA.slice(4))),
    't.yaml:18:17: postgres of stanza "main" is empty; expected the stanza\'s PostgreSQL servers, e.g. - { host: db-1, data: /var/lib/postgresql/16/main }',
  );
  assert.equal(
    one(site(...replace(21, "      schedule: {}"))),
    't.yaml:21:17: schedule of stanza "main" is empty; expected the interval of at least one backup type (full, diff, incr), e.g. { full: 7d, diff: 1d }',
  );
  assert.equal(
    one(site(...replace(22, "      objectives: { backup: 26h }"))),
    't.yaml:22:7: objectives of stanza "main" is missing required key "wal"',
  );
});

test("schedule: durations valid and above zero, each type more frequent than the ones above it", () => {
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 7 days }"))),
    't.yaml:21:25: full "7 days" of schedule of stanza "main" is not a duration; expected a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d',
  );
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 0s, diff: 1d }"))),
    't.yaml:21:25: schedule.full of stanza "main" is 0; expected the interval between two full backups, above zero, e.g. 7d',
  );
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 1d, diff: 1d }"))),
    't.yaml:21:35: schedule.diff 1d of stanza "main" is not shorter than schedule.full (1d), so no diff backup would ever be due; expected each type more frequent than the types above it (full > diff > incr in interval)',
  );
  // only the order is reported, not the objective that the swapped interval would break
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 7d, incr: 8d }"))),
    't.yaml:21:35: schedule.incr 8d of stanza "main" is not shorter than schedule.full (7d), so no incr backup would ever be due; expected each type more frequent than the types above it (full > diff > incr in interval)',
  );
});

test("objectives: above zero, backup at least the shortest interval, wal at most backup", () => {
  assert.equal(
    one(site(...replace(22, "      objectives: { backup: 0s, wal: 15m }"))),
    't.yaml:22:29: objectives.backup of stanza "main" is 0, which no backup can meet; expected the greatest acceptable age, above zero, e.g. 26h',
  );
  assert.equal(
    one(site(...replace(21, "      schedule: { full: 1d }"), ...[]).replace("backup: 26h", "backup: 12h")),
    't.yaml:22:29: objectives.backup 12h of stanza "main" can never be met: with schedule.full 1d, the newest backup is up to 1d old; expected at least 1d, plus the time a backup takes',
  );
  assert.equal(
    one(site(...replace(22, "      objectives: { backup: 26h, wal: 2d }"))),
    't.yaml:22:39: objectives.wal 2d of stanza "main" is longer than objectives.backup (26h): every backup archives the WAL it needs, so the newest archived WAL is never older than the newest backup and this objective could never fail; expected at most 26h',
  );
  assert.equal(
    one(site(...replace(22, "      objectives: { backup: 26h, wal: soon }"))),
    't.yaml:22:39: wal "soon" of objectives of stanza "main" is not a duration; expected a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d',
  );
});

test("check_interval is at least 1m; grace and user are checked by the schema", () => {
  assert.equal(
    one(site(...STANZA, "      check_interval: 30s")),
    't.yaml:23:23: check_interval 30s of stanza "main" is too short: each pgbackrest check forces a WAL switch, archiving a new segment; expected at least 1m (default 6h)',
  );
  assert.equal(
    one(site(...STANZA, "      grace: soon")),
    't.yaml:23:14: grace "soon" of stanza "main" is not a duration; expected a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d',
  );
  assert.equal(
    one(site(...STANZA, "      user: Pg Backrest")),
    't.yaml:23:13: user "Pg Backrest" of stanza "main" is not a valid user name; expected a lowercase letter or _, then lowercase letters, digits, _ or -, at most 32 characters',
  );
});

test("a stanza name is one pgBackRest accepts", () => {
  assert.equal(
    one(yaml(...BASE, ...HOSTS.slice(0, -1), "    main:stanza:", ...STANZA)),
    "t.yaml:16:5: stanza name \"main:stanza\" in backups.pgbackrest is not a valid stanza name; expected letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters (e.g. main)",
  );
  assert.equal(
    load(yaml(...BASE, ...HOSTS.slice(0, -1), "    Main_2:", ...STANZA)).backups.pgbackrest[0]!.stanza,
    "Main_2",
  );
});

test("rehearsal: a declared host other than the servers it protects, a scratch dir apart from data dirs, at most hourly", () => {
  const r = (text: string) => one(site(...STANZA, `      rehearsal: ${text}`));
  assert.equal(
    r("{ host: restor-1, dir: /var/tmp/r }"),
    't.yaml:23:26: rehearsal.host "restor-1" of stanza "main" is not a declared host (did you mean "restore-1"?); expected one of a, db-1, db-2, db-3, backup-1, restore-1, nossh',
  );
  assert.equal(
    r("{ host: db-2, dir: /var/tmp/r }"),
    't.yaml:23:26: rehearsal.host "db-2" of stanza "main" is one of the PostgreSQL hosts it backs up; a rehearsal restores the cluster and starts a second server there, competing with the one it protects; expected another host (the repository host, or a spare one)',
  );
  assert.equal(
    r("{ host: restore-1, dir: / }"),
    't.yaml:23:42: rehearsal.dir "/" of stanza "main" is the root directory; expected a directory of its own, e.g. /var/tmp/keel-rehearsal',
  );
  assert.equal(
    r("{ host: restore-1, dir: /var/tmp/r, interval: 10m }"),
    't.yaml:23:64: rehearsal.interval 10m of stanza "main" is too short: a rehearsal restores the whole cluster; expected at least 1h (default 7d)',
  );
  assert.equal(
    r('{ host: restore-1, dir: /var/tmp/r, queries: [""] }'),
    't.yaml:23:64: item 1 of rehearsal.queries of stanza "main" is empty; expected an SQL statement such as select count(*) from pg_class',
  );
  assert.equal(
    r("{ host: restore-1 }"),
    't.yaml:23:7: rehearsal of stanza "main" is missing required key "dir"',
  );
});

test("a rehearsal directory is no declared data directory of its host, nor inside or around one", () => {
  const on = (dir: string) =>
    one(
      walg(...WALG.slice(0, 1).map(() => "      host: restore-1"), ...WALG.slice(1)).replace(
        "      objectives: { backup: 26h, wal: 15m }\n  walg:",
        `      objectives: { backup: 26h, wal: 15m }\n      rehearsal: { host: restore-1, dir: ${dir} }\n  walg:`,
      ),
    );
  assert.equal(
    on("/var/lib/postgresql/16/main"),
    't.yaml:23:42: rehearsal.dir "/var/lib/postgresql/16/main" of stanza "main" is the data directory /var/lib/postgresql/16/main of WAL-G backup "app" on host "restore-1", and a rehearsal empties its directory; expected a scratch directory apart from every data directory, e.g. /var/tmp/keel-rehearsal',
  );
  assert.match(
    on("/var/lib/postgresql/16/main/scratch"),
    /^t\.yaml:23:42: .* lies inside the data directory /,
  );
  assert.match(on("/var/lib/postgresql/"), /^t\.yaml:23:42: .* holds the data directory /);
  // the same path on another host is no clash
  assert.equal(
    load(site(...STANZA, "      rehearsal: { host: backup-1, dir: /var/lib/postgresql/16/main }")).backups
      .pgbackrest.length,
    1,
  );
});

// ---- located errors: WAL-G ------------------------------------------------------------------------

test("WAL-G: host declared with SSH, data an absolute path, schedule types full and delta", () => {
  assert.equal(
    one(walg("      host: db-4", ...WALG.slice(1))),
    't.yaml:25:13: host "db-4" of WAL-G backup "app" is not a declared host (did you mean "db-1"?); expected one of a, db-1, db-2, db-3, backup-1, restore-1, nossh',
  );
  assert.equal(
    one(walg(WALG[0]!, "      data: pgdata", ...WALG.slice(2))),
    't.yaml:26:13: data "pgdata" of WAL-G backup "app" is not an absolute path; expected a path starting with "/", e.g. /var/lib/postgresql/16/main',
  );
  assert.equal(
    one(walg(...WALG.slice(0, 2), "      schedule: { full: 1d, incr: 1h }", WALG[3]!)),
    't.yaml:27:29: unknown key "incr" in schedule of WAL-G backup "app"; expected one of full, delta',
  );
  assert.equal(
    one(walg(...WALG.slice(0, 2), "      schedule: { full: 1d, delta: 2d }", WALG[3]!)),
    't.yaml:27:36: schedule.delta 2d of WAL-G backup "app" is not shorter than schedule.full (1d), so no delta backup would ever be due; expected each type more frequent than the types above it (full > delta in interval)',
  );
  assert.equal(
    one(walg(...WALG.slice(0, 3), "      objectives: { backup: 26h, wal: 30h }")),
    't.yaml:28:39: objectives.wal 30h of WAL-G backup "app" is longer than objectives.backup (26h): every backup archives the WAL it needs, so the newest archived WAL is never older than the newest backup and this objective could never fail; expected at most 26h',
  );
  assert.equal(
    one(walg(...WALG.slice(0, 3))),
    't.yaml:24:5: WAL-G backup "app" is missing required key "objectives"',
  );
  assert.equal(
    one(walg(...WALG, "      rehearsal: { host: db-3, dir: /var/tmp/r }")),
    't.yaml:29:26: rehearsal.host "db-3" of WAL-G backup "app" is one of the PostgreSQL hosts it backs up; a rehearsal restores the cluster and starts a second server there, competing with the one it protects; expected another host (the repository host, or a spare one)',
  );
});

test("WAL-G: env is one line of words", () => {
  assert.equal(
    one(walg(...WALG, '      env: "envdir /run/etc/wal-e.d/env\\nrm -rf /"')),
    't.yaml:29:12: env of WAL-G backup "app" holds a line break; expected one line of words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env',
  );
  assert.equal(
    one(walg(...WALG, '      env: "  "')),
    't.yaml:29:12: env of WAL-G backup "app" is blank; expected the words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env, or no env at all',
  );
  assert.equal(
    one(walg(...WALG, '      env: ""')),
    't.yaml:29:12: env of WAL-G backup "app" is empty; expected the words put before each wal-g command, e.g. envdir /run/etc/wal-e.d/env',
  );
});

test("a WAL-G backup name is a DNS label", () => {
  assert.match(
    one(site(...STANZA, "  walg:", "    App_1:", ...WALG)),
    /^t\.yaml:24:5: WAL-G backup name "App_1" in backups\.walg is not a valid name; expected a DNS label/,
  );
});

test("every mistake of a stanza is reported in one go, sorted by position", () => {
  assert.deepEqual(
    problems(
      site(
        "      repository: nossh",
        "      postgres:",
        "        - { host: db-1, data: /var/lib/postgresql/16/main, role: standby }",
        "        - { host: db-1, data: /srv/../pg }",
        "      schedule: { full: 1h, diff: 1d }",
        "      objectives: { backup: 26h, wal: 2d }",
      ),
    ).map((p) => p.split(": ")[0]),
    ["t.yaml:17:19", "t.yaml:18:7", "t.yaml:20:19", "t.yaml:20:31", "t.yaml:21:35", "t.yaml:22:39"],
  );
});
