/**
 * nftables rulesets of `keel render` (contract `docs/render.md`): `nftables/HOST.nft`
 * per host, for `nft -f` (nft(8)). Each file replaces the host's `inet keel` table atomically
 * (`table inet keel` + `delete table inet keel` + the new table, one transaction) and touches no
 * other table.
 *
 * Chain `input` (hook input, policy drop) accepts, in order: established/related traffic,
 * loopback, the ICMP and ICMPv6 messages IP needs (echo request, destination unreachable,
 * packet too big, time exceeded, parameter problem; neighbour discovery and MLD for IPv6,
 * RFC 4890 §4.4), then each declared service (`hosts.*.services`, with `ssh` and
 * `node_exporter` from defaults) on its port and protocol from the sources its `allow` admits:
 *
 * - `any` → every source (no address match);
 * - a network → its CIDR;
 * - a host → each of its addresses (/32, /128);
 * - a vantage → its own addresses when it has any (a `via` vantage has its host's), else the
 *   addresses of its `host:`, else the CIDRs of the networks it sits in.
 *
 * A service of kind `dns` is opened on its port over both UDP and TCP, whichever protocol it
 * declares: DNS needs TCP beside UDP (RFC 7766 §5, RFC 9210), and BIND listens on both.
 *
 * Everything else is dropped by the policy (a prober sees "filtered"). Sources contained in a
 * wider source of the same list are left out. Lists longer than {@link INLINE_MAX} become named
 * sets (`allow_SERVICE_v4`, `_v6`; `-` in service names becomes `_`).
 */
import type { Host, Inventory, Service } from "../inventory/model.js";
import { containsPrefix, parsePrefix } from "../net/prefix.js";
import type { RenderedFile, Renderer } from "./types.js";

/** Source lists up to this many prefixes are written inline as anonymous sets. */
export const INLINE_MAX = 4;

/** `10.20.0.3` → `10.20.0.3/32`; `fd00::3` → `fd00::3/128`; a prefix stays as is. */
function asPrefix(a: string): string {
  if (a.includes("/")) return a;
  return a.includes(":") ? `${a}/128` : `${a}/32`;
}

/**
 * The source prefixes `allow` admits, or null for `any`, in allow order without duplicates or
 * prefixes inside another one of the list.
 */
export function allowPrefixes(inv: Inventory, allow: readonly string[]): string[] | null {
  const out: string[] = [];
  const addrs = (h: Host | undefined) => (h ? h.addresses.map((a) => a.address) : []);
  for (const name of allow) {
    if (name === "any") return null;
    const net = inv.networks.find((n) => n.name === name);
    if (net) {
      out.push(net.cidr);
      continue;
    }
    const h = inv.hosts.find((x) => x.name === name);
    if (h) {
      out.push(...addrs(h));
      continue;
    }
    const v = inv.vantages.find((x) => x.name === name);
    if (!v) continue; // the loader rejects unknown names
    if (v.addresses.length) out.push(...v.addresses.map((a) => a.address));
    else if (v.type === "via" || v.host)
      out.push(...addrs(inv.hosts.find((x) => x.name === (v.via ?? v.host))));
    else out.push(...v.networks.flatMap((n) => inv.networks.filter((x) => x.name === n).map((x) => x.cidr)));
  }
  const prefixes = [...new Set(out.map(asPrefix))].map((text) => ({ text, p: parsePrefix(text) }));
  return prefixes
    .filter(
      (a) =>
        !prefixes.some(
          (b) => b !== a && b.p.family === a.p.family && b.p.length < a.p.length && containsPrefix(b.p, a.p),
        ),
    )
    .map((a) => a.text);
}

function setName(s: Service, family: 4 | 6): string {
  return `allow_${s.name.replace(/-/g, "_")}_v${family}`;
}

/** The ruleset of one host (see module doc). */
export function hostRuleset(inv: Inventory, h: Host): string {
  const sets: string[] = [];
  const rules: string[] = [];
  for (const s of h.services) {
    const match =
      s.kind === "dns" ? `meta l4proto { udp, tcp } th dport ${s.port}` : `${s.protocol} dport ${s.port}`;
    const comment = `comment "${s.name}"`;
    const sources = allowPrefixes(inv, s.allow);
    if (sources === null) {
      rules.push(`${match} accept ${comment}`);
      continue;
    }
    if (sources.length === 0) {
      rules.push(`# ${s.name} (${match}): allow admits no source address; dropped`);
      continue;
    }
    for (const family of [4, 6] as const) {
      const list = sources.filter((p) => (family === 6) === p.includes(":"));
      if (list.length === 0) continue;
      const ip = family === 4 ? "ip" : "ip6";
      let from: string;
      if (list.length > INLINE_MAX) {
        const name = setName(s, family);
        sets.push(
          `  set ${name} {`,
          `    type ${family === 4 ? "ipv4_addr" : "ipv6_addr"}`,
          "    flags interval",
          `    elements = { ${list.join(",\n                 ")} }`,
          "  }",
        );
        from = `@${name}`;
      } else from = list.length === 1 ? list[0]! : `{ ${list.join(", ")} }`;
      rules.push(`${ip} saddr ${from} ${match} accept ${comment}`);
    }
  }
  return [
    "#!/usr/sbin/nft -f",
    `# Rendered by keel render for host ${h.name} of site ${inv.site}; edit the inventory, not this file.`,
    "# Replaces table inet keel atomically; other tables are left alone.",
    "table inet keel",
    "delete table inet keel",
    "table inet keel {",
    ...sets,
    "  chain input {",
    "    type filter hook input priority filter; policy drop;",
    "    ct state established,related accept",
    "    ct state invalid drop",
    '    iifname "lo" accept',
    "    ip protocol icmp icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept",
    "    ip6 nexthdr icmpv6 icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, mld-listener-report, mld2-listener-report } accept",
    ...rules.map((r) => `    ${r}`),
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The nftables renderer: `nftables/HOST.nft` for every host. */
export const nftablesRenderer: Renderer<RenderedFile> = {
  kind: "nftables",
  render(inv: Inventory): RenderedFile[] {
    return inv.hosts.map((h) => ({ path: `nftables/${h.name}.nft`, content: hostRuleset(inv, h) }));
  },
};
