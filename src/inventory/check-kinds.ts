/**
 * The names of the check kinds, and the one fact about a kind the inventory itself applies (the
 * interval `keel serve` runs it at by default): declared here, below both the inventory (whose
 * `serve.checks` section is keyed by them and whose normalised `serve.checks` fills every kind's
 * schedule) and `verify` (one module per kind in `src/verify/checks/`, in a registry the
 * compiler keeps equal to this list). Everything else about a kind is in its module.
 */

/** Every check kind Keel derives, in the order they are listed and derived. */
export const CHECK_KINDS = [
  "reachable",
  "ssh.hostkey",
  "ssh.key-only",
  "ssh.login",
  "port.open",
  "port.closed",
  "http",
  "listeners",
  "sysctl",
  "wireguard.peers",
  "backup.walg",
  "backup.pgbackrest",
  "backup.pgbackrest-check",
  "backup.wal-archive",
  "backup.rehearsal",
  "prometheus.targets",
  "grafana",
  "node_exporter",
  "dns.records",
  "proxmox.cluster",
  "proxmox.ceph",
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/**
 * The interval `keel serve` runs a kind at when `serve.checks` sets neither the kind's interval
 * nor `default`'s, in ms; a kind not listed gets the built-in default schedule's (60 s). Cheap
 * probes, and the parents of topology suppression, run more often. Applied by `schedules()` in
 * `serve-settings.ts` while the inventory is normalised.
 */
export const DEFAULT_KIND_INTERVAL_MS: { readonly [K in CheckKind]?: number } = {
  reachable: 30_000,
  "port.open": 30_000,
  http: 30_000,
  // a backup is taken hours apart; listing the archive reads the backup storage
  "backup.walg": 300_000,
  "backup.pgbackrest": 300_000,
  // each run forces a WAL switch: a stanza's `check_interval` (6 h by default) is used instead
  "backup.pgbackrest-check": 6 * 3_600_000,
};
