/**
 * `ssh.login`: logging in with the configured identity works (runs `true`).
 */

import { hostPort } from "../../net/hostport.js";
import type { CheckKindDefinition, SshTarget } from "../kind.js";
import { sshServiceFor } from "../reach.js";
import { describeIdentity } from "../vantages/deadline.js";
import { excerpt, outcomeOfError } from "./common.js";

/** The params of an `ssh.login` check: derived from every vantage the host's SSH service admits. */
export interface SshLoginParams {
  kind: "ssh.login";
  target: SshTarget;
}

/** Runs `true` over SSH: exit 0 passes; a failed login or another exit status fails. */
export const sshLogin: CheckKindDefinition<"ssh.login", SshLoginParams> = {
  kind: "ssh.login",
  transport: "ssh",
  scope: "path",
  derive({ host: h, vantage: v }, ctx) {
    if (!sshServiceFor(h, v)) return [];
    const target = ctx.sshTarget(h, v);
    return target ? [{ params: { kind: "ssh.login", target } }] : [];
  },
  async run(spec, ctx) {
    const t = spec.params.target;
    const who = `${t.user}@${hostPort(t.address, t.port)} with ${describeIdentity(t)}`;
    try {
      const r = await ctx.prober.sshExec(t, "true", ctx.timeoutMs, ctx.signal);
      if (r.code === 0) return { status: "pass", message: `logged in as ${who}`, observed: { code: 0 } };
      return {
        status: "fail",
        message: `logged in as ${who} but "true" exited with ${r.code ?? "a signal"}${r.stderr ? `: ${excerpt(r.stderr)}` : ""}`,
        observed: { code: r.code },
      };
    } catch (e) {
      return outcomeOfError(e, (pe) => ({ status: "fail", message: pe.message }));
    }
  },
};
