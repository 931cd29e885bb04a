/**
 * What the Proxmox VE check kinds (`proxmox.cluster`, `proxmox.ceph`) share: their target (the
 * hypervisor's name, endpoints with their pins, and where its token is read from, never the
 * token itself), their derivation (one check per hypervisor with driver `proxmox`, asked by the
 * machine running Keel), the API client they ask through (`src/pve/`), and how its errors become
 * `error` outcomes: an API that cannot be reached, a certificate that is not the pinned one, or
 * a refused token mean Keel could not observe, never a verdict on the cluster.
 */
import { UserError } from "../../errors.js";
import type { PveClient } from "../../pve/client.js";
import { PveApiError, PveUnreachableError } from "../../pve/errors.js";
import type { PveTarget } from "../../pve/hypervisor.js";
import type { CheckContext, CheckKind, CheckOutcome, DeriveContext, DerivedEntry } from "../kind.js";
import { undecided } from "./common.js";

/** The hypervisor a Proxmox VE check asks: `name`, `endpoints` (tried in order) and `token` (its source). */
export type ProxmoxTarget = PveTarget;

/** One check of `kind` for every hypervisor with driver `proxmox`, in inventory order, id `NAME/KIND`. */
export function deriveProxmox<K extends CheckKind>(
  kind: K,
  ctx: DeriveContext,
): DerivedEntry<{ kind: K; hypervisor: ProxmoxTarget }>[] {
  return ctx.inv.hypervisors.flatMap((h) =>
    h.driver === "proxmox"
      ? [
          {
            entry: h.name,
            params: { kind, hypervisor: { name: h.name, endpoints: h.endpoints, token: h.token } },
          },
        ]
      : [],
  );
}

/**
 * The API client of `target` for one check: each request may wait the check's timeout shared
 * among the endpoints, so that trying every endpoint fits in the check's time. The client
 * (and undici with it) is loaded on first use: `keel verify` on a site without a Proxmox VE
 * hypervisor starts without it.
 * @throws UserError when the token cannot be read (see `clientFor`).
 */
export async function proxmoxClient(target: ProxmoxTarget, ctx: CheckContext): Promise<PveClient> {
  const { clientFor } = await import("../../pve/hypervisor.js");
  const perEndpoint = Math.max(500, Math.floor(ctx.timeoutMs / Math.max(1, target.endpoints.length)));
  return clientFor(target, { timeoutMs: perEndpoint });
}

/** Where the token comes from, in words: `environment variable NAME` or `file PATH`. */
function tokenSource(target: ProxmoxTarget): string {
  return "env" in target.token ? `environment variable ${target.token.env}` : `file ${target.token.file}`;
}

/**
 * The `error` outcome of an exception of the API client (Proxmox VE API, `src/pve/errors.ts`):
 * no endpoint answered (each endpoint and why, a certificate fingerprint mismatch among them), a
 * token that cannot be read (UserError) or that the API refused (HTTP 401), a privilege the token
 * lacks (HTTP 403, naming `privileges`), any other answer (HTTP status and reason). Messages
 * never hold the token: the client's never do, and this one names only its source.
 */
export function proxmoxError(target: ProxmoxTarget, e: unknown, privileges: string): CheckOutcome {
  const who = `hypervisor "${target.name}"`;
  if (e instanceof UserError || e instanceof PveUnreachableError) return undecided(e.message);
  if (e instanceof PveApiError) {
    if (e.status === 401)
      return undecided(
        `${who}: the API refused the token from ${tokenSource(target)}: ${e.message}; expected a valid USER@REALM!TOKENID=SECRET`,
      );
    if (e.status === 403)
      return undecided(`${who}: the token lacks a privilege: ${e.message}; the check needs ${privileges}`);
    return undecided(`${who}: ${e.message}`);
  }
  return undecided(`${who}: ${e instanceof Error ? e.message : String(e)}`);
}
