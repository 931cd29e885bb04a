import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import { commands, commandsFor } from "../../../src/cli/commands.js";

const names = (regs: Awaited<ReturnType<typeof commandsFor>>) => {
  const program = new Command("keel");
  for (const r of regs) r(program);
  return program.commands.map((c) => c.name());
};

test("a named command loads only its own module; help, flags and unknown words load every command", async () => {
  assert.deepEqual(names(await commandsFor(["node", "keel", "render", "keel.yaml"])), ["render"]);
  assert.deepEqual(names(await commandsFor(["node", "keel", "verify"])), ["verify"]);
  const all = Object.keys(commands);
  assert.deepEqual(names(await commandsFor(["node", "keel", "--help"])), all);
  assert.deepEqual(names(await commandsFor(["node", "keel"])), all);
  // so that commander can suggest "render" for "rendr"
  assert.deepEqual(names(await commandsFor(["node", "keel", "rendr"])), all);
  assert.deepEqual(names(await commandsFor(["node", "keel", "toString"])), all, "not an inherited property");
});
