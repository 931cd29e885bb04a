/**
 * Access control of `keel serve`: bearer tokens (RFC 6750) declared in `serve.tokens` by their
 * SHA-256 hash or by an `${ENV}` reference, each with a role; and the audit log of operator
 * actions (JSON lines).
 *
 * Tokens are never kept in clear: an `env` token is hashed as soon as it is read, and a
 * presented token is hashed before it is compared (with `crypto.timingSafeEqual`, over every
 * declared hash, so the time taken does not say which one matched or how much of it did).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { appendFileSync, closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { type ApiToken, TOKEN_ROLES } from "../inventory/model.js";

/** Roles, weakest first: `viewer` reads; `operator` may also trigger runs. */
export type Role = ApiToken["role"];

/** What a route of `keel serve` declares it needs: `public` needs no token, else a role. */
export type RouteRole = Role | "public";

/** Every value a route may declare as its role: `public`, then the tokens' roles (`TOKEN_ROLES`). */
export const ROUTE_ROLES: readonly RouteRole[] = ["public", ...TOKEN_ROLES];

/** Who made a request: the token's declared name and role. */
export interface Principal {
  name: string;
  role: Role;
}

interface TokenEntry extends Principal {
  /** SHA-256 of the token, 32 bytes. */
  hash: Buffer;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Lower-case hex SHA-256 of a token, as `printf %s TOKEN | sha256sum` prints it. */
export function sha256Hex(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * The tokens `keel serve` accepts, built once at start from `serve.tokens`.
 * @throws UserError (located at the token's `pos`) when an `env` token's variable is unset or
 *   empty, or a `sha256` is not 64 hex digits.
 */
export class TokenTable {
  private readonly entries: TokenEntry[];

  /**
   * @param tokens `inv.serve.tokens`.
   * @param env where `${ENV}` references are read (default `process.env`).
   */
  constructor(tokens: readonly ApiToken[], env: NodeJS.ProcessEnv = process.env) {
    const problems: { pos: ApiToken["pos"]; message: string }[] = [];
    this.entries = [];
    for (const t of tokens) {
      let hex: string | undefined;
      if (t.sha256 !== undefined) {
        hex = t.sha256.toLowerCase();
        if (!HEX64.test(hex)) {
          problems.push({
            pos: t.pos,
            message: `serve.tokens: token ${t.name}: sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)`,
          });
          continue;
        }
      } else if (t.env !== undefined) {
        const value = env[t.env];
        if (value === undefined || value === "") {
          problems.push({
            pos: t.pos,
            message: `serve.tokens: token ${t.name}: environment variable ${t.env} is not set; expected the token in it`,
          });
          continue;
        }
        hex = sha256Hex(value);
      } else {
        problems.push({ pos: t.pos, message: `serve.tokens: token ${t.name}: expected sha256 or token` });
        continue;
      }
      this.entries.push({ name: t.name, role: t.role, hash: Buffer.from(hex, "hex") });
    }
    if (problems.length) throw new UserError(problems);
  }

  /** Number of usable tokens. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * The principal of an `Authorization` header value (`Bearer TOKEN`, scheme case-insensitive
   * per RFC 7235), or null when it is absent, malformed or matches no token.
   */
  authenticate(header: string | undefined): Principal | null {
    if (!header) return null;
    const m = /^bearer +(\S+) *$/i.exec(header);
    if (!m?.[1]) return null;
    const presented = createHash("sha256").update(m[1], "utf8").digest();
    let found: TokenEntry | null = null;
    // every entry is compared, whichever matches, so timing does not single one out
    for (const e of this.entries) if (timingSafeEqual(presented, e.hash) && !found) found = e;
    return found ? { name: found.name, role: found.role } : null;
  }
}

/** True when `role` may do what `needed` allows (`operator` includes `viewer`). */
export function roleAllows(role: Role, needed: Role): boolean {
  return needed === "viewer" || role === "operator";
}

/** One line of the audit log. */
export interface AuditEntry {
  /** ISO 8601 time the action finished (or was denied). */
  at: string;
  /** Token name, or `-` for a request without a valid token. */
  who: string;
  role: Role | null;
  /** What was attempted, e.g. `run`. */
  action: string;
  /** What it applied to, e.g. `all`, `host gpu`, `glob gpu/**`. */
  target: string;
  /** `ok: …`, `denied: …` or `error: …`. */
  result: string;
}

/**
 * Append-only audit log of operator actions: one JSON object per line (`AuditEntry`), written
 * synchronously so an entry is on disk before the answer is sent. Opening the log creates the
 * file (with its directory) or checks the existing one: it must be a regular file, and its mode
 * is set to 0600 whatever it was (an existing file keeps its mode through `open(2)`'s `O_CREAT`,
 * so a log created 0644 by someone else would otherwise stay readable by all).
 */
export class AuditLog {
  readonly file: string;

  /**
   * @throws UserError naming `--audit` and the file when it cannot be created or appended to,
   *   is not a regular file (a directory, FIFO or device), or its mode cannot be made 0600.
   */
  constructor(file: string) {
    this.file = file;
    let fd: number;
    try {
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of blocking the start
      fd = openSync(
        file,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK,
        0o600,
      );
    } catch (err) {
      throw new UserError(`--audit: cannot write the audit log ${file}: ${(err as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new UserError(
          `--audit: the audit log ${file} is not a regular file; expected a file Keel appends to`,
        );
      if ((st.mode & 0o7777) !== 0o600) {
        try {
          fchmodSync(fd, 0o600);
        } catch (err) {
          throw new UserError(
            `--audit: the audit log ${file} has mode 0${(st.mode & 0o7777).toString(8)} and cannot be made 0600: ${(err as Error).message}`,
          );
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Appends one entry (`at` is filled in). @throws Error from fs when the write fails. */
  write(entry: Omit<AuditEntry, "at">): AuditEntry {
    const line: AuditEntry = { at: new Date().toISOString(), ...entry };
    appendFileSync(this.file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    return line;
  }
}
