#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `keel` executable. Each command lives in its own module under `src/cli/` and exports a
 * `register(program)` function; this file only assembles them and turns errors into exit codes:
 * 0 success, 1 checks failed (verify), 2 invalid inventory or command line.
 *
 * The interpreter line caps V8's young generation at two 8 MB semi-spaces instead of V8's
 * 16 MB ones (32 MB that `keel serve`, which allocates steadily, always fills; 4 MB ones cost
 * serve noticeably more time in garbage collection); V8 reads that size only when the process
 * starts, so it is given there (`env -S`, GNU coreutils ≥ 8.30).
 * See `src/serve/heap.ts` for the old generation.
 */
import { Command, CommanderError } from "commander";
import { UserError } from "../errors.js";
import { commandsFor } from "./commands.js";

/** Exit status for invalid input (inventory or command line), per `shared/design/inventory.md`. */
export const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<number> {
  const program = new Command("keel")
    .description("Keel: one inventory for a small private cloud; day-2 checks, lab twin, history")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of await commandsFor(argv)) register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every usage mistake exits 2 (commander already printed it)
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof UserError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `keel: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
