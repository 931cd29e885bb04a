/**
 * SSH host key verification for every connection Keel makes (`keel verify`, `keel serve`, the
 * via vantage), pinned in a `known_hosts` file the way OpenSSH pins them.
 *
 * - The file is in OpenSSH's format (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"): one key a line,
 *   `[MARKER] PATTERNS KEYTYPE BASE64 [COMMENT]`; PATTERNS is a comma list of host names or
 *   addresses (`*`/`?` wildcards, `!` negation), `[ADDR]:PORT` for a port other than 22, or one
 *   hashed name `|1|BASE64(SALT)|BASE64(HMAC-SHA1(SALT, NAME))` (ssh-keygen -H). `@revoked`
 *   keys are refused; `@cert-authority` lines are ignored (Keel does not accept host
 *   certificates). Lines that do not parse are skipped, as OpenSSH does.
 * - Keel looks a host up by the address it connects to (`10.20.0.10`, `[10.20.0.10]:2222`), as
 *   `ssh 10.20.0.10` does.
 * - `accept-new` (OpenSSH `StrictHostKeyChecking=accept-new`): a host with no key in the file
 *   is accepted and its key appended, once the server has proved it holds the key (the key
 *   exchange signature checked, RFC 4253 §8). `strict` (`StrictHostKeyChecking=yes`): such a
 *   host is refused.
 * - A host with keys in the file that offers another key is refused before any authentication
 *   request is sent, and marked changed for the verifier's lifetime (one `keel verify` run, one
 *   inventory load of `keel serve`): no connection to any of that host's addresses is
 *   authenticated afterwards, from any vantage. Unlike OpenSSH's accept-new, a key of a type
 *   the file does not list for a known host is a changed key too; Keel asks the server for the
 *   known types first (as ssh(1) orders HostKeyAlgorithms), so a healthy server offers one.
 *
 * Fingerprints are shown as `ssh-keygen -lf` prints them: `SHA256:` and the unpadded base64 of
 * the SHA-256 of the key blob (RFC 4716 wire form).
 */
import { createHash, createHmac } from "node:crypto";
import { appendFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Client, ConnectConfig } from "ssh2";
import type { HostKeyChecking } from "../../inventory/model.js";
import { type HostKeyVerdict, type ShownKey, VantageError } from "../kind.js";

export type { HostKeyVerdict, ShownKey } from "../kind.js";

/**
 * How unknown hosts are treated: recorded on first use (`accept-new`) or refused (`strict`);
 * the inventory's list of modes (`defaults.ssh.host_key_checking`).
 */
export type { HostKeyChecking };

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number in the file. */
  line: number;
  /** `@revoked`, or absent for a plain key (`@cert-authority` lines are not kept). */
  marker?: "revoked";
  /** The host patterns, as written (a comma list, or one hashed `|1|salt|hash`). */
  hosts: string;
  /** Key type from the line, e.g. `ssh-ed25519`. */
  type: string;
  /** The key blob (SSH wire format, RFC 4253 §6.6). */
  key: Buffer;
}

/**
 * A host key was refused (changed, revoked, or unknown in strict mode), or the host's key
 * changed earlier in the run: the connection was not authenticated. A `VantageError`, so checks
 * that needed the login are `error` (undecided), with `ssh.hostkey` carrying the verdict.
 */
export class HostKeyError extends VantageError {
  override name = "HostKeyError";
  /** @param verdict what the verifier decided. */
  constructor(
    message: string,
    readonly verdict: HostKeyVerdict,
  ) {
    super(message);
  }
}

/**
 * SHA-256 fingerprint of a key blob as `ssh-keygen -lf` prints it: `SHA256:` + base64 without
 * `=` padding (ssh-keygen(1), `-E sha256`, the default).
 */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named inside a key blob (its first SSH string), e.g. `ssh-ed25519`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "unknown";
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString("latin1");
}

/** The name known_hosts knows a host by: `ADDR` on port 22, `[ADDR]:PORT` otherwise (sshd(8)). */
export function knownHostName(address: string, port: number): string {
  const a = address.toLowerCase();
  return port === 22 ? a : `[${a}]:${port}`;
}

/**
 * Parses a known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"). Comments, blank lines,
 * `@cert-authority` lines and lines whose key is not base64 of a blob naming the line's key type
 * are skipped, as ssh(1) skips them. (ssh2 is not loaded here: a run without SSH never pays for
 * it.)
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) continue;
    let marker: "revoked" | undefined;
    if (fields[0].startsWith("@")) {
      const m = fields.shift()!;
      if (m === "@revoked") marker = "revoked";
      else continue; // @cert-authority (host certificates are not used) or an unknown marker
    }
    const [hosts, type, b64] = fields;
    if (hosts === undefined || type === undefined || b64 === undefined) continue;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const key = Buffer.from(b64, "base64");
    if (keyTypeOf(key) !== type) continue;
    const entry: KnownHostEntry = { line: i + 1, hosts, type, key };
    if (marker) entry.marker = marker;
    out.push(entry);
  }
  return out;
}

/** OpenSSH's `match_pattern`: `*` any text, `?` one character, case-insensitive. */
function globMatch(name: string, pattern: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(name);
}

/**
 * True when an entry's host field matches `name` (from `knownHostName`): a hashed field by
 * HMAC-SHA1 of the name keyed with the salt (ssh-keygen -H), a pattern list when some pattern
 * matches and no `!pattern` does (ssh_config(5) "PATTERNS").
 */
export function hostsMatch(hosts: string, name: string): boolean {
  if (hosts.startsWith("|1|")) {
    const [, , salt, hash] = hosts.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let hit = false;
  for (const p of hosts.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(name, p.slice(1))) return false;
    } else if (globMatch(name, p)) hit = true;
  }
  return hit;
}

/** A hashed host field for `name`, as `ssh-keygen -H` writes it (random 20-byte salt). */
export function hashHostName(name: string, salt: Buffer): string {
  const mac = createHmac("sha1", salt).update(name).digest("base64");
  return `|1|${salt.toString("base64")}|${mac}`;
}

/**
 * Judges `offered` for `name` against the file's entries (sshd(8)): revoked → `revoked`; one of
 * the host's keys → `known`; other keys for the host → `changed`; none → `unknown` (the caller
 * turns it into `new` under accept-new).
 */
export function judgeHostKey(
  entries: readonly KnownHostEntry[],
  name: string,
  offered: Buffer,
  file: string,
): HostKeyVerdict {
  const mine = entries.filter((e) => hostsMatch(e.hosts, name));
  const shown = (e: KnownHostEntry): ShownKey => ({
    type: e.type,
    fingerprint: fingerprint(e.key),
    line: e.line,
  });
  const offeredKey: ShownKey = { type: keyTypeOf(offered), fingerprint: fingerprint(offered) };
  const plain = mine.filter((e) => e.marker === undefined);
  const base = { name, offered: offeredKey, expected: plain.map(shown), file };
  const revoked = mine.find((e) => e.marker === "revoked" && e.key.equals(offered));
  if (revoked) return { ...base, status: "revoked", offered: { ...offeredKey, line: revoked.line } };
  const same = plain.find((e) => e.key.equals(offered));
  if (same) return { ...base, status: "known", offered: { ...offeredKey, line: same.line } };
  if (plain.length > 0) return { ...base, status: "changed" };
  return { ...base, status: "unknown" };
}

/** How long a verdict reached by a connection answers `ssh.hostkey` without a new key exchange, ms. */
export const SEEN_FOR_MS = 30_000;

/** Host key algorithms ssh2 offers by default, best first (ssh2 `DEFAULT_SERVER_HOST_KEY`). */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** The signature algorithms of a key type (RFC 8332 for RSA keys). */
function algorithmsOf(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/** Where host keys are pinned, and how. */
export interface HostKeyPolicy {
  /**
   * Absolute path of the known_hosts file (created, with its directory, on the first record);
   * absent: keys are pinned in memory only, for the verifier's lifetime.
   */
  file?: string;
  checking: HostKeyChecking;
  /**
   * The inventory host an address and port belong to (`10.20.0.10:22` → `gpu`), so that a
   * changed key refuses every address of the host; absent: each address stands alone.
   */
  hostOf?: (address: string, port: number) => string | undefined;
}

/** One connection under verification: what the verifier decided for it. */
export interface HostKeyGuard {
  /** The refusal, once the server's key was refused (the connection then ends unauthenticated). */
  readonly refusal: HostKeyError | undefined;
  /** The verdict on the server's key, once the key exchange has offered one. */
  readonly verdict: HostKeyVerdict | undefined;
}

/**
 * Verifies the host keys of every SSH connection of one run against a known_hosts file, and
 * remembers the hosts whose key changed. One instance is shared by every prober of the run.
 */
export class HostKeyVerifier {
  readonly policy: HostKeyPolicy;
  #entries: KnownHostEntry[] = [];
  /** mtime and size of the file when last read; the file is read again when they change. */
  #stamp = "";
  #loading: Promise<void> | undefined;
  /** Hosts (inventory name, else `knownHostName`) whose key changed: never logged in to again. */
  readonly #changed = new Map<string, HostKeyVerdict>();
  /** New keys accepted but not yet written, by known_hosts name. */
  readonly #pending = new Map<string, { key: Buffer; owner: object; written?: Promise<void> }>();
  /** The latest verdict per vantage and host name, for `ssh.hostkey`, with when it was reached (ms). */
  readonly #seen = new Map<string, { verdict: HostKeyVerdict; at: number }>();
  /** Appends run one after the other. */
  #writes: Promise<void> = Promise.resolve();

  constructor(policy: HostKeyPolicy) {
    this.policy = policy;
  }

  /** The file's path for messages. */
  get #fileName(): string {
    return this.policy.file ?? "(memory: no known_hosts file)";
  }

  /** The key under which a host's change is remembered: its inventory name, else its address. */
  #hostKey(address: string, port: number): string {
    return this.policy.hostOf?.(address, port) ?? knownHostName(address, port);
  }

  /**
   * The refusal for a host whose key changed earlier in the run (any address of the inventory
   * host), or undefined. Callers check it before connecting.
   */
  refusalFor(address: string, port: number): HostKeyError | undefined {
    const v = this.#changed.get(this.#hostKey(address, port));
    if (!v) return undefined;
    if (v.status === "revoked")
      return new HostKeyError(
        `SSH host key of ${v.host ?? v.name} ${v.offered.fingerprint} is revoked in ${v.file} (see ssh.hostkey): Keel does not log in to it`,
        v,
      );
    return new HostKeyError(
      `SSH host key of ${v.host ?? v.name} changed (offered ${v.offered.fingerprint}, known_hosts has ${v.expected.map((k) => k.fingerprint).join(", ")}; see ssh.hostkey): Keel does not log in to it`,
      v,
    );
  }

  /**
   * The latest verdict on `address:port` seen from `vantage` (any connection of its prober)
   * within the last `SEEN_FOR_MS` ms, so that a long-lived `keel serve` asks again rather than
   * repeat a verdict from a connection made long ago.
   */
  seen(vantage: string, address: string, port: number): HostKeyVerdict | undefined {
    const s = this.#seen.get(`${vantage} ${knownHostName(address, port)}`);
    return s && Date.now() - s.at < SEEN_FOR_MS ? s.verdict : undefined;
  }

  /** Reads the file again when its mtime or size changed (an operator removed a stale key). */
  async #load(): Promise<void> {
    const file = this.policy.file;
    if (file === undefined) return;
    this.#loading ??= (async () => {
      let stamp = "";
      try {
        const s = await stat(file);
        stamp = `${s.mtimeMs} ${s.size}`;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      if (stamp === this.#stamp) return;
      this.#entries = stamp === "" ? [] : parseKnownHosts(await readFile(file, "utf8"));
      this.#stamp = stamp;
    })().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /**
   * Puts one ssh2 connection under verification: sets `cfg.hostVerifier` (and, for a host with
   * known keys, asks for those key types first) and records the verdict. A new key is written
   * to the file once the key exchange completes (the server proved it holds the key).
   *
   * @param vantage the vantage making the connection (for `seen`).
   * @throws HostKeyError when the host's key changed earlier in the run (do not connect).
   * @throws VantageError when the known_hosts file cannot be read.
   */
  async guard(
    client: Client,
    cfg: ConnectConfig,
    address: string,
    port: number,
    vantage: string,
  ): Promise<HostKeyGuard> {
    const early = this.refusalFor(address, port);
    if (early) throw early;
    try {
      await this.#load();
    } catch (e) {
      throw new VantageError(`cannot read SSH known_hosts ${this.policy.file}: ${(e as Error).message}`);
    }
    const name = knownHostName(address, port);
    const host = this.policy.hostOf?.(address, port);
    const knownTypes = [
      ...new Set(this.#entries.filter((e) => !e.marker && hostsMatch(e.hosts, name)).map((e) => e.type)),
    ];
    if (knownTypes.length > 0) {
      const first = knownTypes.flatMap(algorithmsOf);
      cfg.algorithms = {
        ...cfg.algorithms,
        serverHostKey: [...first, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))] as never,
      };
    }
    const owner = {};
    const state: { refusal?: HostKeyError; verdict?: HostKeyVerdict } = {};
    const record = (v: HostKeyVerdict) => {
      state.verdict = v;
      this.#seen.set(`${vantage} ${name}`, { verdict: v, at: Date.now() });
    };
    cfg.hostVerifier = (key: Buffer) => {
      // the host's key changed on another connection since this one started: refused, with
      // that verdict (as for a connection refused before it is made)
      const refused = this.refusalFor(address, port);
      if (refused) {
        state.refusal = refused;
        state.verdict = refused.verdict;
        return false;
      }
      let v = judgeHostKey(this.#entries, name, key, this.#fileName);
      if (host !== undefined) v.host = host;
      if (v.status === "unknown") {
        const pending = this.#pending.get(name);
        if (pending && !pending.key.equals(key)) {
          // another connection is recording a different key for the same host right now
          v = {
            ...v,
            status: "changed",
            expected: [{ type: keyTypeOf(pending.key), fingerprint: fingerprint(pending.key) }],
          };
        } else if (this.policy.checking === "accept-new") {
          v = { ...v, status: "new" };
          if (!pending) this.#pending.set(name, { key, owner });
        }
      }
      if (v.status === "known" || v.status === "new") {
        state.verdict = v;
        return true;
      }
      record(v);
      state.refusal = this.#refuse(v, address, port);
      return false;
    };
    client.once("handshake", () => {
      const v = state.verdict;
      if (!v) return;
      record(v);
      if (v.status === "new") this.#commit(name, owner);
    });
    client.once("close", () => {
      const p = this.#pending.get(name);
      // a key exchange that did not complete proved nothing: forget the key it offered
      if (p && p.owner === owner && !p.written) this.#pending.delete(name);
    });
    return {
      get refusal() {
        return state.refusal;
      },
      get verdict() {
        return state.verdict;
      },
    };
  }

  /** The error for a refused key; a changed or revoked key marks the host for the run. */
  #refuse(v: HostKeyVerdict, address: string, port: number): HostKeyError {
    const who = `${v.host ? `${v.host} (${v.name})` : v.name}`;
    if (v.status === "unknown") {
      const scan = `ssh-keyscan${port === 22 ? "" : ` -p ${port}`} ${address} >> ${v.file}`;
      return new HostKeyError(
        `no SSH host key of ${who} is known in ${v.file} and host key checking is strict; the server offered ${v.offered.fingerprint} (${v.offered.type}): check it and record it (${scan}), or run once with host_key_checking: accept-new`,
        v,
      );
    }
    this.#changed.set(this.#hostKey(address, port), v);
    if (v.status === "revoked")
      return new HostKeyError(
        `SSH host key of ${who} ${v.offered.fingerprint} is revoked in ${v.file}:${v.offered.line}: Keel does not log in to it`,
        v,
      );
    return new HostKeyError(
      `SSH host key of ${who} changed: known_hosts has ${v.expected.map((k) => k.fingerprint).join(", ")}, the server offered ${v.offered.fingerprint} (see ssh.hostkey): Keel does not log in to it`,
      v,
    );
  }

  /** Appends a new key to the file once per host (the first proved connection writes it). */
  #commit(name: string, owner: object): void {
    const p = this.#pending.get(name);
    if (!p || p.owner !== owner || p.written) return;
    const file = this.policy.file;
    if (file === undefined) {
      this.#entries.push({ line: 0, hosts: name, type: keyTypeOf(p.key), key: p.key });
      p.written = Promise.resolve();
      return;
    }
    const line = `${name} ${keyTypeOf(p.key)} ${p.key.toString("base64")}\n`;
    p.written = this.#writes = this.#writes
      .then(() => appendKnownHost(file, line))
      .catch((e: unknown) => {
        process.stderr.write(
          `keel: warning: cannot record the SSH host key of ${name} in ${file}: ${(e as Error).message}\n`,
        );
      });
  }

  /** Resolves when every accepted new key has been written. */
  async flush(): Promise<void> {
    await this.#writes;
  }
}

/** Appends one line to a known_hosts file, creating it (0600) and its directory when missing. */
async function appendKnownHost(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, line, { mode: 0o600 });
}

/**
 * Replaces the keys of `names` in a known_hosts file by `keys` (lines `TYPE BASE64 [COMMENT]`),
 * as `ssh-keygen -R NAME` then appending would: lines whose host field matches any of the
 * names (plain or hashed) are dropped, the other lines kept in order. Used by `keel lab` when
 * it makes a twin's host keys. Creates the file (0600) and its directory when missing.
 */
export async function replaceKnownHosts(file: string, names: string[], keys: string[]): Promise<void> {
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const kept = text.split("\n").filter((l) => {
    const f = l.trim().split(/\s+/);
    const hosts = f[0]?.startsWith("@") ? f[1] : f[0];
    if (!hosts || hosts.startsWith("#")) return l.trim() !== "";
    return !names.some((n) => hostsMatch(hosts, n));
  });
  const added = keys.map((k) => `${names.join(",")} ${k.trim()}`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${[...kept, ...added].join("\n")}\n`, { mode: 0o600 });
}
