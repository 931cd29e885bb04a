/**
 * `GET /api/backups` and the backup families of `/metrics`, through the real API server
 * (fastify inject) and metrics registry over the in-memory engine (test/serve/memory.ts) fed
 * results with the backup kinds' `observed` shapes: nothing observed is shown as not observed
 * (never met), objectives are judged from the facts at the time of the request, the WAL archive
 * and the rehearsal are reported, and the metrics carry the same facts as Unix timestamps.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/serve/api.js";
import { sha256Hex } from "../../../src/serve/auth.js";
import type { BackupView } from "../../../src/serve/backups.js";
import { KeelEngine } from "../../../src/serve/engine.js";
import { createMetrics } from "../../../src/serve/metrics.js";
import type { Prober, SshTarget } from "../../../src/verify/types.js";
import { INFO_THREE_BACKUPS } from "../../fixtures/pgbackrest-info.js";
import { contractExample } from "../../helpers/inventory.js";
import {
  backupSpecs,
  backupsInventory,
  pgbrObserved,
  rehearsalObserved,
  result,
  walgObserved,
  walObserved,
} from "../../serve/backups.js";
import { MemoryEngine, MemoryStore } from "../../serve/memory.js";

const VIEWER = "backups-viewer-token-0123456789";
const pos = { file: "keel.yaml", line: 1, col: 1 };
const dir = mkdtempSync(join(tmpdir(), "keel-backups-test-"));
let engine: MemoryEngine;
let app: FastifyInstance;

before(async () => {
  const inv = backupsInventory();
  inv.serve.tokens = [{ name: "wall", role: "viewer", sha256: sha256Hex(VIEWER), pos }];
  engine = new MemoryEngine(inv, backupSpecs(inv));
  app = await buildServer({ engine, store: engine.store, auditFile: join(dir, "audit.log"), webRoot: dir });
  await app.ready();
});

after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function backups(): Promise<{ at: string; items: BackupView[] }> {
  const res = await app.inject({ url: "/api/backups", headers: { authorization: `Bearer ${VIEWER}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** Samples of one metric family in text format: labels text → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

describe("GET /api/backups", () => {
  test("needs a token", async () => {
    const res = await app.inject({ url: "/api/backups" });
    assert.equal(res.statusCode, 401);
  });

  test("before any result: every backup listed with its hosts and checks, nothing met, all not observed", async () => {
    const { items } = await backups();
    assert.deepEqual(
      items.map((b) => [b.tool, b.name, b.hosts]),
      [
        [
          "pgbackrest",
          "main",
          { primary: "gpu", repository: "mon", postgres: ["gpu", "ns1"], rehearsal: "gw-vpn" },
        ],
        ["walg", "app", { primary: "mon", repository: null, postgres: ["mon"], rehearsal: null }],
      ],
    );
    const [main, app_] = items as [BackupView, BackupView];
    assert.deepEqual(
      main.checks.map((c) => [c.id, c.status, c.state, c.served]),
      [
        ["mon/backup.pgbackrest/main", null, "unknown", true],
        ["mon/backup.pgbackrest-check/main", null, "unknown", true],
        ["gpu/backup.wal-archive/main", null, "unknown", true],
        ["gw-vpn/backup.rehearsal/main", null, "unknown", true],
      ],
    );
    assert.deepEqual(
      app_.checks.map((c) => c.id),
      ["mon/backup.walg/app", "mon/backup.wal-archive/app"],
    );
    for (const b of items) {
      for (const o of [b.objectives.backup, b.objectives.wal]) {
        assert.equal(o.met, null, `${b.name}: ${o.reason}`);
        assert.match(o.reason, /^not yet observed: \S+ has no result yet$/);
      }
      assert.equal(b.backups.observedAt, null);
      assert.equal(b.backups.newest, null);
      assert.equal(b.wal.observedAt, null);
      assert.equal(b.wal.failing, null);
    }
    assert.equal(main.objectives.backup.objectiveSec, 26 * 3600);
    assert.equal(main.objectives.wal.objectiveSec, 900);
    assert.deepEqual(
      main.backups.types.map((t) => [t.type, t.scheduleSec, t.newest]),
      [
        ["full", 168 * 3600, null],
        ["diff", 24 * 3600, null],
        ["incr", 3600, null],
      ],
    );
    assert.deepEqual(main.rehearsal, {
      host: "gw-vpn",
      intervalSec: 168 * 3600,
      at: null,
      status: null,
      message: null,
      set: null,
      pointInTime: null,
      durationSec: null,
      step: null,
      overdue: null,
    });
    assert.equal(app_.rehearsal, null);
  });

  test("with results: newest by type, WAL lag and backlog, rehearsal, objectives met or not with the reason", async () => {
    const now = Date.now();
    engine.feed(
      result("backup.pgbackrest", "mon", "main", "pass", "newest incr 2 h old", pgbrObserved(now, 7200)),
    );
    engine.feed(
      result("backup.pgbackrest-check", "mon", "main", "pass", "check ok", {
        stanza: "main",
        durationSec: 3,
      }),
    );
    engine.feed(
      result(
        "backup.wal-archive",
        "gpu",
        "main",
        "pass",
        "archiving",
        walObserved(now, {
          backup: "main",
          tool: "pgbackrest",
          lastArchivedAgeSec: 60,
          ready: 2,
          oldestReadyAgeSec: 30,
        }),
      ),
    );
    const rehearsedAt = new Date(now - 86_400_000);
    engine.feed(
      result("backup.rehearsal", "gw-vpn", "main", "pass", "restored in 7 min", rehearsalObserved(now, 420)),
      rehearsedAt,
    );
    // WAL-G: the newest backup is 30 h old (objective 26 h); archiving failed after the last success
    engine.feed(
      result("backup.walg", "mon", "app", "fail", "newest backup 30 h old", walgObserved(now, 30 * 3600)),
    );
    engine.feed(
      result(
        "backup.wal-archive",
        "mon",
        "app",
        "fail",
        "archive_command failing",
        walObserved(now, {
          backup: "app",
          tool: "walg",
          lastArchivedAgeSec: 1200,
          lastFailedAgeSec: 60,
          ready: 20,
          oldestReadyAgeSec: 1150,
        }),
      ),
    );

    const { items } = await backups();
    const [main, app_] = items as [BackupView, BackupView];

    assert.equal(main.backups.count, 12);
    assert.equal(main.backups.running, null);
    assert.equal(main.backups.newest?.label, "20261201-010000F_20261206-190000I");
    assert.deepEqual(
      main.backups.types.map((t) => [t.type, t.newest?.label, t.newest?.ageSec]),
      [
        ["full", "20261201-010000F", 5 * 86_400],
        ["diff", "20261201-010000F_20261206-010000D", 20 * 3600],
        ["incr", "20261201-010000F_20261206-190000I", 7200],
      ],
    );
    assert.deepEqual(main.objectives.backup, {
      objectiveSec: 26 * 3600,
      met: true,
      reason:
        "newest backup 20261201-010000F_20261206-190000I (incr) finished 2 h ago, within the objective 26 h",
    });
    assert.equal(main.wal.lagSec, 60);
    assert.equal(main.wal.ready, 2);
    assert.equal(main.wal.oldestReadyAgeSec, 30);
    assert.equal(main.wal.failing, false);
    assert.equal(main.wal.walBytes, 1_073_741_824);
    assert.equal(main.wal.freeBytes, 40e9);
    assert.deepEqual(main.objectives.wal, {
      objectiveSec: 900,
      met: true,
      reason: "last WAL segment archived 1 min ago, within the objective 15 min",
    });
    assert.equal(main.rehearsal?.at, rehearsedAt.toISOString());
    assert.equal(main.rehearsal?.status, "pass");
    assert.equal(main.rehearsal?.set, "20261201-010000F_20261206-010000D");
    assert.equal(main.rehearsal?.durationSec, 420);
    assert.equal(main.rehearsal?.pointInTime, new Date(now - 3_600_000).toISOString());
    assert.equal(main.rehearsal?.overdue, false);
    assert.deepEqual(
      main.checks.map((c) => [c.id, c.status, c.message]),
      [
        ["mon/backup.pgbackrest/main", "pass", "newest incr 2 h old"],
        ["mon/backup.pgbackrest-check/main", "pass", "check ok"],
        ["gpu/backup.wal-archive/main", "pass", "archiving"],
        ["gw-vpn/backup.rehearsal/main", "pass", "restored in 7 min"],
      ],
    );

    assert.deepEqual(
      app_.backups.types.map((t) => [t.type, t.scheduleSec, t.newest?.label ?? null]),
      [
        ["full", 24 * 3600, "base_000000010000000000000010"],
        ["delta", null, null],
      ],
    );
    assert.equal(app_.objectives.backup.met, false);
    assert.match(app_.objectives.backup.reason, /finished 30 h ago, over the objective 26 h$/);
    assert.equal(app_.wal.failing, true);
    assert.equal(app_.wal.lastFailedWal, "000000010000000000000043");
    assert.equal(app_.objectives.wal.met, false);
    assert.equal(
      app_.objectives.wal.reason,
      "last WAL segment archived 20 min ago, over the objective 15 min",
    );
  });

  test("a backup running (pgBackRest's stanza lock held) is shown with how long", async () => {
    engine.feed(
      result("backup.pgbackrest", "mon", "main", "pass", "ok", {
        ...pgbrObserved(Date.now(), 7200),
        lock: { held: true, ageSec: 1800 },
      }),
    );
    assert.deepEqual((await backups()).items[0]!.backups.running, { forSec: 1800 });
  });

  test("a backlog older than the WAL objective misses it even when the last archiving is recent", async () => {
    const now = Date.now();
    engine.feed(
      result(
        "backup.wal-archive",
        "gpu",
        "main",
        "fail",
        "slow archiving",
        walObserved(now, {
          backup: "main",
          tool: "pgbackrest",
          lastArchivedAgeSec: 10,
          ready: 300,
          oldestReadyAgeSec: 3600,
        }),
      ),
    );
    const main = (await backups()).items[0]!;
    assert.equal(main.objectives.wal.met, false);
    assert.equal(
      main.objectives.wal.reason,
      "oldest of 300 segments waiting to be archived is 1 h old, over the objective 15 min",
    );
  });

  test("a result without facts (an error) leaves the objective not observed, naming the error", async () => {
    engine.feed(result("backup.pgbackrest", "mon", "main", "error", "ssh: connection refused"));
    const main = (await backups()).items[0]!;
    assert.equal(main.objectives.backup.met, null);
    assert.equal(
      main.objectives.backup.reason,
      "not observed: the latest result of mon/backup.pgbackrest/main (error) carries no facts: ssh: connection refused",
    );
    assert.equal(main.backups.newest, null);
    assert.equal(main.checks[0]?.status, "error");
  });

  test("a backup with no backup at all misses its objective", async () => {
    const now = Date.now();
    engine.feed(
      result("backup.pgbackrest", "mon", "main", "fail", "no backup", {
        ...pgbrObserved(now, 60),
        backups: 0,
        newest: null,
        byType: {},
      }),
    );
    const main = (await backups()).items[0]!;
    assert.equal(main.objectives.backup.met, false);
    assert.equal(main.objectives.backup.reason, "no backup in the repository; objective 26 h");
    // pgBackRest's own status beside an empty list is given as the reason's detail
    engine.feed(
      result("backup.pgbackrest", "mon", "main", "fail", "status 1", {
        ...pgbrObserved(Date.now(), 60),
        status: { code: 1, message: "missing stanza path" },
        backups: 0,
        newest: null,
        byType: {},
      }),
    );
    assert.equal(
      (await backups()).items[0]!.objectives.backup.reason,
      "no backup in the repository (pgBackRest status 1: missing stanza path); objective 26 h",
    );
  });
});

describe("backup metrics", () => {
  test("timestamps, objectives, WAL archive and rehearsal per backup; no sample for what is not observed", async () => {
    const inv = backupsInventory();
    const e = new MemoryEngine(inv, backupSpecs(inv));
    const metrics = createMetrics(e);
    try {
      let text = await metrics.render();
      // declared: objectives and rehearsal interval at once; nothing observed: no other sample
      assert.deepEqual(
        [...samples(text, "keel_backup_objective_seconds")],
        [
          ['{backup="main",tool="pgbackrest",objective="backup"}', 93600],
          ['{backup="main",tool="pgbackrest",objective="wal"}', 900],
          ['{backup="app",tool="walg",objective="backup"}', 93600],
          ['{backup="app",tool="walg",objective="wal"}', 900],
        ],
      );
      assert.deepEqual(
        [...samples(text, "keel_backup_rehearsal_interval_seconds")],
        [['{backup="main",tool="pgbackrest"}', 604800]],
      );
      for (const name of [
        "keel_backup_last_finished_timestamp_seconds",
        "keel_wal_archive_last_archived_timestamp_seconds",
        "keel_wal_archive_failing",
        "keel_wal_archive_ready_files",
        "keel_backup_rehearsal_last_timestamp_seconds",
        "keel_backup_rehearsal_last_success",
      ])
        assert.equal(samples(text, name).size, 0, name);
      assert.match(text, /# TYPE keel_wal_archive_failing gauge/);

      const now = Date.now();
      const pg = pgbrObserved(now, 7200);
      e.feed(result("backup.pgbackrest", "mon", "main", "pass", "ok", pg));
      const wal = walObserved(now, {
        backup: "app",
        tool: "walg",
        lastArchivedAgeSec: 1200,
        lastFailedAgeSec: 60,
        ready: 20,
        oldestReadyAgeSec: 1150,
      });
      e.feed(result("backup.wal-archive", "mon", "app", "fail", "failing", wal));
      const walMain = walObserved(now, { backup: "main", tool: "pgbackrest", lastArchivedAgeSec: 30 });
      e.feed(result("backup.wal-archive", "gpu", "main", "pass", "ok", walMain));
      const rehearsedAt = new Date(now - 3_600_000);
      e.feed(
        result(
          "backup.rehearsal",
          "gw-vpn",
          "main",
          "fail",
          "restore failed",
          rehearsalObserved(now, 95, "restore"),
        ),
        rehearsedAt,
      );
      text = await metrics.render();

      const ts = (iso: string | null) => Date.parse(iso!) / 1000;
      assert.deepEqual(
        [...samples(text, "keel_backup_last_finished_timestamp_seconds")],
        [
          ['{backup="main",tool="pgbackrest",type="any"}', ts(pg.newest.finished)],
          ['{backup="main",tool="pgbackrest",type="full"}', ts(pg.byType.full.finished)],
          ['{backup="main",tool="pgbackrest",type="diff"}', ts(pg.byType.diff.finished)],
          ['{backup="main",tool="pgbackrest",type="incr"}', ts(pg.byType.incr.finished)],
        ],
      );
      assert.deepEqual(
        [...samples(text, "keel_wal_archive_last_archived_timestamp_seconds")],
        [
          ['{backup="main",tool="pgbackrest",host="gpu"}', ts(walMain.lastArchived)],
          ['{backup="app",tool="walg",host="mon"}', ts(wal.lastArchived)],
        ],
      );
      assert.deepEqual(
        [...samples(text, "keel_wal_archive_failing")],
        [
          ['{backup="main",tool="pgbackrest",host="gpu"}', 0],
          ['{backup="app",tool="walg",host="mon"}', 1],
        ],
      );
      assert.deepEqual(
        [...samples(text, "keel_wal_archive_last_failed_timestamp_seconds")],
        [['{backup="app",tool="walg",host="mon"}', ts(wal.lastFailed)]],
      );
      assert.deepEqual(
        [...samples(text, "keel_wal_archive_ready_files")],
        [
          ['{backup="main",tool="pgbackrest",host="gpu"}', 0],
          ['{backup="app",tool="walg",host="mon"}', 20],
        ],
      );
      // none waits on gpu: no oldest-ready sample there
      assert.deepEqual(
        [...samples(text, "keel_wal_archive_oldest_ready_timestamp_seconds")],
        [['{backup="app",tool="walg",host="mon"}', ts(wal.oldestReady)]],
      );
      assert.equal(
        samples(text, "keel_wal_directory_bytes").get('{backup="app",tool="walg",host="mon"}'),
        1_073_741_824,
      );
      assert.equal(
        samples(text, "keel_wal_filesystem_free_bytes").get('{backup="app",tool="walg",host="mon"}'),
        40e9,
      );
      assert.equal(
        samples(text, "keel_wal_filesystem_size_bytes").get('{backup="app",tool="walg",host="mon"}'),
        100e9,
      );
      assert.deepEqual(
        [...samples(text, "keel_backup_rehearsal_last_timestamp_seconds")],
        [['{backup="main",tool="pgbackrest"}', rehearsedAt.getTime() / 1000]],
      );
      assert.deepEqual(
        [...samples(text, "keel_backup_rehearsal_last_success")],
        [['{backup="main",tool="pgbackrest"}', 0]],
      );
      assert.deepEqual(
        [...samples(text, "keel_backup_rehearsal_duration_seconds")],
        [['{backup="main",tool="pgbackrest"}', 95]],
      );

      // the streamed answer carries the same families
      let streamed = "";
      for await (const piece of metrics.stream()) streamed += piece;
      assert.deepEqual(
        samples(streamed, "keel_wal_archive_failing"),
        samples(text, "keel_wal_archive_failing"),
      );

      // a reload without backups leaves no backup series behind
      e.reload(contractExample());
      text = await metrics.render();
      assert.equal(samples(text, "keel_backup_objective_seconds").size, 0);
      assert.equal(samples(text, "keel_wal_archive_failing").size, 0);
    } finally {
      metrics.close();
    }
  });
});

describe("GET /api/backups over the real backup check kinds", () => {
  test("the facts the kinds observe (pgBackRest 2.45's real info output, the WAL archive's lines) read as the view expects", async () => {
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    // what the hosts answer over SSH: pgbackrest info (then the lock line and the clock), and
    // the WAL archive's lines (.ready count and oldest mtime, pg_wal size, df, pg_stat_archiver)
    const prober = {
      vantage: "admin",
      async sshExec(_t: SshTarget, command: string) {
        if (command.includes("pgbackrest") && command.includes("info"))
          // the repository host's clock ten minutes after the fixture's newest backup, so the
          // check's verdict does not depend on when the test runs (the view counts ages at `now`)
          return { code: 0, stderr: "", stdout: `${INFO_THREE_BACKUPS}\nlock -\n${1796587104 + 600}\n` };
        if (command.includes("pg_stat_archiver"))
          return {
            code: 0,
            stderr: "",
            stdout: `ready 2 ${sec - 30}\nwal 1073741824\ndf 40000000000 100000000000\narchiver 420|000000010000000000000042|${sec - 60}|0||-1|on|f\n${sec}\n`,
          };
        throw new Error(`unexpected command ${command}`);
      },
      close: async () => undefined,
    } as unknown as Prober;
    const inv = backupsInventory();
    inv.serve.tokens = [{ name: "wall", role: "viewer", sha256: sha256Hex(VIEWER), pos }];
    const specs = backupSpecs(inv);
    const real = new KeelEngine({
      file: join(dir, "keel.yaml"),
      inventory: inv,
      derive: () => specs,
      probers: () => () => prober,
      alerts: false,
      log: () => undefined,
    });
    const server = await buildServer({
      engine: real,
      store: new MemoryStore(),
      auditFile: join(dir, "audit2.log"),
      webRoot: dir,
    });
    try {
      const results = await real.runNow({ glob: "{mon/backup.pgbackrest/main,gpu/backup.wal-archive/main}" });
      assert.deepEqual(
        results.map((r) => [r.id, r.status]),
        [
          ["mon/backup.pgbackrest/main", "pass"],
          ["gpu/backup.wal-archive/main", "pass"],
        ],
        JSON.stringify(results.map((r) => r.message)),
      );
      const res = await server.inject({
        url: "/api/backups",
        headers: { authorization: `Bearer ${VIEWER}` },
      });
      const main = (res.json() as { items: BackupView[] }).items[0]!;
      const iso = (s: number) => new Date(s * 1000).toISOString().replace(".000", "");
      assert.equal(main.backups.count, 3);
      assert.deepEqual(
        main.backups.types.map((t) => [
          t.type,
          t.newest?.label,
          t.newest && Date.parse(t.newest.finished) / 1000,
        ]),
        [
          ["full", "20261206-195816F", 1796587100],
          ["diff", "20261206-195816F_20261206-195821D", 1796587102],
          ["incr", "20261206-195816F_20261206-195823I", 1796587104],
        ],
      );
      assert.equal(main.backups.newest?.label, "20261206-195816F_20261206-195823I");
      // counted at the request, a moment after `now`
      const off = main.backups.newest!.ageSec - (now - 1796587104_000) / 1000;
      assert.ok(off >= -1 && off <= 5, `ageSec off by ${off} s`);
      assert.equal(main.objectives.backup.met, (now - 1796587104_000) / 1000 <= 26 * 3600);
      assert.equal(main.wal.lastArchived && Date.parse(main.wal.lastArchived) / 1000, sec - 60);
      assert.equal(main.wal.ready, 2);
      assert.equal(main.wal.oldestReady, iso(sec - 30));
      assert.equal(main.wal.failing, false);
      assert.equal(main.wal.walBytes, 1073741824);
      assert.equal(main.wal.freeBytes, 40000000000);
      assert.equal(main.wal.filesystemBytes, 100000000000);
      assert.equal(main.objectives.wal.met, true, main.objectives.wal.reason);
    } finally {
      await server.close();
      await real.stop();
    }
  });
});
