/**
 * What the inventory asks of each managed machine (a host whose `vm:` names a hypervisor):
 * the fields Keel sets on a domain and compares on every plan. The same shape is recorded in
 * the domain's metadata when Keel defines it, so a later plan can tell a change declared in the
 * inventory (recorded spec ≠ inventory) from a change made outside Keel (domain ≠ recorded
 * spec, "drift").
 */
import { createHash } from "node:crypto";
import type { Host, Inventory } from "../inventory/model.js";
import { seedFiles } from "../render/cloud-init.js";

/**
 * The managed fields of one machine. Units: MiB for memory, GiB for the root disk. `seed` is
 * the SHA-256 (hex) of the cloud-init NoCloud seed files as `keel render` writes them (the
 * `cidata` image is a pure function of them); `instance` is `vm.instance`, which makes
 * cloud-init run again when bumped.
 */
export interface MachineSpec {
  hypervisor: string;
  /** Image name and its declared digest (`algorithm:hex`): a new digest is a new image. */
  image: string;
  imageDigest: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  autostart: boolean;
  /** MAC of the one NIC, lowercase colon form. */
  mac: string;
  /** Bridge the NIC is attached to on the hypervisor. */
  bridge: string;
  instance: number;
  seed: string;
}

/** The fields of {@link MachineSpec}, in the order plans show them. */
export const SPEC_FIELDS = [
  "hypervisor",
  "image",
  "imageDigest",
  "vcpus",
  "memoryMiB",
  "diskGiB",
  "autostart",
  "mac",
  "bridge",
  "instance",
  "seed",
] as const satisfies readonly (keyof MachineSpec)[];
export type SpecField = (typeof SPEC_FIELDS)[number];

/** One machine the inventory declares: its host, its spec, and the addresses it will take. */
export interface DesiredMachine {
  host: string;
  spec: MachineSpec;
  /** `NETWORK=ADDRESS` of each of the host's addresses, in declaration order. */
  addresses: string[];
}

/** SHA-256 (hex) of the seed files, each as `NAME\0LENGTH\0CONTENT`, in name order. */
export function seedDigest(files: Record<string, string>): string {
  const h = createHash("sha256");
  for (const name of Object.keys(files).sort()) {
    const content = Buffer.from(files[name]!, "utf8");
    h.update(`${name}\0${content.length}\0`);
    h.update(content);
  }
  return h.digest("hex");
}

/**
 * The machines `inv` declares, in inventory order: every host with `vm.machine`. The bridge is
 * the hypervisor's bridge for the machine's network (the loader guarantees it exists).
 */
export function desiredMachines(inv: Inventory): DesiredMachine[] {
  const hostsByName = new Map(inv.hosts.map((h) => [h.name, h]));
  const hypervisors = new Map(inv.hypervisors.map((h) => [h.name, h]));
  const images = new Map(inv.images.map((i) => [i.name, i]));
  const userDocs = new Map<string, string>();
  const out: DesiredMachine[] = [];
  for (const h of inv.hosts) {
    const m = h.vm?.machine;
    if (!m) continue;
    const image = images.get(m.image)!;
    out.push({
      host: h.name,
      spec: {
        hypervisor: m.hypervisor,
        image: m.image,
        imageDigest: `${image.checksum.algorithm}:${image.checksum.hex}`,
        vcpus: m.vcpus,
        memoryMiB: m.memoryMiB,
        diskGiB: m.diskGiB,
        autostart: m.autostart,
        mac: h.vm!.mac,
        bridge: hypervisors.get(m.hypervisor)!.bridges[m.network]!,
        instance: h.vm!.instance,
        seed: seedDigest(seedFiles(inv, h as Host, hostsByName, userDocs)),
      },
      addresses: h.addresses.map((a) => `${a.network}=${a.address}`),
    });
  }
  return out;
}
