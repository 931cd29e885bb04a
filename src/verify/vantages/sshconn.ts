/**
 * SSH plumbing shared by the local and the via prober, on top of `ssh2`: asking a server for
 * its authentication methods with the `none` method, and a pool of logged-in connections that
 * run commands with a bounded number of concurrent exec channels.
 *
 * Every connection's host key is verified (`hostkeys.ts`) before any authentication request
 * is sent: a refused key ends the connection with a `HostKeyError`, and a host whose key
 * changed is not connected to again in the run.
 */
import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import pLimit, { type LimitFunction } from "p-limit";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { hostPort } from "../../net/hostport.js";
import { type ExecResult, ProbeError, type SshTarget, VantageError } from "../types.js";
import { describeIdentity, errorMessage, raceDeadline } from "./deadline.js";
import { HostKeyError, type HostKeyVerdict, type HostKeyVerifier } from "./hostkeys.js";

export { describeIdentity };

/** The run's host key verifier and the vantage whose connections it is checking. */
export interface HostKeyContext {
  verifier: HostKeyVerifier;
  vantage: string;
}

/**
 * Opens a byte stream to `address:port` (a TCP socket, or an SSH `direct-tcpip` channel through
 * a via host). Rejects with `ProbeError` when the target cannot be reached.
 */
export type OpenStream = (address: string, port: number, timeoutMs: number) => Promise<Duplex>;

/** Default bound on concurrent exec channels per connection: below sshd's `MaxSessions` 10 (`man sshd_config`). */
export const DEFAULT_MAX_CHANNELS = 8;

/** Largest stdout or stderr kept from one command, in bytes; the rest is dropped. */
export const MAX_EXEC_OUTPUT_BYTES = 1024 * 1024;

/**
 * Asks the SSH server at `address:port` which authentication methods it offers, by sending a
 * `none` request for `user` and reading the "authentications that can continue" list of the
 * SSH_MSG_USERAUTH_FAILURE answer (RFC 4252 §5.2). No credentials are sent, and nothing at all
 * once the host key is refused (`keys`).
 *
 * @returns the methods, e.g. `["publickey"]`; `["none"]` when the server accepts `none` (no
 *   authentication at all).
 * @throws ProbeError when the server cannot be reached or does not answer within `timeoutMs` ms.
 * @throws HostKeyError when the server's host key is refused (or changed earlier in the run).
 */
export function askAuthMethods(
  address: string,
  port: number,
  user: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  openStream: OpenStream | undefined,
  keys: HostKeyContext,
): Promise<string[]> {
  const hp = hostPort(address, port);
  const client = new Client();
  const work = (async () => {
    const early = keys.verifier.refusalFor(address, port);
    if (early) throw early;
    const sock = openStream ? await openStream(address, port, timeoutMs) : undefined;
    const cfg: ConnectConfig = { host: address, port, username: user, readyTimeout: timeoutMs };
    const guard = await keys.verifier.guard(client, cfg, address, port, keys.vantage).catch((e: unknown) => {
      sock?.destroy();
      throw e;
    });
    return await new Promise<string[]>((resolve, reject) => {
      let asked = false;
      client.on("ready", () => resolve(["none"]));
      client.on("error", (e) =>
        reject(guard.refusal ?? new ProbeError(`cannot ask ${hp} for SSH auth methods: ${e.message}`)),
      );
      client.on("close", () =>
        reject(guard.refusal ?? new ProbeError(`${hp} closed the SSH connection before authentication`)),
      );
      cfg.authHandler = (methodsLeft, _partial, next) => {
        if (!asked) {
          asked = true;
          next({ type: "none", username: user });
          return;
        }
        resolve([...(methodsLeft ?? [])]);
      };
      if (sock) cfg.sock = sock;
      client.connect(cfg);
    });
  })();
  // A guard just past the deadline: the steps inside settle by `timeoutMs` with a precise error
  // (vantage unusable, target silent), which must win over this generic one.
  return raceDeadline(
    work,
    timeoutMs + 50,
    signal,
    () => {
      throw new ProbeError(`no SSH answer from ${hp} within ${timeoutMs} ms`);
    },
    () => client.end(),
  );
}

/**
 * The verdict on the host key `address:port` offers to `keys.vantage`: the one a connection of
 * this vantage already got in the run; the changed key any vantage saw, for a host refused
 * earlier in the run (no connection is made); else the one a new connection gets, which ends
 * right after the key exchange (no authentication request is sent).
 *
 * @throws ProbeError when the server cannot be reached or does not complete the key exchange
 *   within `timeoutMs` ms.
 * @throws VantageError when the known_hosts file cannot be read.
 */
export function observeHostKey(
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  openStream: OpenStream | undefined,
  keys: HostKeyContext,
): Promise<HostKeyVerdict> {
  const seen = keys.verifier.seen(keys.vantage, address, port);
  if (seen) return Promise.resolve(seen);
  const hp = hostPort(address, port);
  const client = new Client();
  const work = (async () => {
    const early = keys.verifier.refusalFor(address, port);
    if (early) return early.verdict;
    const sock = openStream ? await openStream(address, port, timeoutMs) : undefined;
    const cfg: ConnectConfig = { host: address, port, username: "keel", readyTimeout: timeoutMs };
    // A host whose key changed earlier in the run (seen from any vantage) is not connected to
    // again: that verdict is the answer.
    let guard: Awaited<ReturnType<HostKeyVerifier["guard"]>>;
    try {
      guard = await keys.verifier.guard(client, cfg, address, port, keys.vantage);
    } catch (e) {
      sock?.destroy();
      if (e instanceof HostKeyError) return e.verdict;
      throw e;
    }
    return await new Promise<HostKeyVerdict>((resolve, reject) => {
      const settle = () => {
        if (guard.verdict && (guard.refusal || handshaken)) resolve(guard.verdict);
        else reject(new ProbeError(`${hp} closed the SSH connection before its key exchange completed`));
      };
      let handshaken = false;
      client.on("handshake", () => {
        handshaken = true;
        // the verifier records the key on this event; end before any userauth request
        setImmediate(() => client.end());
      });
      client.on("error", (e) => {
        if (guard.refusal || handshaken) settle();
        else reject(new ProbeError(`cannot get the SSH host key of ${hp}: ${e.message}`));
      });
      client.on("close", settle);
      // never send an authentication request on this connection
      cfg.authHandler = () => {
        client.end();
      };
      if (sock) cfg.sock = sock;
      client.connect(cfg);
    });
  })();
  return raceDeadline(
    work,
    timeoutMs + 50,
    signal,
    () => {
      throw new ProbeError(`no SSH key exchange with ${hp} within ${timeoutMs} ms`);
    },
    () => client.end(),
  );
}

interface Conn {
  client: Client;
  limit: LimitFunction;
}

/**
 * Logged-in SSH connections, one per target (user, address, port, identity), reused across
 * commands. Each connection runs at most `maxChannels` exec channels at once; further commands
 * wait their turn (the wait counts against their timeout).
 *
 * A failed login is remembered for the pool's lifetime (one `keel verify` run), so a silent
 * target costs one timeout, not one per check.
 */
export class SshPool {
  readonly #conns = new Map<string, Promise<Conn>>();
  /** Every client made, from creation (not only once logged in), so close() ends all of them. */
  readonly #clients = new Set<Client>();
  #closed = false;
  readonly #openStream: OpenStream | undefined;
  readonly #maxChannels: number;
  readonly #keys: HostKeyContext;

  /**
   * @param openStream how to reach targets; undefined: a TCP connection made by ssh2 itself.
   * @param maxChannels concurrent exec channels per connection (default 8).
   * @param keys verifies every target's host key before the login.
   */
  constructor(openStream: OpenStream | undefined, maxChannels: number, keys: HostKeyContext) {
    this.#openStream = openStream;
    this.#maxChannels = maxChannels;
    this.#keys = keys;
  }

  /**
   * Runs `command` on `target` and collects its exit code, stdout and stderr (UTF-8, each cut at
   * 1 MiB).
   *
   * @throws ProbeError when the login fails (`login as root@10.20.0.4:22 with /k failed: …`) or
   *   the command does not finish within `timeoutMs` ms (its channel is then closed).
   * @throws HostKeyError when the target's host key is refused, now or earlier in the run (no
   *   authentication was attempted).
   * @throws VantageError when the identity file cannot be read or no agent is available.
   */
  exec(target: SshTarget, command: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    const started = Date.now();
    const who = `${target.user}@${hostPort(target.address, target.port)}`;
    const work = (async () => {
      const conn = await this.connect(target, timeoutMs);
      return await conn.limit(() => {
        const left = timeoutMs - (Date.now() - started);
        if (signal?.aborted) return Promise.reject(new ProbeError(`"${command}" on ${who}: aborted`));
        // Its time ran out while it waited for a channel: do not run it at all.
        if (left <= 0) {
          return Promise.reject(
            new ProbeError(`"${command}" on ${who} did not finish within ${timeoutMs} ms`),
          );
        }
        let channel: ClientChannel | undefined;
        let gaveUp = false;
        const onChannel = (c: ClientChannel) => {
          channel = c;
          // a channel that opens after the deadline would outlive its slot: close it at once
          if (gaveUp) c.close();
        };
        return raceDeadline(
          runWhileRefused(conn.client, command, onChannel, () => gaveUp),
          left,
          signal,
          () => {
            throw new ProbeError(`"${command}" on ${who} did not finish within ${timeoutMs} ms`);
          },
          () => {
            gaveUp = true;
            channel?.close();
          },
        );
      });
    })();
    // guard just past the deadline, so the precise error from inside (vantage unusable) wins
    return raceDeadline(work, timeoutMs + 50, signal, () => {
      throw new ProbeError(`"${command}" on ${who} did not finish within ${timeoutMs} ms`);
    });
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    // end() only half-closes; destroy() makes sure no session outlives the prober
    for (const c of this.#clients) {
      c.end();
      c.destroy();
    }
    this.#clients.clear();
    this.#conns.clear();
  }

  private connect(target: SshTarget, timeoutMs: number): Promise<Conn> {
    const key = `${target.user}@${target.address}:${target.port} ${target.identity ?? "<agent>"}`;
    let p = this.#conns.get(key);
    if (!p) {
      p = this.login(target, timeoutMs, () => {
        if (this.#conns.get(key) === p) this.#conns.delete(key);
      });
      // Keep failures too: they are remembered for the run. Avoid unhandled rejections.
      p.catch(() => undefined);
      this.#conns.set(key, p);
    }
    return p;
  }

  private async login(target: SshTarget, timeoutMs: number, onClosed: () => void): Promise<Conn> {
    const who = `${target.user}@${hostPort(target.address, target.port)}`;
    const prefix = `login as ${who} with ${describeIdentity(target)} failed`;
    const early = this.#keys.verifier.refusalFor(target.address, target.port);
    if (early) throw early;
    const cfg: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: timeoutMs,
    };
    if (target.identity) {
      try {
        cfg.privateKey = await readFile(target.identity);
      } catch (e) {
        throw new VantageError(`cannot read SSH identity ${target.identity}: ${errorMessage(e)}`);
      }
    } else {
      const agent = process.env.SSH_AUTH_SOCK;
      if (!agent) throw new VantageError(`${prefix}: no identity given and SSH_AUTH_SOCK is not set`);
      cfg.agent = agent;
    }
    if (this.#openStream) {
      try {
        cfg.sock = await this.#openStream(target.address, target.port, timeoutMs);
      } catch (e) {
        if (e instanceof VantageError) throw e;
        throw new ProbeError(`${prefix}: ${errorMessage(e)}`);
      }
    }
    if (this.#closed) throw new ProbeError(`${prefix}: the prober is closed`);
    const client = new Client();
    let guard: Awaited<ReturnType<HostKeyVerifier["guard"]>>;
    try {
      guard = await this.#keys.verifier.guard(client, cfg, target.address, target.port, this.#keys.vantage);
    } catch (e) {
      (cfg.sock as Duplex | undefined)?.destroy();
      throw e;
    }
    this.#clients.add(client);
    const work = new Promise<Conn>((resolve, reject) => {
      let ready = false;
      client.on("ready", () => {
        ready = true;
        if (this.#closed) {
          // close() ran while this login was under way: do not leave a session open
          client.end();
          reject(new ProbeError(`${prefix}: the prober is closed`));
          return;
        }
        resolve({ client, limit: pLimit(this.#maxChannels) });
      });
      client.on("error", (e) => {
        if (!ready) reject(guard.refusal ?? new ProbeError(`${prefix}: ${e.message}`));
      });
      client.on("close", () => {
        this.#clients.delete(client);
        if (ready) onClosed();
        else reject(guard.refusal ?? new ProbeError(`${prefix}: connection closed before login`));
      });
      client.connect(cfg);
    });
    return raceDeadline(work, timeoutMs + 50, undefined, () => {
      client.end();
      throw new ProbeError(`${prefix}: no answer within ${timeoutMs} ms`);
    });
  }
}

/** Runs one command on an open connection; `onChannel` receives the channel for cleanup. */
/** Wait before asking again for a session sshd refused ("no more sessions"), in ms. */
const SESSION_RETRY_MS = 50;

/**
 * `runOnce`, asked again while sshd refuses the session with "open failed": sshd counts a
 * session until it has reaped the command's process, which can be a moment after the channel
 * closed, so a new channel opened right then can be refused ("no more sessions", `MaxSessions`
 * in sshd_config(5)) though this pool keeps fewer open. Stops asking once `gaveUp()` (the
 * caller's deadline passed); any other failure is final.
 */
async function runWhileRefused(
  client: Client,
  command: string,
  onChannel: (c: ClientChannel) => void,
  gaveUp: () => boolean,
): Promise<ExecResult> {
  for (;;) {
    try {
      return await runOnce(client, command, onChannel);
    } catch (e) {
      if (gaveUp() || !(e instanceof SessionRefused)) throw e;
      await new Promise((r) => setTimeout(r, SESSION_RETRY_MS));
    }
  }
}

/** sshd refused to open a session channel (SSH_MSG_CHANNEL_OPEN_FAILURE, RFC 4254 §5.1). */
class SessionRefused extends ProbeError {}

function runOnce(
  client: Client,
  command: string,
  onChannel: (c: ClientChannel) => void,
): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) {
        const Refused = /open failed/.test(err.message) ? SessionRefused : ProbeError;
        reject(new Refused(`cannot run "${command}": ${err.message}`));
        return;
      }
      onChannel(stream);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      let code: number | null = null;
      stream.on("data", (b: Buffer) => {
        if (outLen < MAX_EXEC_OUTPUT_BYTES) out.push(b);
        outLen += b.length;
      });
      stream.stderr.on("data", (b: Buffer) => {
        if (errLen < MAX_EXEC_OUTPUT_BYTES) errOut.push(b);
        errLen += b.length;
      });
      stream.on("exit", (c: number | null) => {
        code = typeof c === "number" ? c : null;
      });
      stream.on("close", () => {
        resolve({
          code,
          stdout: Buffer.concat(out).subarray(0, MAX_EXEC_OUTPUT_BYTES).toString("utf8"),
          stderr: Buffer.concat(errOut).subarray(0, MAX_EXEC_OUTPUT_BYTES).toString("utf8"),
        });
      });
    });
  });
}
