import assert from "node:assert/strict";
import { test } from "node:test";
import { judgePortClosed } from "../../../src/verify/checks/port-closed.js";
import { judgePortOpen } from "../../../src/verify/checks/port-open.js";
import { judgeReachable } from "../../../src/verify/checks/reachable.js";

test("port.open: tcp open passes; refused, filtered, unreachable fail", () => {
  assert.equal(judgePortOpen("10.20.0.10", 9100, "tcp", "open", "admin").status, "pass");
  const o = judgePortOpen("10.20.0.10", 9100, "tcp", "refused", "admin");
  assert.equal(o.status, "fail");
  assert.equal(o.message, "10.20.0.10:9100/tcp is refused; allow admits this vantage (admin)");
  assert.deepEqual(o.observed, { state: "refused" });
  assert.equal(judgePortOpen("10.20.0.10", 9100, "tcp", "filtered", "admin").status, "fail");
  assert.equal(judgePortOpen("10.20.0.10", 9100, "tcp", "unreachable", "admin").status, "fail");
});

test("port.open: udp refused fails, open|filtered passes saying UDP cannot tell", () => {
  assert.equal(judgePortOpen("10.20.0.4", 53, "udp", "refused", "admin").status, "fail");
  const o = judgePortOpen("10.20.0.4", 53, "udp", "open|filtered", "admin");
  assert.equal(o.status, "pass");
  assert.equal(o.message, "10.20.0.4:53/udp is open|filtered (UDP cannot tell open from filtered)");
});

test("port.closed: refused/filtered pass and say which; open fails naming who is allowed", () => {
  const r = judgePortClosed("10.20.0.10", 9100, "tcp", "refused", "mon, vpn");
  assert.deepEqual(
    [r.status, r.message, r.observed],
    ["pass", "10.20.0.10:9100/tcp is refused", { state: "refused" }],
  );
  const f = judgePortClosed("10.20.0.10", 9100, "tcp", "filtered", "mon, vpn");
  assert.deepEqual([f.status, f.observed], ["pass", { state: "filtered" }]);
  const o = judgePortClosed("10.20.0.10", 9100, "tcp", "open", "mon, vpn");
  assert.equal(o.status, "fail");
  assert.equal(o.message, "10.20.0.10:9100/tcp is open; allow admits only mon, vpn");
});

test("port.closed: udp open|filtered passes with a note; IPv6 endpoints are bracketed", () => {
  const o = judgePortClosed("fd00::4", 53, "udp", "open|filtered", "lan");
  assert.equal(o.status, "pass");
  assert.match(o.message, /^\[fd00::4\]:53\/udp is open\|filtered: .*UDP cannot tell open from filtered/);
  assert.equal(judgePortClosed("fd00::4", 53, "udp", "refused", "lan").status, "pass");
});

test("reachable: ping passes; else an open or refused port proves the host answers", () => {
  assert.equal(judgeReachable("10.20.0.4", { ping: true, ports: [] }).status, "pass");
  const viaRst = judgeReachable("10.20.0.4", { ping: false, ports: [{ port: 22, state: "refused" }] });
  assert.equal(viaRst.status, "pass");
  assert.equal(viaRst.message, "10.20.0.4 does not answer ping but 10.20.0.4:22/tcp is refused");
  const o = judgeReachable("10.20.0.4", {
    ping: false,
    ports: [
      { port: 22, state: "filtered" },
      { port: 9100, state: "filtered" },
    ],
  });
  assert.equal(o.status, "fail");
  assert.equal(o.message, "10.20.0.4: ping timed out; 22/tcp filtered, 9100/tcp filtered");
  assert.match(judgeReachable("10.20.0.4", { ping: false, ports: [] }).message, /no TCP port is declared/);
});

test("reachable: when the vantage cannot ping, TCP still decides; otherwise it is an error", () => {
  const pingError = "ping is not installed on vantage admin";
  const ok = judgeReachable("10.20.0.4", { ping: null, pingError, ports: [{ port: 22, state: "open" }] });
  assert.equal(ok.status, "pass");
  assert.equal(
    ok.message,
    `10.20.0.4 answers TCP; ping unavailable (${pingError}): 10.20.0.4:22/tcp is open`,
  );
  const e = judgeReachable("10.20.0.4", { ping: null, pingError, ports: [{ port: 22, state: "filtered" }] });
  assert.equal(e.status, "error");
  assert.equal(e.message, `10.20.0.4: ping unavailable (${pingError}); 22/tcp filtered`);
});
