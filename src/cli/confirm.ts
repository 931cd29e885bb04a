/**
 * What the commands that change machines share: asking first (`keel apply`, `destroy`,
 * `rollback`: on a terminal the operator types `yes`; without a terminal, `--yes` must say so),
 * and reporting a hypervisor's refusal as a message and exit 1, not a stack trace.
 */
import { createInterface } from "node:readline/promises";
import { UserError } from "../errors.js";
import { ProviderError } from "../provision/provider.js";

/**
 * True when the change may go ahead: `yes` given, or the operator typed `yes` to `question`.
 * @throws UserError naming `--yes` when standard input is not a terminal and `yes` is false.
 */
export async function confirmOrYes(yes: boolean, question: string): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY)
    throw new UserError(
      "--yes: standard input is not a terminal, so keel cannot ask; pass --yes to go ahead",
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const ok = (await rl.question(question)).trim() === "yes";
    if (!ok) process.stderr.write("keel: nothing changed\n");
    return ok;
  } finally {
    rl.close();
  }
}

/**
 * Runs a command's body; a `ProviderError` (a hypervisor that refused or could not be reached)
 * is printed as `keel: MESSAGE` and gives exit status 1. Anything else is rethrown.
 */
export async function reportingProviderErrors(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    process.stderr.write(`keel: ${e.message}\n`);
    return 1;
  }
}
