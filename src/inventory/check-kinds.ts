/**
 * The names of the check kinds: declared here, below both the inventory (whose `serve.checks`
 * section is keyed by them) and `verify` (one module per kind in `src/verify/checks/`, in a
 * registry the compiler keeps equal to this list).
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
  "prometheus.targets",
  "grafana",
  "node_exporter",
  "dns.records",
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];
