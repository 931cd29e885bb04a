/**
 * Fault injection for integration tests of `keel verify`: each function breaks one promise of
 * the inventory in a running lab and returns an async `undo` that restores the healthy twin.
 * Processes a fault starts are recorded in the lab state (so `keel lab down` still removes them).
 *
 * Firewall faults use two places: the `input` chain of the host's rendered table `inet keel`
 * (`openPort` inserts an accept rule at its top, as an operator's hand edit would, and undo
 * deletes it by handle) and table `inet keel-blackhole` (base chains that drop everything but
 * loopback, created by `blackhole` and deleted by undo).
 */
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../src/errors.js";
import type { Protocol } from "../../src/inventory/model.js";
import { killProcess, responderArgv, serviceProcess, spawnDaemon } from "../../src/lab/daemons.js";
import { namedDir } from "../../src/lab/named.js";
import { prometheusYaml } from "../../src/lab/plan.js";
import { httpIn, listening, waitReady, wgHandshakes } from "../../src/lab/readiness.js";
import { LabError, mustAt, type Place, pidAlive, runAt, sleep } from "../../src/lab/run.js";
import { sshdConfig } from "../../src/lab/sshd.js";
import type { ProcessRecord } from "../../src/lab/state.js";
import { hostDir, hostPlace, type Lab, saveLab } from "../../src/lab/twin.js";
import { gatewayPeerArgs, peerGatewayArgs, startWireguardGateway } from "../../src/lab/wireguard.js";

/** Restores what a fault changed. Safe to call once; resolves when the twin is healthy again. */
export type Undo = () => Promise<void>;

/** How long an undo waits for the whole twin to be ready again. */
const HEAL_TIMEOUT_MS = 30_000;

/** Wraps an undo so that it resolves only once every daemon of the lab is ready again. */
function healing(lab: Lab, restore: () => Promise<void>): Undo {
  return async () => {
    await restore();
    await waitReady(lab, HEAL_TIMEOUT_MS);
  };
}

async function until(what: string, test: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new LabError(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function place(lab: Lab, host: string): Place {
  const p = hostPlace(lab, host);
  if (p === null) throw new UserError("faults apply to lab hosts, not the root namespace");
  return p;
}

function processOf(lab: Lab, host: string, service: string): ProcessRecord {
  const p = lab.state.processes.find((x) => x.host === host && x.service === service && !x.fault);
  if (!p) throw new UserError(`the lab runs no service "${service}" on ${host}`);
  return p;
}

async function waitListening(pl: Place, port: number, protocol: Protocol, present: boolean): Promise<void> {
  await until(`${port}/${protocol} to ${present ? "listen" : "stop listening"} in ${pl.ns}`, async () => {
    return (await listening(pl)).has(`${protocol}:${port}`) === present;
  });
}

/** Authentication methods sshd in a place offers to a client that tries `none` (e.g. `publickey,password`). */
async function sshMethods(pl: Place, port: number, user: string): Promise<string> {
  const r = await runAt(pl, "ssh", [
    "-o",
    "BatchMode=yes",
    "-o",
    "PreferredAuthentications=none",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "ConnectTimeout=2",
    "-p",
    String(port),
    `${user}@127.0.0.1`,
    "true",
  ]);
  return /Permission denied \(([^)]*)\)/.exec(r.stderr)?.[1] ?? "";
}

/** Makes a host's sshd accept passwords too (config rewritten, SIGHUP); undo restores key-only. */
export async function enablePasswordAuth(lab: Lab, host: string): Promise<Undo> {
  const p = lab.state.processes.find((x) => x.host === host && x.daemon === "sshd" && !x.fault);
  if (!p) throw new UserError(`the lab runs no sshd on ${host}`);
  const port = p.port ?? 22;
  const user = lab.inventory.hosts.find((h) => h.name === host)?.ssh?.user ?? "root";
  const file = join(hostDir(lab, host), "sshd_config");
  const pl = place(lab, host);
  const reload = async (passwords: boolean) => {
    writeFileSync(file, sshdConfig(lab, host, port, passwords));
    process.kill(p.pid, "SIGHUP");
    // sshd re-executes itself on SIGHUP; wait until it offers the intended methods
    await until(`sshd on ${host} to ${passwords ? "offer" : "stop offering"} passwords`, async () => {
      const methods = (await sshMethods(pl, port, user)).split(",");
      return methods.includes("password") === passwords && methods.includes("publickey");
    });
  };
  await reload(true);
  return healing(lab, () => reload(false));
}

/** The host key sshd in a place serves on `port`, as `TYPE BASE64` (ssh-keyscan(1)); "" when none. */
async function servedHostKey(pl: Place, port: number): Promise<string> {
  const r = await runAt(pl, "ssh-keyscan", ["-T", "2", "-t", "ed25519", "-p", String(port), "127.0.0.1"]);
  const line = r.stdout.split("\n").find((l) => /^\S+ ssh-ed25519 /.test(l));
  return line ? line.split(/\s+/).slice(1, 3).join(" ") : "";
}

/**
 * Replaces a host's SSH host key, as a reinstalled host or a machine impersonating it would
 * present: a new ed25519 key in `hosts/HOST/ssh_host_ed25519_key`, sshd reloaded (SIGHUP) and
 * waited for until it serves the new key. known_hosts is left as it was. Undo puts the old key
 * back and waits until sshd serves it again.
 */
export async function hostKeyChanged(lab: Lab, host: string): Promise<Undo> {
  const p = lab.state.processes.find((x) => x.host === host && x.daemon === "sshd" && !x.fault);
  if (!p) throw new UserError(`the lab runs no sshd on ${host}`);
  const port = p.port ?? 22;
  const pl = place(lab, host);
  const key = join(hostDir(lab, host), "ssh_host_ed25519_key");
  const old = { priv: readFileSync(key), pub: readFileSync(`${key}.pub`) };
  const serve = async (what: string, pub: string) => {
    process.kill(p.pid, "SIGHUP");
    const want = pub.trim().split(/\s+/).slice(0, 2).join(" ");
    await until(
      `sshd on ${host} to serve the ${what} host key`,
      async () => (await servedHostKey(pl, port)) === want,
    );
  };
  rmSync(key, { force: true });
  rmSync(`${key}.pub`, { force: true });
  await mustAt(null, "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${host}.impostor`, "-f", key]);
  await serve("replaced", readFileSync(`${key}.pub`, "utf8"));
  return healing(lab, async () => {
    writeFileSync(key, old.priv, { mode: 0o600 });
    writeFileSync(`${key}.pub`, old.pub);
    await serve("original", old.pub.toString("utf8"));
  });
}

/** Kills the daemon serving a service; undo starts it again and waits until it listens. */
export async function stopService(lab: Lab, host: string, service: string): Promise<Undo> {
  const p = processOf(lab, host, service);
  const pl = place(lab, host);
  await killProcess(p);
  if (p.port !== undefined && p.protocol) await waitListening(pl, p.port, p.protocol, false);
  return healing(lab, async () => {
    lab.state.processes = lab.state.processes.filter((x) => x !== p);
    saveLab(lab);
    if (p.daemon === "wireguard") {
      const gw = lab.plan.wireguard.find((w) => w.host === host);
      if (!gw) throw new LabError(`no WireGuard gateway planned on ${host}`);
      await startWireguardGateway(lab, gw);
      await kickPeers(lab, host);
    } else {
      const hp = lab.plan.hosts.find((h) => h.host === host);
      const sp = hp?.services.find((s) => s.service === service);
      const rec = hp && sp ? serviceProcess(lab, hp, sp) : null;
      spawnDaemon(lab, rec ?? { ...p });
    }
    if (p.port !== undefined && p.protocol) await waitListening(pl, p.port, p.protocol, true);
  });
}

/**
 * Starts a TCP listener on `address:port` in a host's namespace that the inventory does not
 * declare (a stand-in responder, recorded as a fault process); undo stops it.
 */
export async function addUndeclaredListener(
  lab: Lab,
  host: string,
  port: number,
  address: string,
): Promise<Undo> {
  const pl = place(lab, host);
  const rec = spawnDaemon(lab, {
    host,
    service: `fault:listener:${port}`,
    daemon: "standin",
    real: false,
    exe: process.execPath,
    argv: responderArgv(["tcp", String(port), address]),
    log: join(hostDir(lab, host), `fault-listener-${port}.log`),
    port,
    protocol: "tcp",
    fault: true,
  });
  await until(`the undeclared listener on ${address}:${port} in ${host}`, async () => {
    if (!pidAlive(rec.pid)) throw new LabError(`the undeclared listener on ${address}:${port} exited`);
    return (await listening(pl)).has(`tcp:${port}`);
  });
  return healing(lab, async () => {
    await killProcess(rec);
    lab.state.processes = lab.state.processes.filter((x) => x !== rec);
    saveLab(lab);
  });
}

async function nft(pl: Place, args: string[]): Promise<string> {
  return mustAt(pl, "nft", args);
}

/**
 * Accepts `protocol` traffic to `port` from `fromCidr` on a host, outside its allow list: a rule
 * inserted at the top of chain `input` of table `inet keel` (the rendered ruleset), so it wins
 * over the policy drop; undo deletes that rule by its handle.
 */
export async function openPort(
  lab: Lab,
  host: string,
  port: number,
  fromCidr: string,
  protocol: Protocol = "tcp",
): Promise<Undo> {
  const pl = place(lab, host);
  const family = fromCidr.includes(":") ? "ip6" : "ip";
  const out = await nft(pl, [
    "--echo",
    "--handle",
    "insert",
    "rule",
    "inet",
    "keel",
    "input",
    family,
    "saddr",
    fromCidr,
    protocol,
    "dport",
    String(port),
    "accept",
  ]);
  const handle = /# handle (\d+)/.exec(out)?.[1];
  if (!handle) throw new LabError(`nft did not report the handle of the rule it added: ${out}`);
  return healing(lab, async () => {
    await nft(pl, ["delete", "rule", "inet", "keel", "input", "handle", handle]);
  });
}

/** Sets a sysctl inside a host's namespace (net.* keys); undo restores the previous value. */
export async function setSysctl(lab: Lab, host: string, key: string, value: string): Promise<Undo> {
  if (!key.startsWith("net."))
    throw new UserError(`only net.* sysctls are namespaced; refusing to set ${key}`);
  const pl = place(lab, host);
  const before = (await mustAt(pl, "sysctl", ["-n", key])).trim();
  await mustAt(pl, "sysctl", ["-qw", `${key}=${value}`]);
  return healing(lab, async () => {
    await mustAt(pl, "sysctl", ["-qw", `${key}=${before}`]);
  });
}

/** Re-adds the gateway on each peer's side so every peer handshakes again at once. */
async function kickPeers(lab: Lab, gatewayHost: string, only?: string): Promise<void> {
  for (const w of lab.state.wireguard.filter((x) => x.gatewayHost === gatewayHost)) {
    for (const p of w.peers) {
      if (only !== undefined && p.name !== only) continue;
      const ppl = hostPlace(lab, p.host);
      await mustAt(ppl, "wg", ["set", p.ifname, "peer", w.publicKey, "remove"]);
      await mustAt(ppl, "wg", [
        "set",
        p.ifname,
        ...peerGatewayArgs(w.publicKey, p.endpoint, p.gatewayAllowedIps),
      ]);
    }
    const gpl = hostPlace(lab, gatewayHost);
    await until(`WireGuard handshakes on ${gatewayHost}/${w.ifname}`, async () => {
      const hs = await wgHandshakes(gpl, w.ifname);
      return w.peers.every((p) => (only !== undefined && p.name !== only) || (hs.get(p.publicKey) ?? 0) > 0);
    });
  }
}

/** Removes a declared peer from a gateway's WireGuard interface; undo re-adds it and waits for a handshake. */
export async function removeWireguardPeer(lab: Lab, host: string, peerName: string): Promise<Undo> {
  const w = lab.state.wireguard.find((x) => x.gatewayHost === host);
  const peer = w?.peers.find((p) => p.name === peerName);
  if (!w || !peer) throw new UserError(`${host} has no WireGuard peer "${peerName}" in the lab`);
  const pl = place(lab, host);
  await mustAt(pl, "wg", ["set", w.ifname, "peer", peer.publicKey, "remove"]);
  return healing(lab, async () => {
    await mustAt(pl, "wg", ["set", w.ifname, ...gatewayPeerArgs(peer.publicKey, peer.allowedIps)]);
    await kickPeers(lab, host, peerName);
  });
}

async function promTargets(pl: Place, port: number): Promise<string[]> {
  const body = await httpIn(pl, `http://127.0.0.1:${port}/api/v1/targets?state=active`);
  if (body === null) return [];
  const data = JSON.parse(body) as { data: { activeTargets: { labels: { host?: string } }[] } };
  return data.data.activeTargets.map((t) => t.labels.host ?? "");
}

/** Drops a host from a Prometheus server's scrape config (rewrite + /-/reload); undo puts it back. */
export async function removePrometheusTarget(lab: Lab, promHost: string, targetHost: string): Promise<Undo> {
  const prom = lab.plan.prometheus[promHost];
  if (!prom) throw new UserError(`${promHost} runs no Prometheus in the lab`);
  if (!prom.targets.some((t) => t.host === targetHost)) {
    throw new UserError(`${targetHost} is not a target of the Prometheus on ${promHost}`);
  }
  const pl = place(lab, promHost);
  const file = join(hostDir(lab, promHost), "prometheus.yml");
  const apply = async (targets: typeof prom.targets, present: boolean) => {
    writeFileSync(file, prometheusYaml(targets));
    if ((await httpIn(pl, `http://127.0.0.1:${prom.port}/-/reload`, "POST")) === null) {
      throw new LabError(`Prometheus on ${promHost} refused to reload its configuration`);
    }
    await until(`Prometheus on ${promHost} to ${present ? "add" : "drop"} target ${targetHost}`, async () => {
      return (await promTargets(pl, prom.port)).includes(targetHost) === present;
    });
  };
  await apply(
    prom.targets.filter((t) => t.host !== targetHost),
    false,
  );
  return healing(lab, () => apply(prom.targets, true));
}

/** Drops every packet to and from a host's namespace (no reject, loopback spared); undo lifts it. */
export async function blackhole(lab: Lab, host: string): Promise<Undo> {
  const pl = place(lab, host);
  const script = [
    "table inet keel-blackhole {",
    "  chain input {",
    "    type filter hook input priority -200; policy accept;",
    '    iifname != "lo" drop',
    "  }",
    "  chain output {",
    "    type filter hook output priority -200; policy accept;",
    '    oifname != "lo" drop',
    "  }",
    "  chain forward {",
    "    type filter hook forward priority -200; policy drop;",
    "  }",
    "}",
    "",
  ].join("\n");
  await mustAt(pl, "nft", ["-f", "-"], { input: script });
  return healing(lab, async () => {
    await mustAt(pl, "nft", ["delete", "table", "inet", "keel-blackhole"]);
  });
}

/** The BIND process of a DNS server in the lab, its zone directory and the address it listens on. */
function namedOf(lab: Lab, host: string) {
  const p = lab.state.processes.find((x) => x.host === host && x.daemon === "named" && !x.fault);
  const domain = lab.inventory.domain?.replace(/\.$/, "").toLowerCase();
  const address = lab.inventory.hosts.find((h) => h.name === host)?.addresses[0]?.address;
  if (!p || domain === undefined || address === undefined)
    throw new UserError(`the lab runs no BIND on ${host} (is it in dns.servers?)`);
  return { p, domain, address, port: p.port ?? 53, file: join(namedDir(lab, host), `db.${domain}`) };
}

/**
 * Writes a zone file and makes BIND reload it (SIGHUP, named(8)). The file's mtime is moved
 * forward by at least a second, since named reloads a zone only when its file changed (mtime).
 */
function reloadZone(pid: number, file: string, text: string): void {
  const before = statSync(file).mtimeMs;
  writeFileSync(file, text);
  const t = new Date(Math.max(Date.now(), before + 1000));
  utimesSync(file, t, t);
  process.kill(pid, "SIGHUP");
}

/** `dig +short` in a host's namespace against its own BIND. */
async function digAt(pl: Place, address: string, port: number, name: string, type: string): Promise<string> {
  const r = await runAt(pl, "dig", [
    "+short",
    "+time=1",
    "+tries=1",
    "-p",
    String(port),
    `@${address}`,
    name,
    type,
  ]);
  return r.stdout.trim();
}

/**
 * Makes one DNS server answer a wrong address for a host: the host's first A (or AAAA, by the
 * address's family) record in that server's copy of the forward zone is rewritten to `address`,
 * the SOA serial left as it is (a hand edit that forgot the serial), and BIND reloads (SIGHUP).
 * Resolves once the server answers the new address; undo restores the zone and waits likewise.
 */
export async function serveWrongRecord(lab: Lab, host: string, name: string, address: string): Promise<Undo> {
  const ns = namedOf(lab, host);
  const pl = place(lab, host);
  const type = address.includes(":") ? "AAAA" : "A";
  const original = readFileSync(ns.file, "utf8");
  const line = new RegExp(
    `^(${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\t(?:\\d+\\t)?IN\\t${type}\\t)(\\S+)$`,
    "m",
  );
  const m = line.exec(original);
  if (!m) throw new UserError(`the zone of ${host} has no ${type} record for ${name}`);
  const fqdn = `${name}.${ns.domain}`;
  const apply = async (text: string, expect: string) => {
    reloadZone(ns.p.pid, ns.file, text);
    await until(`BIND on ${host} to answer ${fqdn} ${type} ${expect}`, async () => {
      return (await digAt(pl, ns.address, ns.port, fqdn, type)).split("\n").includes(expect);
    });
  };
  await apply(original.replace(line, `$1${address}`), address);
  return healing(lab, () => apply(original, m[2]!));
}

/**
 * Makes one DNS server stale: the SOA serial of its copy of the forward zone goes down by one
 * (as on a server that missed the last change its peers serve); BIND reloads (SIGHUP). Resolves
 * once it answers the lower serial; undo restores the zone and waits for the serial.
 */
export async function staleZone(lab: Lab, host: string): Promise<Undo> {
  const ns = namedOf(lab, host);
  const pl = place(lab, host);
  const original = readFileSync(ns.file, "utf8");
  const serialLine = /^(\t\t)(\d+)( ; serial)$/m;
  const m = serialLine.exec(original);
  if (!m) throw new LabError(`no serial line in ${ns.file}`);
  const serial = Number(m[2]);
  const apply = async (text: string, expect: number) => {
    reloadZone(ns.p.pid, ns.file, text);
    await until(`BIND on ${host} to serve ${ns.domain} with serial ${expect}`, async () => {
      const soa = await digAt(pl, ns.address, ns.port, ns.domain, "SOA");
      return soa.split(/\s+/)[2] === String(expect);
    });
  };
  await apply(original.replace(serialLine, `$1${serial - 1}$3`), serial - 1);
  return healing(lab, () => apply(original, serial));
}
