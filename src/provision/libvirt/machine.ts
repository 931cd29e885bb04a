/**
 * What the libvirt provider changes on a hypervisor, one virsh call per journaled step: the
 * storage pool, the image and seed volumes, the root disk, the domain, its power and snapshots.
 * Every operation is idempotent (it looks before it makes), so a run after a crash adopts what
 * an earlier one made. Commands follow virsh(1) ("Storage volume commands", "Snapshot
 * commands"); volumes are managed through libvirt's storage pools so that remote hypervisors
 * (`qemu+ssh://`) work the same way.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import type { Image, LibvirtHypervisor } from "../../inventory/model.js";
import { digestFile } from "../artifacts.js";
import type { MachineInput, ObservedDomain, Snapshot, StepRecorder } from "../provider.js";
import type { MachineSpec } from "../spec.js";
import { domainXml } from "./define.js";
import { machineVolumes, parseSnapshot } from "./domain.js";
import { capacityBytes, VirshError, virsh, virshBatch } from "./virsh.js";

/** How long one volume upload or download may take, in ms (an image of a few GiB over SSH). */
export const VOLUME_TIMEOUT_MS = 60 * 60_000;

/** Seconds a machine gets to shut down after an ACPI request before it is powered off. */
export const SHUTDOWN_GRACE_S = 120;

/** The storage pool of hypervisor `hv` for site `site` (see `Hypervisor.storage`). */
export function poolName(site: string, hv: LibvirtHypervisor): string {
  return "pool" in hv.storage ? hv.storage.pool : `keel-${site}-${hv.name}`;
}

/** The volume that holds image `image` on a hypervisor: its name carries the digest. */
export function imageVolume(image: Image): string {
  return `keel-image-${image.name}-${image.checksum.hex.slice(0, 12)}.${image.format}`;
}

/** True when virsh said the object does not exist. */
function notFound(e: unknown): boolean {
  return (
    e instanceof VirshError &&
    /not found|no (storage vol|domain|storage pool|domain snapshot) with matching|failed to get (domain|vol|pool)/i.test(
      e.stderr,
    )
  );
}

/** The libvirt operations of one hypervisor, for one site. */
export class LibvirtMachines {
  readonly pool: string;
  private poolReady: Promise<void> | undefined;
  private type: Promise<"kvm" | "qemu"> | undefined;
  /**
   * One storage change at a time on the pool: libvirt refuses some pool operations while another
   * runs (`pool-refresh` during a `vol-upload`: "pool … has asynchronous jobs running"), so
   * parallel creates take turns for their volume steps, which are short next to a boot.
   */
  private readonly storage = pLimit(1);
  /** Image volumes being made or checked in this process: one upload per image per hypervisor. */
  private readonly images = new Map<string, Promise<string>>();

  constructor(
    readonly hv: LibvirtHypervisor,
    readonly site: string,
    /** See {@link SHUTDOWN_GRACE_S}. */
    readonly shutdownGraceS = SHUTDOWN_GRACE_S,
  ) {
    this.pool = poolName(site, hv);
  }

  private v(args: string[], timeoutMs?: number): Promise<string> {
    return virsh(this.hv.uri, args, timeoutMs);
  }

  /** A virsh call that changes the pool's volumes, in turn with the others (see `storage`). */
  private vs(args: string[]): Promise<string> {
    return this.storage(() => this.v(args));
  }

  /** Whether volume `name` exists in the pool. */
  private async hasVolume(name: string): Promise<boolean> {
    try {
      await this.v(["vol-info", "--pool", this.pool, name]);
      return true;
    } catch (e) {
      if (notFound(e)) return false;
      throw e;
    }
  }

  /** The capacity of volume `name` in bytes. */
  async volumeBytes(name: string): Promise<number> {
    const out = await this.v(["vol-info", "--bytes", "--pool", this.pool, name]);
    const bytes = capacityBytes(out);
    if (bytes === undefined) throw new Error(`virsh vol-info ${name}: no capacity in its output`);
    return bytes;
  }

  /**
   * The digest of volume `name`'s content, read back with `virsh vol-download` through a FIFO
   * (virsh opens its output by path, and a child's standard output here is a socket, which
   * cannot be opened by path).
   */
  private async volumeDigest(algorithm: "sha256" | "sha1", name: string): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "keel-vol-"));
    try {
      const fifo = join(dir, "volume");
      execFileSync("mkfifo", ["-m", "0600", fifo]);
      const reading = digestFile(algorithm, fifo);
      const writing = this.v(["vol-download", "--pool", this.pool, name, fifo], VOLUME_TIMEOUT_MS);
      // if virsh fails before opening the FIFO, the reader would wait forever: open it for writing to end it
      const [, digest] = await Promise.all([
        writing.catch((e) => {
          try {
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
          } catch {
            // the reader is gone already
          }
          throw e;
        }),
        reading,
      ]);
      return digest;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Makes the pool exist and run: a `dir` pool Keel defines for `storage: { dir }`, or the named one. */
  ensurePool(rec: StepRecorder, host: string): Promise<void> {
    this.poolReady ??= (async () => {
      let info: string | undefined;
      try {
        info = await this.v(["pool-info", this.pool]);
      } catch (e) {
        if (!notFound(e)) throw e;
      }
      if (info === undefined) {
        if (!("dir" in this.hv.storage))
          throw new Error(
            `storage pool "${this.pool}" does not exist on hypervisor "${this.hv.name}"; create it or use storage dir:`,
          );
        const dir = this.hv.storage.dir;
        await rec.step(host, "pool.define", { pool: this.pool, dir }, async () => {
          await this.v(["pool-define-as", this.pool, "dir", "--target", dir]);
          await this.v(["pool-build", this.pool]);
          await this.v(["pool-autostart", this.pool]);
        });
        info = "State: inactive";
      }
      if (!/^State:\s+running$/m.test(info))
        await rec.step(host, "pool.start", { pool: this.pool }, async () => {
          // a pool an interrupted run defined may not be built yet: building a dir pool twice is harmless
          if ("dir" in this.hv.storage) await this.v(["pool-build", this.pool]).catch(() => undefined);
          await this.v(["pool-start", this.pool]);
        });
    })();
    this.poolReady.catch(() => {
      this.poolReady = undefined;
    });
    return this.poolReady;
  }

  /**
   * Makes image `image` a volume of the pool, uploaded from `file` (already verified) when
   * absent; an existing volume (from an earlier run, maybe cut short) is verified by reading it
   * back, and replaced when its digest differs.
   * @returns the volume name.
   */
  ensureImage(image: Image, file: string, rec: StepRecorder, host: string): Promise<string> {
    const name = imageVolume(image);
    let p = this.images.get(name);
    if (p === undefined) {
      p = (async () => {
        if (await this.hasVolume(name)) {
          const got = await this.volumeDigest(image.checksum.algorithm, name);
          if (got === image.checksum.hex) return name;
          await rec.step(host, "image.delete", { volume: name, reason: `digest ${got}` }, () =>
            this.vs(["vol-delete", "--pool", this.pool, name]),
          );
        }
        await this.upload(name, file, rec, host, "image.upload");
        return name;
      })();
      this.images.set(name, p);
      p.catch(() => this.images.delete(name));
    }
    return p;
  }

  /** Creates volume `name` of `file`'s size and uploads `file` into it. */
  private upload(name: string, file: string, rec: StepRecorder, host: string, step: string): Promise<void> {
    const bytes = statSync(file).size;
    return rec.step(host, step, { volume: name, pool: this.pool, bytes }, async () => {
      await this.storage(async () => {
        await this.v(["vol-create-as", this.pool, name, String(bytes), "--format", "raw"]);
        await this.v(["vol-upload", "--pool", this.pool, name, file], VOLUME_TIMEOUT_MS);
        // libvirt reads the uploaded file's format (a qcow2 image's virtual size) on a refresh
        await this.v(["pool-refresh", this.pool]);
      });
    });
  }

  /** The hypervisor's `domain_type` when declared; else `kvm` when it can run KVM guests, else `qemu` (TCG). */
  domainType(): Promise<"kvm" | "qemu"> {
    if (this.hv.domainType !== undefined) return Promise.resolve(this.hv.domainType);
    this.type ??= this.v(["domcapabilities", "--virttype", "kvm"]).then(
      () => "kvm" as const,
      () => "qemu" as const,
    );
    return this.type;
  }

  /** The domain's UUID, or undefined when there is no domain `host`. */
  async uuid(host: string): Promise<string | undefined> {
    try {
      return (await this.v(["domuuid", host])).trim();
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  }

  /** The domain's state in virsh's words (`running`, `shut off`, …), or undefined when it does not exist. */
  async state(host: string): Promise<string | undefined> {
    try {
      return (await this.v(["domstate", host])).trim();
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  }

  /** Defines (or redefines, keeping its UUID) the domain of `m` with the seed volume for its spec. */
  private async define(m: MachineInput, rec: StepRecorder): Promise<void> {
    const uuid = await this.uuid(m.host);
    const xml = domainXml({
      site: m.site,
      host: m.host,
      inventory: m.inventory,
      spec: m.spec,
      volumes: machineVolumes(this.pool, m.host, m.spec.seed),
      type: await this.domainType(),
      ...(uuid ? { uuid } : {}),
    });
    await rec.step(m.host, "domain.define", { domain: m.host, uuid: uuid ?? null }, () =>
      this.defineXml(xml),
    );
  }

  /** `virsh define` of `xml`, written to a file of its own for the call (virsh reads a path). */
  private async defineXml(xml: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "keel-domain-"));
    try {
      const file = join(dir, "domain.xml");
      writeFileSync(file, xml, { mode: 0o600 });
      await this.v(["define", file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Makes the seed volume of `m` exist (uploaded from `m.seedIso`); an existing one is verified. */
  private async ensureSeed(m: MachineInput, rec: StepRecorder): Promise<void> {
    const name = machineVolumes(this.pool, m.host, m.spec.seed).cidata;
    const want = await digestFile("sha256", m.seedIso);
    if (await this.hasVolume(name)) {
      if ((await this.volumeDigest("sha256", name)) === want) return;
      await rec.step(m.host, "seed.delete", { volume: name }, () =>
        this.vs(["vol-delete", "--pool", this.pool, name]),
      );
    }
    await this.upload(name, m.seedIso, rec, m.host, "seed.upload");
  }

  /** Makes the root disk of `m` exist: a qcow2 overlay of the image volume, `spec.diskGiB` large. */
  private async ensureRoot(m: MachineInput, imageVol: string, rec: StepRecorder): Promise<void> {
    const name = machineVolumes(this.pool, m.host, m.spec.seed).root;
    if (await this.hasVolume(name)) return;
    const imageBytes = await this.volumeBytes(imageVol);
    const bytes = m.spec.diskGiB * 2 ** 30;
    if (bytes < imageBytes)
      throw new Error(
        `disk ${m.spec.diskGiB} GiB of "${m.host}" is smaller than image "${m.image.name}" (${Math.ceil(imageBytes / 2 ** 30)} GiB); expected vm.disk of at least that`,
      );
    await rec.step(m.host, "root.create", { volume: name, backing: imageVol, gib: m.spec.diskGiB }, () =>
      this.vs([
        "vol-create-as",
        this.pool,
        name,
        `${m.spec.diskGiB}G`,
        "--format",
        "qcow2",
        "--backing-vol",
        imageVol,
        "--backing-vol-format",
        m.image.format,
      ]),
    );
  }

  /** Sets or clears the domain's autostart flag. */
  private autostart(host: string, on: boolean, rec: StepRecorder): Promise<unknown> {
    return rec.step(host, "domain.autostart", { domain: host, on }, () =>
      this.v(on ? ["autostart", host] : ["autostart", "--disable", host]),
    );
  }

  /** Starts the domain when it is not running. */
  async start(host: string, rec: StepRecorder): Promise<void> {
    if ((await this.state(host)) === "running") return;
    await rec.step(host, "domain.start", { domain: host }, () => this.v(["start", host]));
  }

  /**
   * Shuts the domain down: an ACPI request, then a power-off after {@link SHUTDOWN_GRACE_S}
   * seconds. Resolves at once when it is not running.
   */
  async stop(host: string, rec: StepRecorder, graceS = this.shutdownGraceS): Promise<void> {
    const s = await this.state(host);
    if (s === undefined || s === "shut off") return;
    await rec.step(host, "domain.shutdown", { domain: host, graceS }, async () => {
      await this.v(["shutdown", host]).catch(() => undefined);
      const deadline = Date.now() + graceS * 1000;
      while (Date.now() < deadline) {
        if ((await this.state(host)) === "shut off") return;
        await new Promise((r) => setTimeout(r, Math.min(1000, graceS * 1000)));
      }
      if ((await this.state(host)) === "shut off") return;
      await this.v(["destroy", host]);
    });
  }

  /** See `MachineProvider.create`. */
  async create(m: MachineInput, rec: StepRecorder): Promise<void> {
    await this.ensurePool(rec, m.host);
    const imageVol = await this.ensureImage(m.image, m.imageFile, rec, m.host);
    await this.ensureRoot(m, imageVol, rec);
    await this.ensureSeed(m, rec);
    await this.define(m, rec);
    await this.autostart(m.host, m.spec.autostart, rec);
    await this.start(m.host, rec);
  }

  /** See `MachineProvider.change`. */
  async change(
    m: MachineInput,
    current: ObservedDomain,
    rec: StepRecorder,
    snapshot?: string,
  ): Promise<void> {
    const now = { ...current.keel?.spec, ...current.actual } as MachineSpec;
    const offFields: (keyof MachineSpec)[] = ["vcpus", "memoryMiB", "instance", "mac", "bridge"];
    const needsOff = offFields.some((f) => now[f] !== m.spec[f]);
    const running = (await this.state(m.host)) === "running";
    if (needsOff || snapshot !== undefined) await this.stop(m.host, rec);
    if (snapshot !== undefined)
      await this.snapshotOff(m.host, snapshot, `keel: before changing ${m.host}`, rec);
    await this.ensurePool(rec, m.host);
    if (now.seed !== m.spec.seed) await this.ensureSeed(m, rec);
    if (now.diskGiB !== undefined && m.spec.diskGiB > now.diskGiB) {
      const root = machineVolumes(this.pool, m.host, m.spec.seed).root;
      const size = `${m.spec.diskGiB}G`;
      const live = !needsOff && snapshot === undefined && running;
      await rec.step(m.host, "root.resize", { volume: root, gib: m.spec.diskGiB, live }, () =>
        live
          ? this.v(["blockresize", m.host, "vda", size])
          : this.vs(["vol-resize", "--pool", this.pool, root, size]),
      );
    }
    await this.define(m, rec);
    if (now.autostart !== m.spec.autostart) await this.autostart(m.host, m.spec.autostart, rec);
    await this.pruneSeeds(m.host, m.spec.seed, rec);
    if (running || needsOff) await this.start(m.host, rec);
  }

  /** Deletes the seed volumes of `host` other than the one of `keep` (every one when undefined). */
  private async pruneSeeds(host: string, keep: string | undefined, rec: StepRecorder): Promise<void> {
    const keepName = keep === undefined ? undefined : machineVolumes(this.pool, host, keep).cidata;
    for (const name of await this.volumes()) {
      if (name === keepName || !isSeedOf(host, name)) continue;
      await rec.step(host, "seed.delete", { volume: name }, () =>
        this.vs(["vol-delete", "--pool", this.pool, name]),
      );
    }
  }

  /** Names of the pool's volumes. */
  private async volumes(): Promise<string[]> {
    // `vol-list` prints a table (NAME PATH; no --name option in every virsh); Keel's volume
    // names hold no spaces, and `--quiet` leaves the header out
    return (await this.v(["vol-list", "--pool", this.pool]))
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter((n) => n !== "");
  }

  /** See `MachineProvider.remove`. */
  async remove(host: string, rec: StepRecorder): Promise<void> {
    if ((await this.state(host)) !== undefined) {
      await rec.step(host, "domain.destroy", { domain: host }, async () => {
        if ((await this.state(host)) !== "shut off") await this.v(["destroy", host]).catch(() => undefined);
      });
      await rec.step(host, "domain.undefine", { domain: host }, () =>
        this.v(["undefine", host, "--nvram", "--snapshots-metadata", "--managed-save"]),
      );
    }
    let names: string[];
    try {
      names = await this.volumes();
    } catch (e) {
      if (notFound(e)) return; // no pool: no volumes
      throw e;
    }
    const root = `${host}.qcow2`;
    for (const name of names)
      if (name === root || isSeedOf(host, name))
        await rec.step(host, "volume.delete", { volume: name }, () =>
          this.vs(["vol-delete", "--pool", this.pool, name]),
        );
  }

  /** Takes an internal snapshot of the root disk of a shut-off domain (the seed CD-ROM is left out). */
  private snapshotOff(host: string, name: string, description: string, rec: StepRecorder): Promise<unknown> {
    return rec.step(host, "snapshot.create", { domain: host, snapshot: name }, () =>
      this.v([
        "snapshot-create-as",
        host,
        name,
        "--description",
        description,
        "--diskspec",
        "vda,snapshot=internal",
        "--diskspec",
        "vdb,snapshot=no",
      ]),
    );
  }

  /** See `MachineProvider.snapshot`. */
  async snapshot(host: string, name: string, description: string, rec: StepRecorder): Promise<void> {
    const running = (await this.state(host)) === "running";
    await this.stop(host, rec);
    await this.snapshotOff(host, name, description, rec);
    if (running) await this.start(host, rec);
  }

  /** See `MachineProvider.snapshots`. */
  async snapshots(host: string): Promise<Snapshot[]> {
    const names = (await this.v(["snapshot-list", host, "--name"]))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
    const xmls = await virshBatch(
      this.hv.uri,
      names.map((n) => ["snapshot-dumpxml", host, n]),
    );
    const out = names.map((name, i) => ({ name, ...parseSnapshot(xmls[i] ?? "") }));
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** See `MachineProvider.revert`. */
  async revert(host: string, name: string, rec: StepRecorder): Promise<void> {
    await this.stop(host, rec, 0);
    await rec.step(host, "snapshot.revert", { domain: host, snapshot: name }, () =>
      this.v(["snapshot-revert", host, name]),
    );
    await this.start(host, rec);
  }

  /** See `MachineProvider.deleteSnapshot`. */
  deleteSnapshot(host: string, name: string, rec: StepRecorder): Promise<unknown> {
    return rec.step(host, "snapshot.delete", { domain: host, snapshot: name }, () =>
      this.v(["snapshot-delete", host, name]),
    );
  }
}

/** True when volume `name` is a seed image of `host` (`HOST-cidata-HEX12.iso`). */
function isSeedOf(host: string, name: string): boolean {
  return name.startsWith(`${host}-cidata-`) && /^-cidata-[0-9a-f]{12}\.iso$/.test(name.slice(host.length));
}
