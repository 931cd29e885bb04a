/**
 * The Proxmox VE provider: machines on a Proxmox VE cluster through its API (Proxmox VE API,
 * `/api2/json`, client in `src/pve/`). A machine is a full clone of the template its image
 * names (`templates:`), with the VMID the inventory declares or keel.lock holds, then configured
 * (cores, memory, NIC with the machine's MAC on the network's bridge, the cloud-init `cidata`
 * ISO uploaded to the ISO storage as a CD-ROM, start on boot, Keel's record in the notes) with
 * the configuration's digest, so that a change made elsewhere meanwhile is refused, not
 * overwritten; its root disk grown to the declared size; started.
 *
 * Every change is a task followed by its UPID until it stops (`waitTask`): only `OK` counts,
 * `WARNINGS: N` is reported with the task's log, anything else fails the step with the log.
 * A lock timeout (the VM's config lock or the cluster-wide storage lock) is retried with backoff;
 * clones run at most `clone_limit` at a time per target storage, because a full clone holds the
 * storage lock for seconds per GiB while others wait 10 s for it.
 *
 * Each step is idempotent: after a crash the next run adopts what the last one made (a clone
 * that carries the host's name and its VMID, an uploaded ISO, a config already set) and
 * finishes the rest.
 */
import pLimit from "p-limit";
import type { ProxmoxHypervisor } from "../../inventory/model.js";
import type { PveClient } from "../../pve/client.js";
import {
  PveApiError,
  PveFingerprintError,
  PveRequestUncertainError,
  PveTaskError,
  PveTaskTimeoutError,
  PveUnreachableError,
} from "../../pve/errors.js";
import { clientFor } from "../../pve/hypervisor.js";
import { storageLimiter, withLockRetry } from "../../pve/limit.js";
import { type TaskStatus, waitTask } from "../../pve/tasks.js";
import {
  HypervisorUnreachable,
  type MachineInput,
  type MachineProvider,
  type ObservedDomain,
  type ObservedHypervisor,
  type PowerOp,
  type PowerState,
  ProviderError,
  type ProviderOptions,
  type Snapshot,
  type StepRecorder,
} from "../provider.js";
import { actualOf, netValue, parseRecord, recordNotes, rootDisk } from "./config.js";

/** Configs read at once when observing a cluster. */
const READS = 8;

/** How long a task may run before Keel stops waiting (a full clone of a large disk is slow). */
const TASK_TIMEOUT_MS = 60 * 60_000;

/** A VM as `GET /cluster/resources?type=vm` lists it. */
export interface Resource {
  id?: string;
  type: string;
  vmid: number;
  name?: string;
  node: string;
  status?: string;
  template?: number;
  lock?: string;
}

/** A VM of the cluster with its config. */
interface Vm {
  vmid: number;
  node: string;
  name: string;
  status: string;
  config: Record<string, unknown>;
}

/**
 * Every QEMU machine of the cluster (templates included) with its config: `GET
 * /cluster/resources?type=vm`, then `GET /nodes/{node}/qemu/{vmid}/config` of each, at most
 * {@link READS} at a time. A config that could not be read comes with its `error` instead (the
 * machine removed since it was listed, its node offline): each caller decides what that means.
 */
export async function readMachines(
  client: PveClient,
): Promise<
  ({ resource: Resource; config: Record<string, unknown> } | { resource: Resource; error: unknown })[]
> {
  const all = await client.get<Resource[]>("/cluster/resources", { type: "vm" });
  const limit = pLimit(READS);
  return Promise.all(
    all
      .filter((r) => r.type === "qemu")
      .map((resource) =>
        limit(() =>
          client.get<Record<string, unknown>>(`${qemu(resource.node, resource.vmid)}/config`).then(
            (config) => ({ resource, config }),
            (error: unknown) => ({ resource, error }),
          ),
        ),
      ),
  );
}

/** Settings of the provider beyond the inventory (tests shorten the waits). */
export interface ProxmoxSettings {
  /** Lock retries: attempts and first delay (ms); default 6 and 1000. */
  lockRetry?: { attempts?: number; baseMs?: number };
  /** Task polling backoff (ms); default waitTask's (250 ×1.5, cap 5000). */
  backoff?: { firstMs?: number; factor?: number; capMs?: number };
}

/** The `proxmox` driver's provider for one hypervisor (a cluster), managing one site's machines. */
export class ProxmoxProvider implements MachineProvider {
  /** A clone makes its disk from the template on the cluster: no image file is needed here. */
  readonly needsImageFile = false;
  private readonly limiter;

  constructor(
    readonly hypervisor: ProxmoxHypervisor,
    readonly site: string,
    readonly opts: ProviderOptions & ProxmoxSettings = {},
  ) {
    this.limiter = storageLimiter(hypervisor.cloneLimit);
  }

  private client(): PveClient {
    return clientFor(this.hypervisor);
  }

  /** Runs `fn`, turning the API client's errors into ProviderErrors (the hypervisor named). */
  private async api<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof PveUnreachableError || e instanceof PveFingerprintError)
        throw new HypervisorUnreachable(this.hypervisor.name, e.message);
      if (
        e instanceof PveApiError ||
        e instanceof PveTaskError ||
        e instanceof PveTaskTimeoutError ||
        e instanceof PveRequestUncertainError
      )
        throw new ProviderError(`hypervisor "${this.hypervisor.name}": ${e.message}`);
      throw e;
    }
  }

  /**
   * Waits for task `upid` to stop: `OK` or `WARNINGS` (reported through `opts.warn` with the
   * log's tail) resolve, anything else throws PveTaskError with the log.
   */
  private async task(upid: string, what: string, onProgress?: (s: TaskStatus) => void): Promise<void> {
    const r = await waitTask(this.client(), upid, {
      timeoutMs: TASK_TIMEOUT_MS,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    if (r.warnings > 0)
      this.opts.warn?.(
        `${what}: task ${upid} ended with ${r.exitstatus}${r.log.length ? `:\n  ${r.log.join("\n  ")}` : ""}`,
      );
  }

  /** `fn` again while it fails on a lock timeout (an HTTP 500 or a task's exit status). */
  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withLockRetry(fn, {
      attempts: this.opts.lockRetry?.attempts ?? 6,
      baseMs: this.opts.lockRetry?.baseMs ?? 1000,
      onRetry: (attempt, err, delayMs) =>
        this.opts.warn?.(
          `${what}: ${(err as Error).message.split("\n")[0]}; retry ${attempt} in ${delayMs} ms`,
        ),
    });
  }

  /** POSTs/PUTs/DELETEs a change that starts a task and waits for it, retried on lock timeouts. */
  private act(
    what: string,
    method: "post" | "put" | "delete",
    path: string,
    params: Record<string, string | number | boolean> = {},
    onProgress?: (s: TaskStatus) => void,
  ): Promise<void> {
    return this.retry(what, async () => {
      const upid = await this.client()[method]<string | null>(path, params);
      if (typeof upid === "string" && upid.startsWith("UPID:")) await this.task(upid, what, onProgress);
    });
  }

  /** The cluster's VMs (qemu only, templates included), from `GET /cluster/resources?type=vm`. */
  private async resources(): Promise<Resource[]> {
    const all = await this.client().get<Resource[]>("/cluster/resources", { type: "vm" });
    return all.filter((r) => r.type === "qemu");
  }

  private async config(node: string, vmid: number): Promise<Record<string, unknown>> {
    return this.client().get<Record<string, unknown>>(`${qemu(node, vmid)}/config`);
  }

  /**
   * The machine Keel made for `host` on this site: by name, confirmed by the record in its
   * notes; undefined when there is none.
   */
  private async find(host: string): Promise<Vm | undefined> {
    for (const r of await this.resources()) {
      if (r.name !== host || r.template === 1) continue;
      const config = await this.config(r.node, r.vmid);
      const rec = parseRecord(config.description);
      if (rec?.site === this.site && rec.host === host)
        return { vmid: r.vmid, node: r.node, name: host, status: r.status ?? "unknown", config };
    }
    return undefined;
  }

  /** Like `find`, but a machine that is not there is an error. */
  private async mustFind(host: string): Promise<Vm> {
    const vm = await this.find(host);
    if (!vm)
      throw new ProviderError(
        `hypervisor "${this.hypervisor.name}" holds no machine Keel made for host "${host}" of site "${this.site}"`,
      );
    return vm;
  }

  private async status(vm: { node: string; vmid: number }): Promise<{ status: string; lock?: string }> {
    return this.client().get(`${qemu(vm.node, vm.vmid)}/status/current`);
  }

  /** See {@link MachineProvider.observe}: every qemu VM of the cluster that is not a template. */
  async observe(): Promise<ObservedHypervisor> {
    return this.api(async () => {
      const domains: ObservedDomain[] = [];
      for (const m of await readMachines(this.client())) {
        // a machine removed meanwhile or on an offline node is not reported
        if (m.resource.template === 1 || !("config" in m)) continue;
        const { resource: r, config } = m;
        const keel = parseRecord(config.description);
        domains.push({
          name: r.name ?? `VM ${r.vmid}`,
          uuid: smbiosUuid(config) ?? String(r.vmid),
          power: powerOf(r.status, config),
          ...(keel ? { keel } : {}),
          actual: actualOf(config),
          snapshots: true,
          vmid: r.vmid,
          node: r.node,
          ...(typeof config.digest === "string" ? { revision: config.digest } : {}),
        });
      }
      return { hypervisor: this.hypervisor.name, domains };
    });
  }

  /** See {@link MachineProvider.create}: clone, seed, configure, grow the disk, start. */
  async create(m: MachineInput, rec: StepRecorder): Promise<void> {
    const hv = this.hypervisor;
    const vmid = m.vmid;
    if (vmid === undefined) throw new ProviderError(`host "${m.host}" has no VMID (see keel.lock)`);
    const template = hv.templates[m.spec.image];
    if (template === undefined)
      throw new ProviderError(`image "${m.spec.image}" has no template on hypervisor "${hv.name}"`);
    await this.api(async () => {
      await rec.step(m.host, "vm.clone", { vmid, template, storage: hv.storage, node: hv.node }, async () => {
        const all = await this.resources();
        const held = all.find((r) => r.vmid === vmid);
        if (held) {
          const rec =
            held.template === 1 ? undefined : parseRecord((await this.config(held.node, vmid)).description);
          if (held.name !== m.host || rec?.site !== this.site || rec.host !== m.host)
            throw new ProviderError(
              `VMID ${vmid} on hypervisor "${hv.name}" is held by ${held.template === 1 ? "template" : "machine"} "${held.name ?? "?"}", not by host "${m.host}"; declare another vm.vmid (or delete the entry in keel.lock) or remove that machine`,
            );
          await this.unlocked(held, m.host); // a clone an earlier run started: let it finish
          return;
        }
        const source = all.find((r) => r.vmid === template);
        if (source?.template !== 1)
          throw new ProviderError(
            `template VMID ${template} of image "${m.spec.image}" ${source ? "is a machine, not a template" : "does not exist"} on hypervisor "${hv.name}"`,
          );
        await this.limiter.run(hv.storage, () =>
          this.act(`${m.host}: clone`, "post", `${qemu(source.node, template)}/clone`, {
            newid: vmid,
            name: m.host,
            full: true,
            storage: hv.storage,
            target: hv.node,
            // the record from the start: a run that stops after the clone leaves a machine the
            // next plan knows as Keel's, to finish, not a stranger's that blocks the host
            description: recordNotes({ site: m.site, host: m.host, inventory: m.inventory, spec: m.spec }),
          }),
        );
      });
      const iso = await this.seed(m, rec);
      await this.configure(m, { node: hv.node, vmid }, iso, undefined, rec);
      await this.grow(m, { node: hv.node, vmid }, rec);
      await rec.step(m.host, "vm.start", { vmid }, async () => {
        if ((await this.status({ node: hv.node, vmid })).status !== "running")
          await this.act(`${m.host}: start`, "post", `${qemu(hv.node, vmid)}/status/start`);
      });
    });
  }

  /** Waits while `vm` holds a config lock (a clone in progress), at most the task timeout. */
  private async unlocked(vm: { node: string; vmid: number }, host: string): Promise<void> {
    const until = Date.now() + TASK_TIMEOUT_MS;
    let delay = 250;
    for (;;) {
      const s = await this.status(vm);
      if (s.lock === undefined || s.lock === "") return;
      if (Date.now() > until)
        throw new ProviderError(`${host}: VMID ${vm.vmid} is still locked (${s.lock}); look again later`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 5000);
    }
  }

  /**
   * Uploads the machine's `cidata` ISO to the ISO storage unless it is there already.
   * @returns its volume ID, `STORAGE:iso/NAME`.
   */
  private async seed(m: MachineInput, rec: StepRecorder): Promise<string> {
    const hv = this.hypervisor;
    const name = seedName(this.site, m.host, m.spec.seed);
    const volid = `${hv.isoStorage}:iso/${name}`;
    await rec.step(m.host, "vm.seed", { storage: hv.isoStorage, volume: volid }, async () => {
      const storage = `/nodes/${enc(hv.node)}/storage/${enc(hv.isoStorage)}`;
      const content = await this.client().get<{ volid: string }[]>(`${storage}/content`, { content: "iso" });
      if (content.some((c) => c.volid === volid)) return;
      const upid = await this.retry(`${m.host}: upload`, () =>
        this.client().upload<string>(`${storage}/upload`, { content: "iso" }, { name, path: m.seedIso }),
      );
      if (typeof upid === "string" && upid.startsWith("UPID:")) await this.task(upid, `${m.host}: upload`);
    });
    return volid;
  }

  /**
   * Sets the managed keys and Keel's record, sending the config's digest (`revision` when the
   * caller observed it, else read now): a change made elsewhere since is refused.
   */
  private async configure(
    m: MachineInput,
    vm: { node: string; vmid: number },
    iso: string,
    revision: string | undefined,
    rec: StepRecorder,
  ): Promise<void> {
    await rec.step(m.host, "vm.configure", { vmid: vm.vmid, seed: iso }, async () => {
      await this.retry(`${m.host}: configure`, async () => {
        const digest = revision ?? ((await this.config(vm.node, vm.vmid)).digest as string | undefined);
        await this.client().put(`${qemu(vm.node, vm.vmid)}/config`, {
          cores: m.spec.vcpus,
          memory: m.spec.memoryMiB,
          net0: netValue(m.spec.mac, m.spec.bridge),
          ide2: `${iso},media=cdrom`,
          onboot: m.spec.autostart,
          description: recordNotes({ site: m.site, host: m.host, inventory: m.inventory, spec: m.spec }),
          ...(digest !== undefined ? { digest } : {}),
        });
      });
    });
  }

  /** Grows the root disk to the declared size (a disk is never shrunk: `keel plan` refuses that). */
  private async grow(m: MachineInput, vm: { node: string; vmid: number }, rec: StepRecorder): Promise<void> {
    const root = rootDisk(await this.config(vm.node, vm.vmid));
    if (!root)
      throw new ProviderError(`${m.host}: VMID ${vm.vmid} has no root disk (scsi0, virtio0, sata0 or ide0)`);
    if (root.bytes !== undefined && root.bytes >= m.spec.diskGiB * 2 ** 30) return;
    await rec.step(m.host, "vm.resize", { vmid: vm.vmid, disk: root.key, sizeGiB: m.spec.diskGiB }, () =>
      this.act(`${m.host}: resize`, "put", `${qemu(vm.node, vm.vmid)}/resize`, {
        disk: root.key,
        size: `${m.spec.diskGiB}G`,
      }),
    );
  }

  /**
   * See {@link MachineProvider.change}: snapshot first when asked, the new config (with the
   * digest observed when the plan was made), the disk grown, and a running machine shut down
   * and started so every change takes effect; a stopped one is started.
   */
  async change(
    m: MachineInput,
    current: ObservedDomain,
    rec: StepRecorder,
    snapshot?: string,
  ): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(m.host);
      if (snapshot !== undefined) {
        // the snapshot changes the config's digest: compare the observed one before taking it
        if (current.revision !== undefined && vm.config.digest !== current.revision)
          throw new ProviderError(
            `${m.host}: detected modified configuration - the machine's config changed on the cluster since it was read for the plan; run keel plan again`,
          );
        await this.snapshot(m.host, snapshot, `keel: before a change by keel apply`, rec);
      }
      const iso = await this.seed(m, rec);
      const running = (await this.status(vm)).status === "running";
      await this.configure(m, vm, iso, snapshot === undefined ? current.revision : undefined, rec);
      await this.grow(m, vm, rec);
      if (running) await this.stop(m.host, vm, rec);
      await rec.step(m.host, "vm.start", { vmid: vm.vmid }, () =>
        this.act(`${m.host}: start`, "post", `${qemu(vm.node, vm.vmid)}/status/start`),
      );
    });
  }

  /** Shuts `vm` down (ACPI), powering it off after the shutdown grace. */
  private async stop(host: string, vm: { node: string; vmid: number }, rec: StepRecorder): Promise<void> {
    const grace = this.opts.shutdownGraceS ?? 120;
    await rec.step(host, "vm.stop", { vmid: vm.vmid, graceS: grace }, async () => {
      if ((await this.status(vm)).status !== "running") return;
      await this.act(`${host}: shutdown`, "post", `${qemu(vm.node, vm.vmid)}/status/shutdown`, {
        timeout: grace,
        forceStop: true,
      });
    });
  }

  /** See {@link MachineProvider.remove}: stopped, destroyed with its disks, its seed ISOs deleted. */
  async remove(host: string, rec: StepRecorder): Promise<void> {
    await this.api(async () => {
      const vm = await this.find(host);
      if (vm) {
        await rec.step(host, "vm.poweroff", { vmid: vm.vmid }, async () => {
          if ((await this.status(vm)).status === "running")
            await this.act(`${host}: stop`, "post", `${qemu(vm.node, vm.vmid)}/status/stop`);
        });
        await rec.step(host, "vm.destroy", { vmid: vm.vmid }, () =>
          this.act(`${host}: destroy`, "delete", qemu(vm.node, vm.vmid), {
            purge: true,
            "destroy-unreferenced-disks": true,
          }),
        );
      }
      const hv = this.hypervisor;
      const storage = `/nodes/${enc(hv.node)}/storage/${enc(hv.isoStorage)}`;
      const prefix = `${hv.isoStorage}:iso/${seedName(this.site, host, "")}`;
      const isos = (
        await this.client().get<{ volid: string }[]>(`${storage}/content`, { content: "iso" })
      ).filter((c) => c.volid.startsWith(prefix));
      for (const iso of isos)
        await rec.step(host, "vm.seed.delete", { volume: iso.volid }, () =>
          this.act(`${host}: delete ${iso.volid}`, "delete", `${storage}/content/${enc(iso.volid)}`),
        );
    });
  }

  /** See {@link MachineProvider.snapshots}: `GET …/snapshot` without the `current` entry, oldest first. */
  async snapshots(host: string): Promise<Snapshot[]> {
    return this.api(async () => {
      const vm = await this.find(host);
      if (!vm) return [];
      const list = await this.client().get<{ name: string; snaptime?: number; description?: string }[]>(
        `${qemu(vm.node, vm.vmid)}/snapshot`,
      );
      return list
        .filter((s) => s.name !== "current")
        .sort((a, b) => (a.snaptime ?? 0) - (b.snaptime ?? 0))
        .map((s) => ({
          name: s.name,
          createdAt: new Date((s.snaptime ?? 0) * 1000).toISOString(),
          description: s.description ?? "",
        }));
    });
  }

  /** See {@link MachineProvider.snapshot}: shut down if it runs (a consistent disk), snapshot, started again. */
  async snapshot(host: string, name: string, description: string, rec: StepRecorder): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(host);
      const running = (await this.status(vm)).status === "running";
      if (running) await this.stop(host, vm, rec);
      await rec.step(host, "vm.snapshot", { vmid: vm.vmid, snapshot: name }, () =>
        this.act(`${host}: snapshot ${name}`, "post", `${qemu(vm.node, vm.vmid)}/snapshot`, {
          snapname: toSnapname(name),
          description,
        }),
      );
      if (running)
        await rec.step(host, "vm.start", { vmid: vm.vmid }, () =>
          this.act(`${host}: start`, "post", `${qemu(vm.node, vm.vmid)}/status/start`),
        );
    });
  }

  /** See {@link MachineProvider.revert}: rollback, then started. */
  async revert(host: string, name: string, rec: StepRecorder): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(host);
      await rec.step(host, "vm.rollback", { vmid: vm.vmid, snapshot: name }, () =>
        this.act(
          `${host}: rollback to ${name}`,
          "post",
          `${qemu(vm.node, vm.vmid)}/snapshot/${toSnapname(name)}/rollback`,
        ),
      );
      await rec.step(host, "vm.start", { vmid: vm.vmid }, async () => {
        if ((await this.status(vm)).status !== "running")
          await this.act(`${host}: start`, "post", `${qemu(vm.node, vm.vmid)}/status/start`);
      });
    });
  }

  async deleteSnapshot(host: string, name: string, rec: StepRecorder): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(host);
      await rec.step(host, "vm.snapshot.delete", { vmid: vm.vmid, snapshot: name }, () =>
        this.act(
          `${host}: delete snapshot ${name}`,
          "delete",
          `${qemu(vm.node, vm.vmid)}/snapshot/${toSnapname(name)}`,
        ),
      );
    });
  }

  /** Start; stop (ACPI, then off after the grace); reboot as a stop and a start. */
  async power(host: string, op: PowerOp, rec: StepRecorder): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(host);
      if (op !== "start") await this.stop(host, vm, rec);
      if (op !== "stop")
        await rec.step(host, "vm.start", { vmid: vm.vmid }, async () => {
          if ((await this.status(vm)).status !== "running")
            await this.act(`${host}: start`, "post", `${qemu(vm.node, vm.vmid)}/status/start`);
        });
    });
  }

  /**
   * Moves `host`'s machine to node `target`: online when it runs (with its local disks, when it
   * has some), offline otherwise (Proxmox VE API, GET then POST /nodes/{node}/qemu/{vmid}/migrate).
   * `onProgress` sees the task's status while it runs.
   * @throws ProviderError when the cluster says the target is not allowed (with its reason).
   */
  async migrate(
    host: string,
    target: string,
    rec: StepRecorder,
    onProgress?: (s: TaskStatus) => void,
  ): Promise<void> {
    await this.api(async () => {
      const vm = await this.mustFind(host);
      if (vm.node === target) return;
      const pre = await this.client().get<{
        running?: boolean | number;
        local_disks?: unknown[];
        not_allowed_nodes?: Record<string, { unavailable_storages?: string[] }>;
      }>(`${qemu(vm.node, vm.vmid)}/migrate`, { target });
      const refused = pre.not_allowed_nodes?.[target];
      if (refused)
        throw new ProviderError(
          `${host} cannot move to node "${target}"${refused.unavailable_storages?.length ? `: storage ${refused.unavailable_storages.join(", ")} is not available there` : ""}`,
        );
      const online = pre.running === true || pre.running === 1;
      const localDisks = (pre.local_disks ?? []).length > 0;
      await rec.step(host, "vm.migrate", { vmid: vm.vmid, from: vm.node, to: target, online }, () =>
        this.act(
          `${host}: migrate to ${target}`,
          "post",
          `${qemu(vm.node, vm.vmid)}/migrate`,
          {
            target,
            ...(online ? { online: true } : {}),
            ...(localDisks ? { "with-local-disks": true } : {}),
          },
          onProgress,
        ),
      );
    });
  }
}

/**
 * `name` as a Proxmox VE snapshot name (format `pve-configid`, PVE::JSONSchema
 * pve_verify_configid: a letter, then letters, digits, `_` or `-`; at most 40): Keel's
 * `keel-20260101T120000Z` is one as it is.
 * @throws ProviderError for a name that is not one.
 */
export function toSnapname(name: string): string {
  if (!/^[a-z][a-z0-9_-]+$/i.test(name) || name.length > 40)
    throw new ProviderError(
      `snapshot name "${name}" is not a Proxmox VE snapshot name; expected a letter, then letters, digits, "-" or "_", at most 40 characters`,
    );
  return name;
}

/** `/nodes/{node}/qemu/{vmid}`. */
function qemu(node: string, vmid: number): string {
  return `/nodes/${enc(node)}/qemu/${vmid}`;
}

const enc = encodeURIComponent;

/** The file name of a machine's seed ISO on the ISO storage: `keel-SITE-HOST-SEED12.iso`. */
export function seedName(site: string, host: string, seed: string): string {
  return seed === "" ? `keel-${site}-${host}-` : `keel-${site}-${host}-${seed.slice(0, 12)}.iso`;
}

/** The SMBIOS UUID qemu-server gives the machine (`smbios1: uuid=…`), when set. */
function smbiosUuid(config: Record<string, unknown>): string | undefined {
  const v = config.smbios1;
  if (typeof v !== "string") return undefined;
  return /(?:^|,)uuid=([0-9a-f-]{36})/i.exec(v)?.[1];
}

/** libvirt's words for a Proxmox VE status (`running`, `stopped`; `qmpstatus` tells a paused one). */
export function powerOf(status: string | undefined, config: Record<string, unknown>): PowerState {
  if (status === "running") return config.lock === "suspended" ? "paused" : "running";
  if (status === "stopped") return "shut off";
  return "other";
}
