/**
 * `keel dns sync FILE [--server NAME|ADDR[:PORT]] [--key PATH|'${VAR}'] [--zone ZONE] [--apply]
 * [--json]`: the difference between the zones the inventory renders and what a DNS server holds,
 * and (with `--apply`) the RFC 2136 updates, TSIG-signed, that remove it (docs/dns.md). Exit 0 in sync or applied; 1 differences without `--apply`, or the server refused, failed
 * or was not reached; 2 a bad flag, key or inventory.
 */
import type { Command } from "commander";
import { type Change, formatChange } from "../dns/diff.js";
import { loadKey, withKeyFile } from "../dns/key.js";
import { type SyncResult, syncZones } from "../dns/sync.js";
import type { ServerAddress } from "../dns/update.js";
import { type SiteZones, siteZones } from "../dns/zone.js";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { tryParseAddress } from "../net/prefix.js";
import { probeAddress } from "../verify/derive.js";

interface SyncFlags {
  server?: string;
  key?: string;
  zone?: string;
  apply?: boolean;
  json?: boolean;
}

/** The DNS port (RFC 1035 §4.2). */
const DNS_PORT = 53;

/**
 * The server `--server` names: a host of the inventory (its address as the first local vantage
 * reaches it), or an address literal with an optional port (`10.0.0.2`, `10.0.0.2:5353`,
 * `fd00::2`, `[fd00::2]:5353`). Without the flag: the first of `dns.servers`. `name` is the flag
 * as messages name it (`--server`; `keel apply`'s `--dns-server`).
 * @throws UserError naming the flag and what is expected.
 */
export function resolveServer(
  inv: Inventory,
  flag: string | undefined,
  servers: string[],
  name = "--server",
): ServerAddress {
  const hostAddress = (host: string): string => {
    const h = inv.hosts.find((x) => x.name === host)!;
    const v = inv.vantages.find((x) => x.type === "local");
    return v ? probeAddress(h, v) : h.addresses[0]!.address;
  };
  if (flag === undefined) return { host: hostAddress(servers[0]!), port: DNS_PORT };
  if (inv.hosts.some((h) => h.name === flag)) return { host: hostAddress(flag), port: DNS_PORT };
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(flag) ?? /^([^:]+):(\d+)$/.exec(flag) ?? [flag, flag];
  const host = m[1]!;
  const port = m[2] === undefined ? DNS_PORT : Number(m[2]);
  if (tryParseAddress(host) === undefined || !(port >= 1 && port <= 65535))
    throw new UserError(
      `${name} ${flag}: not a host of ${inv.file} nor an address; expected a host name (e.g. ${servers[0]}), ADDR, ADDR:PORT or [IPV6]:PORT with a port from 1 to 65535`,
    );
  return { host, port };
}

/**
 * The zones `inv` renders, for a sync. `flag`, when given, is the flag that asked for one
 * (`--dns-key`), named first in the message.
 * @throws UserError when the inventory has no `domain` (so no zone), or a domain without a name
 *   server (`siteZones`).
 */
export function managedZones(inv: Inventory, flag?: string): SiteZones {
  const site = siteZones(inv);
  if (site === undefined)
    throw new UserError(
      `${flag !== undefined ? `${flag}: ` : ""}${inv.file}: no domain, so keel manages no zone; add domain: (e.g. lab.internal)`,
    );
  return site;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;

function lines(changes: Change[]): string[] {
  return changes.flatMap(formatChange).map((l) => `  ${l}`);
}

/** The text report of a sync. */
export function formatResult(r: SyncResult): string {
  const out: string[] = [];
  for (const z of r.zones) {
    const head = `zone ${z.zone} (serial ${z.serial}) on ${r.server}`;
    if (z.status === "in-sync") {
      out.push(`${head}: in sync`);
      continue;
    }
    out.push(`${head}: ${plural(z.changes.length, "change")}`, ...lines(z.changes));
    if (z.status === "applied") out.push(`  applied in one update`);
    if (z.status === "failed") out.push(`  NOT applied: ${z.error?.message}`);
    if (z.status === "not-sent") out.push("  NOT applied: not sent, an earlier zone failed");
    if (z.status === "rolled-back")
      out.push("  applied, then ROLLED BACK because a later zone failed: the zone is as it was read");
    if (z.status === "rollback-failed")
      out.push(
        `  applied, and the ROLLBACK FAILED (${z.error?.message}); still applied on the server:`,
        ...lines(z.remaining ?? []).map((l) => `  ${l}`),
      );
  }
  const changed = r.zones.filter((z) => z.changes.length);
  const n = changed.reduce((s, z) => s + z.changes.length, 0);
  if (r.error && r.zones.every((z) => z.status !== "failed"))
    out.push(`${r.error.message}; nothing was changed`);
  else if (r.error) out.push(`keel dns sync failed: ${r.error.message}`);
  else if (r.inSync)
    out.push(`in sync: ${plural(r.zones.length, "zone")} on ${r.server} hold what the inventory says`);
  else if (!r.apply)
    out.push(`${plural(n, "change")} in ${plural(changed.length, "zone")}; run with --apply to apply them`);
  else out.push(`applied ${plural(n, "change")} in ${plural(changed.length, "zone")}`);
  return `${out.join("\n")}\n`;
}

/** Registers `keel dns sync`. */
export function register(program: Command): void {
  const dns = program.command("dns").description("DNS: compare and sync the zones with a server");
  dns
    .command("sync")
    .description(
      "show the difference between the inventory's zones and a DNS server; --apply it with TSIG-signed RFC 2136 updates",
    )
    .argument("<file>", "inventory file (keel.yaml)")
    .option(
      "--server <server>",
      "host name, ADDR or ADDR:PORT ([IPV6]:PORT); default: the first of dns.servers",
    )
    .option("--key <key>", `TSIG key: a key file as tsig-keygen writes it, or '\${VAR}' holding that text`)
    .option("--zone <zone>", "only this zone (one keel renders)")
    .option("--apply", "apply the changes (default: only show them)")
    .option("--json", "print the result as JSON")
    .action(async (file: string, flags: SyncFlags) => {
      const inv = loadInventory(file);
      const site = managedZones(inv);
      if (flags.key === undefined)
        throw new UserError(
          `--key is required: a TSIG key file as tsig-keygen writes it, or '\${VAR}' naming an environment variable holding it`,
        );
      const only = flags.zone?.replace(/\.$/, "").toLowerCase();
      if (only !== undefined && !site.zones.some((z) => z.name === only))
        throw new UserError(
          `--zone ${flags.zone}: not a zone of ${inv.file}; expected one of ${site.zones.map((z) => z.name).join(", ")}`,
        );
      const server = resolveServer(inv, flags.server, site.servers);
      const key = loadKey(flags.key);
      const result = await withKeyFile(key, (keyFile) =>
        syncZones(site, server, keyFile, key.name, {
          apply: flags.apply === true,
          ...(only !== undefined ? { only } : {}),
        }),
      );
      if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.error) {
        const text = formatResult(result).split("\n");
        const last = text.splice(-2, 1);
        process.stdout.write(`${text.join("\n")}`);
        process.stderr.write(`${last.join("")}\n`);
      } else process.stdout.write(formatResult(result));
      process.exitCode = result.error || (!result.inSync && !result.apply) ? 1 : 0;
    });
}
