/**
 * Flag parsers for commander that turn bad values into a UserError naming the flag, so the
 * CLI exits 2 with a clear message instead of a stack trace.
 */
import { InvalidArgumentError } from "commander";

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
