/**
 * The `hypervisors:` section: for libvirt, connection URIs (a QEMU driver scheme, `/system` or
 * `/session`, no password) and at most one of `pool` and `dir`; for proxmox, API endpoints
 * (`https://HOST[:PORT]`, no credentials, each once), a VMID range and templates of declared
 * images; for both, `networks` that name inventory networks and map them to valid bridge names;
 * and the normalised `Hypervisor`s.
 */
import type { CheckContext } from "./context.js";
import type { Hypervisor, HypervisorDriver } from "./model.js";
import type { RawHypervisor, RawInventory } from "./raw.js";
import { didYouMean, show } from "./wording.js";
import type { Positions } from "./yaml.js";

/** URI schemes of libvirt's QEMU driver (libvirt's "Connection URIs"), without the `:`. */
export const LIBVIRT_QEMU_SCHEMES = [
  "qemu",
  "qemu+ssh",
  "qemu+tcp",
  "qemu+tls",
  "qemu+unix",
  "qemu+libssh2",
  "qemu+libssh",
] as const;

/** The paths a QEMU driver URI may have: the system-wide or the per-user daemon. */
const LIBVIRT_QEMU_PATHS = ["/system", "/session"];

const URI_EXAMPLE = "qemu:///system or qemu+ssh://root@vega/system";

/**
 * Rules of `hypervisors:` the schema cannot express: keys of the other driver, networks and
 * bridges, and per driver its URI, storage, endpoints, VMID range and templates.
 */
export function checkHypervisors(ctx: CheckContext): void {
  for (const [name, h] of Object.entries(ctx.raw.hypervisors ?? {})) {
    const segs = ["hypervisors", name];
    checkDriverKeys(ctx, name, h);
    checkNetworkBridges(ctx, name, h);
    if (h.driver === "proxmox") {
      checkProxmox(ctx, name, h);
      continue;
    }
    const why = h.uri !== undefined ? uriProblem(h.uri) : undefined;
    if (why)
      ctx.problem(
        [...segs, "uri"],
        `uri ${why.secret ? "" : `${show(h.uri!)} `}of hypervisor "${name}" ${why.message}`,
      );
    if (h.pool !== undefined && h.dir !== undefined)
      ctx.problem(
        [...segs, "dir"],
        `hypervisor "${name}" has both pool and dir; expected at most one: pool: NAME (an existing libvirt storage pool) or dir: /ABSOLUTE/PATH (a directory Keel makes a pool of)`,
        "key",
      );
  }
}

/** Keys of `hypervisors.NAME` that belong to one driver only. */
const DRIVER_KEYS: Record<HypervisorDriver, readonly (keyof RawHypervisor)[]> = {
  libvirt: ["uri", "pool", "dir", "domain_type"],
  proxmox: ["endpoints", "token", "node", "storage", "iso_storage", "clone_limit", "templates", "vmid_range"],
};

/** Keys a hypervisor of each driver must have (beyond `driver`). */
const REQUIRED_KEYS: Record<HypervisorDriver, readonly (keyof RawHypervisor)[]> = {
  libvirt: ["uri"],
  proxmox: ["endpoints", "token", "node", "storage"],
};

/**
 * The keys the hypervisor's driver requires are there, and a key of the other driver is a
 * mistake, located at the key. (In code rather than the schema: ajv's `if`/`then` errors read
 * badly and a key the schema cut must not be reported missing.)
 */
function checkDriverKeys(ctx: CheckContext, name: string, h: RawHypervisor): void {
  for (const key of REQUIRED_KEYS[h.driver])
    if (h[key] === undefined && !ctx.wasCut(["hypervisors", name, key]))
      ctx.problem(["hypervisors", name], `hypervisor "${name}" is missing required key "${key}"`, "key");
  for (const [driver, keys] of Object.entries(DRIVER_KEYS)) {
    if (driver === h.driver) continue;
    for (const key of keys)
      if (h[key] !== undefined)
        ctx.problem(
          ["hypervisors", name, key],
          `${key} of hypervisor "${name}" is a key of driver ${driver}, but the hypervisor's driver is ${h.driver}; expected ${DRIVER_KEYS[h.driver].join(", ")}, networks`,
          "key",
        );
  }
}

/** Proxmox VE's own default HTTPS port of the API (pveproxy). */
const PROXMOX_PORT = "8006";

/** Rules of a `proxmox` hypervisor the schema cannot express. */
function checkProxmox(ctx: CheckContext, name: string, h: RawHypervisor): void {
  const segs = ["hypervisors", name];
  (h.endpoints ?? []).forEach((e, i) => {
    const why = endpointProblem(e.url);
    if (why)
      ctx.problem(
        [...segs, "endpoints", i, "url"],
        `url ${why.secret ? "" : `${show(e.url)} `}of endpoint ${i + 1} of hypervisor "${name}" ${why.message}`,
      );
  });
  const seen = new Set<string>();
  (h.endpoints ?? []).forEach((e, i) => {
    const key = e.url.replace(/\/+$/, "");
    if (seen.has(key))
      ctx.problem(
        [...segs, "endpoints", i, "url"],
        `endpoint ${show(e.url)} of hypervisor "${name}" is listed twice; expected each node's API once`,
      );
    seen.add(key);
  });
  if (h.vmid_range !== undefined) {
    const { from, to } = vmidRangeOf(h);
    if (from < 100 || to > 999999999 || from > to)
      ctx.problem(
        [...segs, "vmid_range"],
        `vmid_range ${show(h.vmid_range)} of hypervisor "${name}" is not a range of VMIDs; expected FROM-TO with 100 <= FROM <= TO <= 999999999, e.g. 1000-1999`,
      );
  }
  for (const image of Object.keys(h.templates ?? {}))
    if (!ctx.imageNames.includes(image))
      ctx.problem(
        [...segs, "templates", image],
        `image "${image}" in templates of hypervisor "${name}" is not a declared image${didYouMean(image, ctx.imageNames)}; expected one of ${ctx.imageNames.join(", ") || "(no images are declared)"}`,
        "key",
      );
}

/** Why `url` is not a Proxmox VE API endpoint Keel accepts (https://HOST[:PORT], no path, no credentials). */
function endpointProblem(url: string): { message: string; secret?: true } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { message: "is not a URL; expected https://HOST[:PORT], e.g. https://vega.lab:8006" };
  }
  if (u.username !== "" || u.password !== "")
    return {
      message:
        "holds credentials; expected https://HOST[:PORT] (the API token is read from token: { env } or { file })",
      secret: true,
    };
  if (u.pathname !== "/" || u.search !== "" || u.hash !== "")
    return {
      message: `has a path or query; expected https://HOST[:PORT] only (Keel adds /api2/json), e.g. https://vega.lab:${PROXMOX_PORT}`,
    };
  return undefined;
}

/** `networks:` of a hypervisor name inventory networks and valid bridge names. */
function checkNetworkBridges(ctx: CheckContext, name: string, h: RawHypervisor): void {
  const segs = ["hypervisors", name];
  for (const [network, bridge] of Object.entries(h.networks ?? {})) {
    if (!ctx.networkNames.includes(network))
      ctx.problem(
        [...segs, "networks", network],
        `network "${network}" in networks of hypervisor "${name}" does not exist${didYouMean(network, ctx.networkNames)}; expected one of ${ctx.networkNames.join(", ") || "(no networks are declared)"}`,
        "key",
      );
    const bad = bridgeProblem(bridge);
    if (bad)
      ctx.problem(
        [...segs, "networks", network],
        `bridge ${show(bridge)} of network "${network}" on hypervisor "${name}" ${bad}; expected a Linux interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".." (e.g. br0)`,
      );
  }
}

/**
 * Why `uri` is not a libvirt QEMU driver URI Keel accepts, or undefined when it is; `secret`
 * when it holds a password and must not be echoed.
 */
function uriProblem(uri: string): { message: string; secret?: true } | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return { message: `is not a URI; expected a libvirt connection URI such as ${URI_EXAMPLE}` };
  }
  if (u.password !== "")
    return {
      message: `holds a password (user:password@), a literal secret in the inventory; expected a URI without one, such as qemu+ssh://root@vega/system (SSH keys or the agent log in)`,
      secret: true,
    };
  const scheme = u.protocol.slice(0, -1);
  if (!(LIBVIRT_QEMU_SCHEMES as readonly string[]).includes(scheme))
    return {
      message: `has scheme "${scheme}"; expected one of ${LIBVIRT_QEMU_SCHEMES.join(", ")} (libvirt's QEMU driver), e.g. ${URI_EXAMPLE}`,
    };
  if (!LIBVIRT_QEMU_PATHS.includes(u.pathname))
    return {
      message: `has path ${u.pathname === "" ? "none" : show(u.pathname)}; expected /system or /session, e.g. ${URI_EXAMPLE}`,
    };
  return undefined;
}

/** Why `name` cannot be a Linux interface name (the kernel's `dev_valid_name`), or undefined. */
function bridgeProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > 15) return `is ${bytes} bytes long`;
  if (name === "." || name === "..") return "is not a name";
  if (name.includes("/")) return `contains "/"`;
  if (name.includes(":")) return `contains ":"`;
  if (/\s/.test(name)) return "contains whitespace";
  return undefined;
}

/** Defaults of a `proxmox` hypervisor's optional keys. */
export const PROXMOX_DEFAULTS = {
  isoStorage: "local",
  cloneLimit: 1,
  vmidRange: { from: 1000, to: 9999 },
} as const;

/** The VMID range of a proxmox hypervisor: its `vmid_range` (`FROM-TO`, as the schema allows) or the default. */
export function vmidRangeOf(h: RawHypervisor): { from: number; to: number } {
  if (h.vmid_range === undefined) return { ...PROXMOX_DEFAULTS.vmidRange };
  const [from, to] = h.vmid_range.split("-").map(Number) as [number, number];
  return { from, to };
}

/**
 * `hypervisors:` normalised, in declaration order: a libvirt hypervisor's storage defaulted to the
 * pool `default`; a proxmox one's defaults from `PROXMOX_DEFAULTS`, endpoint URLs without a
 * trailing `/` and with port 8006 when none is given, fingerprints uppercase.
 */
export function normaliseHypervisors(raw: RawInventory, loc: Positions): Hypervisor[] {
  return Object.entries(raw.hypervisors ?? {}).map(([name, h]): Hypervisor => {
    const base = { name, bridges: { ...h.networks }, pos: loc.pos(["hypervisors", name], "key") };
    if (h.driver === "proxmox") {
      return {
        ...base,
        driver: "proxmox",
        endpoints: (h.endpoints ?? []).map((e) => {
          const u = new URL(e.url);
          return {
            url: `https://${u.hostname}:${u.port || PROXMOX_PORT}`,
            fingerprint: e.fingerprint.toUpperCase(),
          };
        }),
        token: h.token?.env !== undefined ? { env: h.token.env } : { file: h.token!.file! },
        node: h.node!,
        storage: h.storage!,
        isoStorage: h.iso_storage ?? PROXMOX_DEFAULTS.isoStorage,
        cloneLimit: h.clone_limit ?? PROXMOX_DEFAULTS.cloneLimit,
        templates: { ...h.templates },
        vmidRange: vmidRangeOf(h),
      };
    }
    return {
      ...base,
      driver: "libvirt",
      uri: h.uri!,
      storage: h.dir !== undefined ? { dir: h.dir } : { pool: h.pool ?? "default" },
      ...(h.domain_type !== undefined ? { domainType: h.domain_type } : {}),
    };
  });
}
