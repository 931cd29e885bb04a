/**
 * The lab's network namespaces and links (layout in lab.ts): refusing prefixes and namespace
 * names that are taken, building the switch, host and root-namespace parts, and listing the
 * namespaces that exist.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.js";
import { contains, overlaps, parsePrefix } from "../net/prefix.js";
import { hostPrefix, type LabPlan } from "./plan.js";
import { must, placeCmd, run } from "./run.js";
import { checkAbort, hostPlace, type Lab, saveLab } from "./twin.js";

/** Directory holding mount-namespace files of lab hosts (a private bind mount). */
const MOUNT_DIR = "/run/keel-lab";

/** Runs `ip ARGS`, ignoring its failure (teardown of parts that may be gone already). */
export async function ipQuiet(args: string[]): Promise<void> {
  await run("ip", args);
}

/** Names of the network namespaces that exist (`ip netns list`). */
export async function netnsList(): Promise<Set<string>> {
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
export async function checkOverlap(plan: LabPlan): Promise<void> {
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
export function homeOf(user: string): string | undefined {
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

/**
 * Builds the lab's network: the switch namespace with a bridge per network, each host's
 * namespace (with its private mount and UTS namespaces, veths, addresses, sysctls, nftables
 * ruleset and routes), the root namespace's veths into the networks of `local` vantages and its
 * routes to the other lab prefixes. Records each part in the state as it is made, so `down`
 * removes a partial network.
 * @throws LabError when a command fails or `signal` is aborted
 */
export async function buildNetwork(lab: Lab, log: (s: string) => void, signal?: AbortSignal): Promise<void> {
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
