/**
 * `proxmox.ceph`: the Ceph of a Proxmox VE cluster is healthy. Asked by the machine running Keel
 * through the hypervisor's API: Proxmox VE API, GET /cluster/ceph/status (needs `Sys.Audit` or
 * `Datastore.Audit` on `/`), which answers Ceph's own status (`ceph status`): `health.status`
 * (`HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`) and `health.checks`, each named check with its
 * `severity`, `summary.message` and whether it is `muted` (muted checks do not count towards the
 * status). `HEALTH_OK` passes; `HEALTH_WARN` and `HEALTH_ERR` fail naming each check: a warning
 * is something that needs attention. A cluster that does not run Ceph answers an error instead
 * (see `cephNotConfigured`): the check is `skip`, with no verdict about Ceph. An API that cannot
 * be reached or a refused token is `error`.
 */
import { PveApiError } from "../../pve/errors.js";
import type { CheckKindDefinition, CheckOutcome } from "../kind.js";
import { excerpt, undecided } from "./common.js";
import { deriveProxmox, type ProxmoxTarget, proxmoxClient, proxmoxError } from "./proxmox-common.js";

/** The params of a `proxmox.ceph` check: derived once per hypervisor with driver `proxmox`. */
export interface ProxmoxCephParams {
  kind: "proxmox.ceph";
  hypervisor: ProxmoxTarget;
}

/** The `skip` message of a cluster without Ceph. */
export const CEPH_NOT_CONFIGURED = "Ceph is not configured on this cluster";

/** Ceph's health statuses, best first. */
const HEALTH = ["HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"] as const;

/**
 * The reasons GET /cluster/ceph/status gives (HTTP 500, the reason in the status line) on a
 * cluster that does not run Ceph, from pve-manager's `PVE::Ceph::Tools`: `binary not installed:
 * /usr/bin/ceph-mon` (`check_ceph_installed`; older releases: `ceph binaries not installed`),
 * `pveceph configuration not initialized` (`check_ceph_inited`: no `/etc/pve/ceph.conf`),
 * `pveceph configuration not enabled` (`check_ceph_enabled`: no `/etc/ceph/ceph.conf`), and
 * librados' `rados_connect failed - No such file or directory` (no configuration or keyring to
 * connect with). Another `rados_connect failed` (a timeout: monitors that do not answer) is
 * not among them: that Ceph is configured, and Keel could not observe it.
 */
const NOT_CONFIGURED = [
  /\bbinary not installed\b/i,
  /\bceph binaries not installed\b/i,
  /\bpveceph configuration not (initialized|enabled)\b/i,
  /\brados_connect failed - No such file or directory\b/i,
];

/** True when an error answer of GET /cluster/ceph/status says the cluster does not run Ceph. */
export function cephNotConfigured(e: unknown): boolean {
  return e instanceof PveApiError && e.status === 500 && NOT_CONFIGURED.some((re) => re.test(e.reason));
}

/** One health check of Ceph's status (`health.checks.NAME`), as far as the check reads it. */
export interface CephHealthCheck {
  severity?: string;
  summary?: { message?: string; count?: number };
  muted?: boolean;
}

/**
 * Judges the answer of GET /cluster/ceph/status: `HEALTH_OK` passes; `HEALTH_WARN` and
 * `HEALTH_ERR` fail with each unmuted check's name and message (errors first), e.g.
 * `Ceph is HEALTH_WARN: OSD_DOWN: 1 osds down; expected HEALTH_OK`. An answer without a known
 * `health.status` is `error`. Muted checks are named in the message, never counted.
 */
export function judgeCeph(answer: unknown): CheckOutcome {
  const health = (answer as { health?: { status?: unknown; checks?: unknown } } | null)?.health;
  const status = health?.status;
  if (typeof status !== "string" || !(HEALTH as readonly string[]).includes(status))
    return undecided(
      `GET /cluster/ceph/status answered no health.status of ${HEALTH.join(", ")}: read ${JSON.stringify(excerpt(JSON.stringify(answer ?? null)))}`,
    );
  const raw =
    typeof health?.checks === "object" && health.checks !== null
      ? (health.checks as Record<string, CephHealthCheck>)
      : {};
  const all = Object.entries(raw).map(([name, c]) => ({
    name,
    severity: typeof c?.severity === "string" ? c.severity : status,
    message: typeof c?.summary?.message === "string" ? c.summary.message : "(no message)",
    muted: c?.muted === true,
  }));
  const rank = (s: string) => -HEALTH.indexOf(s as (typeof HEALTH)[number]);
  const active = all.filter((c) => !c.muted).sort((a, b) => rank(a.severity) - rank(b.severity));
  const muted = all.filter((c) => c.muted);
  const observed = {
    health: status,
    checks: Object.fromEntries(
      all.map((c) => [c.name, { severity: c.severity, message: c.message, muted: c.muted }]),
    ),
  };
  const mutedNote = muted.length ? ` (muted: ${muted.map((c) => c.name).join(", ")})` : "";
  if (status === "HEALTH_OK") return { status: "pass", message: `Ceph is HEALTH_OK${mutedNote}`, observed };
  const listed = active.length
    ? active
        .map((c) => `${c.name}${c.severity !== status ? ` (${c.severity})` : ""}: ${c.message}`)
        .join("; ")
    : "no check named";
  return {
    status: "fail",
    message: `Ceph is ${status}: ${listed}${mutedNote}; expected HEALTH_OK`,
    observed,
  };
}

/** Asks GET /cluster/ceph/status of the hypervisor and judges it with `judgeCeph`. */
export const proxmoxCeph: CheckKindDefinition<"proxmox.ceph", ProxmoxCephParams> = {
  kind: "proxmox.ceph",
  transport: "network",
  scope: "entry",
  derive(ctx) {
    return deriveProxmox("proxmox.ceph", ctx);
  },
  async run(spec, ctx) {
    const h = spec.params.hypervisor;
    try {
      const answer = await (await proxmoxClient(h, ctx)).get<unknown>("/cluster/ceph/status");
      return judgeCeph(answer);
    } catch (e) {
      if (cephNotConfigured(e))
        return {
          status: "skip",
          message: CEPH_NOT_CONFIGURED,
          observed: { answer: `HTTP ${(e as PveApiError).status} ${(e as PveApiError).reason}` },
        };
      return proxmoxError(h, e, "Sys.Audit or Datastore.Audit on /");
    }
  },
};
