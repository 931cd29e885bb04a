/**
 * Probers for the vantages of an inventory: a `local` vantage probes from this machine
 * (`LocalProber`), a `via` vantage runs its probes over SSH on its host (`ViaProber`, loaded on
 * first use by `lazyViaProber`). Shared by `keel verify` and `keel serve`'s engine.
 */
import type { Inventory, Vantage } from "../../inventory/model.js";
import { sshTarget } from "../derive.js";
import { type Prober, type SshTarget, VantageError } from "../types.js";
import { type HostKeyChecking, HostKeyVerifier, knownHostName } from "./hostkeys.js";
import { LocalProber } from "./local.js";
import { lazyViaProber } from "./via-lazy.js";

/**
 * The SSH login Keel uses to reach a via vantage's host: at its address on a network a local
 * vantage sits in, else its first address (reached by routing).
 * @throws VantageError when the via host is not in the inventory or has `ssh: false`.
 */
export function viaLogin(inv: Inventory, v: Vantage): SshTarget {
  const h = inv.hosts.find((x) => x.name === v.via);
  if (!h) throw new VantageError(`vantage ${v.name}: via host ${v.via} is not in the inventory`);
  const locals = inv.vantages.filter((x) => x.type === "local");
  const here: Vantage = { ...(locals[0] ?? v), networks: locals.flatMap((x) => x.networks) };
  const target = sshTarget(inv, h, here);
  if (!target)
    throw new VantageError(`vantage ${v.name}: ${h.name} has ssh: false, so probes cannot run on it`);
  return target;
}

/** Options of `proberFactory`. */
export interface ProberFactoryOptions {
  /** Host key checking for this run, over `defaults.ssh.host_key_checking` (`--strict-host-keys`). */
  hostKeyChecking?: HostKeyChecking;
}

/**
 * The host key verifier of one run over an inventory: its known_hosts file and checking mode
 * (`defaults.ssh`), and every host's addresses on its SSH port, so that a changed key refuses
 * the host at each of them.
 */
export function hostKeyVerifier(inv: Inventory, opts: ProberFactoryOptions = {}): HostKeyVerifier {
  const owner = new Map<string, string>();
  for (const h of inv.hosts) {
    if (!h.ssh) continue;
    for (const a of h.addresses) owner.set(knownHostName(a.address, h.ssh.port), h.name);
  }
  return new HostKeyVerifier({
    file: inv.defaults.knownHosts,
    checking: opts.hostKeyChecking ?? inv.defaults.hostKeyChecking,
    hostOf: (address, port) => owner.get(knownHostName(address, port)),
  });
}

/**
 * A prober factory for the vantages of an inventory: vantage name → a new `Prober`. Every
 * prober it makes shares one host key verifier (`hostKeyVerifier`): a key that changed, seen
 * from any vantage, stops every login to that host for the factory's lifetime.
 * @throws VantageError (from the returned function) for an unknown vantage name or a via host
 *   that cannot be logged into.
 */
export function proberFactory(inv: Inventory, opts: ProberFactoryOptions = {}): (name: string) => Prober {
  const hostKeys = hostKeyVerifier(inv, opts);
  return (name: string) => {
    const v = inv.vantages.find((x) => x.name === name);
    if (!v) throw new VantageError(`no vantage named ${name}`);
    if (v.type === "local") return new LocalProber(v.name, { hostKeys });
    return lazyViaProber(v.name, viaLogin(inv, v), hostKeys);
  };
}
