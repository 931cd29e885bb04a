/**
 * `listeners`: over SSH on the host, every listening socket is a declared service (or ignored)
 * and every declared service is listening. Observed with `ss -Hlntup` (`ss(8)`).
 */
import type { Host, Protocol } from "../../inventory/model.js";
import { hostPort } from "../../net/hostport.js";
import type { CheckKindDefinition, CheckOutcome, SshTarget } from "../kind.js";
import { addressMatches, excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `listeners` check: derived once per host, run on it over SSH. */
export interface ListenersParams {
  kind: "listeners";
  target: SshTarget;
  /** Declared listening services: port/protocol and the service name. */
  declared: { service: string; port: number; protocol: Protocol }[];
  /** Addresses or CIDR prefixes of listeners that never count as unexpected. */
  ignore: string[];
}

/** One listening socket as `ss` reports it. */
export interface Listener {
  protocol: Protocol;
  /** Local address without brackets or `%iface` scope: `0.0.0.0`, `::`, `*`, `127.0.0.53`. */
  address: string;
  port: number;
  /** Interface the socket is bound to (`%lo`), if any. */
  iface?: string;
  /** Process names when `ss -p` could tell (root), e.g. `["sshd"]`. */
  processes?: string[];
}

/** The command the listeners check runs on the host. */
export const SS_COMMAND = "ss -Hlntup";

/**
 * Parses a local address column of `ss`: `0.0.0.0:22`, `[::]:22`, `*:9100`,
 * `127.0.0.53%lo:53`, `[::ffff:127.0.0.1]:8080`, `[fe80::1%eth0]:123`.
 *
 * @returns undefined when the text has no numeric port.
 */
export function parseSsAddress(text: string): { address: string; port: number; iface?: string } | undefined {
  const i = text.lastIndexOf(":");
  if (i < 0) return undefined;
  const port = Number(text.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535 || text.slice(i + 1) === "") return undefined;
  let addr = text.slice(0, i);
  if (addr.startsWith("[") && addr.endsWith("]")) addr = addr.slice(1, -1);
  let iface: string | undefined;
  const pct = addr.indexOf("%");
  if (pct >= 0) {
    iface = addr.slice(pct + 1);
    addr = addr.slice(0, pct);
  }
  return iface ? { address: addr, port, iface } : { address: addr, port };
}

/**
 * Parses `ss -Hlntu[p]` output: columns Netid, State, Recv-Q, Send-Q, Local, Peer, [Process].
 * Lines that are not `tcp`/`udp` are skipped. Duplicate sockets (SO_REUSEPORT) are merged.
 */
export function parseSs(output: string): Listener[] {
  const out = new Map<string, Listener>();
  for (const line of output.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const proto = cols[0];
    if ((proto !== "tcp" && proto !== "udp") || cols.length < 6) continue;
    const local = parseSsAddress(cols[4]!);
    if (!local) continue;
    const procText = cols.slice(6).join(" ");
    const processes = [...new Set([...procText.matchAll(/\("([^"]+)"/g)].map((m) => m[1]!))];
    const key = `${proto} ${local.address} ${local.iface ?? ""} ${local.port}`;
    const prev = out.get(key);
    if (prev) {
      if (processes.length) prev.processes = [...new Set([...(prev.processes ?? []), ...processes])];
      continue;
    }
    const l: Listener = { protocol: proto, address: local.address, port: local.port };
    if (local.iface) l.iface = local.iface;
    if (processes.length) l.processes = processes;
    out.set(key, l);
  }
  return [...out.values()];
}

/** `0.0.0.0:8080/tcp`, `[::]:22/tcp`, `127.0.0.53%lo:53/udp`. */
export function formatListener(l: Listener): string {
  const addr = l.iface ? `${l.address}%${l.iface}` : l.address;
  return `${hostPort(addr, l.port)}/${l.protocol}`;
}

/** True when the listener's address is listed in `ignore` (addresses or CIDR prefixes). */
export function isIgnored(l: Listener, ignore: string[]): boolean {
  return ignore.some((p) => p === l.address || addressMatches(l.address, p));
}

/**
 * Compares observed listeners with the declared services. A listener is unexpected when its
 * port/protocol is not declared and its address is not ignored; a declared service is missing
 * when no listener (on any address, ignored or not) has its port/protocol.
 */
export function judgeListeners(
  host: string,
  listeners: Listener[],
  declared: { service: string; port: number; protocol: Protocol }[],
  ignore: string[],
): CheckOutcome {
  const isDeclared = (l: Listener) => declared.some((d) => d.port === l.port && d.protocol === l.protocol);
  const unexpected = listeners.filter((l) => !isDeclared(l) && !isIgnored(l, ignore));
  const missing = declared.filter(
    (d) => !listeners.some((l) => l.port === d.port && l.protocol === d.protocol),
  );
  const observed = {
    listeners: listeners.map(formatListener),
    unexpected: unexpected.map((l) => ({ listener: formatListener(l), processes: l.processes ?? [] })),
    notListening: missing.map((d) => `${d.service} (${d.port}/${d.protocol})`),
  };
  const problems = [
    ...unexpected.map(
      (l) =>
        `unexpected listener ${formatListener(l)}${l.processes?.length ? ` (${l.processes.join(", ")})` : ""}`,
    ),
    ...missing.map((d) => `${d.service} (${d.port}/${d.protocol}) is not listening`),
  ];
  if (problems.length > 0) return { status: "fail", message: `${host}: ${problems.join("; ")}`, observed };
  return {
    status: "pass",
    message: `${host}: ${listeners.length} listeners, all declared or ignored; all ${declared.length} declared services listen`,
    observed,
  };
}

/** Runs `ss -Hlntup` on the host and judges with `judgeListeners`. */
export const listeners: CheckKindDefinition<"listeners", ListenersParams> = {
  kind: "listeners",
  transport: "ssh",
  scope: "on-host",
  derive(h) {
    return [
      {
        make: (target) => ({
          kind: "listeners",
          target,
          declared: declaredListeners(h),
          ignore: h.listenersIgnore.length > 0 ? h.listenersIgnore : DEFAULT_LISTENER_IGNORE,
        }),
      },
    ];
  },
  async run(spec, ctx) {
    const { target, declared, ignore } = spec.params;
    try {
      const r = await ctx.prober.sshExec(target, SS_COMMAND, ctx.timeoutMs, ctx.signal);
      if (toolMissing(r, "ss")) return undecided(`ss is not installed on ${spec.host}`);
      if (r.code !== 0) return undecided(`${SS_COMMAND} failed on ${spec.host}: ${excerpt(r.stderr)}`);
      return judgeListeners(spec.host, parseSs(r.stdout), declared, ignore);
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};

/** Local listeners that never count as unexpected when a host declares no `listeners.ignore`. */
export const DEFAULT_LISTENER_IGNORE = ["127.0.0.0/8", "::1"];

/**
 * The services a host should be listening for, including its WireGuard listen port. A service of
 * kind `dns` listens on its port over both UDP and TCP (RFC 7766 §5), whichever it declares.
 */
function declaredListeners(h: Host): { service: string; port: number; protocol: Protocol }[] {
  const out = h.services.flatMap((s) => {
    const own = { service: s.name, port: s.port, protocol: s.protocol };
    if (s.kind !== "dns") return [own];
    return [own, { ...own, protocol: (s.protocol === "udp" ? "tcp" : "udp") as Protocol }];
  });
  const wg = h.wireguard;
  if (wg?.port !== undefined && !out.some((d) => d.port === wg.port && d.protocol === "udp")) {
    out.push({ service: `wireguard ${wg.interface}`, port: wg.port, protocol: "udp" });
  }
  return out;
}
