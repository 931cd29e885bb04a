/**
 * What a check kind is and what it may use: the `Prober` of a vantage, the outcome it returns,
 * and the `CheckKindDefinition` each module of `checks/` exports (its parameters, how it is
 * derived, its transport, its run). The check kinds import this file, never `types.ts`, which
 * assembles the kinds' parameters into `CheckParams` from the registry (`checks/index.ts`).
 */

// The kinds' names are an inventory fact too (`serve.checks` is keyed by them): declared below
// the inventory, used here.
import type { CheckKind } from "../inventory/check-kinds.js";
import type { Host, Inventory, Service, Vantage } from "../inventory/model.js";

export { CHECK_KINDS, type CheckKind } from "../inventory/check-kinds.js";

/**
 * A check's verdict: `pass` (observed, and the promise holds), `fail` (observed, and it does not),
 * `error` (Keel could not observe: no verdict on the target), `skip` (no verdict to give, with
 * the reason: not run, or what it checks is not there, e.g. Ceph on a cluster that does not run it).
 */
export type CheckStatus = "pass" | "fail" | "error" | "skip";

/** How to log in to a host over SSH (resolved from the inventory). */
export interface SshTarget {
  host: string;
  address: string;
  port: number;
  user: string;
  /** Absolute private key path, or absent to use the SSH agent. */
  identity?: string;
}

/**
 * The protocol probe of a UDP service, which lets `port.open`/`port.closed` tell an open port
 * from a silent one (an empty datagram cannot: UDP services answer only their own protocol).
 *
 * - `dns`: a DNS query (SOA of `zone`) to the port; any DNS answer, whatever its rcode, proves
 *   the port open; silence after the query is `filtered`.
 * - `wireguard`: WireGuard answers only keyed handshakes, so the port is observed from the host
 *   instead: `wg show IFACE listen-port` and `latest-handshakes` over SSH (`wg(8)`); a handshake
 *   younger than `maxHandshakeAgeSec` on an interface listening on the port proves it open (to
 *   its peers). Used by `port.open` only.
 */
export type UdpServiceProbe =
  | { kind: "dns"; zone: string }
  | { kind: "wireguard"; target: SshTarget; interface: string; maxHandshakeAgeSec: number };

/** A DNS server as `dns.records` asks it: inventory host, address and port (UDP, TCP on truncation). */
export interface DnsServerRef {
  host: string;
  address: string;
  port: number;
}

/** Record types `Prober.dnsQuery` asks for. */
export type DnsQueryType = "A" | "AAAA" | "PTR" | "SOA";

/** One question of `Prober.dnsQuery`: a name (an address for PTR, a zone for SOA) and a type. */
export interface DnsQuestion {
  name: string;
  type: DnsQueryType;
}

/**
 * One derived check whose params are `P`: pure data, serialisable. `types.ts` has `CheckSpec`,
 * the spec of any kind.
 */
export interface CheckSpecOf<P> {
  /** Stable id `HOST/KIND[/SERVICE][@VANTAGE]`. */
  id: string;
  kind: CheckKind;
  host: string;
  service?: string;
  /**
   * The vantage the check runs from. For checks run over SSH on the host itself (listeners,
   * sysctl, wireguard.peers) this is the vantage whose SSH connection is used; the id then
   * carries no `@VANTAGE`.
   */
  vantage: string;
  params: P;
  /** When set, the check is not run and is reported `skip` with this message. */
  skip?: string;
  /**
   * This check's own interval in `keel serve`, ms, declared for it in the inventory (a stanza's
   * `check_interval`, a rehearsal's `interval`): used instead of its kind's `serve.checks` interval.
   */
  intervalMs?: number;
  /** This check's own deadline, ms (a restore takes minutes): used instead of `--timeout` and serve's per-check timeout. */
  timeoutMs?: number;
  /**
   * Consecutive failures that make this check's state hard in `keel serve`, instead of its
   * kind's `failAfter`: 1 for checks run hours apart, whose one failure is news.
   */
  failAfter?: number;
}

/** Outcome of running one check (the "matcher" verdict). */
export interface CheckOutcome {
  status: CheckStatus;
  /** One line saying what was found and, on failure, what was expected. */
  message: string;
  /** What was observed, as plain JSON data (state, status code, listener list, …). */
  observed?: Record<string, unknown>;
}

/**
 * State of a port as seen from a vantage:
 * - `open`: TCP handshake completed, or a UDP reply came back;
 * - `refused`: TCP RST or ICMP port unreachable (ECONNREFUSED);
 * - `prohibited`: UDP only, an ICMP administratively/host prohibited (type 3 code 13 or 10, a
 *   firewall's `reject with icmp type admin-prohibited`): Linux reports these (and only these
 *   besides port unreachable) as EHOSTUNREACH on a connected UDP socket (`udp(7)`, `icmp(7)`);
 * - `unreachable`: TCP only, EHOSTUNREACH: an ICMP host unreachable or administratively
 *   prohibited came back (Linux does not tell them apart on a TCP socket), or no neighbour answered;
 * - `filtered`: no answer to a TCP SYN or to a UDP protocol query within the timeout;
 * - `open|filtered`: no answer to an empty UDP datagram, which proves nothing either way.
 *
 * A vantage with no route to the address (ENETUNREACH) has no state: the probe throws
 * VantageError.
 */
export type PortState = "open" | "refused" | "prohibited" | "filtered" | "unreachable" | "open|filtered";

/** What an HTTP GET saw (`Prober.httpGet`): status, headers and the body, truncated to the prober's limit. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** Body decoded as UTF-8, cut at `maxBodyBytes`. */
  body: string;
  /** True when the body was longer than `maxBodyBytes` and was cut. */
  truncated?: boolean;
}

/** Options of `Prober.httpGet`. */
export interface HttpGetOptions {
  /** Largest body kept, in bytes; default 64 KiB. Larger bodies are cut and marked `truncated`. */
  maxBodyBytes?: number;
}

/** What a command run over SSH returned (`Prober.sshExec`): its exit code and output. */
export interface ExecResult {
  /** Exit code; null when the command was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * What a vantage can do: a stateless, dumb prober in the style of Prometheus'
 * blackbox_exporter. Judgement (pass/fail) lives in the check kinds, scheduling in the runner.
 *
 * Every method takes a timeout in ms and an AbortSignal and rejects with `VantageError` when
 * the vantage itself cannot work (its SSH connection fails, a command it needs is missing);
 * a probe that merely finds the target closed or silent resolves normally.
 */
export interface Prober {
  readonly vantage: string;
  /**
   * TCP connect: `open`, `refused` (RST), `filtered` (no answer within the timeout),
   * `unreachable` (EHOSTUNREACH). Rejects with VantageError when the vantage has no route
   * (ENETUNREACH).
   */
  tcpConnect(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortState>;
  /**
   * UDP probe with an empty datagram: `refused` on ICMP port unreachable, `prohibited` on ICMP
   * administratively prohibited, `open` on a reply, otherwise `open|filtered`. Rejects with
   * VantageError when the vantage has no route (ENETUNREACH).
   */
  udpProbe(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortState>;
  /** ICMP echo; resolves true when a reply came back within the timeout. */
  ping(address: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** HTTP GET of `http://address:port/path`. Rejects with `ProbeError` on connect failure/timeout. */
  httpGet(
    address: string,
    port: number,
    path: string,
    timeoutMs: number,
    signal?: AbortSignal,
    options?: HttpGetOptions,
  ): Promise<HttpResponse>;
  /** Authentication methods an SSH server offers (asked with the `none` method), e.g. `["publickey"]`. */
  sshAuthMethods(
    address: string,
    port: number,
    user: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[]>;
  /**
   * The verdict on the SSH host key `address:port` offers this vantage, against the run's
   * known_hosts (`hostkeys.ts`): from a connection of this vantage earlier in the run, else
   * from a key exchange that ends before any authentication.
   * @throws ProbeError when the server cannot be reached or completes no key exchange in time.
   */
  sshHostKey(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<HostKeyVerdict>;
  /**
   * Asks the DNS server at `server:port` (the server itself, not a recursive resolver) a batch
   * of questions: `A`/`AAAA` of a name, `PTR` of an address (`name` is the address; the prober
   * forms the `in-addr.arpa`/`ip6.arpa` name, RFC 1035 §3.5, RFC 3596 §2.5), `SOA` of a zone.
   * One call per server keeps a via vantage at one SSH session per batch.
   *
   * @returns per question, in order: addresses for A/AAAA, names (lowercase, no trailing dot)
   *   for PTR, the serial (decimal) for SOA; empty when the name does not exist or has no such
   *   record (NXDOMAIN, NODATA).
   * @throws DnsRcodeError (a ProbeError) when the server answers with an error rcode (SERVFAIL,
   *   REFUSED, …); ProbeError when it does not answer within `timeoutMs` ms or the port is
   *   refused; VantageError when the vantage lacks the tool (`dig` on a via host).
   */
  dnsQuery(
    server: string,
    port: number,
    questions: DnsQuestion[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[][]>;
  /** Runs a command on `target` over SSH from this vantage. Rejects with `ProbeError` on login failure. */
  sshExec(target: SshTarget, command: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult>;
  /**
   * Optional: gets the vantage ready to probe (a via vantage logs in and starts its probe
   * helper) before any check's time starts, so that start-up is the vantage's time, not the
   * first checks'. Waits at most `timeoutMs` ms and never rejects: a vantage that is not ready
   * by then reports why from its probes.
   */
  prepare?(timeoutMs: number): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** The vantage itself cannot run probes (its SSH connection failed, a tool is missing): checks become `error`. */
export class VantageError extends Error {
  override name = "VantageError";
}

/** The probe could not get an answer from the target (connect failed, timed out, bad login). */
export class ProbeError extends Error {
  override name = "ProbeError";
}

/**
 * A DNS server answered, with an error rcode (RFC 1035 §4.1.1, RFC 6895 §2.3): the server is
 * there, but the answer says nothing about the records asked.
 */
export class DnsRcodeError extends ProbeError {
  override name = "DnsRcodeError";
  /** The rcode's mnemonic, e.g. `SERVFAIL`, `REFUSED`, `FORMERR`, `NOTIMP`. */
  readonly rcode: string;
  constructor(message: string, rcode: string) {
    super(message);
    this.rcode = rcode;
  }
}

/** Context passed to a check kind when it runs. */
export interface CheckContext {
  prober: Prober;
  /** Per-check timeout in ms. */
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * How a kind's probes travel: `network` probes (connect, datagram, HTTP, DNS, ping) may run in
 * a worker thread from a local vantage; `ssh` ones log in (or exchange keys) over SSH and stay
 * on the main thread, so each host sees one SSH connection per vantage and every host key goes
 * through the run's one verifier (`parallel.ts`).
 */
export type CheckTransport = "network" | "ssh";

/**
 * Where a kind's checks come from, in the order `deriveChecks` lists them for each host:
 * - `path`, `port`, `server`: from every selected vantage that may reach the host, in that order
 *   per vantage: first the `path` kinds (the way there: reachability, SSH), then the `port` kinds
 *   once per service, then the `server` kinds (what the host answers each vantage);
 * - `content`: once per service, from the first selected vantage the service admits that does
 *   not run on the host itself;
 * - `on-host`: over SSH on the host, through the first selected vantage SSH admits;
 * - `entry`: once per inventory entry that is not a host (a hypervisor of `hypervisors:`), after
 *   every host's checks, asked by the machine running Keel itself (an API Keel speaks to, as
 *   `keel apply` does): from the first selected `local` vantage, else derived as `skip`.
 * Kinds of one scope follow `CHECK_KINDS`' order.
 */
export type DeriveScope = "path" | "port" | "server" | "content" | "on-host" | "entry";

/** A host as seen from a vantage: the address the vantage probes it at, and, for `port` and `content` kinds, the service. */
export interface ProbeSite {
  host: Host;
  vantage: Vantage;
  /** `probeAddress(host, vantage)`. */
  address: string;
  /** The service, for `port` and `content` kinds; absent for `path` and `server` kinds. */
  service?: Service;
}

/** One check a kind derives at a site: its params and, when the id names one, its service. */
export interface Derived<P> {
  params: P;
  service?: string;
}

/**
 * One check a kind runs on a host over SSH: its params once the SSH target is known (a
 * placeholder target when no vantage may log in; the check is then skipped), and its service.
 */
export interface DerivedOnHost<P> {
  make(target: SshTarget): P;
  service?: string;
  /** The check's own interval, deadline and `failAfter` (see `CheckSpecOf`). */
  intervalMs?: number;
  timeoutMs?: number;
  failAfter?: number;
}

/**
 * One check a kind derives for an inventory entry that is not a host (`entry` scope): the
 * entry's name, which is the id's `HOST` part and the result's `host` (id `NAME/KIND[/SERVICE]`,
 * no `@VANTAGE`: the machine running Keel asks), its params and, when the id names one, its
 * service.
 */
export interface DerivedEntry<P> {
  /** The entry's name, e.g. the hypervisor's (`hypervisors.NAME`). */
  entry: string;
  params: P;
  service?: string;
}

/** What the shared derive loop (`derive.ts`) hands a kind's `derive`: the inventory and its shared rules. */
export interface DeriveContext {
  inv: Inventory;
  /** The vantages derivation is restricted to (`--vantage`), else all, in inventory order. */
  vantages: readonly Vantage[];
  hostsByName: ReadonlyMap<string, Host>;
  /** The site's domain, lower case without the trailing dot; undefined without `domain`. */
  domain: string | undefined;
  /** How vantage `v` logs in to host `h` over SSH; undefined when the host has `ssh: false`. */
  sshTarget(h: Host, v: Vantage): SshTarget | undefined;
  /** `make()`'s value, computed once per `deriveChecks` call under `key` (for site-wide facts). */
  once<T>(key: string, make: () => T): T;
}

/**
 * What the runner needs of a check kind: its name and `run`, which makes probe calls on
 * `ctx.prober` and hands what it saw to the kind's pure `judge…` function.
 */
export interface CheckKindModule<K extends CheckKind = CheckKind, P extends { kind: K } = { kind: K }> {
  kind: K;
  /** Runs one check; throws only what the runner turns into an `error` result (`ProbeError`, `VantageError`). */
  run(spec: CheckSpecOf<P>, ctx: CheckContext): Promise<CheckOutcome>;
}

/**
 * A check kind, self-described: its params `P` (tagged with `kind: K`), `run`, its transport,
 * the scope it is derived in and its `derive`, which returns no check where the kind does not
 * apply. Each module of `checks/` exports one; `checks/index.ts` registers them.
 */
export type CheckKindDefinition<
  K extends CheckKind = CheckKind,
  P extends { kind: K } = { kind: K },
> = CheckKindModule<K, P> & {
  /** How its probes travel (see `CheckTransport`). */
  transport: CheckTransport;
  /**
   * True for kinds too heavy for every checklist run (a restore rehearsal): derived only when
   * `deriveChecks` is asked for them (`keel serve`, on their own interval), not by `keel verify`.
   */
  onDemand?: true;
} & (
    | {
        scope: Exclude<DeriveScope, "on-host" | "entry">;
        derive(site: ProbeSite, ctx: DeriveContext): Derived<P>[];
      }
    | { scope: "on-host"; derive(host: Host, ctx: DeriveContext): DerivedOnHost<P>[] }
    | { scope: "entry"; derive(ctx: DeriveContext): DerivedEntry<P>[] }
  );

/** A key as shown to an operator: its type and `SHA256:` fingerprint. */
export interface ShownKey {
  type: string;
  fingerprint: string;
  /** Line of known_hosts it comes from, when it comes from the file. */
  line?: number;
}

/**
 * What Keel made of the key a server offered:
 * - `known`: a key of the file for that host (`line`);
 * - `new`: no key for that host; accepted and recorded (accept-new);
 * - `unknown`: no key for that host, refused (strict);
 * - `changed`: the file has other keys for that host (`expected`), refused;
 * - `revoked`: the key is listed `@revoked`, refused.
 */
export interface HostKeyVerdict {
  status: "known" | "new" | "unknown" | "changed" | "revoked";
  /** The name the host is looked up by: `10.20.0.10` or `[10.20.0.10]:2222`. */
  name: string;
  /** The inventory host, when the address is one of an inventory host's. */
  host?: string;
  /** The key the server offered. */
  offered: ShownKey;
  /** The keys the file has for that host (for `changed`: what was expected). */
  expected: ShownKey[];
  /** The known_hosts file. */
  file: string;
}
