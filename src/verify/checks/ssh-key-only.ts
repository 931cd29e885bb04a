/**
 * `ssh.key-only`: SSH offers only public-key authentication, asked with the `none` method
 * (RFC 4252 §5.2), no credentials needed.
 */

import { hostPort } from "../../net/hostport.js";
import type { CheckKindDefinition, CheckOutcome } from "../kind.js";
import { sshServiceFor } from "../reach.js";
import { outcomeOfError } from "./common.js";

/** The params of an `ssh.key-only` check: derived from every vantage the host's SSH service admits. */
export interface SshKeyOnlyParams {
  kind: "ssh.key-only";
  address: string;
  port: number;
  user: string;
}

/**
 * Judges the methods an SSH server offered to a `none` request (RFC 4252 §5.2): pass iff they
 * are exactly `publickey` (order and duplicates ignored).
 */
export function judgeKeyOnly(address: string, port: number, methods: string[]): CheckOutcome {
  const hp = hostPort(address, port);
  const set = [...new Set(methods)];
  const observed = { methods: set };
  if (set.includes("none")) {
    return { status: "fail", message: `${hp} accepts the none method: no authentication needed`, observed };
  }
  const extra = set.filter((m) => m !== "publickey");
  if (!set.includes("publickey")) {
    return {
      status: "fail",
      message: `${hp} offers ${extra.join(", ") || "no methods"} but not publickey`,
      observed,
    };
  }
  if (extra.length > 0) {
    return { status: "fail", message: `${hp} offers ${extra.join(", ")} besides publickey`, observed };
  }
  return { status: "pass", message: `${hp} offers only publickey`, observed };
}

/** Asks with the `none` method; an unreachable server fails the check with the reason. */
export const sshKeyOnly: CheckKindDefinition<"ssh.key-only", SshKeyOnlyParams> = {
  kind: "ssh.key-only",
  transport: "ssh",
  scope: "path",
  derive({ host: h, vantage: v, address }) {
    const ssh = sshServiceFor(h, v);
    if (!ssh || !h.ssh) return [];
    return [{ params: { kind: "ssh.key-only", address, port: ssh.port, user: h.ssh.user } }];
  },
  async run(spec, ctx) {
    const { address, port, user } = spec.params;
    try {
      const methods = await ctx.prober.sshAuthMethods(address, port, user, ctx.timeoutMs, ctx.signal);
      return judgeKeyOnly(address, port, methods);
    } catch (e) {
      return outcomeOfError(e, (pe) => ({ status: "fail", message: pe.message }));
    }
  },
};
