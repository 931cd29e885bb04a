/**
 * The normalised inventory: what `loadInventory` returns after the YAML has been parsed,
 * validated against the JSON Schema and every cross-reference rule of
 * `shared/design/inventory.md`, and defaults have been merged in.
 *
 * Everything downstream (derive, render, lab, serve) reads this model, never the raw YAML.
 * Collections keep the declaration order of the file, so derived output is deterministic.
 */

import type { SourcePosition } from "../errors.js";

export type { SourcePosition } from "../errors.js";

/** Transport protocol of a service port (`N`, `N/tcp`, `N/udp`; default tcp). */
export type Protocol = "tcp" | "udp";

/** Service kinds that add derived checks beyond port reachability. */
/** The service kinds, each adding derived checks: the one list the schema's enum, the loader's messages and `ServiceKind` derive from. */
export const SERVICE_KINDS = ["ssh", "node_exporter", "prometheus", "grafana", "dns", "http"] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/** The modes of `defaults.ssh.host_key_checking` (schema enum and type). */
export const HOST_KEY_CHECKING = ["accept-new", "strict"] as const;
export type HostKeyChecking = (typeof HOST_KEY_CHECKING)[number];

/** The roles of an API token (`serve.tokens[].role`; schema enum and type). */
export const TOKEN_ROLES = ["viewer", "operator"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export interface AddressRange {
  /** Range name, a DNS label. */
  name: string;
  /** CIDR prefix, host bits zero, inside the network, e.g. `10.20.0.128/25`. */
  cidr: string;
}

export interface Network {
  name: string;
  /** IPv4 or IPv6 prefix in CIDR notation with host bits zero, e.g. `10.20.0.0/24`. */
  cidr: string;
  /** Address family of `cidr`. */
  family: 4 | 6;
  gateway?: string;
  /** Resolvers: host names or addresses, as written. */
  dns: string[];
  /** The address plan: named slices of the network. */
  ranges: AddressRange[];
  /**
   * Addresses and prefixes never allocated by `auto` (YAML `reserved:`), canonical text
   * (`10.20.0.250`, `10.20.0.240/29`), each inside the network, in declaration order.
   */
  reserved: string[];
  /** DHCP service of the network (YAML `dhcp: { range, lease }`); absent when not declared. */
  dhcp?: DhcpSettings;
  pos: SourcePosition;
}

/** `networks.NAME.dhcp`: DHCP serves one named range of the network (rendered for dnsmasq and Kea). */
export interface DhcpSettings {
  /** Name of the range of this network that DHCP hands out (one of `Network.ranges`). */
  range: string;
  /** Lease time in seconds (YAML `lease`, a Prometheus duration; default 12h = 43200; at least 2m). */
  leaseSeconds: number;
}

/** A user cloud-init creates on a VM (YAML `vm.users[]`; cloud-init "users" module). */
export interface VmUser {
  /** Login name (useradd's rule: lowercase letter or `_`, then letters, digits, `_`, `-`; at most 32). */
  name: string;
  /** OpenSSH public keys, one line each (`ssh-ed25519 AAAA… comment`), as in authorized_keys(5). */
  sshAuthorizedKeys: string[];
  /** True: passwordless sudo (cloud-init `sudo: ALL=(ALL) NOPASSWD:ALL`). Default false. */
  sudo: boolean;
}

/**
 * A host that is a virtual machine (YAML `vm:`, merged over `defaults.vm`; lists replace, not
 * append): it gets a MAC, a DHCP reservation and cloud-init data (`docs/render.md`).
 */
export interface VmSettings {
  /**
   * The VM's MAC, lowercase colon form (`02:6b:65:1a:2b:3c`), always resolved: the static one
   * from `vm.mac`, or the one allocated for `mac: auto` (the default; recorded in keel.lock).
   */
  mac: string;
  /** True when `mac` was allocated (`mac: auto`), false when written in the inventory. */
  macAllocated: boolean;
  /** cloud-init instance number: bump it to make cloud-init run again (instance-id). Default 1. */
  instance: number;
  /** Users to create, from `vm.users` or else `defaults.vm.users`; empty when neither is given. */
  users: VmUser[];
  /** Packages to install, from `vm.packages` or else `defaults.vm.packages`. */
  packages: string[];
  /** Upgrade packages at first boot (YAML `package_upgrade`); default false, as cloud-init's. */
  packageUpgrade: boolean;
  /** Present when the VM names a hypervisor: it is then managed by `keel plan` / `keel apply`. */
  machine?: VmMachine;
  /** Where `vm:` is declared (the key). */
  pos: SourcePosition;
}

/**
 * Where and how a VM runs (YAML `vm.hypervisor`, `vm.image`, `vm.vcpus`, `vm.memory`, `vm.disk`,
 * `vm.autostart`, merged over `defaults.vm`): present only when the host names a hypervisor, which
 * makes the machine one that `keel plan` / `keel apply` manage.
 */
export interface VmMachine {
  /** Name of the hypervisor (a key of `hypervisors:`). */
  hypervisor: string;
  /** Name of the image the root disk is a copy-on-write overlay of (a key of `images:`). */
  image: string;
  /** Virtual CPUs (default 1). */
  vcpus: number;
  /** Memory in MiB (default 1024). */
  memoryMiB: number;
  /** Size of the root disk in GiB (default 10); never smaller than the image's virtual size. */
  diskGiB: number;
  /** Start the domain when the hypervisor boots (default true). */
  autostart: boolean;
  /** Keel snapshots kept (default 3): after apply takes one, the oldest beyond this many are deleted. */
  keepSnapshots: number;
  /**
   * The inventory network whose bridge the VM's one NIC is attached to: the host's first network
   * (cloud-init's network-config puts every address of the host on that NIC).
   */
  network: string;
  /**
   * The Proxmox VE VMID (a machine on a `proxmox` hypervisor only): `vm.vmid`, or allocated from
   * the hypervisor's `vmid_range` and recorded in keel.lock.
   */
  vmid?: number;
}

/** Hypervisor drivers Keel can manage machines on: the one list the schema and docs derive from. */
export const HYPERVISOR_DRIVERS = ["libvirt", "proxmox"] as const;
export type HypervisorDriver = (typeof HYPERVISOR_DRIVERS)[number];

/** libvirt domain types Keel makes (`<domain type=…>`, libvirt's "Domain XML format"): KVM, or QEMU's TCG emulation. */
export const DOMAIN_TYPES = ["kvm", "qemu"] as const;
export type DomainType = (typeof DOMAIN_TYPES)[number];

/** What every hypervisor of `hypervisors:` has, whatever its driver. */
interface HypervisorBase {
  name: string;
  /** Inventory network name → bridge name on the hypervisor (a Linux bridge, e.g. `br0`, `vmbr0`). */
  bridges: Record<string, string>;
  pos: SourcePosition;
}

/**
 * A libvirt hypervisor (YAML `hypervisors.NAME` with `driver: libvirt`): a connection URI
 * (libvirt's "Connection URIs": `qemu:///system`, `qemu+ssh://root@vega/system`), the storage
 * pool that holds the volumes, and which bridge each inventory network is on.
 */
export interface LibvirtHypervisor extends HypervisorBase {
  driver: "libvirt";
  /** libvirt connection URI, as written. */
  uri: string;
  /**
   * Storage for volumes: `{ pool }` names an existing libvirt storage pool (default `default`);
   * `{ dir }` is an absolute directory on the hypervisor, which Keel defines as a `dir` pool named
   * `keel-SITE-HYPERVISOR` when no pool has that path.
   */
  storage: { pool: string } | { dir: string };
  /**
   * The domain type machines get: `kvm`, or `qemu` (TCG, software emulation) where KVM is present
   * but unusable (e.g. a nested hypervisor). Absent: `kvm` when libvirt offers it
   * (`virsh domcapabilities --virttype kvm`), else `qemu`.
   */
  domainType?: DomainType;
}

/** One API endpoint of a Proxmox VE cluster: a node's `https://HOST:8006` and its certificate's pin. */
export interface ProxmoxEndpoint {
  /** Base URL, `https://HOST[:PORT]` (port 8006 when absent), no path. */
  url: string;
  /**
   * SHA-256 fingerprint of the node's TLS certificate, uppercase hex pairs joined by `:` (as
   * `pvenode cert info` and the web UI show it). Certificate verification is this pin.
   */
  fingerprint: string;
}

/**
 * Where the API token of a Proxmox VE hypervisor is read from at run time, never the inventory:
 * an environment variable or a file, holding `USER@REALM!TOKENID=SECRET` (the Proxmox VE API's
 * `PVEAPIToken` form).
 */
export type ProxmoxTokenSource = { env: string } | { file: string };

/**
 * A Proxmox VE cluster (YAML `hypervisors.NAME` with `driver: proxmox`), reached through its API
 * (Proxmox VE API, `/api2/json`): endpoints tried in order, the node and storage new machines
 * are created on, and the template each image is cloned from.
 */
export interface ProxmoxHypervisor extends HypervisorBase {
  driver: "proxmox";
  /** API endpoints, tried in this order ("if vega is down, try the other nodes"); at least one. */
  endpoints: ProxmoxEndpoint[];
  token: ProxmoxTokenSource;
  /** The node new machines are created on (a Proxmox VE node name). */
  node: string;
  /** The storage holding the machines' disks (a Proxmox VE storage ID, e.g. `local-lvm`). */
  storage: string;
  /** The storage the `cidata` ISOs are uploaded to (content type `iso`; default `local`). */
  isoStorage: string;
  /** Clones running at once per target storage (default 1), so parallel clones never time out on its lock. */
  cloneLimit: number;
  /** Image name → VMID of the template on the cluster that machines of that image are cloned from. */
  templates: Record<string, number>;
  /** VMIDs Keel allocates from for machines that declare none (inclusive; default 1000–9999). */
  vmidRange: { from: number; to: number };
}

/** A hypervisor of `hypervisors:`, by driver. */
export type Hypervisor = LibvirtHypervisor | ProxmoxHypervisor;

/** Image formats `images.NAME.format` accepts (qemu-img's names). */
export const IMAGE_FORMATS = ["qcow2", "raw"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/**
 * A disk image machines are made from (YAML `images.NAME`): a published cloud image or one of
 * the site's own, with the digest its publisher gives.
 */
export interface Image {
  name: string;
  /**
   * Where it comes from: `{ url }` (http or https, fetched by Keel once per hypervisor) or
   * `{ path }` (absolute, on the machine that runs Keel; relative paths resolve against the
   * inventory's directory, `~/` against the home directory).
   */
  source: { url: string } | { path: string };
  /** Expected digest: SHA-256 (preferred) or SHA-1 (for publishers that give only that), lowercase hex. */
  checksum: { algorithm: "sha256" | "sha1"; hex: string };
  /** Format of the file (default qcow2). */
  format: ImageFormat;
  pos: SourcePosition;
}

/** pgBackRest's backup types (`--type`), largest first: the keys of a stanza's `schedule`. */
export const PGBACKREST_BACKUP_TYPES = ["full", "diff", "incr"] as const;
export type PgBackRestBackupType = (typeof PGBACKREST_BACKUP_TYPES)[number];

/** WAL-G's backup types, largest first (a delta is a `backup-push` with `WALG_DELTA_MAX_STEPS`). */
export const WALG_BACKUP_TYPES = ["full", "delta"] as const;
export type WalgBackupType = (typeof WALG_BACKUP_TYPES)[number];

/** The role of a PostgreSQL server of a stanza (`backups.pgbackrest.NAME.postgres[].role`). */
export const POSTGRES_ROLES = ["primary", "standby"] as const;
export type PostgresRole = (typeof POSTGRES_ROLES)[number];

/**
 * Recovery-point objectives of a backup (YAML `objectives`): how much data a site accepts to
 * lose. Both are ages, checked against the repository's newest entries.
 */
export interface BackupObjectives {
  /** The newest good backup (any type) is no older than this, in ms (YAML `backup`). */
  backupMs: number;
  /** The newest WAL segment in the archive is no older than this, in ms (YAML `wal`); at most `backupMs`. */
  walMs: number;
}

/**
 * A restore rehearsal (YAML `rehearsal`): the newest backup (or a chosen set) restored into `dir`
 * on `host`, a server started on it, and `queries` run against it.
 */
export interface BackupRehearsal {
  /** The host restored onto: a declared host with SSH, not one of the PostgreSQL hosts backed up. */
  host: string;
  /** Absolute scratch directory on `host`, emptied before each rehearsal; never a declared data directory. */
  dir: string;
  /** Time between two rehearsals by `keel serve`, in ms (default 7 days; at least 1 hour). */
  intervalMs: number;
  /** Sanity queries (SQL) run on the restored server, in order; each must succeed. Default none. */
  queries: string[];
  pos: SourcePosition;
}

/** A PostgreSQL server of a pgBackRest stanza (YAML `postgres[]`): pgBackRest's `pgN-*` options. */
export interface PgBackRestPostgres {
  /** N of `pgN-host`/`pgN-path`/`pgN-port`: the entry's place in the list, from 1. */
  index: number;
  /** The host it runs on (a declared host). */
  host: string;
  /** Its data directory (`pgN-path`), absolute, as written. */
  data: string;
  /** Its port (`pgN-port`; default 5432). */
  port: number;
  /** `primary` or `standby` (default: primary when the stanza has one server, standby otherwise). */
  role: PostgresRole;
  pos: SourcePosition;
}

/** A pgBackRest stanza (YAML `backups.pgbackrest.STANZA`). */
export interface PgBackRestStanza {
  /** The stanza name (`--stanza`), as written. */
  stanza: string;
  /** The repository host (`repo1-host`), a declared host; the primary itself for a local repository. */
  repository: string;
  /** Commands run as `sudo -u USER`; absent: as the SSH user of the host they run on. */
  user?: string;
  /** The servers, primary and standbys, in declaration order (`index` 1, 2, …); exactly one primary. */
  postgres: PgBackRestPostgres[];
  /** The primary's host (the one entry of `postgres` with role `primary`). */
  primary: string;
  /**
   * The expected interval of each scheduled backup type, in ms; at least one type, each shorter
   * than the types above it (full > diff > incr).
   */
  schedule: Partial<Record<PgBackRestBackupType, number>>;
  /** Slack added to each scheduled interval before a backup counts as late, in ms (default 1 hour). */
  graceMs: number;
  objectives: BackupObjectives;
  /** Time between two runs of `pgbackrest check`, in ms (default 6 hours; at least 1 minute). */
  checkIntervalMs: number;
  rehearsal?: BackupRehearsal;
  pos: SourcePosition;
}

/** A WAL-G backup of one PostgreSQL server (YAML `backups.walg.NAME`). */
export interface WalgBackup {
  /** The name it is declared under (a DNS label). */
  name: string;
  /** The host of the PostgreSQL server wal-g backs up and archives from (a declared host). */
  host: string;
  /** The server's data directory (PGDATA), absolute, as written. */
  data: string;
  /** The server's port (default 5432). */
  port: number;
  /** Commands run as `sudo -u USER`; absent: as the SSH user. */
  user?: string;
  /** Words put before every wal-g command, as written (e.g. `envdir /run/etc/wal-e.d/env`); absent: none. */
  env?: string;
  /** The expected interval of each scheduled backup type, in ms (full > delta). */
  schedule: Partial<Record<WalgBackupType, number>>;
  /** Slack added to each scheduled interval before a backup counts as late, in ms (default 1 hour). */
  graceMs: number;
  objectives: BackupObjectives;
  rehearsal?: BackupRehearsal;
  pos: SourcePosition;
}

/** The site's PostgreSQL backups (YAML `backups:`, a Keel extension); empty lists when absent. */
export interface Backups {
  /** pgBackRest stanzas in declaration order. */
  pgbackrest: PgBackRestStanza[];
  /** WAL-G backups in declaration order. */
  walg: WalgBackup[];
}

/** One address of a host (or vantage) on one attached network. */
export interface InterfaceAddress {
  network: string;
  /** Canonical textual form of the address (IPv6 compressed, RFC 5952); concrete even for `auto`. */
  address: string;
  /**
   * Present when the inventory says `auto` (`{}`) or `auto@RANGE` (`{ range }`): the address was
   * allocated (see `src/inventory/ipam/`) and is recorded in keel.lock.
   */
  auto?: { range?: string };
}

/** HTTP health probe of a service (`http: PATH` or the long form). */
export interface HttpProbe {
  /** Absolute path, e.g. `/-/healthy`. */
  path: string;
  /** Expected HTTP status code; default 200. */
  expect: number;
  /** Regular expression the body must match (JavaScript syntax), if given. */
  body?: string;
}

export interface Service {
  name: string;
  kind?: ServiceKind;
  /** Port number, 1–65535. */
  port: number;
  protocol: Protocol;
  /** Who may reach it: network, host or vantage names, or `any`. Absent in YAML means `["any"]`. */
  allow: string[];
  http?: HttpProbe;
  /**
   * `dns: NAME`: a name relative to `domain` (e.g. `www`) that the forward zone points at the
   * host with a CNAME (RFC 1034 §3.6.2).
   */
  dns?: string;
  /** True when the service came from `defaults` (ssh, node_exporter) rather than `services:`. */
  fromDefaults: boolean;
  pos: SourcePosition;
}

/** SSH connection settings (after merging `defaults.ssh` and the host's `ssh:`). */
export interface SshSettings {
  user: string;
  port: number;
  /**
   * Private key path as written (`~/` and paths relative to the inventory's directory are
   * resolved by `resolveIdentityPath`); absent means use the SSH agent (`SSH_AUTH_SOCK`).
   */
  identity?: string;
  allow: string[];
}

/** Settings of the node_exporter default service. */
export interface NodeExporterSettings {
  port: number;
  allow: string[];
}

export interface WireGuardSettings {
  /** Interface name, e.g. `wg0`. */
  interface: string;
  /** UDP listen port. */
  port?: number;
  /** Names of hosts or vantages expected as peers. */
  peers: string[];
}

export interface Host {
  name: string;
  /** Addresses in declaration order; the first is the host's primary address. */
  addresses: InterfaceAddress[];
  tags: string[];
  /** sysctl key → expected value, as a string (`1`, `0`, `4096 87380 6291456`). */
  sysctl: Record<string, string>;
  wireguard?: WireGuardSettings;
  /**
   * All services: the host's own `services:` in order, then `ssh` and `node_exporter` from
   * defaults (unless removed with `false` or already declared by name).
   */
  services: Service[];
  /** SSH settings used to log in to the host; absent when `ssh: false`. */
  ssh?: SshSettings;
  /** Listener addresses/prefixes that never count as unexpected, e.g. `127.0.0.0/8`, `::1`. */
  listenersIgnore: string[];
  /** Present when the host is a VM (`vm:`). */
  vm?: VmSettings;
  pos: SourcePosition;
}

/** Resource record types `dns.records` accepts (RFC 1035, 3596, 2782, 8659). */
/** The DNS record types `dns.records` accepts: the one list the schema's enum, the loader's messages and `DnsRecordType` derive from. */
export const DNS_RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "CAA"] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

/** One extra resource record of the forward zone (`dns.records` item). */
export interface DnsRecord {
  /** Owner name relative to `domain`: `@` (the apex), `www`, `*`, `*.apps`, `_sip._tcp`. */
  name: string;
  type: DnsRecordType;
  /** The RDATA as written (master file syntax, RFC 1035 §5.1; TXT may be unquoted). */
  value: string;
  /** TTL in s (0..2147483647, RFC 2181 §8); absent: `dns.ttl`. */
  ttl?: number;
  pos: SourcePosition;
}

/** The `dns:` section with its defaults filled in. */
export interface DnsSettings {
  /** Default TTL of rendered records, in s (default 3600). */
  ttl: number;
  /** Hosts that serve the zones (NS records), in order; the first is the SOA MNAME. */
  servers: string[];
  /** SOA RNAME as written (default `hostmaster`: a name in the zone). */
  contact: string;
  records: DnsRecord[];
}

export interface Vantage {
  name: string;
  /** `local`: probes run on the machine running Keel; `via`: probes run on `via` over SSH. */
  type: "local" | "via";
  /** Host name for `via` vantages (also the host it sits on). */
  via?: string;
  /** `host:` of a local vantage: the host whose networks the vantage sits in. */
  host?: string;
  /**
   * Networks the vantage sits in: `networks:` as declared for local vantages; the networks of
   * `via`/`host` otherwise.
   */
  networks: string[];
  /**
   * Keel extension: the vantage's own addresses (`address: { vpn: 10.99.0.250 }`), used to
   * identify it e.g. as a WireGuard peer. For `via` vantages, the via host's addresses.
   */
  addresses: InterfaceAddress[];
  /** True when no vantage was declared and Keel made the implicit `local` one. */
  implicit: boolean;
  pos: SourcePosition;
}

export interface Defaults {
  ssh: SshSettings;
  nodeExporter: NodeExporterSettings;
  /**
   * Absolute path of the known_hosts file that pins the hosts' SSH keys
   * (`defaults.ssh.known_hosts`, resolved like an identity; default `.keel/known_hosts` beside
   * the inventory).
   */
  knownHosts: string;
  /** `defaults.ssh.host_key_checking`: `accept-new` (default) or `strict`. */
  hostKeyChecking: HostKeyChecking;
}

/** One allocation this load made, moved or freed compared with keel.lock (`keel ipam` lists them). */
export interface AllocationChange {
  host: string;
  /** `address` (then `network` is set) or `mac`. */
  kind: "address" | "mac";
  network?: string;
  /** The locked value before; absent for a new allocation. */
  from?: string;
  /** The value now; absent when the entry was freed. */
  to?: string;
  /** Why, e.g. `new`, `host removed`, `static address 10.20.0.5 of host "x" took it`. */
  reason: string;
}

/** The state of `keel.lock` after allocation (`docs/ipam.md`). */
export interface IpamState {
  /** Path of the lock file: `keel.lock` in the inventory's directory, as given (relative stays relative). */
  lockFile: string;
  /**
   * The lock-file text this inventory needs; undefined when nothing is allocated and there is no
   * lock file (then none is created).
   */
  lock?: string;
  /**
   * True when the allocations differ from the lock file's content (or there is none yet); a
   * lock that holds the same allocations in another layout counts as unchanged.
   */
  lockChanged: boolean;
  /** Allocations made, moved or freed, in inventory order (freed ones last). */
  changes: AllocationChange[];
}

/**
 * Per-kind scheduling and state thresholds for `keel serve` (`serve.checks` in YAML, keyed by
 * check kind or `default`). Nagios/Icinga terms: a check is soft-failing until it fails
 * `failAfter` times in a row, then hard-failing until it passes `recoverAfter` times in a row.
 */
export interface CheckSchedule {
  /** Interval between runs of one check, in ms (YAML: Prometheus duration, e.g. `30s`). */
  intervalMs: number;
  /** Consecutive failures (fail or error) that make the state hard (default 3). */
  failAfter: number;
  /** Consecutive passes that recover a hard-failing check (default 2). */
  recoverAfter: number;
}

/** An API token (`serve.tokens`): declared by its SHA-256 hash or by an `${ENV}` reference. */
export interface ApiToken {
  /** Who the token belongs to; written to the audit log. */
  name: string;
  /** `viewer` reads; `operator` may also trigger runs. */
  role: TokenRole;
  /** Lower-case hex SHA-256 of the token (YAML `sha256:`). */
  sha256?: string;
  /** Name of the environment variable holding the token (YAML `token: ${NAME}`). */
  env?: string;
  pos: SourcePosition;
}

/** Retention of check history in the store (`serve.retention`). */
export interface Retention {
  /** Raw results are kept this long, in ms (default 7 days); older ones are downsampled. */
  rawMs: number;
  /** Downsampled buckets are this wide, in ms (default 1 hour). */
  bucketMs: number;
  /** Nothing is kept longer than this, in ms (default 365 days). */
  maxAgeMs: number;
  /** At most this many raw results per check (default 10,000); the oldest go first. */
  perCheck: number;
}

/** Settings of `keel serve` (the `serve:` section, a Keel extension; all optional in YAML). */
export interface ServeSettings {
  /** `host:port` to listen on (default `127.0.0.1:8484`; the `--listen` flag overrides it). */
  listen: string;
  /** Schedule by check kind, with every kind filled in from `default`. */
  checks: Record<string, CheckSchedule>;
  /** Flapping: `changes` or more state changes within the last `window` results (default 6 in 20). */
  flapping: { window: number; changes: number };
  retention: Retention;
  tokens: ApiToken[];
}

/** A generic webhook receiving hard state changes as JSON (`alerts.webhooks`). */
export interface Webhook {
  name: string;
  url: string;
  /** Extra request headers; values may be `${ENV}` references, resolved when sending. */
  headers: Record<string, string>;
  pos: SourcePosition;
}

/** Where hard state changes are sent (the `alerts:` section, a Keel extension). */
export interface AlertSettings {
  /** Alertmanager base URLs (v2 API: `POST {url}/api/v2/alerts`). */
  alertmanagers: string[];
  webhooks: Webhook[];
}

export interface Inventory {
  /** Path of the inventory file as given on the command line. */
  file: string;
  /** Absolute directory of the inventory file (relative paths resolve against it). */
  dir: string;
  /** Format version; always 1. */
  version: 1;
  site: string;
  domain?: string;
  /** `dns:`, with defaults filled in; absent when the inventory has no `dns:` section. */
  dns?: DnsSettings;
  networks: Network[];
  defaults: Defaults;
  hosts: Host[];
  vantages: Vantage[];
  /** `serve:` with every default filled in. */
  serve: ServeSettings;
  /** `alerts:`; empty lists when absent. */
  alerts: AlertSettings;
  /** `hypervisors:` in declaration order; empty when absent. */
  hypervisors: Hypervisor[];
  /** `images:` in declaration order; empty when absent. */
  images: Image[];
  /** `backups:`: pgBackRest stanzas and WAL-G backups, in declaration order; empty when absent. */
  backups: Backups;
  /** Allocation state: the lock file's path, its new text, whether it changed, what changed. */
  ipam: IpamState;
}
