/**
 * Flag parsers for commander that turn bad values into a UserError naming the flag, so the
 * CLI exits 2 with a clear message instead of a stack trace.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DURATION_EXPECTED, parseDuration } from "../inventory/duration.js";
import { DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS } from "../verify/runner.js";

/**
 * Registers one command (and its flags) on the root program; each command module exports one
 * (listed in `commands.ts`).
 */
export type RegisterCommand = (program: Command) => void;

/** Parses a positive integer flag value within [min, max]. */
export function intFlag(min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value))
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** `--concurrency N` (1–10000, default 64), shared by the commands that run checks. */
export function concurrencyOption(): Option {
  return new Option("--concurrency <n>", "checks in flight at once")
    .argParser(intFlag(1, 10000))
    .default(DEFAULT_CONCURRENCY);
}

/** `--timeout MS` (10–600000, default 10000), the per-check timeout of the commands that run checks. */
export function timeoutOption(): Option {
  return new Option("--timeout <ms>", "per-check timeout in milliseconds")
    .argParser(intFlag(10, 600000))
    .default(DEFAULT_TIMEOUT_MS);
}

/** Help of `--strict-host-keys` (verify, serve). */
export const STRICT_HOST_KEYS_HELP =
  "refuse SSH hosts whose key is not in known_hosts instead of recording it (defaults.ssh.host_key_checking: strict)";

/** Parses a Prometheus duration flag value (`90s`, `5m`) into ms; it must be more than 0. */
export function durationFlag(): (value: string) => number {
  return (value: string) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`expected ${DURATION_EXPECTED}.`);
    return ms;
  };
}
