/**
 * The lab's state file, `<inventory dir>/.keel/lab/state.json`: a record of everything
 * `keel lab up` created, written as each thing is created, so `keel lab down` removes exactly
 * that (and nothing else), even after a crash half-way through `up`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Protocol } from "../inventory/model.js";
import type { DaemonKind } from "./plan.js";

/** One process the lab started. */
export interface ProcessRecord {
  /** Host whose namespace runs it; null for the root namespace. */
  host: string | null;
  /** Service name, or `wireguard:<ifname>` for WireGuard peer interfaces, or `fault:...`. */
  service: string;
  daemon: DaemonKind;
  /** Real daemon (true) or stand-in responder (false). */
  real: boolean;
  pid: number;
  /** Executable path, checked against /proc before signalling (guards against pid reuse). */
  exe: string;
  /** Full argv, to restart it (e.g. after a stopService fault is undone). */
  argv: string[];
  env?: Record<string, string>;
  log: string;
  port?: number;
  protocol?: Protocol;
  /** Started by a fault (e.g. an undeclared listener), not part of the inventory. */
  fault?: boolean;
  /** Signal that stops it (default SIGTERM); PostgreSQL's fast shutdown is SIGINT. */
  stopSignal?: "SIGTERM" | "SIGINT";
}

/** A host namespace and what it holds. */
export interface HostRecord {
  host: string;
  ns: string;
  /** Mount namespace file (private /run/wireguard). */
  mnt: string;
  /** UTS namespace file (hostname = the inventory host name). */
  uts: string;
  /** Addresses with prefix length, per interface. */
  addresses: { ifname: string; network: string; address: string }[];
}

/** A route the lab added in the root namespace. */
export interface RouteRecord {
  cidr: string;
  via: string;
  dev: string;
}

/** WireGuard keys and interfaces, so faults can remove and restore peers. */
export interface WgRecord {
  gatewayHost: string;
  ifname: string;
  port: number;
  publicKey: string;
  peers: {
    name: string;
    host: string | null;
    ifname: string;
    publicKey: string;
    allowedIps: string[];
    endpoint: string;
    gatewayAllowedIps: string[];
  }[];
}

export interface LabState {
  version: 1;
  site: string;
  inventory: string;
  startedAt: string;
  /** All namespaces created, switch first. */
  namespaces: string[];
  /** Mount and UTS namespace files bind-mounted under /run/keel-lab. */
  mounts: string[];
  hosts: HostRecord[];
  rootLinks: { ifname: string; network: string; addresses: string[] }[];
  rootRoutes: RouteRecord[];
  /** WireGuard interfaces in the root namespace (peers of local vantages). */
  rootWg: string[];
  processes: ProcessRecord[];
  wireguard: WgRecord[];
  /**
   * Mount points the lab created empty on the machine's filesystem for its binds inside host
   * mount namespaces (e.g. `/tmp/pgbackrest`), parents first; `down` removes each while empty.
   */
  mountpoints?: string[];
  /** Files and directories created (removed on down); the client SSH key is never listed. */
  files: string[];
  /** True once every daemon was seen ready. */
  ready: boolean;
}

/** Path of the state file for an inventory directory. */
export function statePath(labDir: string): string {
  return join(labDir, "state.json");
}

/** Reads the state file, or returns null when the lab is not up. */
export function readState(labDir: string): LabState | null {
  const p = statePath(labDir);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, "utf8")) as LabState;
}

/** Writes the state file atomically (write then rename). */
export function writeState(labDir: string, state: LabState): void {
  mkdirSync(labDir, { recursive: true });
  const p = statePath(labDir);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

/** A fresh, empty state for a site. */
export function emptyState(site: string, inventory: string): LabState {
  return {
    version: 1,
    site,
    inventory,
    startedAt: new Date().toISOString(),
    namespaces: [],
    mounts: [],
    hosts: [],
    rootLinks: [],
    rootRoutes: [],
    rootWg: [],
    processes: [],
    wireguard: [],
    files: [],
    ready: false,
  };
}
