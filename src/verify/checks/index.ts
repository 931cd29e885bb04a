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
} from "../kind.js";
import { outcomeOfError } from "./common.js";
import { dnsRecords } from "./dns-records.js";
import { grafana } from "./grafana.js";
import { http } from "./http.js";
import { listeners } from "./listeners.js";
import { nodeExporter } from "./node-exporter.js";
import { portClosed } from "./port-closed.js";
import { portOpen } from "./port-open.js";
import { prometheusTargets } from "./prometheus-targets.js";
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
  "prometheus.targets": prometheusTargets,
  grafana,
  node_exporter: nodeExporter,
  "dns.records": dnsRecords,
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
 * Runs one check with its kind's module, on a prober the caller keeps open, without the
 * runner's deadline: the unit and integration tests' way to run one check (`keel verify` and
 * `keel serve` run checks through `runChecks` of `../runner.ts`). Never throws: a spec whose
 * `params.kind` differs from `kind`, or a module that throws, gives an `error` outcome. `skip`
 * specs are not run.
 */
export async function runCheck(spec: CheckSpecOf<CheckParams>, ctx: CheckContext): Promise<CheckOutcome> {
  if (spec.skip !== undefined) return { status: "skip", message: spec.skip };
  if (spec.params.kind !== spec.kind) {
    return {
      status: "error",
      message: `check ${spec.id}: params are for ${spec.params.kind}, not ${spec.kind}`,
    };
  }
  try {
    return await checkKinds[spec.kind].run(spec as Parameters<CheckKindModule["run"]>[0], ctx);
  } catch (e) {
    return outcomeOfError(e);
  }
}

export { type DnsAnswer, dnsQuestions, judgeDnsRecords, type PeerSerial } from "./dns-records.js";
export { judgeGrafana } from "./grafana.js";
export { judgeHttp } from "./http.js";
export { judgeListeners, type Listener, parseSs, parseSsAddress } from "./listeners.js";
export { judgeNodeExporter, nodeMetricNames } from "./node-exporter.js";
export { judgePortClosed } from "./port-closed.js";
export { judgePortOpen } from "./port-open.js";
export { type ActiveTarget, judgeTargets, parseTargets, targetMatchesHost } from "./prometheus-targets.js";
export { judgeReachable } from "./reachable.js";
export { judgeHostKeyVerdict } from "./ssh-hostkey.js";
export { judgeKeyOnly } from "./ssh-key-only.js";
export { judgeSysctl, normaliseSysctl } from "./sysctl.js";
export { judgeWireguard, parseWgDump, type WgPeer } from "./wireguard-peers.js";
