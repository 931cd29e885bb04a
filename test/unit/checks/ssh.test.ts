import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeKeyOnly } from "../../../src/verify/checks/ssh-key-only.js";

test("key-only passes on exactly publickey", () => {
  const o = judgeKeyOnly("10.20.0.4", 22, ["publickey"]);
  assert.equal(o.status, "pass");
  assert.equal(o.message, "10.20.0.4:22 offers only publickey");
  assert.deepEqual(o.observed, { methods: ["publickey"] });
});

test("key-only fails naming the extra methods, order-insensitively", () => {
  const o = judgeKeyOnly("10.20.0.4", 22, ["password", "publickey", "keyboard-interactive"]);
  assert.equal(o.status, "fail");
  assert.equal(o.message, "10.20.0.4:22 offers password, keyboard-interactive besides publickey");
});

test("key-only fails when publickey is missing, or when none is accepted", () => {
  assert.equal(
    judgeKeyOnly("fd00::4", 2222, ["password"]).message,
    "[fd00::4]:2222 offers password but not publickey",
  );
  const none = judgeKeyOnly("10.20.0.4", 22, ["none"]);
  assert.equal(none.status, "fail");
  assert.match(none.message, /accepts the none method/);
});
