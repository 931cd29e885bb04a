/**
 * The `hypervisors:` section: libvirt connection URIs (a QEMU driver scheme, `/system` or
 * `/session`, no password), at most one of `pool` and `dir`, and `networks` that name inventory
 * networks and map them to valid bridge names; and the normalised `Hypervisor`s.
 */
import type { CheckContext } from "./context.js";
import type { Hypervisor } from "./model.js";
import type { RawInventory } from "./raw.js";
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

/** Rules of `hypervisors:` the schema cannot express. */
export function checkHypervisors(ctx: CheckContext): void {
  for (const [name, h] of Object.entries(ctx.raw.hypervisors ?? {})) {
    const segs = ["hypervisors", name];
    const why = uriProblem(h.uri);
    if (why)
      ctx.problem(
        [...segs, "uri"],
        `uri ${why.secret ? "" : `${show(h.uri)} `}of hypervisor "${name}" ${why.message}`,
      );
    if (h.pool !== undefined && h.dir !== undefined)
      ctx.problem(
        [...segs, "dir"],
        `hypervisor "${name}" has both pool and dir; expected at most one: pool: NAME (an existing libvirt storage pool) or dir: /ABSOLUTE/PATH (a directory Keel makes a pool of)`,
        "key",
      );
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

/** `hypervisors:` normalised, in declaration order: storage defaulted to the pool `default`. */
export function normaliseHypervisors(raw: RawInventory, loc: Positions): Hypervisor[] {
  return Object.entries(raw.hypervisors ?? {}).map(([name, h]) => ({
    name,
    driver: h.driver,
    uri: h.uri,
    storage: h.dir !== undefined ? { dir: h.dir } : { pool: h.pool ?? "default" },
    bridges: { ...h.networks },
    ...(h.domain_type !== undefined ? { domainType: h.domain_type } : {}),
    pos: loc.pos(["hypervisors", name], "key"),
  }));
}
