/**
 * A Proxmox VE machine's configuration as Keel writes and reads it (Proxmox VE API,
 * GET/PUT /nodes/{node}/qemu/{vmid}/config; the property strings are qemu-server's, see
 * `qm.conf(5)`): the NIC `net0` (`virtio=MAC,bridge=BRIDGE`), the cloud-init seed as a CD-ROM
 * `ide2` (`STORAGE:iso/NAME,media=cdrom`), `cores`, `memory` (MiB), `onboot`, the root disk's
 * size, and Keel's record in the machine's notes (`description`).
 *
 * Keel's record is the last line of the notes, `keel:` followed by one JSON object
 * (`{"site","host","inventory","spec"}`); the lines above it are left for people.
 */
import type { KeelRecord, ObservedDomain } from "../provider.js";
import { type MachineSpec, SPEC_FIELDS } from "../spec.js";

/** The marker of Keel's record line in a machine's notes. */
export const RECORD_PREFIX = "keel:";

/** The notes of a machine Keel manages: a line for people, then the record. */
export function recordNotes(r: KeelRecord): string {
  return `Managed by Keel (site ${r.site}, host ${r.host}): change it in the inventory, not here.\n${RECORD_PREFIX}${JSON.stringify(r)}`;
}

/** Keel's record in `description`, when its last `keel:` line holds a well-formed one. */
export function parseRecord(description: unknown): KeelRecord | undefined {
  if (typeof description !== "string") return undefined;
  const line = description
    .split("\n")
    .reverse()
    .find((l) => l.startsWith(RECORD_PREFIX));
  if (line === undefined) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(line.slice(RECORD_PREFIX.length));
  } catch {
    return undefined;
  }
  if (!r || typeof r !== "object") return undefined;
  const { site, host, inventory, spec } = r as Record<string, unknown>;
  if (typeof site !== "string" || typeof host !== "string" || typeof inventory !== "string") return undefined;
  if (!spec || typeof spec !== "object" || !SPEC_FIELDS.every((f) => f in spec)) return undefined;
  return { site, host, inventory, spec: spec as MachineSpec };
}

/** The disk keys qemu-server boots from, in the order Keel looks for the root disk. */
const DISK_KEYS = ["scsi0", "virtio0", "sata0", "ide0"] as const;

/** Splits a property string `a=1,b=2` (qm.conf(5)) into its keys; a bare first item gets key `""`. */
export function propertyString(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(",")) {
    const i = part.indexOf("=");
    if (i < 0) out.set("", part);
    else out.set(part.slice(0, i), part.slice(i + 1));
  }
  return out;
}

/** Bytes of a qemu-server size such as `10G`, `512M`, `2T` (K, M, G, T: powers of 1024; none: bytes). */
export function sizeBytes(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(size);
  if (!m) return undefined;
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return Math.round(Number(m[1]) * unit);
}

/** The root disk of a config: its key (`scsi0`, …) and size in bytes, when there is one. */
export function rootDisk(config: Record<string, unknown>): { key: string; bytes?: number } | undefined {
  for (const key of DISK_KEYS) {
    const v = config[key];
    if (typeof v !== "string") continue;
    const p = propertyString(v);
    if (p.get("media") === "cdrom") continue;
    const size = p.get("size");
    const bytes = size !== undefined ? sizeBytes(size) : undefined;
    return bytes !== undefined ? { key, bytes } : { key };
  }
  return undefined;
}

/** The NIC property string Keel writes: a virtio NIC with the machine's MAC on its bridge. */
export function netValue(mac: string, bridge: string): string {
  return `virtio=${mac.toUpperCase()},bridge=${bridge}`;
}

/** The managed fields a config holds (see `ObservedDomain.actual`). */
export function actualOf(config: Record<string, unknown>): ObservedDomain["actual"] {
  const actual: ObservedDomain["actual"] = {};
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN);
  const cores = num(config.cores);
  // qemu-server's defaults when a key is absent: 1 core, 512 MiB, onboot 0
  actual.vcpus = Number.isFinite(cores)
    ? cores * (Number.isFinite(num(config.sockets)) ? num(config.sockets) : 1)
    : 1;
  const memory = num(config.memory);
  actual.memoryMiB = Number.isFinite(memory) ? memory : 512;
  actual.autostart = num(config.onboot) === 1;
  if (typeof config.net0 === "string") {
    const p = propertyString(config.net0);
    const model = ["virtio", "e1000", "rtl8139", "vmxnet3"].find((k) => p.has(k));
    if (model !== undefined) actual.mac = p.get(model)!.toLowerCase();
    const bridge = p.get("bridge");
    if (bridge !== undefined) actual.bridge = bridge;
  }
  const root = rootDisk(config);
  if (root?.bytes !== undefined) actual.diskGiB = Math.ceil(root.bytes / 2 ** 30);
  return actual;
}
