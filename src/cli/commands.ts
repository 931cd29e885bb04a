/**
 * The list of CLI commands. Adding a command touches its module and this list, nothing else.
 */
import type { Command } from "commander";

/** Registers one command (and its flags) on the root program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [];
