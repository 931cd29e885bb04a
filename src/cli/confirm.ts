/**
 * Asking before a command changes machines (`keel apply`, `destroy`, `rollback`): on a terminal
 * the operator types `yes`; without a terminal, `--yes` must say so.
 */
import { createInterface } from "node:readline/promises";
import { UserError } from "../errors.js";

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
