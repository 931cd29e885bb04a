/**
 * TSIG keys (RFC 8945) for `keel dns sync`, in BIND's key-file syntax as `tsig-keygen` writes it:
 *
 *     key "NAME" { algorithm hmac-sha256; secret "BASE64"; };
 *
 * read from a file (`--key PATH`) or from an environment variable holding the same text
 * (`--key '${VAR}'`). The secret never leaves this module except into a 0600 temporary key file
 * that `dig`/`nsupdate` read (`-k`), so it is never on a command line or in output.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../errors.js";

/** HMAC algorithms BIND signs with (RFC 8945 §6). */
export const TSIG_ALGORITHMS = [
  "hmac-md5",
  "hmac-sha1",
  "hmac-sha224",
  "hmac-sha256",
  "hmac-sha384",
  "hmac-sha512",
] as const;

/** A TSIG key: its name (as the server knows it), HMAC algorithm and base64 secret. */
export interface TsigKey {
  name: string;
  algorithm: string;
  secret: string;
}

const KEY =
  /^\s*key\s+"?([A-Za-z0-9._-]+)"?\s*\{\s*algorithm\s+"?([A-Za-z0-9-]+)"?\s*;\s*secret\s+"([A-Za-z0-9+/=]+)"\s*;\s*\}\s*;?\s*$/;

/**
 * Parses key-file text (comments `#`, `//` and `/* *\/` allowed). `source` names where it came
 * from for the error. @throws UserError naming `source` and the expected syntax.
 */
export function parseKey(text: string, source: string): TsigKey {
  const bare = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(#|\/\/).*$/gm, " ");
  const m = KEY.exec(bare);
  const expected = `expected one key as tsig-keygen writes it: key "NAME" { algorithm hmac-sha256; secret "BASE64"; };`;
  if (!m) throw new UserError(`${source} is not a BIND key file; ${expected}`);
  const algorithm = m[2]!.toLowerCase();
  if (!(TSIG_ALGORITHMS as readonly string[]).includes(algorithm))
    throw new UserError(
      `${source}: unknown TSIG algorithm "${m[2]}"; expected one of ${TSIG_ALGORITHMS.join(", ")}`,
    );
  return { name: m[1]!, algorithm, secret: m[3]! };
}

/**
 * The key `--key` names: `${VAR}` reads the environment variable VAR (key-file text), anything
 * else is a file path. `name` is the flag as messages name it (`--key`; `keel apply`'s
 * `--dns-key`). @throws UserError naming the flag for an unset variable, an unreadable file or
 * text that is not a key file.
 */
export function loadKey(flag: string, env: NodeJS.ProcessEnv = process.env, name = "--key"): TsigKey {
  const v = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(flag);
  if (v) {
    const text = env[v[1]!];
    if (text === undefined || text.trim() === "")
      throw new UserError(
        `${name} \${${v[1]}}: the environment variable ${v[1]} is not set; expected it to hold a key as tsig-keygen writes it`,
      );
    return parseKey(text, `${name} \${${v[1]}} (environment variable ${v[1]})`);
  }
  let text: string;
  try {
    text = readFileSync(flag, "utf8");
  } catch (e) {
    throw new UserError(
      `${name} ${flag}: cannot read the key file (${(e as NodeJS.ErrnoException).code ?? String(e)}); expected a file as tsig-keygen writes it, or '\${VAR}'`,
    );
  }
  return parseKey(text, `${name} ${flag}`);
}

/**
 * Writes `key` into a fresh private directory as a key file (mode 0600) for `dig -k` and
 * `nsupdate -k`, runs `fn` with its path, and removes it afterwards, whatever `fn` does.
 */
export async function withKeyFile<T>(key: TsigKey, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "keel-tsig-"));
  try {
    chmodSync(dir, 0o700);
    const file = join(dir, "tsig.key");
    writeFileSync(
      file,
      `key "${key.name}" {\n\talgorithm ${key.algorithm};\n\tsecret "${key.secret}";\n};\n`,
      {
        mode: 0o600,
      },
    );
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
