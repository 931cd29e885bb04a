/**
 * `sysctl`: a kernel parameter on the host has its declared value (`sysctl(8)`, `sysctl -n KEY`).
 */
import type { CheckKindDefinition, CheckOutcome, ExecResult, SshTarget } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `sysctl` check: derived for each key of the host's `sysctl:`, run on it over SSH. */
export interface SysctlParams {
  kind: "sysctl";
  target: SshTarget;
  key: string;
  expected: string;
}

/** Collapses runs of whitespace (tabs in e.g. `net.ipv4.tcp_rmem`) to one space and trims. */
export function normaliseSysctl(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}

/** Keys `sysctl` accepts: dotted or slashed names (`net.ipv4.ip_forward`, `net/ipv4/conf/eth0.1/rp_filter`). */
const KEY_RE = /^[A-Za-z0-9_.\-/:]+$/;

/**
 * Judges the result of `sysctl -n KEY`. Exit 0: pass iff the value equals `expected` after
 * whitespace normalisation. "cannot stat … No such file or directory" (or "unknown key"): fail,
 * the key does not exist. Anything else returns undefined (undecided).
 */
export function judgeSysctl(
  host: string,
  key: string,
  expected: string,
  r: ExecResult,
): CheckOutcome | undefined {
  if (r.code === 0) {
    const value = normaliseSysctl(r.stdout);
    const want = normaliseSysctl(expected);
    const observed = { value };
    if (value === want) return { status: "pass", message: `${key} is ${value}`, observed };
    return { status: "fail", message: `${key} is ${value}; expected ${want}`, observed };
  }
  if (/cannot stat|no such file|unknown key/i.test(r.stderr)) {
    return {
      status: "fail",
      message: `${key} does not exist on ${host}; expected ${normaliseSysctl(expected)}`,
      observed: { value: null },
    };
  }
  return undefined;
}

/** Runs `sysctl -n KEY` on the host over SSH (with /usr/sbin and /sbin added to PATH for non-root users). */
export const sysctl: CheckKindDefinition<"sysctl", SysctlParams> = {
  kind: "sysctl",
  transport: "ssh",
  scope: "on-host",
  derive(h) {
    return Object.entries(h.sysctl).map(([key, expected]) => ({
      service: key,
      make: (target: SshTarget): SysctlParams => ({ kind: "sysctl", target, key, expected }),
    }));
  },
  async run(spec, ctx) {
    const { target, key, expected } = spec.params;
    if (!KEY_RE.test(key)) return undecided(`${JSON.stringify(key)} is not a sysctl key`);
    try {
      const r = await ctx.prober.sshExec(
        target,
        `PATH="$PATH:/usr/sbin:/sbin" sysctl -n ${shellQuote(key)}`,
        ctx.timeoutMs,
        ctx.signal,
      );
      if (toolMissing(r, "sysctl")) return undecided(`sysctl is not installed on ${spec.host}`);
      return (
        judgeSysctl(spec.host, key, expected, r) ??
        undecided(`sysctl -n ${key} failed on ${spec.host} (exit ${r.code}): ${excerpt(r.stderr)}`)
      );
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};
