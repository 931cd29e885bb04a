import assert from "node:assert/strict";
import { test } from "node:test";
import { formatProblem, UserError } from "../../src/errors.js";

test("formatProblem gives file:line:col: message for located problems", () => {
  assert.equal(
    formatProblem({ pos: { file: "keel.yaml", line: 3, col: 7 }, message: "bad port" }),
    "keel.yaml:3:7: bad port",
  );
  assert.equal(formatProblem({ message: "--timeout: expected a number" }), "--timeout: expected a number");
});

test("UserError lists every problem on its own line", () => {
  const e = new UserError([{ pos: { file: "a.yaml", line: 1, col: 1 }, message: "one" }, { message: "two" }]);
  assert.equal(e.message, "a.yaml:1:1: one\ntwo");
  assert.equal(e.problems.length, 2);
});
