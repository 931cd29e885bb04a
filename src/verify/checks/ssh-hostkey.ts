/**
 * `ssh.hostkey`: the SSH server offers the host key pinned in known_hosts (sshd(8),
 * "SSH_KNOWN_HOSTS FILE FORMAT"); see `vantages/hostkeys.ts` for the rules.
 */

import { hostPort } from "../../net/hostport.js";
import type { CheckKindDefinition, CheckOutcome } from "../kind.js";
import { sshServiceFor } from "../reach.js";
import type { HostKeyVerdict, ShownKey } from "../vantages/hostkeys.js";
import { outcomeOfError } from "./common.js";

/** The params of an `ssh.hostkey` check: derived from every vantage the host's SSH service admits. */
export interface SshHostkeyParams {
  kind: "ssh.hostkey";
  address: string;
  port: number;
}

/** `SHA256:… (ssh-ed25519)`, or with the known_hosts line: `SHA256:… (ssh-ed25519, line 3)`. */
function shown(k: ShownKey): string {
  return `${k.fingerprint} (${k.type}${k.line ? `, line ${k.line}` : ""})`;
}

/**
 * Judges a host key verdict: `known` and `new` (recorded under accept-new) pass; `changed` and
 * `revoked` fail with both fingerprints; `unknown` (strict checking) fails, saying how to
 * record the key.
 */
export function judgeHostKeyVerdict(address: string, port: number, v: HostKeyVerdict): CheckOutcome {
  const hp = hostPort(address, port);
  const observed = {
    verdict: v.status,
    offered: v.offered.fingerprint,
    type: v.offered.type,
    expected: v.expected.map((k) => k.fingerprint),
    knownHosts: v.file,
  };
  switch (v.status) {
    case "known":
      return { status: "pass", message: `${hp} offers ${shown(v.offered)} as pinned in ${v.file}`, observed };
    case "new":
      return {
        status: "pass",
        message: `${hp} offers ${v.offered.fingerprint} (${v.offered.type}); first seen, recorded in ${v.file} (accept-new)`,
        observed,
      };
    case "unknown":
      return {
        status: "fail",
        message: `${hp} offers ${v.offered.fingerprint} (${v.offered.type}), not in ${v.file} and host key checking is strict: check the fingerprint and record it (ssh-keyscan${port === 22 ? "" : ` -p ${port}`} ${address} >> ${v.file}), or run once with host_key_checking: accept-new`,
        observed,
      };
    case "revoked":
      return {
        status: "fail",
        message: `${hp} offers ${shown(v.offered)}, a key revoked in ${v.file}; Keel does not log in to it`,
        observed,
      };
    case "changed":
      return {
        status: "fail",
        message: `host key of ${hp} changed: ${v.file} has ${v.expected.map(shown).join(", ")}, the server offers ${v.offered.fingerprint} (${v.offered.type}); Keel does not log in to ${v.host ?? hp} for the rest of the run`,
        observed,
      };
  }
}

/** Asks the vantage for the verdict on the key `address:port` offers; no answer fails. */
export const sshHostkey: CheckKindDefinition<"ssh.hostkey", SshHostkeyParams> = {
  kind: "ssh.hostkey",
  transport: "ssh",
  scope: "path",
  derive({ host: h, vantage: v, address }) {
    const ssh = sshServiceFor(h, v);
    return ssh ? [{ params: { kind: "ssh.hostkey", address, port: ssh.port } }] : [];
  },
  async run(spec, ctx) {
    const { address, port } = spec.params;
    try {
      const v = await ctx.prober.sshHostKey(address, port, ctx.timeoutMs, ctx.signal);
      return judgeHostKeyVerdict(address, port, v);
    } catch (e) {
      return outcomeOfError(e, (pe) => ({ status: "fail", message: pe.message }));
    }
  },
};
