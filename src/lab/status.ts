/** `keel lab status`: what the state records, checked against the namespaces and processes. */
import { netnsList } from "./network.js";
import { pidAlive } from "./run.js";
import { readState } from "./state.js";

/** One daemon in `keel lab status`. */
export interface DaemonStatus {
  host: string | null;
  service: string;
  daemon: string;
  real: boolean;
  pid: number;
  running: boolean;
  fault: boolean;
}

/** What `keel lab status` reports. */
export interface LabStatus {
  up: true;
  site: string;
  startedAt: string;
  /** False while `up` is still running, or when it failed and the lab was kept (`--keep`). */
  ready: boolean;
  hosts: { host: string; ns: string; exists: boolean; addresses: string[] }[];
  rootLinks: { ifname: string; network: string; addresses: string[] }[];
  daemons: DaemonStatus[];
  /** True when every namespace exists and every daemon runs. */
  healthy: boolean;
}

/** Reads the lab's state and checks each namespace and daemon; null when the lab is not up. */
export async function labStatus(dir: string): Promise<LabStatus | null> {
  const state = readState(dir);
  if (!state) return null;
  const nsList = await netnsList();
  const hosts = state.hosts.map((h) => ({
    host: h.host,
    ns: h.ns,
    exists: nsList.has(h.ns),
    addresses: h.addresses.map((a) => `${a.address} (${a.network}, ${a.ifname})`),
  }));
  const daemons = state.processes.map((p) => ({
    host: p.host,
    service: p.service,
    daemon: p.daemon,
    real: p.real,
    pid: p.pid,
    running: pidAlive(p.pid),
    fault: p.fault ?? false,
  }));
  return {
    up: true,
    site: state.site,
    startedAt: state.startedAt,
    ready: state.ready,
    hosts,
    rootLinks: state.rootLinks,
    daemons,
    healthy: hosts.every((h) => h.exists) && daemons.every((d) => d.running || d.fault),
  };
}

/** Human-readable status, one namespace per paragraph. */
export function formatStatus(s: LabStatus): string {
  const lines = [
    `lab ${s.site}, up since ${s.startedAt}${s.ready ? "" : " (not ready: still starting, or kept after a failure)"}`,
  ];
  const daemonLine = (d: DaemonStatus) =>
    `    ${d.service.padEnd(20)} ${d.daemon.padEnd(14)} ${(d.real ? "real" : "stand-in").padEnd(9)} pid ${String(d.pid).padEnd(8)} ${d.running ? "running" : "stopped"}${d.fault ? " (fault)" : ""}`;
  for (const h of s.hosts) {
    lines.push(`  ${h.host}  ${h.ns}${h.exists ? "" : "  (namespace missing)"}`);
    for (const a of h.addresses) lines.push(`    address ${a}`);
    for (const d of s.daemons.filter((x) => x.host === h.host)) lines.push(daemonLine(d));
  }
  if (s.rootLinks.length > 0 || s.daemons.some((d) => d.host === null)) {
    lines.push("  root namespace");
    for (const l of s.rootLinks) lines.push(`    ${l.ifname} in ${l.network}: ${l.addresses.join(", ")}`);
    for (const d of s.daemons.filter((x) => x.host === null)) lines.push(daemonLine(d));
  }
  lines.push(s.healthy ? "all daemons running" : "some daemons are stopped or namespaces missing");
  return `${lines.join("\n")}\n`;
}
