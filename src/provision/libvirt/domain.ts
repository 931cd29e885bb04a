/**
 * libvirt domain XML (libvirt's "Domain XML format", https://libvirt.org/formatdomain.html):
 * what Keel reads back from `virsh dumpxml` (the definition Keel writes is `define.ts`, kept
 * apart so that reading a hypervisor does not load the XML builder).
 *
 * Keel's record lives in the domain's `<metadata>` as one element in Keel's own namespace
 * (formatdomain "General metadata": applications put their data under a namespace of theirs):
 *
 * ```xml
 * <keel:machine xmlns:keel="urn:keel:machine:1" site="lab" host="web-1" inventory="SHA256">SPEC-JSON</keel:machine>
 * ```
 */
import { XMLParser } from "fast-xml-parser";
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
