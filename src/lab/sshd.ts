/**
 * sshd on the lab's hosts: the login keys, each host's SSH host key pinned in the inventory's
 * known_hosts, and the sshd configuration.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { knownHostName, replaceKnownHosts } from "../verify/vantages/hostkeys.js";
import { sshLoginUsers } from "./pgbackrest.js";
import { must } from "./run.js";
import { hostDir, type Lab } from "./twin.js";

/** Creates an ed25519 key pair at `path` unless it exists; returns its public key line. */
export async function ensureKey(path: string): Promise<string> {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "keel-lab", "-f", path]);
  }
  if (existsSync(`${path}.pub`)) return readFileSync(`${path}.pub`, "utf8").trim();
  return (await must("ssh-keygen", ["-y", "-f", path])).trim();
}

/**
 * Pins a lab host's SSH host key (`hosts/HOST/ssh_host_ed25519_key.pub`) in the inventory's
 * known_hosts (`defaults.ssh.known_hosts`) under each of the host's addresses on `port`,
 * replacing what the file had for them (an earlier twin's key), so that `keel verify` with
 * strict host key checking passes on a healthy twin.
 */
export async function recordHostKey(lab: Lab, host: string, port: number): Promise<void> {
  const h = lab.inventory.hosts.find((x) => x.name === host);
  const names = (h?.addresses ?? []).map((a) => knownHostName(a.address, port));
  if (names.length === 0) return;
  const pub = readFileSync(join(hostDir(lab, host), "ssh_host_ed25519_key.pub"), "utf8").trim();
  await replaceKnownHosts(lab.inventory.defaults.knownHosts, names, [pub]);
}

/**
 * sshd configuration of a lab host: key-only, root by key, host key and authorized_keys in the lab
 * dir. A user other than root that pgBackRest logs in as on the host (backups twin) reads
 * `~/.ssh/authorized_keys` instead (a `Match User` block, sshd_config(5)).
 */
export function sshdConfig(lab: Lab, host: string, port: number, passwords = false): string {
  const dir = hostDir(lab, host);
  return [
    `Port ${port}`,
    `HostKey ${join(dir, "ssh_host_ed25519_key")}`,
    `AuthorizedKeysFile ${join(lab.dir, "authorized_keys")}`,
    "PubkeyAuthentication yes",
    `PasswordAuthentication ${passwords ? "yes" : "no"}`,
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "PermitEmptyPasswords no",
    "UsePAM no",
    "StrictModes no",
    "PidFile none",
    // VERBOSE: every authentication attempt is logged with its key (sshd_config(5) LogLevel)
    "LogLevel VERBOSE",
    ...sshLoginUsers(lab.inventory, host).flatMap((u) => [
      `Match User ${u}`,
      "  AuthorizedKeysFile .ssh/authorized_keys",
    ]),
    "",
  ].join("\n");
}
