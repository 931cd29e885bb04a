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
 *
 * Modules: network.ts (namespaces, links, routes), daemons.ts (start and stop), sshd.ts,
 * named.ts, wireguard.ts (each daemon kind's files and keys), pgbackrest.ts and backups.ts
 * (PostgreSQL and pgBackRest for `backups.pgbackrest`), readiness.ts (waiting until the
 * twin is ready), status.ts (`keel lab status`), twin.ts (the `Lab` handle), state.ts (what
 * `down` removes).
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { resolveIdentityPath } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { finishBackups, prepareBackups } from "./backups.js";
import { killProcess, serviceProcess, spawnDaemon } from "./daemons.js";
import { namedProcess, prepareNamed } from "./named.js";
import { buildNetwork, checkOverlap, ipQuiet } from "./network.js";
import { planLab, prometheusYaml } from "./plan.js";
import { waitReady } from "./readiness.js";
import { must, run } from "./run.js";
import { ensureKey, recordHostKey, sshdConfig } from "./sshd.js";
import { emptyState, readState, statePath } from "./state.js";
import { checkAbort, hostDir, type Lab, saveLab } from "./twin.js";
import { startWireguard } from "./wireguard.js";

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

/** The lab state directory of an inventory: `<inventory dir>/.keel/lab`. */
function labDir(inv: Inventory): string {
  return join(inv.dir, ".keel", "lab");
}

/**
 * Writes the files the daemons read: authorized_keys (the inventory's SSH identities, created
 * when missing), each host's SSH host key (pinned in known_hosts) and sshd_config, Prometheus
 * configurations and the DNS servers' zones.
 */
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
    await prepareBackups(lab, log, opts.signal);
    checkAbort(opts.signal);
    await startWireguard(lab);
    log("waiting for daemons to be ready");
    await waitReady(lab, opts.timeoutMs ?? 30_000, opts.signal);
    await finishBackups(lab, log, opts.timeoutMs ?? 30_000, opts.signal);
    lab.state.ready = true;
    saveLab(lab);
    return lab;
  } catch (err) {
    if (!opts.keepOnFailure) await labDown(dir, log);
    throw err;
  }
}

/**
 * Mount points of every mount namespace that has a process, from /proc/PID/mountinfo (proc(5):
 * the fifth field), one read per namespace.
 */
function mountedSomewhere(): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      if (seen.has(ns)) continue;
      seen.add(ns);
      for (const line of readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n")) {
        const mp = line.split(" ")[4];
        if (mp)
          out.add(mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
      }
    } catch {}
  }
  return out;
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
  // mount points made for binds inside the (now gone) host mount namespaces, while still empty
  // and not a mount point in another namespace (another lab's host: removing it would unmount it there)
  const elsewhere = mountedSomewhere();
  for (const m of [...(state.mountpoints ?? [])].reverse()) {
    if (elsewhere.has(m)) continue;
    try {
      const st = statSync(m);
      if (st.isDirectory()) rmdirSync(m);
      else if (st.size === 0) rmSync(m);
    } catch {}
  }
  rmSync(statePath(dir), { force: true });
  log(`lab ${state.site} is down`);
  return true;
}
