/**
 * The machine keys of a host's `vm:` (over `defaults.vm`): `hypervisor` and `image` name
 * declared entries, a VM with a hypervisor has an image, and the hypervisor has a bridge for the
 * host's first network (the one the VM's NIC is attached to); on a proxmox hypervisor, the image
 * has a template there and the machine asks for a VMID; and the normalised `VmMachine`.
 */
import type { CheckContext } from "./context.js";
import type { InterfaceAddress, VmMachine } from "./model.js";
import type { RawHypervisor, RawVm, RawVmDefaults, Segment } from "./raw.js";
import { didYouMean } from "./wording.js";

/** Keel's defaults of the machine keys. */
export const MACHINE_DEFAULTS = {
  vcpus: 1,
  memoryMiB: 1024,
  diskGiB: 10,
  autostart: true,
  keepSnapshots: 3,
} as const;

/**
 * Checks the machine keys of `defaults.vm` and of every host's `vm:`; `hostAddresses` (from
 * `checkHosts`) gives the network of a shorthand address.
 */
export function checkMachines(ctx: CheckContext, hostAddresses: Map<string, InterfaceAddress[]>): void {
  const d = ctx.raw.defaults?.vm;
  checkNames(ctx, ["defaults", "vm"], d);
  for (const [name, host] of Object.entries(ctx.raw.hosts ?? {})) {
    const vm = host.vm;
    if (!vm) continue;
    const segs = ["hosts", name, "vm"];
    checkNames(ctx, segs, vm);
    const own = (key: string) => [...segs, key];
    // a key the schema cut is reported there; guessing from what is left would mislead
    if (ctx.wasCut(own("hypervisor")) || ctx.wasCut(own("image"))) continue;
    const hypervisor = vm.hypervisor ?? d?.hypervisor;
    if (hypervisor === undefined) continue;
    if ((vm.image ?? d?.image) === undefined)
      ctx.problem(
        segs,
        `vm of host "${name}" runs on hypervisor "${hypervisor}" but names no image; expected image: NAME in its vm: or in defaults.vm, NAME one of ${ctx.imageNames.join(", ") || "(no images are declared: add images: { NAME: { url, sha256 } })"}`,
        "key",
      );
    const h = ctx.raw.hypervisors?.[hypervisor];
    if (!h) continue; // not declared (reported above) or cut by the schema
    checkProxmoxMachine(ctx, name, vm, d, hypervisor, h);
    const network =
      typeof host.address === "string" ? hostAddresses.get(name)?.[0]?.network : Object.keys(host.address)[0];
    if (network === undefined || !ctx.networkNames.includes(network)) continue; // reported with the address
    if (h.networks?.[network] !== undefined || ctx.wasCut(["hypervisors", hypervisor, "networks", network]))
      continue;
    const at: Segment[] = vm.hypervisor !== undefined ? own("hypervisor") : segs;
    ctx.problem(
      at,
      `hypervisor "${hypervisor}"${vm.hypervisor !== undefined ? "" : " (from defaults.vm)"} has no bridge for network "${network}", the first network of host "${name}" (the VM's NIC is attached to it); add networks: { ${network}: BRIDGE } to hypervisor "${hypervisor}"`,
      vm.hypervisor !== undefined ? "value" : "key",
    );
  }
}

/**
 * A machine on a proxmox hypervisor: its image has a template there, and it asks for a VMID
 * (`ctx.vmidRequests`); `vm.vmid` on a machine of another driver is a mistake.
 */
function checkProxmoxMachine(
  ctx: CheckContext,
  name: string,
  vm: RawVm,
  d: RawVmDefaults | undefined,
  hypervisor: string,
  h: RawHypervisor,
): void {
  const segs = ["hosts", name, "vm"];
  if (h.driver !== "proxmox") {
    if (vm.vmid !== undefined)
      ctx.problem(
        [...segs, "vmid"],
        `vmid of host "${name}" is for a machine on a proxmox hypervisor, but hypervisor "${hypervisor}" has driver ${h.driver}; remove it`,
        "key",
      );
    return;
  }
  const image = vm.image ?? d?.image;
  if (image !== undefined && ctx.imageNames.includes(image) && h.templates?.[image] === undefined)
    ctx.problem(
      vm.image !== undefined ? [...segs, "image"] : segs,
      `image "${image}" of host "${name}" has no template on proxmox hypervisor "${hypervisor}"; add templates: { ${image}: VMID } to hypervisor "${hypervisor}" (the VMID of a template made from that image)`,
      vm.image !== undefined ? "value" : "key",
    );
  ctx.vmidRequests.push({ host: name, hypervisor, ...(vm.vmid !== undefined ? { declared: vm.vmid } : {}) });
}

/** `hypervisor` and `image` of the `vm:` at `segs` must name declared entries. */
function checkNames(ctx: CheckContext, segs: Segment[], vm: RawVmDefaults | undefined): void {
  const refs = [
    ["hypervisor", vm?.hypervisor, ctx.hypervisorNames, "hypervisors: { NAME: { driver: libvirt, uri } }"],
    ["image", vm?.image, ctx.imageNames, "images: { NAME: { url, sha256 } }"],
  ] as const;
  for (const [key, value, names, add] of refs) {
    if (value === undefined || names.includes(value)) continue;
    ctx.problem(
      [...segs, key],
      `${ctx.label([...segs, key])} names "${value}", which is not a declared ${key}${didYouMean(value, names)}; expected one of ${names.join(", ") || `(none are declared: add ${add})`}`,
    );
  }
}

/**
 * The machine of a host's `vm:` over `defaults.vm` (the host's key wins), or undefined when
 * neither names a hypervisor. `network` is the host's first network.
 */
export function normaliseMachine(
  vm: RawVm,
  d: RawVmDefaults | undefined,
  network: string,
  vmid: number | undefined,
): VmMachine | undefined {
  const hypervisor = vm.hypervisor ?? d?.hypervisor;
  if (hypervisor === undefined) return undefined;
  return {
    hypervisor,
    image: (vm.image ?? d?.image)!,
    vcpus: vm.vcpus ?? d?.vcpus ?? MACHINE_DEFAULTS.vcpus,
    memoryMiB: vm.memory ?? d?.memory ?? MACHINE_DEFAULTS.memoryMiB,
    diskGiB: vm.disk ?? d?.disk ?? MACHINE_DEFAULTS.diskGiB,
    autostart: vm.autostart ?? d?.autostart ?? MACHINE_DEFAULTS.autostart,
    keepSnapshots: vm.keep_snapshots ?? d?.keep_snapshots ?? MACHINE_DEFAULTS.keepSnapshots,
    network,
    ...(vmid !== undefined ? { vmid } : {}),
  };
}
