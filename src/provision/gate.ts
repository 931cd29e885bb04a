/**
 * The verify gate of a machine apply made or changed: first its `ssh.login` checks (the
 * inventory's key, from every vantage that may log in) are retried until they pass, then every
 * check `keel verify` derives for that host runs, again every few seconds, until one round has
 * none that fails or errors, all within one deadline (a machine on its first boot keeps
 * changing for a while after SSH answers: cloud-init restarts sshd with its final settings).
 * Otherwise the machine is reported with the last round's failures and left as it is, for
 * inspection.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import type { Inventory } from "../inventory/model.js";
import { checkKinds } from "../verify/checks/index.js";
import { deriveChecks } from "../verify/derive.js";
import { DEFAULT_TIMEOUT_MS, runChecks } from "../verify/runner.js";
import type { CheckResult } from "../verify/types.js";
import { proberFactory } from "../verify/vantages/index.js";

/** The gate's verdict. */
export interface GateResult {
  ok: boolean;
  /** The checks that failed or errored (from the login wait, or the full run). */
  failed: CheckResult[];
  /** Checks run in the full run (0 when the login never passed). */
  ran: number;
  /** One line: what passed, or the first failures. */
  message: string;
}

/** How long to wait between tries of the login, and between rounds of the checks, in ms. */
export const LOGIN_RETRY_MS = 5000;

/**
 * Forgets the host keys known for `addresses` in the inventory's known_hosts file
 * (`ssh-keygen -R`, ssh-keygen(1)): a machine apply has just created has a new host key, which
 * `accept-new` then records on first contact. Only called for machines apply created.
 */
export async function forgetHostKeys(inv: Inventory, addresses: readonly string[]): Promise<void> {
  const file = inv.defaults.knownHosts;
  if (!existsSync(file)) return;
  for (const a of addresses)
    await new Promise<void>((resolve) => {
      execFile("ssh-keygen", ["-R", a, "-f", file], () => resolve());
    });
}

/**
 * Runs the gate of host `host`: its `ssh.login` checks until they pass or `deadlineMs` has gone
 * by, then all its derived checks.
 */
export async function gate(
  inv: Inventory,
  host: string,
  deadlineMs: number,
  signal?: AbortSignal,
): Promise<GateResult> {
  const specs = deriveChecks(inv).filter((s) => s.host === host && s.skip === undefined);
  const proberFor = proberFactory(inv);
  const run = (which: typeof specs) =>
    runChecks(which, {
      concurrency: 16,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      kinds: checkKinds,
      proberFor,
      ...(signal ? { signal } : {}),
    });
  const logins = specs.filter((s) => s.kind === "ssh.login");
  const deadline = Date.now() + deadlineMs;
  let last: CheckResult[] = [];
  if (logins.length > 0)
    for (;;) {
      last = await run(logins);
      const bad = last.filter((r) => r.status !== "pass");
      if (bad.length === 0) break;
      if (Date.now() + LOGIN_RETRY_MS > deadline || signal?.aborted)
        return {
          ok: false,
          failed: bad,
          ran: 0,
          message: `no SSH login within ${Math.round(deadlineMs / 1000)} s: ${bad.map((r) => `${r.id}: ${r.message}`).join("; ")}`,
        };
      await new Promise((r) => setTimeout(r, LOGIN_RETRY_MS));
    }
  // a machine on its first boot is still settling after its first login (cloud-init restarts
  // sshd with its final settings, installs packages): the whole set runs again until it passes
  // in one round or the deadline comes
  for (;;) {
    const results = await run(specs);
    const failed = results.filter((r) => r.status === "fail" || r.status === "error");
    if (failed.length === 0)
      return {
        ok: true,
        failed,
        ran: results.length,
        message: `${results.length} checks passed${logins.length === 0 ? " (no ssh.login check: the host has no SSH login Keel may use)" : ""}`,
      };
    if (Date.now() + LOGIN_RETRY_MS > deadline || signal?.aborted)
      return {
        ok: false,
        failed,
        ran: results.length,
        message: `${failed.length} of ${results.length} checks did not pass within ${Math.round(deadlineMs / 1000)} s: ${failed
          .slice(0, 5)
          .map((r) => `${r.id}: ${r.message}`)
          .join("; ")}${failed.length > 5 ? "; …" : ""}`,
      };
    await new Promise((r) => setTimeout(r, LOGIN_RETRY_MS));
  }
}
