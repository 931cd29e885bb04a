/**
 * `keel ipam FILE [--json] [--frozen-lock]`: the address plan's usage per network and named
 * range (size, used, reserved, free, next free), then the allocations this run made, moved or
 * freed; writes keel.lock beside the inventory when its content changed (contract:
 * `docs/ipam.md`). Exit 0; 2 for an invalid inventory or
 * lock file, a bad flag, or (`--frozen-lock`) a lock file that would change.
 */
import type { Command } from "commander";
import { commitLock } from "../inventory/ipam/lock.js";
import { loadInventory } from "../inventory/load.js";
import type { AllocationChange } from "../inventory/model.js";
import { ipamUsage, type NetworkUsage } from "../ipam/usage.js";

interface IpamFlags {
  json?: boolean;
  frozenLock?: boolean;
}

/** One change as a line: `web-1 lan 10.20.0.16 -> 10.20.0.18 (a static address took 10.20.0.16)`. */
export function formatChange(c: AllocationChange): string {
  const what = c.kind === "mac" ? "mac" : c.network!;
  const value = c.from !== undefined && c.to !== undefined ? `${c.from} -> ${c.to}` : (c.to ?? c.from ?? "");
  return `${c.host} ${what} ${value} (${c.reason})`;
}

/** The usage table: one row per network, then one per range (`NETWORK/RANGE`), columns aligned. */
export function formatUsage(nets: NetworkUsage[]): string {
  const rows: string[][] = [["NETWORK", "PREFIX", "SIZE", "USED", "RESERVED", "FREE", "NEXT FREE"]];
  for (const n of nets) {
    for (const [label, u] of [
      [n.name, n] as const,
      ...n.ranges.map((r) => [`${n.name}/${r.name}`, r] as const),
    ])
      rows.push([
        label,
        u.cidr,
        String(u.size),
        String(u.used),
        String(u.reserved),
        String(u.free),
        u.nextFree ?? "none (exhausted)",
      ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  return rows
    .map((r) =>
      r
        .map((cell, i) =>
          numeric.has(i) ? cell.padStart(widths[i]!) : i === r.length - 1 ? cell : cell.padEnd(widths[i]!),
        )
        .join("  "),
    )
    .join("\n");
}

/** Registers `keel ipam`. */
export function register(program: Command): void {
  program
    .command("ipam")
    .description("show the address plan's usage and next free addresses; record allocations in keel.lock")
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--json", "print the usage and changes as JSON")
    .option("--frozen-lock", "fail (exit 2) instead of changing keel.lock, for CI")
    .action((file: string, flags: IpamFlags) => {
      const inv = loadInventory(file);
      const lock = inv.ipam.lock === undefined ? "none" : commitLock(inv.ipam, flags.frozenLock === true);
      const networks = ipamUsage(inv);
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ inventory: inv.file, lockFile: inv.ipam.lockFile, lock, networks, changes: inv.ipam.changes }, null, 2)}\n`,
        );
        return;
      }
      const changes =
        inv.ipam.changes.length === 0
          ? "allocations: no changes"
          : `allocations:\n${inv.ipam.changes.map((c) => `  ${formatChange(c)}`).join("\n")}`;
      const lockLine =
        lock === "none" ? "keel.lock: not needed (nothing is allocated)" : `${inv.ipam.lockFile}: ${lock}`;
      process.stdout.write(`${formatUsage(networks)}\n\n${changes}\n${lockLine}\n`);
    });
}
