/**
 * Types shared by derive (Inventory → CheckSpec[]), the runner, the check kinds and the
 * vantages. The report shape follows `shared/design/inventory.md` ("Report").
 */

// The kinds' names are an inventory fact too (`serve.checks` is keyed by them): declared below
// the inventory, used here.
import type { CheckKind } from "../inventory/check-kinds.js";
import type { Protocol } from "../inventory/model.js";

export { CHECK_KINDS, type CheckKind } from "../inventory/check-kinds.js";

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

/** Parameters of each check kind (the "resource" of goss' resource/probe/matcher split). */
export type CheckParams =
  | { kind: "reachable"; address: string /** declared TCP ports to fall back to */; tcpPorts: number[] }
  | { kind: "ssh.hostkey"; address: string; port: number }
  | { kind: "ssh.key-only"; address: string; port: number; user: string }
  | { kind: "ssh.login"; target: SshTarget }
  | {
      kind: "port.open";
      address: string;
      port: number;
      protocol: Protocol;
      /** How a UDP port is observed beyond an empty datagram (absent: no protocol probe). */
      probe?: UdpServiceProbe;
    }
  | {
      kind: "port.closed";
      address: string;
      port: number;
      protocol: Protocol;
      /** Human summary of the allow list, for messages: e.g. `mon, vpn`. */
      allowed: string;
      /** How a UDP port is observed beyond an empty datagram (absent: no protocol probe). */
      probe?: UdpServiceProbe;
    }
  | { kind: "http"; url: string; address: string; port: number; path: string; expect: number; body?: string }
  | {
      kind: "listeners";
      target: SshTarget;
      /** Declared listening services: port/protocol and the service name. */
      declared: { service: string; port: number; protocol: Protocol }[];
      /** Addresses or CIDR prefixes of listeners that never count as unexpected. */
      ignore: string[];
    }
  | { kind: "sysctl"; target: SshTarget; key: string; expected: string }
  | {
      kind: "wireguard.peers";
      target: SshTarget;
      interface: string;
      /** Expected peers: name and the addresses that identify it in the peer's allowed-ips. */
      peers: { name: string; addresses: string[] }[];
      /** A handshake older than this (seconds) fails; 180 per the contract. */
      maxHandshakeAgeSec: number;
    }
  | {
      kind: "prometheus.targets";
      /** Base URL of the Prometheus server, e.g. `http://10.20.0.3:9090`. */
      baseUrl: string;
      address: string;
      port: number;
      /**
       * Monitored hosts: name, addresses and node_exporter port; each must be an active target
       * on that port that is up. (`port` is optional for callers that match by host alone.)
       */
      monitored: { host: string; addresses: string[]; port?: number }[];
    }
  | { kind: "grafana"; baseUrl: string; address: string; port: number }
  | { kind: "node_exporter"; baseUrl: string; address: string; port: number }
  | {
      kind: "dns.records";
      /** The name server asked: the inventory host, the address the vantage reaches it at, the port. */
      server: DnsServerRef;
      /** The other declared servers this vantage may reach: their SOA serials are compared. */
      peers: DnsServerRef[];
      /** Zones whose SOA serial is compared with the peers': the forward zone, then the reverse zones. */
      zones: string[];
      /** Per host: `HOST.DOMAIN` with its expected A and AAAA addresses (empty: none expected). */
      names: { name: string; a: string[]; aaaa: string[] }[];
      /** Per host address: the expected PTR target (`HOST.DOMAIN`, no trailing dot). */
      ptr: { address: string; name: string }[];
    };

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

/** One derived check: pure data, serialisable. */
export interface CheckSpec {
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
  params: CheckParams;
  /** When set, the check is not run and is reported `skip` with this message. */
  skip?: string;
}

/** Outcome of running one check (the "matcher" verdict). */
export interface CheckOutcome {
  status: CheckStatus;
  /** One line saying what was found and, on failure, what was expected. */
  message: string;
  /** What was observed, as plain JSON data (state, status code, listener list, …). */
  observed?: Record<string, unknown>;
}

/** A check result as it appears in the report (`shared/design/inventory.md`). */
export interface CheckResult extends CheckOutcome {
  id: string;
  kind: CheckKind;
  host: string;
  service?: string;
  vantage?: string;
  /** Wall time spent on the check, in ms. */
  durationMs: number;
}

export interface ReportSummary {
  pass: number;
  fail: number;
  error: number;
  skip: number;
}

/** The JSON report of `keel verify --json`. */
export interface Report {
  inventory: string;
  /** ISO 8601 timestamp. */
  startedAt: string;
  durationMs: number;
  summary: ReportSummary;
  checks: CheckResult[];
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

/** One check kind: turns a spec into an outcome using a prober. */
export interface CheckKindModule<K extends CheckKind = CheckKind> {
  kind: K;
  run(
    spec: CheckSpec & { params: Extract<CheckParams, { kind: K }> },
    ctx: CheckContext,
  ): Promise<CheckOutcome>;
}

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
