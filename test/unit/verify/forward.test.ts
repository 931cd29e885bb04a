/**
 * `forwardingProber` (src/verify/vantages/forward.ts): every probe method of `Prober` goes
 * through the hook with the caller's timeout, and reaches the real prober with the caller's
 * other arguments and the hook's timeout.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Prober } from "../../../src/verify/types.js";
import { forwardingProber, PROBE_METHODS, PROBE_TIMEOUT_ARG } from "../../../src/verify/vantages/forward.js";

test("every probe method is forwarded: the hook sees the caller's timeout, the prober gets the hook's", async () => {
  const calls: { method: string; args: unknown[] }[] = [];
  const real = new Proxy({} as Prober, {
    get:
      (_t, method: string) =>
      async (...args: unknown[]) => {
        calls.push({ method, args });
        return method;
      },
  });
  const seen: { method: string; timeoutMs: number }[] = [];
  let closed = 0;
  const p = forwardingProber("v1", {
    probe: (method, timeoutMs, call) => {
      seen.push({ method, timeoutMs });
      return call(real, timeoutMs - 1);
    },
    prepare: async () => undefined,
    close: async () => {
      closed++;
    },
  });
  assert.equal(p.vantage, "v1");
  assert.deepEqual(PROBE_METHODS, [
    "tcpConnect",
    "udpProbe",
    "ping",
    "httpGet",
    "sshAuthMethods",
    "sshHostKey",
    "dnsQuery",
    "sshExec",
  ]);
  for (const method of PROBE_METHODS) {
    const at = PROBE_TIMEOUT_ARG[method];
    const args: unknown[] = ["a0", "a1", "a2", "a3", "a4"];
    args[at] = 1000;
    const out = await (p[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    assert.equal(out, method);
    const expected = [...args];
    expected[at] = 999;
    assert.deepEqual(calls.at(-1), { method, args: expected }, method);
    assert.deepEqual(seen.at(-1), { method, timeoutMs: 1000 }, method);
  }
  await p.close();
  assert.equal(closed, 1);
});
