/**
 * The domain definition Keel writes for a machine (libvirt's "Domain XML format",
 * https://libvirt.org/formatdomain.html), with Keel's record in its metadata (see `domain.ts`).
 */
import { create } from "xmlbuilder2";
import type { MachineSpec } from "../spec.js";
import { KEEL_NS, type MachineVolumes } from "./domain.js";

/** What Keel writes into a domain definition besides the spec. */
export interface DomainInput {
  site: string;
  host: string;
  /** SHA-256 (hex) of the inventory text. */
  inventory: string;
  spec: MachineSpec;
  volumes: MachineVolumes;
  /** `kvm` where /dev/kvm is usable, else `qemu` (TCG, software emulation). */
  type: "kvm" | "qemu";
  /** The existing domain's UUID when redefining it (libvirt refuses a second domain of the same name). */
  uuid?: string;
}

/**
 * The domain XML of a machine: x86_64 `pc` machine, the root disk and the cidata image as
 * volumes of the pool (both virtio disks, the seed read-only: cloud-init's NoCloud source reads
 * any block device with a `cidata` filesystem), one virtio NIC on the bridge with the spec's
 * MAC, a serial console, a virtio RNG, Keel's record in the metadata.
 */
export function domainXml(d: DomainInput): string {
  const doc = create({ version: "1.0" }).ele("domain", { type: d.type });
  doc.ele("name").txt(d.host);
  if (d.uuid !== undefined) doc.ele("uuid").txt(d.uuid);
  doc
    .ele("metadata")
    .ele(KEEL_NS, "keel:machine", { site: d.site, host: d.host, inventory: d.inventory })
    .txt(JSON.stringify(d.spec));
  doc.ele("memory", { unit: "MiB" }).txt(String(d.spec.memoryMiB));
  doc.ele("vcpu").txt(String(d.spec.vcpus));
  const os = doc.ele("os");
  os.ele("type", { arch: "x86_64", machine: "pc" }).txt("hvm");
  os.ele("boot", { dev: "hd" });
  const features = doc.ele("features");
  features.ele("acpi");
  features.ele("apic");
  doc.ele("on_poweroff").txt("destroy");
  doc.ele("on_reboot").txt("restart");
  doc.ele("on_crash").txt("destroy");
  const dev = doc.ele("devices");
  const root = dev.ele("disk", { type: "volume", device: "disk" });
  root.ele("driver", { name: "qemu", type: "qcow2" });
  root.ele("source", { pool: d.volumes.pool, volume: d.volumes.root });
  root.ele("target", { dev: "vda", bus: "virtio" });
  // the seed as a read-only virtio disk, not a CD-ROM: virtio-blk is driven from the initramfs,
  // so the `cidata` filesystem is there when cloud-init's local stage looks for it (an IDE or
  // SATA CD-ROM driver loaded later from the root filesystem can lose that race, and cloud-init
  // then falls back to DHCP on the first boot)
  const seed = dev.ele("disk", { type: "volume", device: "disk" });
  seed.ele("driver", { name: "qemu", type: "raw" });
  seed.ele("source", { pool: d.volumes.pool, volume: d.volumes.cidata });
  seed.ele("target", { dev: "vdb", bus: "virtio" });
  seed.ele("readonly");
  const nic = dev.ele("interface", { type: "bridge" });
  nic.ele("mac", { address: d.spec.mac });
  nic.ele("source", { bridge: d.spec.bridge });
  nic.ele("model", { type: "virtio" });
  dev.ele("serial", { type: "pty" }).ele("target", { port: "0" });
  dev.ele("console", { type: "pty" }).ele("target", { type: "serial", port: "0" });
  // entropy for the guest's first boot (SSH host keys, TLS): without it a guest under TCG waits
  dev.ele("rng", { model: "virtio" }).ele("backend", { model: "random" }).txt("/dev/urandom");
  return doc.end({ prettyPrint: true, headless: true });
}
