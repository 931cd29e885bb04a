/**
 * The API client of an inventory's `proxmox` hypervisor: its endpoints in order, each pinned to
 * its certificate's SHA-256 fingerprint, and the API token read at run time from the environment
 * variable or file `token:` names (never from the inventory). Clients are kept per hypervisor and
 * token, so the checks `keel serve` runs every interval reuse their connections.
 */
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import type { ProxmoxHypervisor } from "../inventory/model.js";
import { PveClient } from "./client.js";

/**
 * The token of `h`, `USER@REALM!TOKENID=SECRET`, from `token.env` or `token.file` (its first
 * line, surrounding whitespace removed).
 * @throws UserError naming the variable or file (never the value) when it is unset, empty or
 *   unreadable.
 */
export function readToken(h: Pick<ProxmoxHypervisor, "name" | "token">): string {
  if ("env" in h.token) {
    const v = process.env[h.token.env]?.trim();
    if (!v)
      throw new UserError(
        `hypervisor "${h.name}": environment variable ${h.token.env} (its API token) is not set; expected USER@REALM!TOKENID=SECRET`,
      );
    return v;
  }
  let text: string;
  try {
    text = readFileSync(h.token.file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      `hypervisor "${h.name}": cannot read its API token file ${h.token.file}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code}`,
    );
  }
  const v = text.split("\n")[0]!.trim();
  if (!v) throw new UserError(`hypervisor "${h.name}": API token file ${h.token.file} is empty`);
  return v;
}

/**
 * What the client of a hypervisor is made from: its name (for messages), endpoints and token
 * source. A whole `ProxmoxHypervisor` is one; a check's params carry just these.
 */
export type PveTarget = Pick<ProxmoxHypervisor, "name" | "endpoints" | "token">;

const clients = new Map<string, { token: string; client: PveClient }>();

/** Settings of the client that are not in the inventory. */
export interface ClientSettings {
  /** Per request, ms (default the client's, 30 s). */
  timeoutMs?: number;
}

/**
 * The client of hypervisor `h` (one per hypervisor, endpoints and token: a rotated token gets a
 * new client and the old one is closed).
 * @throws UserError when the token cannot be read or is malformed (see {@link readToken}).
 */
export function clientFor(h: PveTarget, settings: ClientSettings = {}): PveClient {
  const token = readToken(h);
  const key = JSON.stringify([h.name, h.endpoints, h.token, settings.timeoutMs]);
  const had = clients.get(key);
  if (had && had.token === token) return had.client;
  if (had) void had.client.close();
  let client: PveClient;
  try {
    client = new PveClient({
      endpoints: h.endpoints.map((e) => e.url),
      fingerprint: Object.fromEntries(h.endpoints.map((e) => [e.url, e.fingerprint])),
      token,
      name: h.name,
      ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    });
  } catch (e) {
    throw new UserError(`hypervisor "${h.name}": ${(e as Error).message}`);
  }
  clients.set(key, { token, client });
  return client;
}

/** Closes every client `clientFor` made (a command that ends, a test). */
export async function closeClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.all(all.map((c) => c.client.close()));
}
