/**
 * The `local` vantage: probes run on the machine that runs Keel.
 */
import dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import net from "node:net";
import pLimit from "p-limit";
import { hostPort } from "../../net/hostport.js";
import {
  type DnsQuestion,
  DnsRcodeError,
  type ExecResult,
  type HttpGetOptions,
  type HttpResponse,
  type PortState,
  ProbeError,
  type Prober,
  type SshTarget,
  VantageError,
} from "../types.js";
import { raceDeadline } from "./deadline.js";
import { PingBatcher } from "./fping.js";
import { type HostKeyVerdict, HostKeyVerifier } from "./hostkeys.js";
import { httpGetOnce } from "./http.js";
import type { HostKeyContext, SshPool } from "./sshconn.js";

/** Options of `LocalProber`. */
export interface LocalProberOptions {
  /** Concurrent SSH exec channels per target connection; default 8 (sshd `MaxSessions` is 10). */
  maxChannelsPerConnection?: number;
  /** The fping binary to run for ICMP echo; default `fping` from PATH (`fping(8)`). */
  pingCommand?: string;
  /**
   * The run's host key verifier (`keel verify` and `keel serve` share one between every
   * vantage); default: a verifier of this prober alone that pins each host's first key in
   * memory (accept-new without a file).
   */
  hostKeys?: HostKeyVerifier;
}

/**
 * How long (ms), at most, a UDP probe waits for an ICMP port-unreachable before concluding
 * `open|filtered`: the ICMP answer comes back within one round trip, so waiting the whole
 * check timeout would only slow every run down.
 */
export const UDP_WAIT_MS = 1500;

/** DNS questions in flight at once per `dnsQuery` call (a small, authoritative server). */
export const DNS_CONCURRENCY = 4;

/**
 * Probes from the machine running Keel: TCP with `node:net`, UDP with a connected `node:dgram`
 * socket, ICMP with fping (many addresses per process), HTTP with `undici`, SSH with `ssh2`.
 *
 * SSH host keys are verified by the run's `HostKeyVerifier` (`hostkeys.ts`) before any
 * authentication. One SSH connection per target is reused across `sshExec` calls, with at most
 * 8 concurrent exec channels on it.
 *
 * Every method settles within its timeout and rejects with the AbortSignal's reason on abort.
 */
export class LocalProber implements Prober {
  readonly vantage: string;
  #ssh: Promise<SshPool> | undefined;
  readonly #maxChannels: number | undefined;
  readonly #pings: PingBatcher;
  readonly #keys: HostKeyContext;

  /** @param vantage the vantage's name, as in the inventory (used in messages). */
  constructor(vantage: string, options: LocalProberOptions = {}) {
    this.vantage = vantage;
    this.#maxChannels = options.maxChannelsPerConnection;
    this.#pings = new PingBatcher({ vantage, command: options.pingCommand ?? "fping" });
    this.#keys = {
      verifier: options.hostKeys ?? new HostKeyVerifier({ checking: "accept-new" }),
      vantage,
    };
  }

  /**
   * TCP connect (`connect(2)` through `node:net`): `open` when the handshake completes,
   * `refused` on ECONNREFUSED (RST), `unreachable` on EHOSTUNREACH (ICMP host unreachable or
   * administratively prohibited), `filtered` when nothing answers within `timeoutMs` ms.
   *
   * @throws VantageError on ENETUNREACH: this vantage has no route to the address.
   * @throws ProbeError for other socket errors (e.g. EADDRNOTAVAIL).
   */
  tcpConnect(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortState> {
    const sock = new net.Socket();
    const work = new Promise<PortState>((resolve, reject) => {
      sock.once("connect", () => resolve("open"));
      sock.once("error", (e: NodeJS.ErrnoException) => {
        const state = portStateOfErrno(e.code, "tcp");
        if (state) resolve(state);
        else if (e.code === "ENETUNREACH") reject(this.#noRoute(address, e));
        else reject(new ProbeError(`TCP connect to ${hostPort(address, port)}: ${e.message}`));
      });
      sock.connect({ host: address, port });
    });
    return raceDeadline(
      work,
      timeoutMs,
      signal,
      () => "filtered" as PortState,
      () => sock.destroy(),
    );
  }

  /**
   * UDP probe: sends one empty datagram on a connected `node:dgram` socket. An ICMP port
   * unreachable surfaces as ECONNREFUSED → `refused`; an ICMP administratively (or host)
   * prohibited as EHOSTUNREACH → `prohibited` (Linux reports only these "hard" ICMP errors on
   * a UDP socket, `udp(7)`); a reply → `open`; silence for {@link UDP_WAIT_MS} ms (or
   * `timeoutMs` if shorter) → `open|filtered` (UDP cannot tell an open port from a filtered one).
   *
   * @throws VantageError on ENETUNREACH: this vantage has no route to the address.
   */
  udpProbe(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortState> {
    const sock = dgram.createSocket(net.isIPv6(address) ? "udp6" : "udp4");
    const work = new Promise<PortState>((resolve, reject) => {
      const fail = (e: NodeJS.ErrnoException) => {
        const state = portStateOfErrno(e.code, "udp");
        if (state) resolve(state);
        else if (e.code === "ENETUNREACH") reject(this.#noRoute(address, e));
        else reject(new ProbeError(`UDP probe of ${hostPort(address, port)}: ${e.message}`));
      };
      sock.on("error", fail);
      sock.on("message", () => resolve("open"));
      // connect(2) of a UDP socket looks the route up: with none, its callback gets the error
      sock.connect(port, address, (err?: Error) => {
        if (err) {
          fail(err as NodeJS.ErrnoException);
          return;
        }
        sock.send(Buffer.alloc(0), (e) => {
          if (e) fail(e as NodeJS.ErrnoException);
        });
      });
    });
    return raceDeadline(
      work,
      Math.min(timeoutMs, UDP_WAIT_MS),
      signal,
      () => "open|filtered" as PortState,
      () => {
        try {
          sock.close();
        } catch {
          // already closed after an error
        }
      },
    );
  }

  /** The VantageError of ENETUNREACH: the vantage, not the target, is the problem. */
  #noRoute(address: string, e: NodeJS.ErrnoException): VantageError {
    return new VantageError(
      `vantage ${this.vantage} has no route to ${address} (${e.code}: network is unreachable)`,
    );
  }

  /**
   * ICMP echo: one echo request, waiting `timeoutMs` ms for the reply, through fping(8) with the
   * requests of other checks that arrive within 100 ms (`PingBatcher`, `fping.ts`).
   *
   * @returns true when a reply came back.
   * @throws VantageError when fping is missing or cannot run (e.g. no permission for raw sockets).
   */
  ping(address: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return raceDeadline(this.#pings.ping(address, timeoutMs), timeoutMs + 1500, signal, () => false);
  }

  /**
   * HTTP GET of `http://address:port/path` with undici; the body is cut at 64 KiB unless
   * `options.maxBodyBytes` says otherwise.
   *
   * @throws ProbeError on connect failure (`GET URL: connection refused`) or timeout.
   */
  httpGet(
    address: string,
    port: number,
    path: string,
    timeoutMs: number,
    signal?: AbortSignal,
    options: HttpGetOptions = {},
  ): Promise<HttpResponse> {
    return httpGetOnce(address, port, path, timeoutMs, signal, options.maxBodyBytes);
  }

  /** See `askAuthMethods` (RFC 4252 §5.2, the `none` method). */
  sshAuthMethods(
    address: string,
    port: number,
    user: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    // ssh2 is loaded on first use: a run without SSH checks never pays for it
    return import("./sshconn.js").then((m) =>
      m.askAuthMethods(address, port, user, timeoutMs, signal, undefined, this.#keys),
    );
  }

  /** See `observeHostKey`: the verdict on the host key `address:port` offers this vantage. */
  sshHostKey(
    address: string,
    port: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HostKeyVerdict> {
    return import("./sshconn.js").then((m) =>
      m.observeHostKey(address, port, timeoutMs, signal, undefined, this.#keys),
    );
  }

  /**
   * Runs `command` on `target` over SSH (key from `target.identity`, else the agent at
   * `SSH_AUTH_SOCK`; host key verified first). See `SshPool.exec` for errors.
   */
  sshExec(target: SshTarget, command: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    return this.#sshPool().then((pool) => pool.exec(target, command, timeoutMs, signal));
  }

  #sshPool(): Promise<SshPool> {
    this.#ssh ??= import("./sshconn.js").then(
      (m) => new m.SshPool(undefined, this.#maxChannels ?? m.DEFAULT_MAX_CHANNELS, this.#keys),
    );
    return this.#ssh;
  }

  /**
   * DNS questions to `server:port` with node's `dns.promises.Resolver` (c-ares: UDP, TCP on
   * truncation), `tries: 1`, at most {@link DNS_CONCURRENCY} in flight, all within `timeoutMs`;
   * the resolver is cancelled on abort or deadline. NXDOMAIN (`ENOTFOUND`) and NODATA
   * (`ENODATA`) give `[]`. See `Prober.dnsQuery` for the answers' forms.
   *
   * @throws DnsRcodeError when the server answers with an error rcode (ESERVFAIL, EREFUSED,
   *   EFORMERR, ENOTIMP); ProbeError when it does not answer (ETIMEOUT, ECONNREFUSED).
   */
  dnsQuery(
    server: string,
    port: number,
    questions: DnsQuestion[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[][]> {
    const resolver = new Resolver({ timeout: Math.max(1, timeoutMs), tries: 1 });
    resolver.setServers([hostPort(server, port)]);
    const limit = pLimit(DNS_CONCURRENCY);
    const ask = async ({ name, type }: DnsQuestion): Promise<string[]> => {
      try {
        switch (type) {
          case "A":
            return await resolver.resolve4(name);
          case "AAAA":
            return await resolver.resolve6(name);
          case "PTR":
            return (await resolver.reverse(name)).map(normaliseName);
          case "SOA":
            return [String((await resolver.resolveSoa(name)).serial)];
        }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOTFOUND" || code === "ENODATA") return [];
        const text = `${type} ${name} from ${hostPort(server, port)}: ${dnsErrorText(e as NodeJS.ErrnoException)}`;
        const rcode = code === undefined ? undefined : RCODE_OF_ARES[code];
        throw rcode
          ? new DnsRcodeError(`${text} (answered with rcode ${rcode})`, rcode)
          : new ProbeError(text);
      }
    };
    const work = Promise.all(questions.map((q) => limit(() => ask(q))));
    return raceDeadline(
      work,
      timeoutMs,
      signal,
      () => {
        throw new ProbeError(`${hostPort(server, port)}: no answer within ${timeoutMs} ms`);
      },
      () => {
        limit.clearQueue();
        resolver.cancel();
      },
    );
  }

  /** Ends every SSH connection. */
  async close(): Promise<void> {
    if (this.#ssh) await (await this.#ssh).close();
  }
}

/** A DNS name as `dnsQuery` returns it: lowercase, without the trailing dot. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** Readable text of a c-ares error code (node's `dns` error codes). */
function dnsErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ETIMEOUT":
      return "no answer (timed out)";
    case "ECONNREFUSED":
      return "connection refused";
    case "ESERVFAIL":
      return "SERVFAIL";
    case "EREFUSED":
      return "REFUSED";
    default:
      return e.code ?? e.message;
  }
}

/** c-ares error codes that are a server's answer with an error rcode (RFC 1035 §4.1.1), by rcode. */
const RCODE_OF_ARES: Record<string, string> = {
  ESERVFAIL: "SERVFAIL",
  EREFUSED: "REFUSED",
  EFORMERR: "FORMERR",
  ENOTIMP: "NOTIMP",
};

/**
 * Maps a socket errno to the port state it proves, if any: ECONNREFUSED → `refused`;
 * EHOSTUNREACH → `prohibited` on UDP (only ICMP "prohibited" codes reach a UDP socket as
 * EHOSTUNREACH, `icmp_err_convert` in Linux' net/ipv4/icmp.c), `unreachable` on TCP.
 * ENETUNREACH proves nothing about the target (the vantage has no route): undefined.
 */
export function portStateOfErrno(code: string | undefined, protocol: "tcp" | "udp"): PortState | undefined {
  switch (code) {
    case "ECONNREFUSED":
      return "refused";
    case "EHOSTUNREACH":
      return protocol === "udp" ? "prohibited" : "unreachable";
    default:
      return undefined;
  }
}
