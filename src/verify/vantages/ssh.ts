/**
 * The `via` vantage: probes run on a host of the site, over one shared SSH connection to it.
 */
import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import ipaddr from "ipaddr.js";
import { type ClientChannel, type ConnectConfig, Client as SshClient } from "ssh2";
import { Client as HttpClient } from "undici";
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
import { type ChannelOpenError, ChannelProbeError, channelFailure } from "./channel.js";
import { errorMessage, raceDeadline, shellQuote } from "./deadline.js";
import { type HostKeyGuard, type HostKeyVerdict, HostKeyVerifier } from "./hostkeys.js";
import { httpGetVia } from "./http-via.js";
import {
  askAuthMethods,
  DEFAULT_MAX_CHANNELS,
  describeIdentity,
  type HostKeyContext,
  observeHostKey,
  SshPool,
} from "./sshconn.js";
import { ViaHelper } from "./via-helper.js";

/** Options of `ViaProber`. */
export interface ViaProberOptions {
  /** Deadline for connecting and logging in to the via host, in ms; default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Concurrent exec channels on each connection tunnelled through the via host (`sshExec`);
   * default 8. Probes on the via host itself share one session (the probe helper).
   */
  maxChannelsPerConnection?: number;
  /**
   * The run's host key verifier, for the via host and the targets reached through it; default:
   * one of this prober alone that pins each host's first key in memory.
   */
  hostKeys?: HostKeyVerifier;
}

/**
 * Probes from a via host: Keel logs in to it once with `ssh2` and
 *
 * - tcpConnect / httpGet: asks the via host's sshd to open a `direct-tcpip` channel to the
 *   target (`forwardOut`, RFC 4254 §7.2). sshd reports a failed connect with the errno text:
 *   "Connection refused" → `refused`, "No route to host"/"Network is unreachable" →
 *   `unreachable`; no answer by the timeout → `filtered`.
 * - ping / udpProbe / dnsQuery: runs `ping -n -c 1 -W S ADDR` / `nc -u -z -v -n -w S ADDR PORT`
 *   (OpenBSD netcat) / `dig` on the via host, all through one long-lived probe helper shell in
 *   one SSH session (`via-helper.ts`), so sshd's `MaxSessions` does not bound how many run at
 *   once; a missing tool → VantageError naming the tool and the host.
 * - sshAuthMethods / sshExec: SSH to the target through a `direct-tcpip` channel (ssh2's `sock`
 *   option), i.e. what OpenSSH calls ProxyJump.
 *
 * Host keys (of the via host and of targets) are verified by the run's `HostKeyVerifier`
 * before any authentication. If the via host cannot be reached or logged in to (its host key
 * refused included), every method rejects with
 * `VantageError("vantage lan-probe: cannot log in to svc-1 (10.20.0.5:22) as root: REASON")`;
 * the failure is remembered for the prober's lifetime, so later calls fail at once.
 */
export class ViaProber implements Prober {
  readonly vantage: string;
  readonly via: SshTarget;
  readonly #connectTimeoutMs: number;
  readonly #maxChannels: number;
  #conn: Promise<SshClient> | undefined;
  /** The via connection (also while it is still logging in, so `close` can end it). */
  #client: SshClient | undefined;
  /** Set by close(): a login still under way ends its connection instead of keeping it. */
  #closed = false;
  readonly #pool: SshPool;
  /** The probe helper that runs ping, nc and dig on the via host (see `helper()`). */
  #helper: Promise<ViaHelper> | undefined;
  readonly #httpClients = new Map<string, HttpClient>();
  readonly #keys: HostKeyContext;

  /**
   * @param vantage the vantage name (for messages).
   * @param via how to log in to the via host (`host` is its inventory name).
   */
  constructor(vantage: string, via: SshTarget, options: ViaProberOptions = {}) {
    this.vantage = vantage;
    this.via = via;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#maxChannels = options.maxChannelsPerConnection ?? DEFAULT_MAX_CHANNELS;
    this.#keys = {
      verifier: options.hostKeys ?? new HostKeyVerifier({ checking: "accept-new" }),
      vantage,
    };
    const open = (address: string, port: number, timeoutMs: number) =>
      this.openStream(address, port, timeoutMs);
    this.#pool = new SshPool(open, this.#maxChannels, this.#keys);
  }

  /** `vantage NAME: cannot log in to HOST (ADDR:PORT) as USER` — prefix of via failures. */
  private get failurePrefix(): string {
    const v = this.via;
    return `vantage ${this.vantage}: cannot log in to ${v.host} (${hostPort(v.address, v.port)}) as ${v.user}`;
  }

  /** The logged-in connection to the via host (made once; a failure is cached). */
  private connection(): Promise<SshClient> {
    if (!this.#conn) {
      this.#conn = this.login();
      this.#conn.catch(() => undefined);
    }
    return this.#conn;
  }

  private async login(): Promise<SshClient> {
    const v = this.via;
    const cfg: ConnectConfig = {
      host: v.address,
      port: v.port,
      username: v.user,
      readyTimeout: this.#connectTimeoutMs,
    };
    if (v.identity) {
      try {
        cfg.privateKey = await readFile(v.identity);
      } catch (e) {
        throw new VantageError(`${this.failurePrefix}: cannot read ${v.identity}: ${errorMessage(e)}`);
      }
    } else if (process.env.SSH_AUTH_SOCK) {
      cfg.agent = process.env.SSH_AUTH_SOCK;
    } else {
      throw new VantageError(`${this.failurePrefix}: no identity given and SSH_AUTH_SOCK is not set`);
    }
    if (this.#closed) throw new VantageError(`${this.failurePrefix}: the prober is closed`);
    const client = new SshClient();
    let guard: HostKeyGuard;
    try {
      guard = await this.#keys.verifier.guard(client, cfg, v.address, v.port, this.vantage);
    } catch (e) {
      throw new VantageError(`${this.failurePrefix}: ${errorMessage(e)}`);
    }
    this.#client = client;
    const work = new Promise<SshClient>((resolve, reject) => {
      let ready = false;
      client.on("ready", () => {
        ready = true;
        if (this.#closed) {
          // close() ran while this login was under way: do not leave a session open
          client.end();
          reject(new VantageError(`${this.failurePrefix}: the prober is closed`));
          return;
        }
        resolve(client);
      });
      client.on("error", (e) => {
        if (!ready)
          reject(
            new VantageError(
              guard.refusal
                ? `${this.failurePrefix}: ${guard.refusal.message}`
                : `${this.failurePrefix}: ${e.message} (with ${describeIdentity(v)})`,
            ),
          );
      });
      client.on("close", () => {
        if (!ready)
          reject(
            new VantageError(
              `${this.failurePrefix}: ${guard.refusal?.message ?? "connection closed before login"}`,
            ),
          );
        else {
          // Lost after login: remember it so every later probe errors at once.
          this.#client = undefined;
          this.#conn = Promise.reject(new VantageError(`${this.failurePrefix}: connection lost`));
          this.#conn.catch(() => undefined);
        }
      });
      client.connect(cfg);
    });
    return raceDeadline(work, this.#connectTimeoutMs + 100, undefined, () => {
      client.end();
      throw new VantageError(`${this.failurePrefix}: no answer within ${this.#connectTimeoutMs} ms`);
    });
  }

  /**
   * Opens a `direct-tcpip` channel from the via host to `address:port`.
   *
   * @throws VantageError when the via host is unusable.
   * @throws ProbeError (with `state` set) when the via host's sshd reports the connect failed,
   *   or when nothing answered within `timeoutMs` ms (`state` = `filtered`).
   */
  private async openStream(address: string, port: number, timeoutMs: number): Promise<Duplex> {
    // One deadline for the call. Not yet logged in to the via host by then means the vantage is
    // unusable (error), not that the target is filtered (fail).
    const deadline = Date.now() + timeoutMs;
    const client = await raceDeadline(this.connection(), timeoutMs, undefined, () => {
      throw new VantageError(`${this.failurePrefix}: still connecting after ${timeoutMs} ms`);
    });
    let late = false;
    const work = new Promise<ClientChannel>((resolve, reject) => {
      client.forwardOut("127.0.0.1", 0, address, port, (err, ch) => {
        if (err) {
          reject(channelFailure(address, port, err as ChannelOpenError));
          return;
        }
        if (late) ch.close();
        else resolve(ch);
      });
    });
    return raceDeadline(work, Math.max(0, deadline - Date.now()), undefined, () => {
      late = true;
      throw new ChannelProbeError(
        `${hostPort(address, port)}: no answer within ${timeoutMs} ms (via ${this.via.host})`,
        "filtered",
      );
    });
  }

  /**
   * Waits for the via connection, at most `timeoutMs` ms, and returns the ms left.
   *
   * @throws VantageError when the via host failed (now or earlier in the run) or is still
   *   connecting when the time is up (a probe must not report `filtered` for a slow via host).
   */
  private async ready(timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const t0 = Date.now();
    try {
      // (a CheckTimeout abort from the runner lands here too, see raceDeadline)
      await raceDeadline(this.connection(), timeoutMs, signal, () => {
        throw new VantageError(`${this.failurePrefix}: still connecting after ${timeoutMs} ms`);
      });
    } catch (e) {
      // The run was interrupted while the via host was still logging in: what is known is that
      // the vantage is not usable yet, so say that, not "aborted".
      if (signal?.aborted && !(e instanceof VantageError))
        throw new VantageError(
          `${this.failurePrefix}: still connecting after ${Date.now() - t0} ms when the check was stopped (${errorMessage(e)})`,
        );
      throw e;
    }
    return Math.max(1, timeoutMs - (Date.now() - t0));
  }

  /** TCP connect from the via host, through a `direct-tcpip` channel (see the class docs). */
  async tcpConnect(
    address: string,
    port: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<PortState> {
    const left = await this.ready(timeoutMs, signal);
    const work = this.openStream(address, port, left).then(
      (ch) => {
        ch.destroy();
        return "open" as PortState;
      },
      (e: unknown) => {
        if (e instanceof ChannelProbeError && e.state) return e.state;
        if (e instanceof ChannelProbeError && e.noRoute)
          throw new VantageError(`vantage ${this.vantage}: ${this.via.host} has no route to ${e.message}`);
        throw e;
      },
    );
    return raceDeadline(work, left + 20, signal, () => "filtered" as PortState);
  }

  /**
   * UDP probe by `nc -u -z -v -n -w S ADDR PORT` on the via host: exit 1 → `refused`, 0 →
   * `open|filtered`. OpenBSD nc reports only ICMP port unreachable: an ICMP administratively
   * prohibited reads as `open|filtered` here. "Network is unreachable"/"No route to host" from
   * nc's connect(2) means the via host has no route: VantageError.
   */
  async udpProbe(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortState> {
    // nc waits 1 s for an ICMP port-unreachable (it comes back within a round trip); the rest
    // of the timeout is for the SSH channel around it.
    const secs = 1;
    const cmd = `nc -u -z -v -n -w ${secs} ${shellQuote(address)} ${port}`;
    // No ICMP error before our deadline is what open|filtered means, even if nc is still waiting.
    const r = await this.execOnVia(cmd, timeoutMs, signal).catch((e: unknown) => {
      if (e instanceof ProbeError) return { code: 0, stdout: "", stderr: "" } as ExecResult;
      throw e;
    });
    this.assertTool("nc", r);
    if (r.code === 0) return "open|filtered";
    if (/no route|unreachable/i.test(r.stderr))
      throw new VantageError(
        `vantage ${this.vantage}: ${this.via.host} has no route to ${hostPort(address, port)} (${excerptLine(r.stderr)})`,
      );
    if (r.code === 1) return "refused";
    throw new VantageError(`vantage ${this.vantage}: nc failed on ${this.via.host}: ${r.stderr.trim()}`);
  }

  /** ICMP echo by `ping -n -c 1 -W S ADDR` (`-6` for IPv6) on the via host; exit 0 → true. */
  async ping(address: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const secs = Math.max(1, Math.floor(timeoutMs / 1000) - 1);
    const six = address.includes(":") ? "-6 " : "";
    const r = await this.execOnVia(
      `ping ${six}-n -c 1 -W ${secs} ${shellQuote(address)}`,
      timeoutMs,
      signal,
    ).catch((e: unknown) => {
      if (e instanceof ProbeError) return { code: 1, stdout: "", stderr: e.message } as ExecResult;
      throw e;
    });
    this.assertTool("ping", r);
    if (r.code === 0) return true;
    if (r.code === 1 || /unreachable|no route/i.test(r.stderr)) return false;
    throw new VantageError(`vantage ${this.vantage}: ping failed on ${this.via.host}: ${r.stderr.trim()}`);
  }

  /** HTTP GET with undici over a `direct-tcpip` channel from the via host (body cut at 64 KiB by default). */
  httpGet(
    address: string,
    port: number,
    path: string,
    timeoutMs: number,
    signal?: AbortSignal,
    options: HttpGetOptions = {},
  ): Promise<HttpResponse> {
    const origin = `http://${hostPort(address, port)}`;
    let client = this.#httpClients.get(origin);
    if (!client) {
      client = new HttpClient(origin, {
        connect: (_opts, cb) => {
          this.openStream(address, port, timeoutMs).then(
            (ch) => cb(null, ch as unknown as Socket),
            (e: Error) => cb(e, null),
          );
        },
      });
      this.#httpClients.set(origin, client);
    }
    const c = client;
    return this.ready(timeoutMs, signal).then((left) =>
      httpGetVia(c, `${origin}${path}`, left, signal, options.maxBodyBytes),
    );
  }

  /** Auth methods of `address:port`, asked through a `direct-tcpip` channel from the via host. */
  async sshAuthMethods(
    address: string,
    port: number,
    user: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const left = await this.ready(timeoutMs, signal);
    return askAuthMethods(
      address,
      port,
      user,
      left,
      signal,
      (a, p, t) => this.openStream(a, p, t),
      this.#keys,
    );
  }

  /** The verdict on the host key `address:port` offers, through the via host; see `observeHostKey`. */
  async sshHostKey(
    address: string,
    port: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HostKeyVerdict> {
    const left = await this.ready(timeoutMs, signal);
    return observeHostKey(address, port, left, signal, (a, p, t) => this.openStream(a, p, t), this.#keys);
  }

  /** Runs `command` on `target`, tunnelled through the via host (ProxyJump); see `SshPool.exec`. */
  async sshExec(
    target: SshTarget,
    command: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    const left = await this.ready(timeoutMs, signal);
    return this.#pool.exec(target, command, left, signal);
  }

  /**
   * Logs in to the via host and starts the probe helper, waiting at most `timeoutMs` ms; never
   * rejects (a failure is reported by the probes). See `Prober.prepare`.
   */
  async prepare(timeoutMs: number): Promise<void> {
    const started = this.helper().then(
      () => undefined,
      () => undefined,
    );
    await raceDeadline(started, timeoutMs, undefined, () => undefined);
  }

  /** Ends the HTTP clients, the tunnelled SSH connections and the via connection (also one still logging in). */
  async close(): Promise<void> {
    this.#closed = true;
    // The HTTP clients run over channels of the SSH connection: take the connection down first
    // (that closes every channel), then the clients without waiting on them: a client whose
    // channel is half-closed would wait forever for a close that only the connection can give.
    const http = [...this.#httpClients.values()];
    this.#httpClients.clear();
    await this.#pool.close();
    this.#helper?.then((h) => h.close()).catch(() => undefined);
    this.#helper = undefined;
    this.#client?.end();
    this.#client?.destroy();
    this.#client = undefined;
    for (const c of http) c.destroy().catch(() => undefined);
  }

  /**
   * The running probe helper on the via host (`via-helper.ts`), started on first use and again
   * after it ended. A start that failed is not remembered: the next probe tries again.
   */
  private helper(): Promise<ViaHelper> {
    if (this.#helper === undefined) {
      const label = `vantage ${this.vantage}: the probe helper on ${this.via.host}`;
      const p = this.connection().then((client) => ViaHelper.start(client, label, this.#connectTimeoutMs));
      this.#helper = p;
      p.then(
        (h) => {
          if (this.#closed) h.close();
        },
        () => {
          if (this.#helper === p) this.#helper = undefined;
        },
      );
    }
    const current = this.#helper;
    return current.then((h) => {
      if (h.alive) return h;
      if (this.#helper === current) this.#helper = undefined;
      return this.helper();
    });
  }

  /**
   * Runs a command on the via host itself, through the vantage's probe helper: one SSH
   * session carries every command, so a command starts as soon as the helper runs, never
   * behind other probes.
   *
   * Time: the command's `timeoutMs` starts when it starts on the via host. Waiting for the via
   * login and for the helper is the vantage's time: a command that could not start within
   * `timeoutMs`, or that the check's deadline (a `CheckTimeout` abort) stopped before it had
   * its whole `timeoutMs` on the via host, rejects with `VantageError` naming the via host's
   * saturation; it is never read as silence from the target.
   *
   * @throws VantageError as above, or when the helper cannot start or ends (its session was
   *   refused, a tool it needs is missing; the message says which).
   * @throws ProbeError when the command ran its whole `timeoutMs` without finishing.
   */
  private async execOnVia(command: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    const t0 = performance.now();
    await this.ready(timeoutMs, signal);
    const waitLeft = Math.max(1, timeoutMs - (performance.now() - t0));
    const helper = await raceDeadline(this.helper(), waitLeft, signal, () => {
      throw new VantageError(
        `vantage ${this.vantage}: ${this.via.host} is saturated: its probe helper did not start within ${timeoutMs} ms, so "${command}" did not run`,
      );
    });
    const started = performance.now();
    const waited = Math.round(started - t0);
    return raceDeadline(helper.run(command), timeoutMs, signal, () => {
      const ran = performance.now() - started;
      if (ran >= timeoutMs - 1)
        throw new ProbeError(`"${command}" on ${this.via.host} did not finish within ${timeoutMs} ms`);
      throw new VantageError(
        `vantage ${this.vantage}: ${this.via.host} is saturated: "${command}" started ${waited} ms late and was stopped after ${Math.round(ran)} of its ${timeoutMs} ms; no result`,
      );
    });
  }

  /**
   * DNS questions by one `dig +nocmd +noall +answer +comments +time=S +tries=1 -p PORT @SERVER
   * NAME TYPE …` (`-x ADDRESS` for PTR) on the via host (bind9-dnsutils, dig(1)): one command
   * (through the probe helper) for the whole batch. Each reply's header (`;; ->>HEADER<<- … status: RCODE`) comes
   * in question order: an rcode other than NOERROR/NXDOMAIN → DnsRcodeError naming it and the
   * question. Answer lines (`OWNER TTL CLASS TYPE RDATA`) are matched to the questions by owner
   * and type; no line for a question means NXDOMAIN or NODATA (`[]`). Exit 9 (no reply) →
   * ProbeError; exit 127 → VantageError "dig is not installed on HOST". See `Prober.dnsQuery`
   * for the answers' forms.
   */
  async dnsQuery(
    server: string,
    port: number,
    questions: DnsQuestion[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string[][]> {
    const secs = Math.max(1, Math.floor(timeoutMs / 1000) - 1);
    const args = questions.map((q) =>
      q.type === "PTR" ? `-x ${shellQuote(q.name)}` : `${shellQuote(q.name)} ${q.type}`,
    );
    const cmd = `dig +nocmd +noall +answer +comments +time=${secs} +tries=1 -p ${port} @${shellQuote(server)} ${args.join(" ")}`;
    const r = await this.execOnVia(cmd, timeoutMs, signal);
    this.assertTool("dig", r);
    if (r.code === 9)
      throw new ProbeError(`${hostPort(server, port)}: no answer (timed out, via ${this.via.host})`);
    if (r.code !== 0)
      throw new VantageError(
        `vantage ${this.vantage}: dig failed on ${this.via.host}: ${(r.stderr || r.stdout).trim()}`,
      );
    const rcodes = [...r.stdout.matchAll(/^;; ->>HEADER<<- .*\bstatus: ([A-Z0-9]+)/gm)].map((m) => m[1]!);
    rcodes.forEach((rcode, i) => {
      if (rcode === "NOERROR" || rcode === "NXDOMAIN") return;
      const q = questions[i];
      throw new DnsRcodeError(
        `${q ? `${q.type} ${q.name} from ` : ""}${hostPort(server, port)}: answered with rcode ${rcode} (via ${this.via.host})`,
        rcode,
      );
    });
    const lines = r.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 5 && !f[0]!.startsWith(";"));
    const name = (n: string) => n.toLowerCase().replace(/\.$/, "");
    return questions.map((q) => {
      const owner = q.type === "PTR" ? reverseOwner(q.name) : name(q.name);
      const rows = lines.filter((f) => name(f[0]!) === owner && f[3] === q.type);
      if (q.type === "SOA") return rows.slice(0, 1).map((f) => f[6] ?? "");
      if (q.type === "PTR") return rows.map((f) => name(f[4]!));
      return rows.map((f) => f[4]!);
    });
  }

  /** Exit 127 / "not found" means the tool is missing on the via host: VantageError. */
  private assertTool(tool: string, r: ExecResult): void {
    if (r.code === 127 || new RegExp(`${tool}: (command )?not found`).test(r.stderr)) {
      throw new VantageError(`vantage ${this.vantage}: ${tool} is not installed on ${this.via.host}`);
    }
  }
}

/**
 * The PTR owner of an address, lowercase without the trailing dot: `20.0.20.10.in-addr.arpa`
 * (RFC 1035 §3.5), or the 32 nibbles of an IPv6 address reversed under `ip6.arpa` (RFC 3596 §2.5).
 */
export function reverseOwner(address: string): string {
  const a = ipaddr.parse(address);
  if (a.kind() === "ipv4") return `${a.toByteArray().reverse().join(".")}.in-addr.arpa`;
  const nibbles = a.toByteArray().flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]);
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** The first line of a tool's stderr, trimmed, for messages. */
function excerptLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}
