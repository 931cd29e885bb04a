/**
 * libvirt for VM tests: a private libvirtd, the Debian test image (scripts/vm-image.sh) and a
 * Linux bridge for the VMs' network. Needs root; VMs run under TCG (`<domain type='qemu'>`)
 * when there is no /dev/kvm.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { stopChild, tempDir } from "./daemons.js";

const run = promisify(execFile);

export interface Libvirtd {
  /** Connection URI for virsh and libvirt clients: `qemu:///system?socket=DIR/libvirt-sock`. */
  uri: string;
  /** The daemon's temp directory (socket, config, state, logs). */
  dir: string;
  /** libvirtd's output so far (its log at level warning). */
  log(): string;
  /** `virsh -c URI ARGS…`; resolves to stdout, rejects with virsh's stderr. */
  virsh(...args: string[]): Promise<string>;
  /**
   * Destroys and undefines every domain (with its NVRAM and its storage volumes), deletes every
   * storage pool (volumes, then the pool's target) and network, stops libvirtd and its virtlogd,
   * waits for them to exit and removes `dir`. Everything this daemon sees was made by the test:
   * it starts with no definitions at all.
   */
  stop(): Promise<void>;
}

/**
 * Starts a libvirtd of its own: in a mount namespace (`unshare --mount`) in which /etc/libvirt,
 * /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt are directories under
 * `dir`, so it sees none of this machine's domains, networks or pools (nor the default network,
 * which would start dnsmasq on virbr0) and leaves nothing behind in them; with its own virtlogd
 * (QEMU's output and logs go through virtlogd's socket in /run/libvirt). Its client socket is
 * `DIR/libvirt-sock`, reachable from outside the namespace. QEMU runs as root without a
 * security driver, so disks in the test's temp directories need no chown.
 *
 * Resolves once `virsh -c URI version` answers (30 s at most).
 */
export async function startLibvirtd(): Promise<Libvirtd> {
  const dir = tempDir("libvirtd");
  const sub = {
    etc: "/etc/libvirt",
    run: "/run/libvirt",
    lib: "/var/lib/libvirt",
    cache: "/var/cache/libvirt",
    log: "/var/log/libvirt",
  };
  for (const [name, target] of Object.entries(sub)) {
    mkdirSync(join(dir, name), { recursive: true });
    mkdirSync(target, { recursive: true }); // the mount points, in the root namespace
  }
  writeFileSync(
    join(dir, "libvirtd.conf"),
    [`unix_sock_dir = "${dir}"`, 'unix_sock_rw_perms = "0700"', 'log_outputs = "3:stderr"', ""].join("\n"),
  );
  writeFileSync(
    join(dir, "etc", "qemu.conf"),
    [
      'user = "root"',
      'group = "root"',
      'security_driver = "none"',
      "dynamic_ownership = 0",
      "remember_owner = 0",
      "",
    ].join("\n"),
  );
  const uri = `qemu:///system?socket=${dir}/libvirt-sock`;
  const binds = Object.entries(sub)
    .map(([name, target]) => `mount --bind '${join(dir, name)}' '${target}' && `)
    .join("");
  const virtlogdPid = join(dir, "virtlogd.pid");
  const script = `${binds}virtlogd -d -p '${virtlogdPid}' && exec libvirtd --config '${join(dir, "libvirtd.conf")}' --pid-file '${join(dir, "libvirtd.pid")}'`;
  const proc: ChildProcess = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  proc.stdout?.on("data", () => undefined);

  const virsh = async (...args: string[]): Promise<string> => {
    try {
      return (await run("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8" })).stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`virsh ${args.join(" ")}: ${err.stderr || err.message}`);
    }
  };
  const names = async (...args: string[]) =>
    (await virsh(...args).catch(() => ""))
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      for (const d of await names("list", "--all", "--name")) {
        await quiet(virsh("destroy", d));
        await virsh("undefine", d, "--nvram", "--remove-all-storage").catch(() =>
          quiet(virsh("undefine", d)),
        );
      }
      for (const p of await names("pool-list", "--all", "--name")) {
        for (const line of await names("vol-list", p)) {
          const vol = line.split(/\s+/)[0];
          if (vol) await quiet(virsh("vol-delete", vol, "--pool", p));
        }
        await quiet(virsh("pool-destroy", p));
        await quiet(virsh("pool-delete", p));
        await quiet(virsh("pool-undefine", p));
      }
      for (const n of await names("net-list", "--all", "--name")) {
        await quiet(virsh("net-destroy", n));
        await quiet(virsh("net-undefine", n));
      }
    }
    await stopChild(proc);
    await killAndWait(virtlogdPid);
    rmSync(dir, { recursive: true, force: true });
  };

  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      throw new Error(`libvirtd exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
    }
    try {
      await run("virsh", ["-c", uri, "version"]);
      break;
    } catch {
      if (Date.now() > until) {
        await stop();
        throw new Error(`libvirtd did not answer on ${uri} within 30 s:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { uri, dir, log: () => log, virsh, stop };
}

/** Sends SIGTERM to the process whose pid is in `pidFile` (if any) and waits until it is gone. */
async function killAndWait(pidFile: string, ms = 10_000): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (alive()) process.kill(pid, "SIGTERM");
  const until = Date.now() + ms;
  while (alive()) {
    if (Date.now() > until) {
      process.kill(pid, "SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The Debian 12 test image: runs `bash scripts/vm-image.sh` (from the repository root, the
 * current directory of the tests) and returns the qcow2 path it prints last. Built once per
 * machine and script version (cached under `${KEEL_CACHE:-/var/cache/keel}/vm-image/DIGEST/`);
 * the first build downloads from Debian's mirror and takes minutes, later calls return at once.
 * Never write to the image: boot VMs from qcow2 overlays backed by it. `KEEL_VM_IMAGE=PATH`
 * uses PATH instead (an image being tried out by hand).
 */
export function vmImage(): string {
  const given = process.env.KEEL_VM_IMAGE;
  if (given) return given;
  const out = execFileSync("bash", ["scripts/vm-image.sh"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 30 * 60_000,
  });
  const path = out.trim().split("\n").pop() ?? "";
  if (!existsSync(path))
    throw new Error(`scripts/vm-image.sh printed no image path (got ${JSON.stringify(out)})`);
  return path;
}

export interface Bridge {
  /** Interface name, `keelbrN`. */
  name: string;
  /** The bridge's address, `10.77.N.1`: the VMs' gateway. */
  address: string;
  /** The network, `10.77.N.0/24`. */
  cidr: string;
  /** Deletes the bridge (and with it the address and route). */
  destroy(): void;
}

/**
 * Creates Linux bridge `keelbrN` in the root namespace with address 10.77.N.1/24, up, for VMs'
 * NICs (`<interface type='bridge'>`, libvirt adds their tap devices). Traffic stays on this
 * machine: there is no NAT and no uplink. Throws if the bridge already exists (another test run
 * uses N); pick distinct N per test file.
 */
export function createBridge(n: number): Bridge {
  const name = `keelbr${n}`;
  const address = `10.77.${n}.1`;
  const sh = (...argv: string[]) => execFileSync("ip", argv, { stdio: ["ignore", "pipe", "pipe"] });
  const destroy = () => {
    try {
      sh("link", "del", name);
    } catch {
      // already gone
    }
  };
  sh("link", "add", name, "type", "bridge");
  try {
    sh("addr", "add", `${address}/24`, "dev", name);
    sh("link", "set", name, "up");
  } catch (e) {
    destroy();
    throw e;
  }
  return { name, address, cidr: `10.77.${n}.0/24`, destroy };
}
