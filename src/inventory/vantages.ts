/**
 * The `vantages:` section: `local` or `via`, networks, hosts and addresses that exist; and the
 * normalised vantages (an implicit `local` one when none is declared).
 */
import { resolveAddresses } from "./addresses.js";
import type { CheckContext } from "./context.js";
import type { Host, InterfaceAddress, Vantage } from "./model.js";
import type { RawInventory } from "./raw.js";
import { didYouMean } from "./wording.js";
import type { Positions } from "./yaml.js";

/** Checks every vantage; returns the valid addresses of those that declare `address`. */
export function checkVantages(ctx: CheckContext): Map<string, InterfaceAddress[]> {
  const out = new Map<string, InterfaceAddress[]>();
  for (const [name, v] of Object.entries(ctx.raw.vantages ?? {})) {
    const segs = ["vantages", name];
    if (v.via !== undefined) {
      if (v.local)
        ctx.problem(
          [...segs, "local"],
          `vantage "${name}" has both local and via; expected either local: true or via: HOST`,
          "key",
        );
      for (const k of ["networks", "host", "address"] as const) {
        if (v[k] !== undefined)
          ctx.problem(
            [...segs, k],
            `vantage "${name}" uses via, so it sits in the networks and addresses of host "${v.via}"; remove ${k}`,
            "key",
          );
      }
      if (!ctx.hostNames.includes(v.via))
        ctx.problem(
          [...segs, "via"],
          `via "${v.via}" of vantage "${name}" is not a host${didYouMean(v.via, ctx.hostNames)}; expected one of ${ctx.hostNames.join(", ") || "(no hosts are declared)"}`,
        );
      continue;
    }
    if (!v.local) {
      if (
        ctx.pruned.paths.has([...segs, "local"].join("/")) ||
        ctx.pruned.paths.has([...segs, "via"].join("/"))
      )
        continue; // its local/via value is already reported
      ctx.problem(segs, `vantage "${name}" needs either local: true or via: HOST`, "key");
      continue;
    }
    if (v.networks !== undefined && v.host !== undefined)
      ctx.problem(
        [...segs, "host"],
        `vantage "${name}" has both networks and host; expected one of them (host means the networks of that host)`,
        "key",
      );
    (v.networks ?? []).forEach((net, i) => {
      if (ctx.networkNames.includes(net)) return;
      ctx.problem(
        [...segs, "networks", i],
        `network "${net}" of vantage "${name}" does not exist${didYouMean(net, ctx.networkNames)}; expected one of ${ctx.networkNames.join(", ") || "(no networks are declared)"}`,
      );
    });
    if (v.host !== undefined && !ctx.hostNames.includes(v.host))
      ctx.problem(
        [...segs, "host"],
        `host "${v.host}" of vantage "${name}" does not exist${didYouMean(v.host, ctx.hostNames)}; expected one of ${ctx.hostNames.join(", ") || "(no hosts are declared)"}`,
      );
    if (v.address !== undefined)
      out.set(name, resolveAddresses(ctx, [...segs, "address"], v.address, `vantage "${name}"`));
  }
  return out;
}

function uniqueNetworks(addrs: InterfaceAddress[]): string[] {
  return [...new Set(addrs.map((a) => a.network))];
}

/** The normalised vantages; `hosts` are the normalised hosts (a `via` vantage sits in its host's networks). */
export function normaliseVantages(
  raw: RawInventory,
  file: string,
  loc: Positions,
  hosts: Host[],
  vantageAddresses: Map<string, InterfaceAddress[]>,
): Vantage[] {
  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  let vantages: Vantage[] = Object.entries(raw.vantages ?? {}).map(([name, v]) => {
    const pos = loc.pos(["vantages", name], "key");
    if (v.via !== undefined) {
      const h = hostByName.get(v.via)!;
      return {
        name,
        type: "via",
        via: v.via,
        networks: uniqueNetworks(h.addresses),
        addresses: h.addresses.map((a) => ({ ...a })),
        implicit: false,
        pos,
      };
    }
    const networks =
      v.host !== undefined ? uniqueNetworks(hostByName.get(v.host)!.addresses) : [...(v.networks ?? [])];
    return {
      name,
      type: "local",
      ...(v.host !== undefined ? { host: v.host } : {}),
      networks,
      addresses: vantageAddresses.get(name) ?? [],
      implicit: false,
      pos,
    };
  });
  if (vantages.length === 0)
    vantages = [
      {
        name: "local",
        type: "local",
        networks: [],
        addresses: [],
        implicit: true,
        pos: { file, line: 1, col: 1 },
      },
    ];
  return vantages;
}
