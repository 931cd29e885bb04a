import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatListener,
  isIgnored,
  judgeListeners,
  parseSs,
  parseSsAddress,
} from "../../../src/verify/checks/listeners.js";

/** `ss -Hlntup` as printed by iproute2 6.x on Debian 12 (spacing as ss aligns it). */
const SS = [
  'udp   UNCONN 0      0          127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=512,fd=13))',
  "udp   UNCONN 0      0                0.0.0.0:51820      0.0.0.0:*",
  "udp   UNCONN 0      0                   [::]:51820         [::]:*",
  'tcp   LISTEN 0      4096             0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=700,fd=3))',
  'tcp   LISTEN 0      4096                [::]:22            [::]:*    users:(("sshd",pid=700,fd=4))',
  'tcp   LISTEN 0      4096                   *:9100             *:*    users:(("prometheus-node",pid=801,fd=3))',
  'tcp   LISTEN 0      5                0.0.0.0:8080       0.0.0.0:*    users:(("python3",pid=999,fd=3),("python3",pid=1000,fd=3))',
  'tcp   LISTEN 0      128    [::ffff:127.0.0.1]:6010            *:*    users:(("sshd",pid=1200,fd=9))',
  "tcp   LISTEN 0      128                [::1]:6011          [::]:*",
  "udp   UNCONN 0      0         [fe80::1%eth0]:123          [::]:*",
  "",
].join("\n");

test("parseSsAddress handles IPv4, [IPv6], *, %iface and mapped addresses", () => {
  assert.deepEqual(parseSsAddress("0.0.0.0:22"), { address: "0.0.0.0", port: 22 });
  assert.deepEqual(parseSsAddress("[::]:22"), { address: "::", port: 22 });
  assert.deepEqual(parseSsAddress("*:9100"), { address: "*", port: 9100 });
  assert.deepEqual(parseSsAddress("127.0.0.53%lo:53"), { address: "127.0.0.53", port: 53, iface: "lo" });
  assert.deepEqual(parseSsAddress("[fe80::1%eth0]:123"), { address: "fe80::1", port: 123, iface: "eth0" });
  assert.deepEqual(parseSsAddress("[::ffff:127.0.0.1]:6010"), { address: "::ffff:127.0.0.1", port: 6010 });
  assert.equal(parseSsAddress("0.0.0.0:*"), undefined);
  assert.equal(parseSsAddress("garbage"), undefined);
});

test("parseSs reads tcp and udp sockets with their processes", () => {
  const ls = parseSs(SS);
  assert.equal(ls.length, 10);
  assert.deepEqual(ls[0], {
    protocol: "udp",
    address: "127.0.0.53",
    port: 53,
    iface: "lo",
    processes: ["systemd-resolve"],
  });
  assert.deepEqual(ls[6], { protocol: "tcp", address: "0.0.0.0", port: 8080, processes: ["python3"] });
  assert.deepEqual(ls[2], { protocol: "udp", address: "::", port: 51820 });
  assert.equal(formatListener(ls[0]!), "127.0.0.53%lo:53/udp");
  assert.equal(formatListener(ls[4]!), "[::]:22/tcp");
});

test("parseSs merges duplicate SO_REUSEPORT sockets and skips header or junk lines", () => {
  const ls = parseSs(
    "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\n" +
      'tcp LISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=1,fd=6))\n' +
      'tcp LISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=2,fd=6))\n',
  );
  assert.deepEqual(ls, [{ protocol: "tcp", address: "0.0.0.0", port: 80, processes: ["nginx"] }]);
});

test("isIgnored matches addresses and CIDR prefixes, unmapping ::ffff:a.b.c.d", () => {
  const [resolved, , , , , any, , mapped, v6lo] = parseSs(SS);
  const ignore = ["127.0.0.0/8", "::1"];
  assert.equal(isIgnored(resolved!, ignore), true);
  assert.equal(isIgnored(mapped!, ignore), true);
  assert.equal(isIgnored(v6lo!, ignore), true);
  assert.equal(isIgnored(any!, ignore), false);
  assert.equal(isIgnored(any!, ["*"]), true);
});

const declared = [
  { service: "ssh", port: 22, protocol: "tcp" as const },
  { service: "node_exporter", port: 9100, protocol: "tcp" as const },
  { service: "wireguard", port: 51820, protocol: "udp" as const },
];

test("judgeListeners fails on an undeclared listener, naming its process", () => {
  const o = judgeListeners("gpu", parseSs(SS), declared, ["127.0.0.0/8", "::1", "fe80::/10"]);
  assert.equal(o.status, "fail");
  assert.equal(o.message, "gpu: unexpected listener 0.0.0.0:8080/tcp (python3)");
  assert.deepEqual((o.observed as { notListening: string[] }).notListening, []);
  assert.equal((o.observed as { listeners: string[] }).listeners.length, 10);
});

test("judgeListeners fails when a declared service is not listening, and lists everything", () => {
  const o = judgeListeners(
    "gpu",
    parseSs(SS),
    [...declared, { service: "dns", port: 53, protocol: "tcp" }],
    ["127.0.0.0/8", "::1"],
  );
  assert.equal(o.status, "fail");
  assert.match(o.message, /unexpected listener 0\.0\.0\.0:8080\/tcp \(python3\)/);
  assert.match(o.message, /unexpected listener \[fe80::1%eth0\]:123\/udp/);
  assert.match(o.message, /dns \(53\/tcp\) is not listening/);
  assert.deepEqual((o.observed as { notListening: string[] }).notListening, ["dns (53/tcp)"]);
});

test("judgeListeners passes when every listener is declared or ignored", () => {
  const ok = SS.split("\n")
    .filter((l) => !l.includes(":8080") && !l.includes("fe80"))
    .join("\n");
  const o = judgeListeners("gpu", parseSs(ok), declared, ["127.0.0.0/8", "::1"]);
  assert.equal(o.status, "pass", o.message);
});
