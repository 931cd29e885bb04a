/**
 * `keel validate FILE`: loads the inventory and reports either a one-line summary on stdout
 * (exit 0) or every problem as `file:line:col: message` on stderr (exit 2, via UserError).
 */
import type { Command } from "commander";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";

/** The summary line printed for a valid inventory, e.g. `keel.yaml: ok (2 networks, 4 hosts, 11 services, 2 vantages)`. */
export function summary(inv: Inventory): string {
  const services = inv.hosts.reduce((n, h) => n + h.services.length, 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${inv.file}: ok (${plural(inv.networks.length, "network")}, ${plural(inv.hosts.length, "host")}, ${plural(services, "service")}, ${plural(inv.vantages.length, "vantage")})`;
}

/** Registers `keel validate FILE`. */
export function register(program: Command): void {
  program
    .command("validate")
    .description("check an inventory file against the format and its rules; print every problem, located")
    .argument("<file>", "inventory file (keel.yaml)")
    .action((file: string) => {
      const inv = loadInventory(file);
      process.stdout.write(`${summary(inv)}\n`);
    });
}
