/**
 * The libvirt provider: reads a hypervisor's domains through virsh (`virsh.ts`). One observe
 * costs a handful of virsh processes whatever the number of domains: one batch for the domain
 * lists, the definitions in batches of {@link BATCH} commands, at most {@link PROCESSES} at a
 * time, and one `vol-list --details` per storage pool for the root disks' sizes.
 */
import pLimit from "p-limit";
import type { LibvirtHypervisor } from "../../inventory/model.js";
import {
  HypervisorUnreachable,
  type MachineInput,
  type MachineProvider,
  type ObservedDomain,
  type ObservedHypervisor,
  type PowerOp,
  type PowerState,
  type ProviderOptions,
  type Snapshot,
  type StepRecorder,
} from "../provider.js";
import { type ParsedDomain, parseDomain } from "./domain.js";
import type { LibvirtMachines } from "./machine.js";
import { capacityBytes, VirshError, virshBatch } from "./virsh.js";

/** Commands per virsh process when reading many domains. */
export const BATCH = 250;
/** virsh processes at a time. */
export const PROCESSES = 4;

/** Lines of a `virsh list --name` output (empty lines dropped). */
function names(out: string | undefined): string[] {
  return (out ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Runs `commands` in batches, at most {@link PROCESSES} virsh processes at once, outputs in order. */
async function batched(uri: string, commands: string[][]): Promise<(string | undefined)[]> {
  const limit = pLimit(PROCESSES);
  const chunks: string[][][] = [];
  for (let i = 0; i < commands.length; i += BATCH) chunks.push(commands.slice(i, i + BATCH));
  const outs = await Promise.all(chunks.map((c) => limit(() => virshBatch(uri, c))));
  return outs.flat();
}

/** Bytes per unit of virsh's scaled numbers (virsh(1): KiB, MiB… are powers of 1024). */
const UNITS: Record<string, number> = {
  B: 1,
  bytes: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  PiB: 2 ** 50,
};

/**
 * Volume name → capacity in bytes from a `virsh vol-list --details` table (columns Name, Path,
 * Type, Capacity, Allocation; the sizes as `10.00 GiB`, two decimals). Read from the right, so a
 * path with spaces does not shift the columns; a size is exact to 1/100 of its unit.
 */
export function volumeCapacities(out: string | undefined): Map<string, number> {
  const caps = new Map<string, number>();
  for (const line of (out ?? "").split("\n")) {
    const t = line.trim().split(/\s+/);
    if (t.length < 7) continue;
    const [capN, capU] = [t[t.length - 4]!, t[t.length - 3]!];
    const unit = UNITS[capU];
    const n = Number(capN);
    if (unit === undefined || !Number.isFinite(n)) continue;
    caps.set(t[0]!, Math.round(n * unit));
  }
  return caps;
}

/** A provider for one `driver: libvirt` hypervisor, managing the machines of one site. */
export class LibvirtProvider implements MachineProvider {
  private ops: Promise<LibvirtMachines> | undefined;

  constructor(
    readonly hypervisor: LibvirtHypervisor,
    readonly site: string,
    readonly opts: ProviderOptions = {},
  ) {}

  /**
   * The operations that change the hypervisor, loaded on first use: reading a hypervisor
   * (`keel plan`) does not pay for the XML builder and the image fetcher.
   */
  private machines(): Promise<LibvirtMachines> {
    this.ops ??= import("./machine.js").then(
      (m) => new m.LibvirtMachines(this.hypervisor, this.site, this.opts.shutdownGraceS),
    );
    return this.ops;
  }

  async create(m: MachineInput, rec: StepRecorder): Promise<void> {
    return (await this.machines()).create(m, rec);
  }

  async change(
    m: MachineInput,
    current: ObservedDomain,
    rec: StepRecorder,
    snapshot?: string,
  ): Promise<void> {
    return (await this.machines()).change(m, current, rec, snapshot);
  }

  async remove(host: string, rec: StepRecorder): Promise<void> {
    return (await this.machines()).remove(host, rec);
  }

  async snapshots(host: string): Promise<Snapshot[]> {
    return (await this.machines()).snapshots(host);
  }

  async snapshot(host: string, name: string, description: string, rec: StepRecorder): Promise<void> {
    return (await this.machines()).snapshot(host, name, description, rec);
  }

  async revert(host: string, name: string, rec: StepRecorder): Promise<void> {
    await (await this.machines()).revert(host, name, rec);
  }

  async deleteSnapshot(host: string, name: string, rec: StepRecorder): Promise<void> {
    await (await this.machines()).deleteSnapshot(host, name, rec);
  }

  /** Start; stop (ACPI, then power off after the grace); reboot as a stop and a start, so a changed definition takes effect. */
  async power(host: string, op: PowerOp, rec: StepRecorder): Promise<void> {
    if (op !== "start") await (await this.machines()).stop(host, rec);
    if (op !== "stop") await (await this.machines()).start(host, rec);
  }

  /** See {@link MachineProvider.observe}. */
  async observe(): Promise<ObservedHypervisor> {
    const uri = this.hypervisor.uri;
    let lists: (string | undefined)[];
    try {
      lists = await virshBatch(uri, [
        ["list", "--all", "--name"],
        ["list", "--state-running", "--name"],
        ["list", "--state-paused", "--name"],
        ["list", "--all", "--autostart", "--name"],
        ["list", "--all", "--state-shutoff", "--name"],
      ]);
    } catch (e) {
      if (e instanceof VirshError) throw new HypervisorUnreachable(this.hypervisor.name, e.message);
      throw e;
    }
    const all = names(lists[0]);
    const running = new Set(names(lists[1]));
    const paused = new Set(names(lists[2]));
    const autostart = new Set(names(lists[3]));
    const shutoff = new Set(names(lists[4]));
    const read = async (commands: string[][]) => {
      try {
        return await batched(uri, commands);
      } catch (e) {
        if (e instanceof VirshError) throw new HypervisorUnreachable(this.hypervisor.name, e.message);
        throw e;
      }
    };
    const xmls = await read(all.map((n) => ["dumpxml", "--inactive", n]));
    const parsed: ParsedDomain[] = [];
    for (const xml of xmls) if (xml !== undefined) parsed.push(parseDomain(xml)); // undefined: it vanished meanwhile
    // the root disks' sizes, for Keel's domains only (the others are never compared): one
    // `vol-list --details` per pool they use, or `vol-info` for a disk given as a file
    const sized = parsed.filter(
      (p) => p.keel && p.root && (p.root.volume !== undefined || p.root.file !== undefined),
    );
    const pools = [
      ...new Set(sized.flatMap((p) => (p.root!.volume !== undefined ? [p.root!.pool ?? "default"] : []))),
    ];
    const files = sized.flatMap((p) => (p.root!.volume === undefined ? [p.root!.file!] : []));
    const outs = await read([
      ...pools.map((pool) => ["vol-list", "--pool", pool, "--details"]),
      ...files.map((f) => ["vol-info", "--bytes", f]),
    ]);
    const byVolume = new Map<string, number>();
    pools.forEach((pool, i) => {
      for (const [name, bytes] of volumeCapacities(outs[i])) byVolume.set(`${pool}/${name}`, bytes);
    });
    const byFile = new Map(files.map((f, i) => [f, capacityBytes(outs[pools.length + i])]));
    const capacity = new Map(
      sized.map((p) => [
        p,
        p.root!.volume !== undefined
          ? byVolume.get(`${p.root!.pool ?? "default"}/${p.root!.volume}`)
          : byFile.get(p.root!.file!),
      ]),
    );
    const power = (n: string): PowerState =>
      running.has(n) ? "running" : paused.has(n) ? "paused" : shutoff.has(n) ? "shut off" : "other";
    const domains: ObservedDomain[] = parsed.map((p) => {
      const actual = { ...p.actual, autostart: autostart.has(p.name) };
      const bytes = capacity.get(p);
      if (bytes !== undefined) actual.diskGiB = Math.ceil(bytes / 2 ** 30);
      return {
        name: p.name,
        uuid: p.uuid,
        power: power(p.name),
        ...(p.keel ? { keel: p.keel } : {}),
        actual,
        snapshots: p.root?.format === "qcow2",
      };
    });
    return { hypervisor: this.hypervisor.name, domains };
  }
}
