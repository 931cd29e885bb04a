/**
 * libvirt domain XML (libvirt's "Domain XML format", https://libvirt.org/formatdomain.html):
 * the definition Keel writes for a machine, and what Keel reads back from `virsh dumpxml`.
 *
 * Keel's record lives in the domain's `<metadata>` as one element in Keel's own namespace
 * (formatdomain "General metadata": applications put their data under a namespace of theirs):
 *
 * ```xml
 * <keel:machine xmlns:keel="urn:keel:machine:1" site="lab" host="web-1" inventory="SHA256">SPEC-JSON</keel:machine>
 * ```
 */
import { XMLParser } from "fast-xml-parser";
import { create } from "xmlbuilder2";
import type { KeelRecord, ObservedDomain } from "../provider.js";
import { type MachineSpec, SPEC_FIELDS } from "../spec.js";

/** The XML namespace of Keel's domain metadata. */
export const KEEL_NS = "urn:keel:machine:1";

/** Where a machine's volumes are: a storage pool and the names of its volumes in it. */
export interface MachineVolumes {
  pool: string;
  /** Root disk (qcow2 overlay of the image), `HOST.qcow2`. */
  root: string;
  /** The cloud-init `cidata` image (ISO 9660), `HOST-cidata-SEED.iso`. */
  cidata: string;
}

/** The volume names of host `host` with seed digest `seed` in `pool`. */
export function machineVolumes(pool: string, host: string, seed: string): MachineVolumes {
  return { pool, root: `${host}.qcow2`, cidata: `${host}-cidata-${seed.slice(0, 12)}.iso` };
}

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

/** A disk of a domain as read back: where its source is and its format. */
export interface DiskSource {
  pool?: string;
  volume?: string;
  file?: string;
  format?: string;
}

/** A domain as parsed from `virsh dumpxml --inactive`, before the hypervisor's other facts are added. */
export interface ParsedDomain {
  name: string;
  uuid: string;
  keel?: KeelRecord;
  actual: ObservedDomain["actual"];
  /** The root disk (the first `device="disk"`), when there is one. */
  root?: DiskSource;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => name === "disk" || name === "interface",
});

type Node = Record<string, unknown>;
const text = (v: unknown): string | undefined =>
  typeof v === "string"
    ? v
    : v && typeof v === "object"
      ? ((v as Node)["#text"] as string | undefined)
      : undefined;

/** KiB, MiB, GiB… of libvirt's `unit` attribute (formatdomain "Memory Allocation"), as a factor to MiB. */
function toMiB(value: string, unit = "KiB"): number | undefined {
  const n = Number(value);
  const f: Record<string, number> = {
    b: 1 / 1048576,
    bytes: 1 / 1048576,
    KiB: 1 / 1024,
    k: 1 / 1024,
    MiB: 1,
    M: 1,
    GiB: 1024,
    G: 1024,
  };
  const factor = f[unit];
  return Number.isFinite(n) && factor !== undefined ? Math.round(n * factor) : undefined;
}

/** Keel's record in a `<metadata>` node, when one in Keel's namespace holds a well-formed spec. */
function keelRecord(metadata: unknown): KeelRecord | undefined {
  if (!metadata || typeof metadata !== "object") return undefined;
  for (const value of Object.values(metadata as Node)) {
    if (!value || typeof value !== "object") continue;
    const n = value as Node;
    const ns = Object.entries(n).find(([k, v]) => k.startsWith("@xmlns") && v === KEEL_NS);
    if (!ns) continue;
    const site = n["@site"];
    const host = n["@host"];
    const inventory = n["@inventory"];
    let spec: unknown;
    try {
      spec = JSON.parse(text(n) ?? "");
    } catch {
      return undefined;
    }
    if (typeof site !== "string" || typeof host !== "string" || typeof inventory !== "string")
      return undefined;
    if (!spec || typeof spec !== "object" || !SPEC_FIELDS.every((f) => f in (spec as object)))
      return undefined;
    return { site, host, inventory, spec: spec as MachineSpec };
  }
  return undefined;
}

/**
 * Parses one domain's XML (as `virsh dumpxml --inactive` prints it).
 * @throws Error when the text is not a domain definition.
 */
export function parseDomain(xml: string): ParsedDomain {
  const doc = parser.parse(xml) as Node;
  const d = doc.domain as Node | undefined;
  if (!d || typeof d !== "object") throw new Error("not a libvirt domain definition");
  const name = text(d.name) ?? "";
  const uuid = text(d.uuid) ?? "";
  const actual: ObservedDomain["actual"] = {};
  const mem = d.memory as Node | string | undefined;
  const memText = text(mem);
  if (memText !== undefined) {
    const mib = toMiB(memText, typeof mem === "object" ? (mem["@unit"] as string | undefined) : undefined);
    if (mib !== undefined) actual.memoryMiB = mib;
  }
  const vcpus = Number(text(d.vcpu));
  if (Number.isInteger(vcpus) && vcpus > 0) actual.vcpus = vcpus;
  const devices = (d.devices ?? {}) as Node;
  const nics = (devices.interface ?? []) as Node[];
  const nic = nics[0];
  if (nic) {
    const mac = (nic.mac as Node | undefined)?.["@address"];
    if (typeof mac === "string") actual.mac = mac.toLowerCase();
    const bridge = (nic.source as Node | undefined)?.["@bridge"];
    if (typeof bridge === "string") actual.bridge = bridge;
  }
  const disks = (devices.disk ?? []) as Node[];
  const rootDisk = disks.find((x) => (x["@device"] ?? "disk") === "disk");
  let root: DiskSource | undefined;
  if (rootDisk) {
    const src = (rootDisk.source ?? {}) as Node;
    const drv = (rootDisk.driver ?? {}) as Node;
    root = {
      ...(typeof src["@pool"] === "string" ? { pool: src["@pool"] } : {}),
      ...(typeof src["@volume"] === "string" ? { volume: src["@volume"] } : {}),
      ...(typeof src["@file"] === "string" ? { file: src["@file"] } : {}),
      ...(typeof drv["@type"] === "string" ? { format: drv["@type"] } : {}),
    };
  }
  const keel = keelRecord(d.metadata);
  return { name, uuid, ...(keel ? { keel } : {}), actual, ...(root ? { root } : {}) };
}

/**
 * The creation time (ISO 8601) and description of a snapshot, from `virsh snapshot-dumpxml`
 * (libvirt's "Snapshot XML format": `creationTime` in seconds since the epoch). Empty strings
 * for what the text does not hold.
 */
export function parseSnapshot(xml: string): { createdAt: string; description: string } {
  const doc = xml.trim() === "" ? {} : (parser.parse(xml) as Node);
  const s = (doc.domainsnapshot ?? {}) as Node;
  const seconds = Number(text(s.creationTime));
  return {
    createdAt:
      Number.isFinite(seconds) && text(s.creationTime) !== undefined
        ? new Date(seconds * 1000).toISOString()
        : "",
    description: text(s.description) ?? "",
  };
}
