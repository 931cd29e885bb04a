/**
 * The list of check kinds: one module per kind (goss-style: the module turns params into probe
 * calls; a pure `judge…`/`parse…` function compares observed with declared).
 */
import {
  CHECK_KINDS,
  type CheckContext,
  type CheckKind,
  type CheckKindDefinition,
  type CheckKindModule,
  type CheckOutcome,
  type CheckSpecOf,
  ProbeError,
  VantageError,
} from "../kind.js";
import { backupPgBackRest } from "./backup-pgbackrest.js";
import { backupPgBackRestCheck } from "./backup-pgbackrest-check.js";
import { backupRehearsal } from "./backup-rehearsal.js";
import { backupWalArchive } from "./backup-wal-archive.js";
import { backupWalg } from "./backup-walg.js";
import { dnsRecords } from "./dns-records.js";
import { grafana } from "./grafana.js";
import { http } from "./http.js";
import { listeners } from "./listeners.js";
import { nodeExporter } from "./node-exporter.js";
import { portClosed } from "./port-closed.js";
import { portOpen } from "./port-open.js";
import { prometheusTargets } from "./prometheus-targets.js";
import { proxmoxCeph } from "./proxmox-ceph.js";
import { proxmoxCluster } from "./proxmox-cluster.js";
import { reachable } from "./reachable.js";
import { sshHostkey } from "./ssh-hostkey.js";
import { sshKeyOnly } from "./ssh-key-only.js";
import { sshLogin } from "./ssh-login.js";
import { sysctl } from "./sysctl.js";
import { wireguardPeers } from "./wireguard-peers.js";

/**
 * Every kind's module, by kind: one line per kind. The `satisfies` makes a kind of `CHECK_KINDS`
 * without a module, or a module under another kind's name, a compile error.
 */
const modules = {
  reachable,
  "ssh.hostkey": sshHostkey,
  "ssh.key-only": sshKeyOnly,
  "ssh.login": sshLogin,
  "port.open": portOpen,
  "port.closed": portClosed,
  http,
  listeners,
  sysctl,
  "wireguard.peers": wireguardPeers,
  "backup.walg": backupWalg,
  "backup.pgbackrest": backupPgBackRest,
  "backup.pgbackrest-check": backupPgBackRestCheck,
  "backup.wal-archive": backupWalArchive,
  "backup.rehearsal": backupRehearsal,
  "prometheus.targets": prometheusTargets,
  grafana,
  node_exporter: nodeExporter,
  "dns.records": dnsRecords,
  "proxmox.cluster": proxmoxCluster,
  "proxmox.ceph": proxmoxCeph,
} satisfies { [K in CheckKind]: CheckKindDefinition<K, { kind: K }> };

/** The params type a kind's module declares. */
type ParamsOf<M> = M extends { run(spec: CheckSpecOf<infer P>, ctx: CheckContext): unknown } ? P : never;

/** Parameters of each check kind (the "resource" of goss' resource/probe/matcher split), as each module declares them. */
export type CheckParams = { [K in CheckKind]: ParamsOf<(typeof modules)[K]> }[CheckKind];

/** Every check kind's module, by kind. */
export const checkKinds: Record<CheckKind, CheckKindDefinition> = modules as unknown as Record<
  CheckKind,
  CheckKindDefinition
>;

/** The kinds whose probes log in or exchange keys over SSH (`transport: "ssh"`), in `CHECK_KINDS` order. */
export const SSH_KINDS: ReadonlySet<CheckKind> = new Set(
  CHECK_KINDS.filter((k) => checkKinds[k].transport === "ssh"),
);

/**
 * Turns an exception thrown by a check's module into its outcome: a `VantageError` or
 * `ProbeError` gives `error` with its own message, anything else `error` with
 * "KIND check failed unexpectedly: MESSAGE".
 */
export function crashOutcome(err: unknown, spec: { readonly kind: string }): CheckOutcome {
  if (err instanceof VantageError || err instanceof ProbeError)
    return { status: "error", message: err.message };
  const msg = err instanceof Error ? err.message : String(err);
  return { status: "error", message: `${spec.kind} check failed unexpectedly: ${msg}` };
}

/**
 * The one dispatch of a check to its kind's module. `runChecks` (`../runner.ts`) calls it for
 * every check, around it the vantage's prober and the per-check deadline; tests call it to run
 * one check on a prober they keep open. `kinds` is the registry (`checkKinds` unless a test
 * injects its own). Never throws: a `skip` spec is not run (`skip` outcome with its reason); a
 * kind without a module, a spec whose `params.kind` differs from `kind`, or a module that throws
 * give an `error` outcome.
 */
export async function runCheck(
  spec: CheckSpecOf<CheckParams>,
  ctx: CheckContext,
  kinds: Readonly<Record<string, CheckKindModule>> = checkKinds,
): Promise<CheckOutcome> {
  if (spec.skip !== undefined) return { status: "skip", message: spec.skip };
  const mod = kinds[spec.kind];
  if (!mod) return { status: "error", message: `no check kind ${spec.kind} is registered` };
  if (spec.params.kind !== spec.kind) {
    return {
      status: "error",
      message: `check ${spec.id}: params are for ${spec.params.kind}, not ${spec.kind}`,
    };
  }
  try {
    return await mod.run(spec as Parameters<CheckKindModule["run"]>[0], ctx);
  } catch (e) {
    return crashOutcome(e, spec);
  }
}

export { humanAge } from "./backup-common.js";
export { judgePgBackRest, parsePgBackRestInfo, pgbackrestInfoCommand } from "./backup-pgbackrest.js";
export { judgePgBackRestCheck, pgbackrestCheckCommand } from "./backup-pgbackrest-check.js";
export {
  type BackupRehearsalParams,
  judgeRehearsal,
  REHEARSAL_TIMEOUT_MS,
  type RehearsalRun,
} from "./backup-rehearsal.js";
export { judgeWalArchive, parseWalArchive, walArchiveCommand } from "./backup-wal-archive.js";
export { judgeWalg, parseWalgList, type WalgListedBackup, walgCommand } from "./backup-walg.js";
export { type DnsAnswer, dnsQuestions, judgeDnsRecords, type PeerSerial } from "./dns-records.js";
export { judgeGrafana } from "./grafana.js";
export { judgeHttp } from "./http.js";
export { judgeListeners, type Listener, parseSs, parseSsAddress } from "./listeners.js";
export { judgeNodeExporter, nodeMetricNames } from "./node-exporter.js";
export { judgePortClosed } from "./port-closed.js";
export { judgePortOpen } from "./port-open.js";
export { type ActiveTarget, judgeTargets, parseTargets, targetMatchesHost } from "./prometheus-targets.js";
export { CEPH_NOT_CONFIGURED, type CephHealthCheck, cephNotConfigured, judgeCeph } from "./proxmox-ceph.js";
export { type ClusterStatusItem, judgeCluster, type NodeIndexItem } from "./proxmox-cluster.js";
export { judgeReachable } from "./reachable.js";
export { judgeHostKeyVerdict } from "./ssh-hostkey.js";
export { judgeKeyOnly } from "./ssh-key-only.js";
export { judgeSysctl, normaliseSysctl } from "./sysctl.js";
export { judgeWireguard, parseWgDump, type WgPeer } from "./wireguard-peers.js";
