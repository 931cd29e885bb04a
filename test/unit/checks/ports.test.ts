import assert from "node:assert/strict";
import { test } from "node:test";
import { judgePortClosed } from "../../../src/verify/checks/port-closed.js";
import { judgePortOpen, judgeWgHandshake, parseWgHandshakes } from "../../../src/verify/checks/port-open.js";
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

test("port.open: udp silence to an empty datagram is an error (not observed), never a pass", () => {
  assert.equal(judgePortOpen("10.20.0.4", 53, "udp", "refused", "admin").status, "fail");
  const o = judgePortOpen("10.20.0.4", 123, "udp", "open|filtered", "admin");
  assert.deepEqual(
    [o.status, o.message, o.observed],
    [
      "error",
      "10.20.0.4:123/udp not observed: no answer to an empty datagram and no ICMP error (UDP cannot tell open from filtered without a protocol probe)",
      { state: "open|filtered" },
    ],
  );
});

test("port.open: a DNS answer of any rcode passes; silence after a DNS query fails; ICMP rejects fail saying so", () => {
  const ok = judgePortOpen(
    "10.20.0.4",
    53,
    "udp",
    { state: "open", probe: "dns", rcode: "REFUSED" },
    "admin",
  );
  assert.deepEqual(
    [ok.status, ok.message, ok.observed],
    [
      "pass",
      "10.20.0.4:53/udp is open: it answered a DNS query (REFUSED)",
      { state: "open", rcode: "REFUSED" },
    ],
  );
  const silent = judgePortOpen("10.20.0.4", 53, "udp", { state: "filtered", probe: "dns" }, "admin");
  assert.deepEqual(
    [silent.status, silent.message],
    ["fail", "10.20.0.4:53/udp is filtered: no answer to a DNS query; allow admits this vantage (admin)"],
  );
  const rej = judgePortOpen("10.20.0.4", 53, "udp", "prohibited", "admin");
  assert.deepEqual(
    [rej.status, rej.message],
    [
      "fail",
      "10.20.0.4:53/udp is rejected (ICMP administratively prohibited); allow admits this vantage (admin)",
    ],
  );
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

test("port.closed: udp silence is an error (not observed); ICMP rejects pass saying which; IPv6 bracketed", () => {
  const o = judgePortClosed("fd00::4", 123, "udp", "open|filtered", "lan");
  assert.equal(o.status, "error");
  assert.match(o.message, /^\[fd00::4\]:123\/udp not observed: .*UDP cannot tell open from filtered/);
  const r = judgePortClosed("fd00::4", 123, "udp", "refused", "lan");
  assert.deepEqual([r.status, r.message], ["pass", "[fd00::4]:123/udp is refused (ICMP port unreachable)"]);
  const p = judgePortClosed("10.20.0.4", 123, "udp", "prohibited", "lan");
  assert.deepEqual(
    [p.status, p.message, p.observed],
    ["pass", "10.20.0.4:123/udp is rejected (ICMP administratively prohibited)", { state: "prohibited" }],
  );
  const t = judgePortClosed("10.20.0.4", 22, "tcp", "unreachable", "lan");
  assert.deepEqual(
    [t.status, t.message],
    [
      "pass",
      "10.20.0.4:22/tcp is rejected: no route to host (ICMP host unreachable or administratively prohibited)",
    ],
  );
  const dns = judgePortClosed("10.20.0.4", 53, "udp", { state: "filtered", probe: "dns" }, "lan");
  assert.deepEqual(
    [dns.status, dns.message],
    ["pass", "10.20.0.4:53/udp is filtered: no answer to a DNS query"],
  );
  const ans = judgePortClosed(
    "10.20.0.4",
    53,
    "udp",
    { state: "open", probe: "dns", rcode: "NOERROR" },
    "lan",
  );
  assert.deepEqual(
    [ans.status, ans.message],
    ["fail", "10.20.0.4:53/udp is open: it answered a DNS query (NOERROR); allow admits only lan"],
  );
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

test("port.open on a WireGuard port: a recent handshake on the interface listening there is observed open", () => {
  const wg = parseWgHandshakes("51820\nAAAA=\t1700000000\nBBBB=\t0\n1700000042\n");
  assert.deepEqual(wg, { listenPort: 51820, handshakes: [1700000000, 0], nowSec: 1700000042 });
  const ok = judgeWgHandshake("10.20.0.9", 51820, "wg0", "gw", wg!, 180);
  assert.deepEqual(
    [ok.status, ok.message],
    [
      "pass",
      "10.20.0.9:51820/udp observed open: wg0 on gw had a WireGuard handshake through it 42 s ago (silent to an empty datagram, as WireGuard is)",
    ],
  );
  const old = judgeWgHandshake("10.20.0.9", 51820, "wg0", "gw", { ...wg!, nowSec: 1700000500 }, 180);
  assert.equal(old.status, "error");
  assert.match(old.message, /not observed: .*no WireGuard handshake on wg0 within 180 s/);
  const other = judgeWgHandshake("10.20.0.9", 51821, "wg0", "gw", wg!, 180);
  assert.equal(other.status, "error");
  assert.match(other.message, /wg0 on gw listens on 51820, not 51821/);
  assert.equal(parseWgHandshakes("garbage"), undefined);
});
