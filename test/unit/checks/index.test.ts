import assert from "node:assert/strict";
import { test } from "node:test";
import { addressMatches, hostOfHostPort, toolMissing } from "../../../src/verify/checks/common.js";
import { checkKinds, runCheck } from "../../../src/verify/checks/index.js";
import { CHECK_KINDS, type CheckSpec, type Prober } from "../../../src/verify/types.js";

test("every check kind has exactly one module, registered under its own kind", () => {
  assert.deepEqual(Object.keys(checkKinds).sort(), [...CHECK_KINDS].sort());
  for (const k of CHECK_KINDS) assert.equal(checkKinds[k].kind, k);
});

const ctx = { prober: {} as Prober, timeoutMs: 1000, signal: new AbortController().signal };

test("runCheck reports skip specs as skip and mismatched params as error, without probing", async () => {
  const spec: CheckSpec = {
    id: "gpu/reachable@admin",
    kind: "reachable",
    host: "gpu",
    vantage: "admin",
    params: { kind: "reachable", address: "10.20.0.10", tcpPorts: [] },
  };
  assert.deepEqual(await runCheck({ ...spec, skip: "via vantage does not probe its own host" }, ctx), {
    status: "skip",
    message: "via vantage does not probe its own host",
  });
  const bad = await runCheck({ ...spec, kind: "sysctl" }, ctx);
  assert.equal(bad.status, "error");
  assert.match(bad.message, /params are for reachable, not sysctl/);
});

test("addressMatches handles addresses, prefixes, families and mapped IPv4", () => {
  assert.equal(addressMatches("127.0.0.53", "127.0.0.0/8"), true);
  assert.equal(addressMatches("::ffff:127.0.0.1", "127.0.0.0/8"), true);
  assert.equal(addressMatches("::1", "::1"), true);
  assert.equal(addressMatches("0:0::1", "::1"), true);
  assert.equal(addressMatches("::1", "127.0.0.0/8"), false);
  assert.equal(addressMatches("10.0.0.1", "fd00::/8"), false);
  assert.equal(addressMatches("*", "0.0.0.0/0"), false);
  assert.equal(addressMatches("10.0.0.1", "not-a-prefix/8"), false);
});

test("hostOfHostPort strips ports and brackets", () => {
  assert.equal(hostOfHostPort("10.0.0.1:9100"), "10.0.0.1");
  assert.equal(hostOfHostPort("[fd00::1]:9100"), "fd00::1");
  assert.equal(hostOfHostPort("gpu.lab:9100"), "gpu.lab");
  assert.equal(hostOfHostPort("fd00::1"), "fd00::1");
});

test("toolMissing recognises exit 127 and the shell's not-found message", () => {
  assert.equal(toolMissing({ code: 127, stdout: "", stderr: "" }, "ss"), true);
  assert.equal(toolMissing({ code: 1, stdout: "", stderr: "sh: 1: wg: not found\n" }, "wg"), true);
  assert.equal(toolMissing({ code: 1, stdout: "", stderr: "Unable to access interface" }, "wg"), false);
});
