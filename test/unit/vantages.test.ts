import assert from "node:assert/strict";
import { test } from "node:test";
import { hostPort } from "../../src/net/hostport.js";
import { CheckTimeout, raceDeadline, shellQuote } from "../../src/verify/vantages/deadline.js";
import { portStateOfErrno } from "../../src/verify/vantages/local.js";

test("socket errnos map to port states; no route on the vantage (ENETUNREACH) is no port state", () => {
  assert.equal(portStateOfErrno("ECONNREFUSED", "tcp"), "refused");
  assert.equal(portStateOfErrno("ECONNREFUSED", "udp"), "refused");
  assert.equal(portStateOfErrno("EHOSTUNREACH", "tcp"), "unreachable");
  assert.equal(portStateOfErrno("EHOSTUNREACH", "udp"), "prohibited");
  assert.equal(portStateOfErrno("ENETUNREACH", "tcp"), undefined);
  assert.equal(portStateOfErrno("ENETUNREACH", "udp"), undefined);
  assert.equal(portStateOfErrno("EADDRNOTAVAIL", "tcp"), undefined);
});

test("hostPort brackets IPv6; shellQuote leaves safe words and quotes the rest", () => {
  assert.equal(hostPort("10.0.0.1", 22), "10.0.0.1:22");
  assert.equal(hostPort("fd00::1", 22), "[fd00::1]:22");
  assert.equal(shellQuote("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
});

test("raceDeadline settles with the work, the timeout value, or the abort reason, and cleans up once", async () => {
  let cleaned = 0;
  const never = new Promise<string>(() => undefined);
  assert.equal(
    await raceDeadline(
      Promise.resolve("work"),
      1000,
      undefined,
      () => "late",
      () => cleaned++,
    ),
    "work",
  );
  assert.equal(
    await raceDeadline(
      never,
      20,
      undefined,
      () => "timeout",
      () => cleaned++,
    ),
    "timeout",
  );
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error("stop")), 10);
  await assert.rejects(
    raceDeadline(
      never,
      1000,
      ac.signal,
      () => "timeout",
      () => cleaned++,
    ),
    /stop/,
  );
  assert.equal(cleaned, 3);
  await assert.rejects(
    raceDeadline(never, 10, undefined, () => {
      throw new Error("gave up");
    }),
    /gave up/,
  );
});

test("raceDeadline with an already-aborted signal still swallows a late rejection of the work", async () => {
  const ac = new AbortController();
  ac.abort(new Error("stop"));
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("late")), 5));
    await assert.rejects(
      raceDeadline(late, 1000, ac.signal, () => 0),
      /stop/,
    );
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("raceDeadline: a CheckTimeout abort settles as the deadline would (a precise verdict), whichever timer fires first", async () => {
  const never = new Promise<string>(() => undefined);
  // the runner's abort comes before the probe's own (late, on a busy machine) deadline
  const ac = new AbortController();
  setTimeout(() => ac.abort(new CheckTimeout(3000)), 10);
  assert.equal(await raceDeadline(never, 10_000, ac.signal, () => "filtered"), "filtered");
  // an onTimeout that throws rejects with its error, not the abort reason
  const ac2 = new AbortController();
  ac2.abort(new CheckTimeout(3000));
  await assert.rejects(
    raceDeadline(never, 10_000, ac2.signal, () => {
      throw new Error("still connecting");
    }),
    /still connecting/,
  );
  // any other abort (an interrupted run) still rejects with its reason
  const ac3 = new AbortController();
  setTimeout(() => ac3.abort(new Error("interrupted")), 10);
  await assert.rejects(
    raceDeadline(never, 10_000, ac3.signal, () => "filtered"),
    /interrupted/,
  );
});
