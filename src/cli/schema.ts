/**
 * `keel schema`: prints the inventory's JSON Schema (draft-07) to stdout, for editors:
 * `keel schema > keel.schema.json`, then `# yaml-language-server: $schema=./keel.schema.json`
 * as the first line of keel.yaml.
 */
import type { Command } from "commander";
import { inventorySchema } from "../inventory/schema.js";

/** Registers `keel schema`. */
export function register(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of the inventory format (for editor completion and checks)")
    .action(() => {
      process.stdout.write(`${JSON.stringify(inventorySchema, null, 2)}\n`);
    });
}
