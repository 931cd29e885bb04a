/**
 * Who may reach what, the shared rules of derivation (`shared/design/inventory.md`, "Who may
 * reach what"): pure functions of the inventory's hosts and vantages, used by the derive loop
 * (`derive.ts`) and by the check kinds' `derive` functions.
 */
import type { Host, Service, Vantage } from "../inventory/model.js";

/**
 * True when `allow` admits vantage `v`: it lists `any`, the vantage's name, one of the
 * vantage's networks, or the vantage's host (`via: HOST` or a local vantage's `host:`).
 */
export function admits(allow: readonly string[], v: Vantage): boolean {
  for (const name of allow) {
    if (name === "any" || name === v.name) return true;
    if (v.networks.includes(name)) return true;
    if (v.via === name || v.host === name) return true;
  }
  return false;
}

/**
 * The address vantage `v` uses to reach host `h` (first shared network, else the first address).
 * @throws Error when the host has no address.
 */
export function probeAddress(h: Host, v: Vantage): string {
  for (const a of h.addresses) if (v.networks.includes(a.network)) return a.address;
  const first = h.addresses[0];
  if (!first) throw new Error(`host ${h.name} has no address`);
  return first.address;
}

/** Whether vantage `v` may reach host `h`: a shared network or a service that admits it. */
export function mayReach(h: Host, v: Vantage): boolean {
  if (h.addresses.some((a) => v.networks.includes(a.network))) return true;
  return h.services.some((s) => admits(s.allow, v));
}

/** The allow list of `h`'s SSH access: its service of kind `ssh`, else `ssh.allow` (none without SSH). */
export function sshAllow(h: Host): readonly string[] {
  return h.services.find((s) => s.kind === "ssh")?.allow ?? h.ssh?.allow ?? [];
}

/** Human summary of an allow list for messages, e.g. `mon, vpn`. */
export function allowSummary(allow: readonly string[]): string {
  return allow.join(", ");
}

/**
 * The SSH service vantage `v` probes on host `h` (the one named `ssh`, else the first of kind
 * `ssh`), when `h` has SSH access and that service admits `v`; else undefined.
 */
export function sshServiceFor(h: Host, v: Vantage): Service | undefined {
  const ssh =
    h.services.find((s) => s.kind === "ssh" && s.name === "ssh") ?? h.services.find((s) => s.kind === "ssh");
  return ssh && h.ssh && admits(ssh.allow, v) ? ssh : undefined;
}
