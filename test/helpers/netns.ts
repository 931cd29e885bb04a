/**
 * A network namespace joined to the root namespace by a veth pair, for tests that need a
 * target that drops packets (nftables) or a via host with its own loopback. Addresses are
 * 10.250.N.1/30 (root side) and 10.250.N.2/30 (namespace side), N derived from the pid, so
 * no traffic leaves this machine. Needs root (`ip netns`, `nft`).
 */
import { execFileSync } from "node:child_process";

export interface Netns {
  name: string;
  /** Address of the root-namespace end of the veth pair. */
  hostAddress: string;
  /** Address inside the namespace. */
  nsAddress: string;
  /** Runs `ip netns exec NAME argv…` and returns stdout. */
  exec(argv: string[]): string;
  /** Deletes the namespace (and with it the veth pair). */
  destroy(): void;
}

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

/**
 * Creates namespace `kp-PID-TAG` with `veth` ends `kpPIDTAGa`/`b` and the given nft ruleset
 * (text for `nft -f -`) loaded inside it.
 *
 * @param tag one short letter/digit string unique within the test file.
 * @param subnet third octet N of 10.250.N.0/30; pick distinct values per namespace.
 */
export function createNetns(tag: string, subnet: number, nftRules?: string): Netns {
  const name = `kp-${process.pid}-${tag}`;
  const base = `kp${process.pid % 100000}${tag}`.slice(0, 13);
  const a = `${base}a`;
  const b = `${base}b`;
  const hostAddress = `10.250.${subnet}.1`;
  const nsAddress = `10.250.${subnet}.2`;
  const destroy = () => {
    try {
      sh(["ip", "netns", "del", name]);
    } catch {
      // already gone
    }
    try {
      sh(["ip", "link", "del", a]);
    } catch {
      // removed with the namespace
    }
  };
  try {
    sh(["ip", "netns", "add", name]);
    sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
    sh(["ip", "link", "set", b, "netns", name]);
    sh(["ip", "addr", "add", `${hostAddress}/30`, "dev", a]);
    sh(["ip", "link", "set", a, "up"]);
    sh(["ip", "netns", "exec", name, "ip", "addr", "add", `${nsAddress}/30`, "dev", b]);
    sh(["ip", "netns", "exec", name, "ip", "link", "set", b, "up"]);
    sh(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]);
    if (nftRules) {
      execFileSync("ip", ["netns", "exec", name, "nft", "-f", "-"], { input: nftRules });
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    name,
    hostAddress,
    nsAddress,
    exec: (argv) => sh(["ip", "netns", "exec", name, ...argv]),
    destroy,
  };
}
