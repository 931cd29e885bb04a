/**
 * The backups twin's plan: for each `backups.pgbackrest` stanza, which host runs PostgreSQL 15,
 * which users log in over SSH to which host (pgBackRest's transport), the `pgbackrest.conf` of
 * each host (primary, repository, rehearsal host) and the PostgreSQL settings of the primary. A
 * pure function of the Inventory, so it is unit-tested; backups.ts makes it real.
 *
 * Option names follow pgBackRest's configuration reference (pgbackrest.org/configuration.html,
 * 2.45): `repo1-path`, `repo1-host`, `repo1-host-user`, `repo1-retention-full`, `pgN-host`,
 * `pgN-host-user`, `pgN-path`, `pgN-port`, `pgN-user`, `start-fast`, `compress-type`; and PostgreSQL 15's (postgresql.org/docs/15,
 * "Continuous Archiving"): `archive_mode`, `archive_command`, `wal_level`.
 */
import { posix } from "node:path";
import type { Host, Inventory, PgBackRestStanza } from "../inventory/model.js";

/** Debian's PostgreSQL 15 server binaries (package `postgresql-15`). */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
/** The system user PostgreSQL runs as, and pgBackRest on a PostgreSQL host (`pgN-host-user`). */
export const PG_USER = "postgres";
/** PostgreSQL's unix socket directory on Debian (`unix_socket_directories`, pgBackRest's `pg1-socket-path`). */
export const PG_SOCKET_DIR = "/var/run/postgresql";
/** Full backups kept by the twin's repository (`repo1-retention-full`). */
export const LAB_RETENTION_FULL = 2;

/** pgBackRest's default paths (pgbackrest.org/configuration.html): what the lab binds per host. */
export const PGBACKREST_PATHS = {
  /** The configuration file Debian's package installs (`--config` default fallback). */
  config: "/etc/pgbackrest.conf",
  /** `--config` default when it exists; bound too when the machine has it. */
  configDir: "/etc/pgbackrest/pgbackrest.conf",
  /** `repo1-path` default. */
  repo: "/var/lib/pgbackrest",
  /** `log-path` default. */
  log: "/var/log/pgbackrest",
  /** `spool-path` default. */
  spool: "/var/spool/pgbackrest",
  /** `lock-path` default. */
  lock: "/tmp/pgbackrest",
} as const;

/** One SSH client of the twin: `user` on `host` logs in as `as` on `to` at `address:port`. */
export interface SshHop {
  host: string;
  user: string;
  to: string;
  as: string;
  address: string;
  port: number;
}

/** What the lab runs for one stanza. */
export interface StanzaLabPlan {
  stanza: string;
  /** The primary: its host, `pgN` index, data directory, port, and the addresses it listens on. */
  primary: { host: string; index: number; data: string; port: number; listen: string[] };
  /** The repository host; equal to `primary.host` for a repository on the primary. */
  repository: string;
  /** The user pgbackrest runs as on each host of the stanza: the stanza's `user`, else the host's SSH user. */
  runners: Record<string, string>;
  /** The rehearsal host and scratch directory, when declared. */
  rehearsal?: { host: string; dir: string };
  /** Declared standbys the twin leaves out (it runs the primary only). */
  standbysLeftOut: string[];
  /** `pgbackrest.conf` of each host of the stanza. */
  configs: Record<string, string>;
  /** Every SSH login pgBackRest makes between the stanza's hosts. */
  hops: SshHop[];
}

/** The SSH user of a host (its `ssh.user`), root when it has no SSH. */
function sshUser(h: Host | undefined): string {
  return h?.ssh?.user ?? "root";
}

/** The SSH port of a host (its `ssh.port`, 22 by default). */
function sshPort(h: Host | undefined): number {
  return h?.ssh?.port ?? 22;
}

/** The address of `to` that `from` reaches directly: on a network they share, else `to`'s first. */
export function addressFrom(from: Host, to: Host): string {
  const nets = new Set(from.addresses.map((a) => a.network));
  const a = to.addresses.find((x) => nets.has(x.network)) ?? to.addresses[0];
  if (!a) throw new Error(`host ${to.name} has no address`);
  return a.address;
}

/** `pgbackrest.conf` text from sections of `key=value` pairs (INI, as pgBackRest reads it). */
function ini(sections: [string, [string, string | number][]][]): string {
  return sections
    .filter(([, kv]) => kv.length > 0)
    .map(([name, kv]) => `[${name}]\n${kv.map(([k, v]) => `${k}=${v}`).join("\n")}\n`)
    .join("\n");
}

/** The twin's plan of one stanza. */
export function planStanza(inv: Inventory, s: PgBackRestStanza): StanzaLabPlan {
  const host = (name: string): Host => {
    const h = inv.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`host ${name} is not declared`);
    return h;
  };
  const pg = s.postgres.find((p) => p.role === "primary") ?? s.postgres[0]!;
  const primary = host(pg.host);
  const repo = host(s.repository);
  const n = pg.index;
  const runner = (h: Host) => s.user ?? sshUser(h);
  const runners: Record<string, string> = { [primary.name]: runner(primary), [repo.name]: runner(repo) };
  const hops: SshHop[] = [];
  const hop = (from: Host, user: string, to: Host, as: string) => {
    if (!hops.some((x) => x.host === from.name && x.user === user && x.to === to.name && x.as === as))
      hops.push({
        host: from.name,
        user,
        to: to.name,
        as,
        address: addressFrom(from, to),
        port: sshPort(to),
      });
  };
  const configs: Record<string, string> = {};
  const pgKeys = (local: boolean): [string, string | number][] => [
    ...(local
      ? []
      : ([
          [`pg${n}-host`, addressFrom(repo, primary)],
          [`pg${n}-host-user`, PG_USER],
          ...(sshPort(primary) !== 22 ? [[`pg${n}-host-port`, sshPort(primary)]] : []),
        ] as [string, string | number][])),
    [`pg${n}-path`, pg.data],
    [`pg${n}-port`, pg.port],
    // the database user, whoever runs pgbackrest (root when the stanza declares no user)
    ...(local ? ([[`pg${n}-user`, PG_USER]] as [string, string][]) : []),
  ];
  const repoKeys: [string, string | number][] = [
    ["repo1-path", PGBACKREST_PATHS.repo],
    ["repo1-retention-full", LAB_RETENTION_FULL],
  ];
  // the twin's speed: an immediate checkpoint at backup start, fast compression
  const speed: [string, string | number][] = [
    ["start-fast", "y"],
    ["compress-type", "lz4"],
  ];
  const remoteRepo = (from: Host): [string, string | number][] => [
    ["repo1-host", addressFrom(from, repo)],
    ["repo1-host-user", runner(repo)],
    ...(sshPort(repo) !== 22 ? ([["repo1-host-port", sshPort(repo)]] as [string, number][]) : []),
  ];
  if (repo.name === primary.name) {
    configs[primary.name] = ini([
      ["global", [...repoKeys, ...speed]],
      [s.stanza, pgKeys(true)],
    ]);
  } else {
    configs[repo.name] = ini([
      ["global", [...repoKeys, ...speed]],
      [s.stanza, pgKeys(false)],
    ]);
    configs[primary.name] = ini([
      ["global", [...remoteRepo(primary), ["compress-type", "lz4"]]],
      [s.stanza, pgKeys(true)],
    ]);
    // archive-push (as postgres) and Keel's `pgbackrest check` (as the runner) reach the repository
    hop(primary, PG_USER, repo, runner(repo));
    hop(primary, runner(primary), repo, runner(repo));
    // backups on the repository reach the primary as postgres
    hop(repo, runner(repo), primary, PG_USER);
  }
  let rehearsal: StanzaLabPlan["rehearsal"];
  if (s.rehearsal) {
    const r = host(s.rehearsal.host);
    rehearsal = { host: r.name, dir: s.rehearsal.dir };
    runners[r.name] = runner(r);
    if (r.name !== repo.name) {
      configs[r.name] = ini([
        ["global", [...remoteRepo(r), ["compress-type", "lz4"]]],
        [s.stanza, [["pg1-path", s.rehearsal.dir]]],
      ]);
      hop(r, runner(r), repo, runner(repo));
      // a server started on the restored directory fetches WAL with archive-get, as postgres
      hop(r, PG_USER, repo, runner(repo));
    }
  }
  return {
    stanza: s.stanza,
    primary: {
      host: primary.name,
      index: n,
      data: pg.data,
      port: pg.port,
      listen: primary.addresses.map((a) => a.address),
    },
    repository: repo.name,
    runners,
    ...(rehearsal ? { rehearsal } : {}),
    standbysLeftOut: s.postgres.filter((p) => p !== pg).map((p) => p.host),
    configs,
    hops,
  };
}

/**
 * Why the backups twin cannot run this inventory, one sentence each (empty when it can): the
 * twin binds one pgBackRest configuration, repository and PostgreSQL socket directory per host,
 * so a host may serve one stanza only.
 */
export function backupsTwinProblems(inv: Inventory): string[] {
  const owner = new Map<string, string>();
  const out: string[] = [];
  for (const s of inv.backups.pgbackrest) {
    const hosts = new Set([
      s.repository,
      ...s.postgres.filter((p) => p.role === "primary").map((p) => p.host),
      ...(s.rehearsal ? [s.rehearsal.host] : []),
    ]);
    for (const h of hosts) {
      const first = owner.get(h);
      if (first === undefined) owner.set(h, s.stanza);
      else
        out.push(
          `host ${h} serves pgBackRest stanzas "${first}" and "${s.stanza}"; the lab twins one stanza per host (one /etc/pgbackrest.conf, repository and socket directory each)`,
        );
    }
  }
  return out;
}

/** The twin's plan of every pgBackRest stanza of the inventory, in declaration order. */
export function planBackups(inv: Inventory): StanzaLabPlan[] {
  return inv.backups.pgbackrest.map((s) => planStanza(inv, s));
}

/**
 * Users other than root that pgBackRest logs in as over SSH on `host` (postgres on a primary, the
 * stanza's user on a repository): the lab's sshd reads their keys from `~/.ssh/authorized_keys`,
 * which the lab binds, since it drops privileges to the user before reading a key file and the lab
 * directory may not be readable by that user.
 */
export function sshLoginUsers(inv: Inventory, host: string): string[] {
  const users = planBackups(inv).flatMap((p) =>
    p.hops.filter((h) => h.to === host && h.as !== "root").map((h) => h.as),
  );
  return [...new Set(users)].sort();
}

/**
 * Settings appended to the primary's `postgresql.conf` (so that `ALTER SYSTEM`, which writes
 * `postgresql.auto.conf`, still overrides them): its addresses and socket, WAL archiving to the
 * repository through `pgbackrest archive-push`, and durability off (fsync, synchronous_commit,
 * full_page_writes protect against power loss only, which a twin does not have).
 */
export function postgresConf(p: StanzaLabPlan): string {
  const q = (v: string) => `'${v.replaceAll("'", "''")}'`;
  return [
    "",
    "# keel lab: the backups twin",
    `listen_addresses = ${q(["localhost", ...p.primary.listen].join(","))}`,
    `port = ${p.primary.port}`,
    `unix_socket_directories = ${q(PG_SOCKET_DIR)}`,
    "wal_level = replica",
    "max_wal_senders = 4",
    "archive_mode = on",
    `archive_command = ${q(`pgbackrest --stanza=${p.stanza} archive-push %p`)}`,
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
    "shared_buffers = 16MB",
    "",
  ].join("\n");
}

/** The parent of a data directory: what the lab binds so the declared path exists in the host. */
export function dataParent(data: string): string {
  return posix.dirname(posix.normalize(data));
}
