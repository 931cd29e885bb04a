/**
 * The lab twin: `up` materialises an inventory as Linux network namespaces running real
 * daemons, `down` removes exactly what `up` recorded, `status` reports what runs.
 *
 * Layout (see plan.ts for names): one switch namespace with a bridge per network; one
 * namespace per host with a veth into each of its networks; the root namespace joins the
 * networks of the `local` vantages with its own veths and gets routes to the other lab prefixes
 * through router hosts. Each host namespace also gets a private mount namespace (bound under
 * /run/keel-lab) with its own /run/wireguard and /sys, so WireGuard interfaces of different
 * hosts may share a name (`wg0`) and `wg show` over SSH sees the host's own interface, and a
 * UTS namespace whose hostname is the host's inventory name.
 *
 * `up` on a lab that is already up tears the old one down first, then builds it afresh.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.js";
import { resolveIdentityPath } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { contains, overlaps, parsePrefix } from "../net/prefix.js";
import { dnsRenderer } from "../render/dns.js";
import { knownHostName, replaceKnownHosts } from "../verify/vantages/hostkeys.js";
import {
  type HostPlan,
  hostPrefix,
  type LabPlan,
  namedConf,
  planLab,
  prometheusYaml,
  type ServicePlan,
  type WgGatewayPlan,
} from "./plan.js";
import { LabError, must, type Place, pidAlive, pidCommand, placeCmd, run, runAt, sleep } from "./run.js";
import { emptyState, type LabState, type ProcessRecord, readState, statePath, writeState } from "./state.js";

/** Directory holding mount-namespace files of lab hosts (a private bind mount). */
const MOUNT_DIR = "/run/keel-lab";

/** A lab that is up: the inventory it twins, its plan, its state directory and state record. */
export interface Lab {
  inventory: Inventory;
  plan: LabPlan;
  /** `<inventory dir>/.keel/lab`. */
  dir: string;
  state: LabState;
}

/** Options of {@link labUp}. */
export interface UpOptions {
  /** How long to wait for every daemon to be ready (default 30 s). */
  timeoutMs?: number;
  /** Progress messages. */
  log?: (line: string) => void;
  /** Leave a failed lab in place (recorded, so `down` still cleans it) instead of removing it. */
  keepOnFailure?: boolean;
  /** Aborting it (e.g. on Ctrl-C) stops `up` at the next step and removes the partial lab. */
  signal?: AbortSignal;
}

/** Throws a LabError when `signal` was aborted. */
function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LabError("interrupted; the partial lab was removed");
}

/** The lab state directory of an inventory: `<inventory dir>/.keel/lab`. */
export function labDir(inv: Inventory): string {
  return join(inv.dir, ".keel", "lab");
}

/** Persists the lab's state file. */
export function saveLab(lab: Lab): void {
  writeState(lab.dir, lab.state);
}

/** The place (network + mount namespace) of a host, or null for the root namespace. */
export function hostPlace(lab: Lab, host: string | null): Place | null {
  if (host === null) return null;
  const h = lab.state.hosts.find((x) => x.host === host);
  if (!h) throw new UserError(`the lab has no host "${host}"`);
  return { ns: h.ns, mnt: h.mnt, uts: h.uts };
}

/** Per-host file directory inside the lab directory. */
export function hostDir(lab: Lab, host: string | null): string {
  return join(lab.dir, "hosts", host ?? "_root");
}

// ---------------------------------------------------------------------------------------------
// processes

/** Starts a daemon detached inside a host's place, recording its pid before returning. */
export function spawnDaemon(lab: Lab, rec: Omit<ProcessRecord, "pid">): ProcessRecord {
  const place = hostPlace(lab, rec.host);
  mkdirSync(dirname(rec.log), { recursive: true });
  const fd = openSync(rec.log, "a");
  const [cmd, args] = placeCmd(place, rec.argv[0] ?? "", rec.argv.slice(1));
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ["ignore", fd, fd],
    // a clean environment: the operator's (proxies, NODE_OPTIONS, test-runner variables) stays out
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: "/root",
      LANG: "C.UTF-8",
      ...rec.env,
    },
  });
  closeSync(fd);
  child.on("error", () => {});
  child.unref();
  if (child.pid === undefined) throw new LabError(`could not start ${rec.argv.join(" ")}`);
  const full: ProcessRecord = { ...rec, pid: child.pid };
  lab.state.processes.push(full);
  saveLab(lab);
  return full;
}

/** Signals a recorded process (TERM, then KILL after 5 s); a no-op when it is gone or the pid was reused. */
export async function killProcess(p: ProcessRecord): Promise<void> {
  if (!pidAlive(p.pid)) return;
  const cmd = pidCommand(p.pid);
  if (!cmd.includes(basename(p.exe)) && !cmd.startsWith("nsenter")) return;
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 50 && pidAlive(p.pid); i++) await sleep(100);
  if (pidAlive(p.pid)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
}

/** Argument vector of the stand-in responder (run with tsx when Keel runs from source). */
export function responderArgv(args: string[]): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) {
    return [
      process.execPath,
      "--import",
      import.meta.resolve("tsx"),
      join(dirname(here), "responder.ts"),
      ...args,
    ];
  }
  return [process.execPath, join(dirname(here), "responder.js"), ...args];
}

/** The process record template that serves one service of a host. */
export function serviceProcess(lab: Lab, hp: HostPlan, sp: ServicePlan): Omit<ProcessRecord, "pid"> | null {
  const dir = hostDir(lab, hp.host);
  const base = {
    host: hp.host,
    service: sp.service,
    daemon: sp.daemon,
    real: sp.real,
    log: join(dir, `${sp.service}.log`),
    port: sp.port,
    protocol: sp.protocol,
  };
  switch (sp.daemon) {
    case "sshd":
      return {
        ...base,
        exe: "/usr/sbin/sshd",
        argv: ["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")],
      };
    case "node_exporter":
      return {
        ...base,
        exe: "prometheus-node-exporter",
        argv: ["prometheus-node-exporter", `--web.listen-address=:${sp.port}`],
      };
    case "prometheus":
      return {
        ...base,
        exe: "prometheus",
        argv: [
          "prometheus",
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
          `--web.listen-address=:${sp.port}`,
          "--web.enable-lifecycle",
          "--storage.tsdb.retention.time=2h",
        ],
      };
    case "wireguard":
      return null; // started with its interface by startWireguard
    case "named":
      return namedProcess(lab, hp.host, sp.service, sp.port);
    case "standin":
      return {
        ...base,
        exe: process.execPath,
        argv: responderArgv([
          sp.mode ?? "tcp",
          String(sp.port),
          "::",
          sp.httpPath ?? "/",
          String(sp.httpStatus ?? 200),
        ]),
      };
  }
}

/** Directory of a DNS server's BIND files: `hosts/<host>/named/` (named.conf, zones). */
export function namedDir(lab: Lab, host: string): string {
  return join(hostDir(lab, host), "named");
}

/** The process record template of BIND on a DNS server (`named -g`: foreground, log to stderr). */
export function namedProcess(
  lab: Lab,
  host: string,
  service: string,
  port: number,
): Omit<ProcessRecord, "pid"> {
  const conf = join(namedDir(lab, host), "named.conf");
  return {
    host,
    service,
    daemon: "named",
    real: true,
    log: join(hostDir(lab, host), `${service}.log`),
    port,
    protocol: "udp",
    exe: "/usr/sbin/named",
    argv: ["/usr/sbin/named", "-g", "-c", conf],
  };
}

/**
 * Writes the zones `keel render` would write (`dnsRenderer`, no previous render: serial
 * `YYYYMMDD00` of today) and named.conf into each DNS server's `named/` directory. Every server
 * gets its own copy, so a fault can change one server's zone only.
 */
async function prepareNamed(lab: Lab): Promise<void> {
  const servers = lab.plan.hosts.filter((hp) => hp.named);
  if (servers.length === 0) return;
  const files = await dnsRenderer.render(lab.inventory, { now: new Date(), previous: () => undefined });
  for (const hp of servers) {
    const dir = namedDir(lab, hp.host);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, basename(f.path)), f.content);
    writeFileSync(join(dir, "named.conf"), namedConf(dir, hp.named!));
  }
}

// ---------------------------------------------------------------------------------------------
// network

async function ipQuiet(args: string[]): Promise<void> {
  await run("ip", args);
}

/** Names of the network namespaces that exist (`ip netns list`). */
async function netnsList(): Promise<Set<string>> {
  const out = await must("ip", ["netns", "list"]);
  return new Set(
    out
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n): n is string => Boolean(n)),
  );
}

/**
 * Refuses (UserError) when a lab namespace already exists or a lab prefix overlaps an address or
 * route of the root namespace. Runs after any previous lab of this inventory was torn down, so
 * whatever is found belongs to someone else.
 */
async function checkOverlap(plan: LabPlan): Promise<void> {
  const problems: string[] = [];
  const existing = await netnsList();
  for (const ns of [plan.switchNs, ...plan.hosts.map((h) => h.ns)]) {
    if (existing.has(ns))
      problems.push(`namespace ${ns} already exists (a lab of site ${plan.site} from another inventory?)`);
  }
  const taken: { prefix: string; what: string }[] = [];
  const addrs = JSON.parse(await must("ip", ["-j", "addr", "show"])) as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number; scope?: string }[];
  }[];
  for (const l of addrs) {
    for (const a of l.addr_info ?? []) {
      if (a.scope === "link") continue;
      const cidr = `${a.local}/${a.prefixlen}`;
      const net = (a.local.includes(":") ? ipaddr.IPv6 : ipaddr.IPv4).networkAddressFromCIDR(cidr);
      taken.push({ prefix: `${net.toString()}/${a.prefixlen}`, what: `address ${cidr} on ${l.ifname}` });
    }
  }
  for (const fam of ["-4", "-6"]) {
    const routes = JSON.parse(await must("ip", ["-j", fam, "route", "show", "table", "all"])) as {
      dst: string;
      dev?: string;
      type?: string;
    }[];
    for (const r of routes) {
      if (r.dst === "default" || r.type === "multicast") continue;
      if (r.dst.startsWith("fe80:") || r.dst.startsWith("ff00:")) continue;
      const prefix = r.dst.includes("/") ? r.dst : hostPrefix(r.dst);
      taken.push({ prefix, what: `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ""}` });
    }
  }
  for (const b of plan.bridges) {
    const hit = taken.find((t) => {
      try {
        return overlaps(parsePrefix(b.cidr), parsePrefix(t.prefix));
      } catch {
        return false;
      }
    });
    if (hit) problems.push(`lab network ${b.network} (${b.cidr}) overlaps ${hit.what} in the root namespace`);
  }
  if (problems.length > 0) {
    problems.push(
      "refusing to build the lab; change the inventory's prefixes or remove the conflicting ones",
    );
    throw new UserError(problems.map((message) => ({ message })));
  }
}

/** Home directory of a local user (from /etc/passwd), if any. */
function homeOf(user: string): string | undefined {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${user}:`));
    return line?.split(":")[5] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Shell commands (for the host's private mount namespace) that cover the SSH user's shell
 * start-up files with Debian's defaults from /etc/skel (or nothing), so the operator's own
 * dotfiles (pyenv, nvm, ...) neither slow down nor change what runs over SSH on the twin.
 */
function freshDotfiles(user: string | undefined): string {
  const home = user ? homeOf(user) : undefined;
  if (!home || home === "/") return "";
  return [".bashrc", ".profile", ".bash_profile", ".bash_login"]
    .map((f) => {
      const src = existsSync(`/etc/skel/${f}`) ? `/etc/skel/${f}` : "/dev/null";
      return `; [ -f '${home}/${f}' ] && mount --bind ${src} '${home}/${f}' || true`;
    })
    .join("");
}

/** Makes /run/keel-lab a private mount so mount-namespace files can be bound there. */
async function ensureMountDir(): Promise<void> {
  mkdirSync(MOUNT_DIR, { recursive: true });
  mkdirSync("/run/wireguard", { recursive: true });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const r = await run("mountpoint", ["-q", MOUNT_DIR]);
  if (r.code !== 0) await must("mount", ["--bind", MOUNT_DIR, MOUNT_DIR]);
  await must("mount", ["--make-private", MOUNT_DIR]);
}

async function buildNetwork(lab: Lab, log: (s: string) => void, signal?: AbortSignal): Promise<void> {
  const { plan, state } = lab;
  await ensureMountDir();
  const sw = plan.switchNs;
  await must("ip", ["netns", "add", sw]);
  state.namespaces.push(sw);
  saveLab(lab);
  await must("ip", ["-n", sw, "link", "set", "lo", "up"]);
  for (const b of plan.bridges) {
    await must("ip", ["-n", sw, "link", "add", b.name, "type", "bridge"]);
    await must("ip", ["-n", sw, "link", "set", b.name, "up"]);
  }
  for (const hp of plan.hosts) {
    checkAbort(signal);
    log(`host ${hp.host}: namespace ${hp.ns}`);
    await must("ip", ["netns", "add", hp.ns]);
    state.namespaces.push(hp.ns);
    const mnt = join(MOUNT_DIR, hp.ns);
    const uts = `${mnt}.uts`;
    writeFileSync(mnt, "");
    writeFileSync(uts, "");
    state.mounts.push(mnt, uts);
    state.hosts.push({
      host: hp.host,
      ns: hp.ns,
      mnt,
      uts,
      addresses: hp.links.flatMap((l) =>
        l.addresses.map((address) => ({ ifname: l.ifname, network: l.network, address })),
      ),
    });
    saveLab(lab);
    // private mount namespace (own /run/wireguard for UAPI sockets, sysfs of this netns, fresh
    // dotfiles for the SSH user) and hostname
    await must("nsenter", [
      `--net=/run/netns/${hp.ns}`,
      "unshare",
      `--mount=${mnt}`,
      `--uts=${uts}`,
      "--propagation",
      "private",
      "sh",
      "-c",
      `set -e; hostname ${hp.host}; mount -t tmpfs -o mode=0755 keel-wg /run/wireguard; { umount -l /sys && mount -t sysfs keel-sys /sys; } || true${freshDotfiles(lab.inventory.hosts.find((h) => h.name === hp.host)?.ssh?.user)}`,
    ]);
    await must("ip", ["-n", hp.ns, "link", "set", "lo", "up"]);
    for (const l of hp.links) {
      await must("ip", [
        "-n",
        hp.ns,
        "link",
        "add",
        l.ifname,
        "type",
        "veth",
        "peer",
        "name",
        l.swPort,
        "netns",
        sw,
      ]);
      await must("ip", ["-n", sw, "link", "set", l.swPort, "master", l.bridge, "up"]);
      for (const a of l.addresses) {
        await must("ip", [
          "-n",
          hp.ns,
          "addr",
          "add",
          a,
          "dev",
          l.ifname,
          ...(a.includes(":") ? ["nodad"] : []),
        ]);
      }
      await must("ip", ["-n", hp.ns, "link", "set", l.ifname, "up"]);
    }
    const place = hostPlace(lab, hp.host);
    for (const k of hp.skippedSysctl) log(`host ${hp.host}: sysctl ${k} is not per-namespace; not applied`);
    for (const [k, v] of hp.sysctl) {
      const [c, a] = placeCmd(place, "sysctl", ["-qw", `${k}=${v}`]);
      await must(c, a);
    }
    const [c, a] = placeCmd(place, "nft", ["-f", "-"]);
    await must(c, a, { input: hp.firewall });
  }
  for (const hp of plan.hosts) {
    for (const r of hp.routes) await must("ip", ["-n", hp.ns, "route", "add", r.cidr, "via", r.via]);
  }
  for (const l of plan.rootLinks) {
    log(`root namespace: ${l.ifname} into ${l.network} (${l.addresses.join(", ")})`);
    await must("ip", ["link", "add", l.ifname, "type", "veth", "peer", "name", l.swPort, "netns", sw]);
    state.rootLinks.push({ ifname: l.ifname, network: l.network, addresses: l.addresses });
    saveLab(lab);
    await must("ip", ["-n", sw, "link", "set", l.swPort, "master", l.bridge, "up"]);
    for (const a of l.addresses) {
      await must("ip", ["addr", "add", a, "dev", l.ifname, ...(a.includes(":") ? ["nodad"] : [])]);
    }
    await must("ip", ["link", "set", l.ifname, "up"]);
  }
  for (const r of plan.rootRoutes) {
    await must("ip", ["route", "add", r.cidr, "via", r.via]);
    const dev =
      plan.rootLinks.find((l) => {
        const cidr = plan.bridges.find((b) => b.network === l.network)?.cidr;
        return cidr !== undefined && contains(parsePrefix(cidr), r.via);
      })?.ifname ?? "";
    state.rootRoutes.push({ cidr: r.cidr, via: r.via, dev });
    saveLab(lab);
  }
}

// ---------------------------------------------------------------------------------------------
// files and daemons

async function ensureKey(path: string): Promise<string> {
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

/** sshd configuration of a lab host: key-only, root by key, host key and authorized_keys in the lab dir. */
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
    "",
  ].join("\n");
}

async function prepareFiles(lab: Lab): Promise<void> {
  const { inventory: inv, state } = lab;
  for (const f of [join(lab.dir, "hosts"), join(lab.dir, "authorized_keys")]) state.files.push(f);
  saveLab(lab);
  const identities = new Set<string>();
  for (const h of inv.hosts) if (h.ssh?.identity) identities.add(resolveIdentityPath(inv, h.ssh.identity));
  if (inv.defaults.ssh.identity) identities.add(resolveIdentityPath(inv, inv.defaults.ssh.identity));
  if (identities.size === 0) identities.add(join(lab.dir, "id_ed25519"));
  const keys: string[] = [];
  for (const id of identities) keys.push(await ensureKey(id));
  writeFileSync(join(lab.dir, "authorized_keys"), `${keys.join("\n")}\n`);
  for (const hp of lab.plan.hosts) {
    const dir = hostDir(lab, hp.host);
    mkdirSync(dir, { recursive: true });
    const ssh = hp.services.find((s) => s.daemon === "sshd");
    if (ssh) {
      rmSync(join(dir, "ssh_host_ed25519_key"), { force: true }); // ssh-keygen would ask before overwriting
      rmSync(join(dir, "ssh_host_ed25519_key.pub"), { force: true });
      await must("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `${hp.host}.lab`,
        "-f",
        join(dir, "ssh_host_ed25519_key"),
      ]);
      await recordHostKey(lab, hp.host, ssh.port);
      writeFileSync(join(dir, "sshd_config"), sshdConfig(lab, hp.host, ssh.port));
    }
    const prom = lab.plan.prometheus[hp.host];
    if (prom) writeFileSync(join(dir, "prometheus.yml"), prometheusYaml(prom.targets));
  }
  await prepareNamed(lab);
}

/**
 * Waits until a wireguard-go interface can be configured: its link exists and wg(8) can talk to
 * its UAPI socket (`/var/run/wireguard/IFNAME.sock` in the place's mount namespace). wireguard-go
 * in the foreground creates the TUN device first and the socket a moment later; a `wg set` in
 * between finds no socket, falls back to the kernel's netlink and fails with "Protocol not
 * supported". Polls every 50 ms.
 * @param timeoutMs how long to wait, ms (default 5,000)
 * @throws LabError naming the interface when it is not ready in time
 */
export async function waitWireguard(place: Place | null, ifname: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (
      (await runAt(place, "ip", ["link", "show", ifname])).code === 0 &&
      (await runAt(place, "wg", ["show", ifname, "public-key"])).code === 0
    ) {
      return;
    }
    if (Date.now() >= until) break;
    await sleep(50);
  }
  throw new LabError(
    `WireGuard interface ${ifname} did not become ready${place ? ` in ${place.ns}` : ""} within ${timeoutMs} ms (no link, or wireguard-go's UAPI socket is missing)`,
  );
}

async function wgKey(file: string): Promise<string> {
  const priv = await must("wg", ["genkey"]);
  writeFileSync(file, priv, { mode: 0o600 });
  chmodSync(file, 0o600);
  return (await must("wg", ["pubkey"], { input: priv })).trim();
}

/** wg-set arguments that add a gateway's peer (its allowed-ips). */
export function gatewayPeerArgs(publicKey: string, allowedIps: string[]): string[] {
  return ["peer", publicKey, "allowed-ips", allowedIps.join(",")];
}

/** wg-set arguments on the peer side: the gateway with endpoint and a 5 s keepalive. */
export function peerGatewayArgs(gwPublicKey: string, endpoint: string, allowedIps: string[]): string[] {
  return [
    "peer",
    gwPublicKey,
    "endpoint",
    endpoint,
    "persistent-keepalive",
    "5",
    "allowed-ips",
    allowedIps.join(","),
  ];
}

/** Starts (or restarts) a gateway's wireguard-go and configures its key, port and peers. */
export async function startWireguardGateway(lab: Lab, gw: WgGatewayPlan): Promise<void> {
  const place = hostPlace(lab, gw.host);
  const dir = hostDir(lab, gw.host);
  const hp = lab.plan.hosts.find((h) => h.host === gw.host);
  const svc = hp?.services.find((s) => s.daemon === "wireguard");
  spawnDaemon(lab, {
    host: gw.host,
    service: svc?.service ?? `wireguard:${gw.ifname}`,
    daemon: "wireguard",
    real: true,
    exe: "wireguard-go",
    argv: ["wireguard-go", gw.ifname],
    env: { WG_PROCESS_FOREGROUND: "1" },
    log: join(dir, `wireguard-${gw.ifname}.log`),
    port: gw.port,
    protocol: "udp",
  });
  await waitWireguard(place, gw.ifname);
  const rec = lab.state.wireguard.find((w) => w.gatewayHost === gw.host && w.ifname === gw.ifname);
  if (!rec) throw new LabError(`no WireGuard keys recorded for ${gw.host}`);
  const peerArgs = rec.peers.flatMap((p) => gatewayPeerArgs(p.publicKey, p.allowedIps));
  const [c, a] = placeCmd(place, "wg", [
    "set",
    gw.ifname,
    "listen-port",
    String(gw.port),
    "private-key",
    join(dir, `${gw.ifname}.key`),
    ...peerArgs,
  ]);
  await must(c, a);
  const [c2, a2] = placeCmd(place, "ip", ["link", "set", gw.ifname, "up"]);
  await must(c2, a2);
}

async function startWireguard(lab: Lab): Promise<void> {
  for (const gw of lab.plan.wireguard) {
    const dir = hostDir(lab, gw.host);
    const gwPub = await wgKey(join(dir, `${gw.ifname}.key`));
    const peers = [];
    for (const p of gw.peers) {
      const pdir = hostDir(lab, p.host ?? null);
      mkdirSync(pdir, { recursive: true });
      const pub = await wgKey(join(pdir, `${p.ifname}.key`));
      peers.push({
        name: p.name,
        host: p.host ?? null,
        ifname: p.ifname,
        publicKey: pub,
        allowedIps: p.allowedIps,
        endpoint: p.endpoint,
        gatewayAllowedIps: p.gatewayAllowedIps,
      });
    }
    lab.state.wireguard.push({
      gatewayHost: gw.host,
      ifname: gw.ifname,
      port: gw.port,
      publicKey: gwPub,
      peers,
    });
    saveLab(lab);
    await startWireguardGateway(lab, gw);
    for (const p of peers) {
      const place = hostPlace(lab, p.host);
      const pdir = hostDir(lab, p.host);
      spawnDaemon(lab, {
        host: p.host,
        service: `wireguard:${p.ifname}`,
        daemon: "wireguard",
        real: true,
        exe: "wireguard-go",
        argv: ["wireguard-go", p.ifname],
        env: { WG_PROCESS_FOREGROUND: "1" },
        log: join(pdir, `wireguard-${p.ifname}.log`),
      });
      if (p.host === null) {
        lab.state.rootWg.push(p.ifname);
        saveLab(lab);
      }
      await waitWireguard(place, p.ifname);
      const [c, a] = placeCmd(place, "wg", [
        "set",
        p.ifname,
        "private-key",
        join(pdir, `${p.ifname}.key`),
        ...peerGatewayArgs(gwPub, p.endpoint, p.gatewayAllowedIps),
      ]);
      await must(c, a);
      const [c2, a2] = placeCmd(place, "ip", ["link", "set", p.ifname, "up"]);
      await must(c2, a2);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// readiness

/** Listening sockets in a place, as `tcp:PORT` / `udp:PORT`. */
export async function listening(place: Place | null): Promise<Set<string>> {
  const out = new Set<string>();
  const r = await runAt(place, "ss", ["-Hlntu"]);
  for (const line of r.stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const local = cols[4] ?? "";
    out.add(`${cols[0]}:${local.slice(local.lastIndexOf(":") + 1)}`);
  }
  return out;
}

/** HTTP GET (or POST) from inside a place with curl; returns the body, or null on failure. */
export async function httpIn(place: Place | null, url: string, method = "GET"): Promise<string | null> {
  const r = await runAt(place, "curl", ["-sf", "-m", "2", "-X", method, url], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout : null;
}

/** WireGuard latest handshakes of an interface: public key → unix seconds (0 = never). */
export async function wgHandshakes(place: Place | null, ifname: string): Promise<Map<string, number>> {
  const r = await runAt(place, "wg", ["show", ifname, "latest-handshakes"]);
  const out = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    const [k, t] = line.trim().split(/\s+/);
    if (k && t) out.set(k, Number(t));
  }
  return out;
}

function lastLogLine(file: string): string {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n");
    return lines[lines.length - 1] ?? "";
  } catch {
    return "";
  }
}

/** What is not ready yet, one phrase per item; empty when the whole lab is ready. */
export async function notReady(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  for (const p of lab.state.processes) {
    if (p.fault || pidAlive(p.pid)) continue;
    out.push(
      `${p.host ?? "root"}/${p.service}: ${p.daemon} exited (${lastLogLine(p.log) || `see ${p.log}`})`,
    );
  }
  await Promise.all(
    lab.plan.hosts.map(async (hp) => {
      const place = hostPlace(lab, hp.host);
      const socks = await listening(place);
      for (const s of hp.services) {
        if (!socks.has(`${s.protocol}:${s.port}`)) {
          out.push(`${hp.host}/${s.service}: nothing listens on ${s.port}/${s.protocol}`);
        }
      }
      if (hp.named) {
        for (const proto of ["udp", "tcp"]) {
          if (!socks.has(`${proto}:${hp.named.port}`))
            out.push(`${hp.host}/named: nothing listens on ${hp.named.port}/${proto}`);
        }
      }
      const prom = lab.plan.prometheus[hp.host];
      if (prom && socks.has(`tcp:${prom.port}`)) {
        const base = `http://127.0.0.1:${prom.port}`;
        if ((await httpIn(place, `${base}/-/ready`)) === null) {
          out.push(`${hp.host}/prometheus: not ready`);
        } else {
          const body = await httpIn(place, `${base}/api/v1/targets?state=active`);
          const targets = body
            ? ((
                JSON.parse(body) as {
                  data: { activeTargets: { labels: { host?: string }; health: string }[] };
                }
              ).data.activeTargets ?? [])
            : [];
          for (const t of prom.targets) {
            const seen = targets.find((x) => x.labels.host === t.host);
            if (seen?.health !== "up")
              out.push(`${hp.host}/prometheus: target ${t.host} (${t.target}) not up`);
          }
        }
      }
    }),
  );
  for (const w of lab.state.wireguard) {
    const hs = await wgHandshakes(hostPlace(lab, w.gatewayHost), w.ifname);
    for (const p of w.peers) {
      if (!hs.get(p.publicKey)) out.push(`${w.gatewayHost}/${w.ifname}: no handshake with peer ${p.name}`);
    }
  }
  return out.sort();
}

/** Waits until {@link notReady} is empty; throws a LabError naming what did not come up. */
export async function waitReady(lab: Lab, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkAbort(signal);
    const pending = await notReady(lab);
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new LabError(
        `the lab did not come up within ${Math.round(timeoutMs / 1000)} s:\n  ${pending.join("\n  ")}`,
      );
    }
    await sleep(300);
  }
}

// ---------------------------------------------------------------------------------------------
// up, down, status

/**
 * Builds the lab twin of an inventory and waits until every daemon is ready. A lab already
 * up for this inventory is torn down first. On failure the partial lab is removed (unless
 * `keepOnFailure`) and a LabError names what did not come up.
 */
export async function labUp(inv: Inventory, opts: UpOptions = {}): Promise<Lab> {
  const log = opts.log ?? (() => {});
  if (process.getuid?.() !== 0) throw new UserError("keel lab up needs root (it creates network namespaces)");
  const plan = planLab(inv);
  const dir = labDir(inv);
  if (readState(dir)) {
    log("a lab is already up for this inventory: tearing it down first");
    await labDown(dir, log);
  }
  await checkOverlap(plan);
  const lab: Lab = { inventory: inv, plan, dir, state: emptyState(inv.site, inv.file) };
  saveLab(lab);
  try {
    await buildNetwork(lab, log, opts.signal);
    checkAbort(opts.signal);
    await prepareFiles(lab);
    for (const hp of plan.hosts) {
      for (const sp of hp.services) {
        const rec = serviceProcess(lab, hp, sp);
        if (rec) spawnDaemon(lab, rec);
      }
      // a DNS server that declares no service of kind dns still runs BIND (on port 53)
      if (hp.named && !hp.services.some((s) => s.daemon === "named"))
        spawnDaemon(lab, namedProcess(lab, hp.host, hp.named.service, hp.named.port));
    }
    checkAbort(opts.signal);
    await startWireguard(lab);
    log("waiting for daemons to be ready");
    await waitReady(lab, opts.timeoutMs ?? 30_000, opts.signal);
    lab.state.ready = true;
    saveLab(lab);
    return lab;
  } catch (err) {
    if (!opts.keepOnFailure) await labDown(dir, log);
    throw err;
  }
}

/**
 * Removes everything the state file of `dir` records: processes, root-namespace WireGuard
 * interfaces, routes and veths, namespaces, mount namespaces and files. Parts already gone are
 * skipped; running it when the lab is not up does nothing. Returns false when there was no lab.
 */
export async function labDown(dir: string, log: (s: string) => void = () => {}): Promise<boolean> {
  const state = readState(dir);
  if (!state) return false;
  await Promise.all(state.processes.map((p) => killProcess(p)));
  for (const ifname of state.rootWg) await ipQuiet(["link", "del", ifname]);
  for (const r of state.rootRoutes) await ipQuiet(["route", "del", r.cidr, "via", r.via]);
  for (const l of state.rootLinks) await ipQuiet(["link", "del", l.ifname]);
  for (const ns of [...state.namespaces].reverse()) {
    // processes still inside (e.g. SSH sessions) belong to the lab
    const pids = await run("ip", ["netns", "pids", ns]);
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    await ipQuiet(["netns", "del", ns]);
  }
  for (const m of state.mounts) {
    await run("umount", [m]);
    rmSync(m, { force: true });
  }
  for (const f of state.files) rmSync(f, { recursive: true, force: true });
  rmSync(statePath(dir), { force: true });
  log(`lab ${state.site} is down`);
  return true;
}

/** One daemon in `keel lab status`. */
export interface DaemonStatus {
  host: string | null;
  service: string;
  daemon: string;
  real: boolean;
  pid: number;
  running: boolean;
  fault: boolean;
}

/** What `keel lab status` reports. */
export interface LabStatus {
  up: true;
  site: string;
  startedAt: string;
  /** False while `up` is still running, or when it failed and the lab was kept (`--keep`). */
  ready: boolean;
  hosts: { host: string; ns: string; exists: boolean; addresses: string[] }[];
  rootLinks: { ifname: string; network: string; addresses: string[] }[];
  daemons: DaemonStatus[];
  /** True when every namespace exists and every daemon runs. */
  healthy: boolean;
}

/** Reads the lab's state and checks each namespace and daemon; null when the lab is not up. */
export async function labStatus(dir: string): Promise<LabStatus | null> {
  const state = readState(dir);
  if (!state) return null;
  const nsList = await netnsList();
  const hosts = state.hosts.map((h) => ({
    host: h.host,
    ns: h.ns,
    exists: nsList.has(h.ns),
    addresses: h.addresses.map((a) => `${a.address} (${a.network}, ${a.ifname})`),
  }));
  const daemons = state.processes.map((p) => ({
    host: p.host,
    service: p.service,
    daemon: p.daemon,
    real: p.real,
    pid: p.pid,
    running: pidAlive(p.pid),
    fault: p.fault ?? false,
  }));
  return {
    up: true,
    site: state.site,
    startedAt: state.startedAt,
    ready: state.ready,
    hosts,
    rootLinks: state.rootLinks,
    daemons,
    healthy: hosts.every((h) => h.exists) && daemons.every((d) => d.running || d.fault),
  };
}

/** Human-readable status, one namespace per paragraph. */
export function formatStatus(s: LabStatus): string {
  const lines = [
    `lab ${s.site}, up since ${s.startedAt}${s.ready ? "" : " (not ready: still starting, or kept after a failure)"}`,
  ];
  const daemonLine = (d: DaemonStatus) =>
    `    ${d.service.padEnd(20)} ${d.daemon.padEnd(14)} ${(d.real ? "real" : "stand-in").padEnd(9)} pid ${String(d.pid).padEnd(8)} ${d.running ? "running" : "stopped"}${d.fault ? " (fault)" : ""}`;
  for (const h of s.hosts) {
    lines.push(`  ${h.host}  ${h.ns}${h.exists ? "" : "  (namespace missing)"}`);
    for (const a of h.addresses) lines.push(`    address ${a}`);
    for (const d of s.daemons.filter((x) => x.host === h.host)) lines.push(daemonLine(d));
  }
  if (s.rootLinks.length > 0 || s.daemons.some((d) => d.host === null)) {
    lines.push("  root namespace");
    for (const l of s.rootLinks) lines.push(`    ${l.ifname} in ${l.network}: ${l.addresses.join(", ")}`);
    for (const d of s.daemons.filter((x) => x.host === null)) lines.push(daemonLine(d));
  }
  lines.push(s.healthy ? "all daemons running" : "some daemons are stopped or namespaces missing");
  return `${lines.join("\n")}\n`;
}
