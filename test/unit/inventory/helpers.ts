/** Shared helpers for inventory tests: a small valid base inventory and problem extraction. */
import assert from "node:assert/strict";
import { formatProblem, UserError } from "../../../src/errors.js";
import { parseInventory } from "../../../src/inventory/load.js";

/**
 * Lines 1–7 of every test inventory (a valid site with two networks and one host); tests
 * append lines from line 8 on, so positions in assertions are easy to read.
 */
export const BASE = [
  "keel: 1",
  "site: lab",
  "networks:",
  "  lan: { cidr: 10.20.0.0/24 }",
  "  vpn: { cidr: 10.99.0.0/24 }",
  "hosts:",
  "  a: { address: 10.20.0.5 }",
];

/** Joins lines into YAML text (with a final newline). */
export function yaml(...lines: string[]): string {
  return `${lines.join("\n")}\n`;
}

/** Parses `text` as `t.yaml`, expecting a UserError; returns its problems as `file:line:col: message`. */
export function problemsOf(text: string): string[] {
  try {
    parseInventory(text, "t.yaml");
  } catch (e) {
    if (e instanceof UserError) return e.problems.map(formatProblem);
    throw e;
  }
  return assert.fail("expected the inventory to be rejected");
}

/** Like `problemsOf`, asserting there is exactly one problem, and returns it. */
export function oneProblem(text: string): string {
  const ps = problemsOf(text);
  assert.equal(ps.length, 1, `expected one problem, got:\n${ps.join("\n")}`);
  return ps[0]!;
}
