import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeWireguard, parseWgDump, wgCommand } from "../../../src/verify/checks/wireguard-peers.js";

const NOW = 1_795_000_000;
/** `wg show wg0 dump` (wg(8)): interface line, then one line per peer, tab-separated. */
const DUMP = [
  ["cPrIvAtEkEy=", "sErVeRpUbLiC=", "51820", "off"],
  ["aDmInPuB=", "(none)", "10.99.0.250:43210", "10.99.0.250/32", String(NOW - 30), "1024", "2048", "25"],
  ["mOnPuB=", "(none)", "(none)", "10.99.0.3/32,fd99::3/128", "0", "0", "0", "off"],
  ["oLdPuB=", "(none)", "[fd00::7]:51820", "10.99.0.7/32", String(NOW - 412), "5", "6", "off"],
  ["sTrAnGeR=", "(none)", "192.0.2.1:1", "10.99.0.66/32", String(NOW - 5), "1", "1", "off"],
]
  .map((f) => f.join("\t"))
  .join("\n");

test("parseWgDump reads peer lines and never keeps the interface's private key", () => {
  const peers = parseWgDump(DUMP);
  assert.equal(peers.length, 4);
  assert.deepEqual(peers[0], {
    publicKey: "aDmInPuB=",
    endpoint: "10.99.0.250:43210",
    allowedIps: ["10.99.0.250/32"],
    latestHandshake: NOW - 30,
    rx: 1024,
    tx: 2048,
    keepalive: 25,
  });
  assert.deepEqual(peers[1]!.allowedIps, ["10.99.0.3/32", "fd99::3/128"]);
  assert.equal(peers[1]!.endpoint, null);
  assert.equal(peers[1]!.keepalive, null);
  assert.doesNotMatch(JSON.stringify(peers), /cPrIvAtEkEy/);
});

test("judgeWireguard passes fresh handshakes and reports undeclared peers in observed", () => {
  const o = judgeWireguard(
    "wg0",
    [{ name: "admin", addresses: ["10.99.0.250"] }],
    parseWgDump(DUMP),
    NOW,
    180,
  );
  assert.equal(o.status, "pass", o.message);
  const unexpected = (o.observed as { unexpected: { publicKey: string }[] }).unexpected.map(
    (p) => p.publicKey,
  );
  assert.deepEqual(unexpected, ["mOnPuB=", "oLdPuB=", "sTrAnGeR="]);
});

test("judgeWireguard fails per peer: missing, never shook hands, stale", () => {
  const o = judgeWireguard(
    "wg0",
    [
      { name: "admin", addresses: ["10.99.0.251"] },
      { name: "mon", addresses: ["fd99::3"] },
      { name: "old", addresses: ["10.99.0.7"] },
      { name: "ok", addresses: ["10.99.0.250"] },
    ],
    parseWgDump(DUMP),
    NOW,
    180,
  );
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "peer admin (10.99.0.251) is not configured on wg0; peer mon: no handshake yet; " +
      "peer old: last handshake 412 s ago; expected under 180 s",
  );
});

test("a peer is identified by an allowed-ips prefix that contains one of its addresses", () => {
  const dump = [`k=\t(none)\t(none)\t10.99.0.0/24\t${NOW - 1}\t0\t0\toff`].join("\n");
  const o = judgeWireguard(
    "wg0",
    [{ name: "site-b", addresses: ["10.99.0.42"] }],
    parseWgDump(dump),
    NOW,
    180,
  );
  assert.equal(o.status, "pass", o.message);
});

test("wgCommand quotes the interface and drops the private-key line on the host", () => {
  assert.match(wgCommand("wg0"), /wg show wg0 dump\) \|\| exit \$\?; .*tail -n \+2; date \+%s$/);
  assert.match(wgCommand("wg0; rm -rf /"), /wg show 'wg0; rm -rf \/' dump/);
});

test("a declared peer with no address in the inventory is undecided (error), not a failure", () => {
  // The contract's example: `peers: [admin]` where admin is a local vantage with no address.
  const only = judgeWireguard("wg0", [{ name: "admin", addresses: [] }], parseWgDump(DUMP), NOW, 180);
  assert.equal(only.status, "error");
  assert.equal(
    only.message,
    "cannot identify peer admin on wg0: no address in the inventory (give the vantage an `address:`)",
  );
  const withMissing = judgeWireguard(
    "wg0",
    [
      { name: "admin", addresses: [] },
      { name: "gone", addresses: ["10.99.0.77"] },
    ],
    parseWgDump(DUMP),
    NOW,
    180,
  );
  assert.equal(withMissing.status, "fail", "a real problem still fails");
  assert.match(
    withMissing.message,
    /^peer gone \(10\.99\.0\.77\) is not configured on wg0; cannot identify peer admin/,
  );
});
