/**
 * The inventory as written in YAML once it has passed the JSON Schema (`schema.ts`), before
 * cross-reference checks and normalisation (`load.ts` and its section modules): the shapes the
 * section checkers read. Keys follow `shared/design/inventory.md`.
 */
import type {
  DnsRecordType,
  DomainType,
  HostKeyChecking,
  HypervisorDriver,
  ImageFormat,
  PgBackRestBackupType,
  PostgresRole,
  ServiceKind,
  TokenRole,
  WalgBackupType,
} from "./model.js";

/** An `address:` value: one address (shorthand) or network name → address (or `auto`, `auto@RANGE`). */
export type RawAddress = string | Record<string, string>;
/** `ssh:` of `defaults` or of a host. */
export interface RawSsh {
  user?: string;
  port?: number;
  identity?: string;
  allow?: string[];
  known_hosts?: string;
  host_key_checking?: HostKeyChecking;
}
/** `node_exporter:` of `defaults` or of a host. */
export interface RawNodeExporter {
  port?: number;
  allow?: string[];
}
/** One entry of a host's `services:`. */
export interface RawService {
  name: string;
  kind?: ServiceKind;
  port: number | string;
  http?: string | { path: string; expect?: number; body?: string };
  allow?: string[];
  dns?: string;
}
/** One entry of `vm.users`. */
export interface RawVmUser {
  name: string;
  ssh_authorized_keys?: string[];
  sudo?: boolean;
}
/** `defaults.vm`: what every VM gets unless its own `vm:` says otherwise. */
export interface RawVmDefaults {
  users?: RawVmUser[];
  packages?: string[];
  package_upgrade?: boolean;
  /** The machine keys (`VmMachine`): a hypervisor makes the VM one that plan/apply manage. */
  hypervisor?: string;
  image?: string;
  vcpus?: number;
  /** MiB. */
  memory?: number;
  /** GiB. */
  disk?: number;
  autostart?: boolean;
  keep_snapshots?: number;
}
/** A host's `vm:`. */
export interface RawVm extends RawVmDefaults {
  mac?: string;
  /** Proxmox VE VMID of the machine (a `proxmox` hypervisor only). */
  vmid?: number;
  instance?: number;
}
/** One entry of `hosts:`. */
export interface RawHost {
  address: RawAddress;
  vm?: RawVm;
  tags?: string[];
  sysctl?: Record<string, string | number>;
  wireguard?: { interface: string; port?: number; peers?: string[] };
  ssh?: RawSsh | false;
  node_exporter?: RawNodeExporter | false;
  services?: RawService[];
  listeners?: { ignore?: string[] };
}
/** One entry of `networks:`. */
export interface RawNetwork {
  cidr: string;
  gateway?: string;
  dns?: string[];
  ranges?: Record<string, string>;
  reserved?: string[];
  dhcp?: { range: string; lease?: string };
}
/** One entry of `vantages:`. */
export interface RawVantage {
  local?: true;
  networks?: string[];
  host?: string;
  via?: string;
  address?: RawAddress;
}
/** One entry of `serve.checks`. */
export interface RawSchedule {
  interval?: string;
  fail_after?: number;
  recover_after?: number;
}
/** One entry of `serve.tokens`. */
export interface RawToken {
  name: string;
  role: TokenRole;
  sha256?: string;
  token?: string;
}
/** `serve:`. */
export interface RawServe {
  listen?: string;
  checks?: Record<string, RawSchedule>;
  flapping?: { window?: number; changes?: number };
  retention?: { raw?: string; bucket?: string; max_age?: string; per_check?: number };
  tokens?: RawToken[];
}
/** One entry of `alerts.webhooks`. */
export interface RawWebhook {
  name: string;
  url: string;
  headers?: Record<string, string>;
}
/** `alerts:`. */
export interface RawAlerts {
  alertmanager?: string[];
  webhooks?: RawWebhook[];
}
/** One entry of `hypervisors:`. */
export interface RawHypervisor {
  driver: HypervisorDriver;
  /** libvirt only. */
  uri?: string;
  pool?: string;
  dir?: string;
  /** Inventory network name → bridge. */
  networks?: Record<string, string>;
  domain_type?: DomainType;
  /** proxmox only: `endpoints`, `token`, `node`, `storage`, `iso_storage`, `clone_limit`, `templates`, `vmid_range`. */
  endpoints?: { url: string; fingerprint: string }[];
  token?: { env?: string; file?: string };
  node?: string;
  storage?: string;
  iso_storage?: string;
  clone_limit?: number;
  templates?: Record<string, number>;
  /** `FROM-TO`, e.g. `1000-1999`. */
  vmid_range?: string;
}
/** One entry of `images:`. */
export interface RawImage {
  url?: string;
  path?: string;
  sha256?: string;
  sha1?: string;
  format?: ImageFormat;
}
/** `objectives:` of a backup. */
export interface RawBackupObjectives {
  backup: string;
  wal: string;
}
/** `rehearsal:` of a backup. */
export interface RawBackupRehearsal {
  host: string;
  dir: string;
  interval?: string;
  queries?: string[];
}
/** One entry of a stanza's `postgres:`. */
export interface RawPgBackRestPostgres {
  host: string;
  data: string;
  port?: number;
  role?: PostgresRole;
}
/** One entry of `backups.pgbackrest`. */
export interface RawPgBackRestStanza {
  repository: string;
  user?: string;
  postgres: RawPgBackRestPostgres[];
  schedule: Partial<Record<PgBackRestBackupType, string>>;
  grace?: string;
  objectives: RawBackupObjectives;
  check_interval?: string;
  rehearsal?: RawBackupRehearsal;
}
/** One entry of `backups.walg`. */
export interface RawWalgBackup {
  host: string;
  data: string;
  port?: number;
  user?: string;
  env?: string;
  schedule: Partial<Record<WalgBackupType, string>>;
  grace?: string;
  objectives: RawBackupObjectives;
  rehearsal?: RawBackupRehearsal;
}
/** `backups:`. */
export interface RawBackups {
  pgbackrest?: Record<string, RawPgBackRestStanza>;
  walg?: Record<string, RawWalgBackup>;
}
/** The whole file. */
export interface RawInventory {
  keel: 1;
  site: string;
  domain?: string;
  dns?: RawDns;
  networks?: Record<string, RawNetwork>;
  defaults?: { ssh?: RawSsh; node_exporter?: RawNodeExporter; vm?: RawVmDefaults };
  hosts?: Record<string, RawHost>;
  vantages?: Record<string, RawVantage>;
  serve?: RawServe;
  alerts?: RawAlerts;
  hypervisors?: Record<string, RawHypervisor>;
  images?: Record<string, RawImage>;
  backups?: RawBackups;
}

/** One step of a path into the raw inventory: a mapping key or a list index. */
/** `dns:` as written in YAML, once it has passed the JSON Schema. */
export interface RawDns {
  ttl?: number;
  servers?: string[];
  contact?: string;
  records?: { name: string; type: DnsRecordType; value: string; ttl?: number }[];
}

export type Segment = string | number;
