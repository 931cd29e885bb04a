import assert from "node:assert/strict";
import { test } from "node:test";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import { BASE, oneProblem, problemsOf, yaml } from "./helpers.js";

/** BASE (lines 1–7) plus a domain and a name server (lines 8–10); tests append from line 11. */
const SITE = [
  ...BASE,
  "  ns1: { address: 10.20.0.4, services: [{ name: web, port: 80, dns: www }] }",
  "domain: lab.internal",
  "dns:",
];

test("dns: keys load with their defaults; a service's dns: NAME is kept", () => {
  const text = yaml(
    ...SITE,
    "  servers: [ns1]",
    "  records:",
    '    - { name: "@", type: MX, value: "10 ns1" }',
    '    - { name: "*.apps", type: CNAME, value: a, ttl: 300 }',
    '    - { name: _sip._tcp, type: SRV, value: "10 5 5060 a" }',
    '    - { name: "@", type: TXT, value: "v=spf1 -all" }',
    '    - { name: "@", type: CAA, value: 0 issue "letsencrypt.org" }',
    "    - { name: ext, type: CNAME, value: example.org. }",
  );
  for (const load of [parseInventory, parseLocated]) {
    const inv = load(text, "t.yaml");
    assert.equal(inv.dns?.ttl, 3600);
    assert.equal(inv.dns?.contact, "hostmaster");
    assert.deepEqual(inv.dns?.servers, ["ns1"]);
    assert.deepEqual(
      inv.dns?.records.map((r) => [r.name, r.type, r.value, r.ttl, r.pos.line]),
      [
        ["@", "MX", "10 ns1", undefined, 13],
        ["*.apps", "CNAME", "a", 300, 14],
        ["_sip._tcp", "SRV", "10 5 5060 a", undefined, 15],
        ["@", "TXT", "v=spf1 -all", undefined, 16],
        ["@", "CAA", '0 issue "letsencrypt.org"', undefined, 17],
        ["ext", "CNAME", "example.org.", undefined, 18],
      ],
    );
    assert.equal(inv.hosts.find((h) => h.name === "ns1")?.services[0]?.dns, "www");
  }
  assert.equal(parseInventory(yaml(...BASE), "t.yaml").dns, undefined);
});

test("dns: a record pointing at an unknown host is a located error", () => {
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", '    - { name: "@", type: MX, value: "10 mail" }')),
    't.yaml:12:37: MX record 1 of dns.records points at "mail", which is not a declared host; expected one of a, ns1, or an FQDN ending in "."',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: www2, type: CNAME, value: nope }")),
    't.yaml:12:41: CNAME record 1 of dns.records points at "nope", which is not a declared host; expected one of a, ns1, or an FQDN ending in "."',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", '    - { name: _x._tcp, type: SRV, value: "0 0 80 gone" }')),
    't.yaml:12:42: SRV record 1 of dns.records points at "gone", which is not a declared host; expected one of a, ns1, or an FQDN ending in "."',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: sub, type: NS, value: ns9 }")),
    't.yaml:12:37: NS record 1 of dns.records points at "ns9", which is not a declared host; expected one of a, ns1, or an FQDN ending in "."',
  );
});

test("dns: a TTL out of range (RFC 2181 §8) is a located error, at dns.ttl and at a record", () => {
  assert.equal(
    oneProblem(yaml(...SITE, "  ttl: 2147483648")),
    "t.yaml:11:8: ttl 2147483648 of dns is out of range; expected a TTL in seconds from 0 to 2147483647 (RFC 2181 §8)",
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: x, type: A, value: 10.20.0.9, ttl: -1 }")),
    "t.yaml:12:50: ttl -1 of record 1 of dns.records is out of range; expected a TTL in seconds from 0 to 2147483647 (RFC 2181 §8)",
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  ttl: 1h")),
    't.yaml:11:8: ttl "1h" of dns is not a TTL; expected a whole number of seconds from 0 to 2147483647',
  );
});

test("dns: a servers entry naming no host, malformed names, types and values are located errors", () => {
  assert.equal(
    oneProblem(yaml(...SITE, "  servers: [ns1, ns2]")),
    't.yaml:11:18: dns.servers entry "ns2" is not a host; expected one of a, ns1',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: bad..name, type: A, value: 10.20.0.9 }")),
    't.yaml:12:15: name "bad..name" of record 1 of dns.records is not a DNS name; expected "@", "*", "*.NAME" or dot-separated labels of letters, digits, "-" and "_" (e.g. www, _sip._tcp)',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: x, type: PTR, value: a }")),
    't.yaml:12:24: type "PTR" of record 1 of dns.records is not a record type; expected one of A, AAAA, CNAME, MX, TXT, SRV, NS, CAA',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: x, type: A, value: fd00::1 }")),
    't.yaml:12:34: value "fd00::1" of record 1 of dns.records (A) is not an IPv4 address; expected e.g. 10.20.0.4',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", '    - { name: "@", type: MX, value: "mail" }')),
    't.yaml:12:37: value "mail" of record 1 of dns.records (MX) is not PREFERENCE TARGET; expected e.g. "10 mail" (preference 0-65535, a host name or an FQDN ending in ".")',
  );
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: t, type: TXT, value: '\"open' }")),
    `t.yaml:12:36: value "\\"open" of record 1 of dns.records (TXT) has unbalanced quotes; expected plain text, or "quoted" "strings"`,
  );
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "  b: { address: 10.20.0.6, services: [{ name: web, port: 80, dns: WWW }] }",
        "domain: lab.internal",
      ),
    ),
    't.yaml:8:67: dns "WWW" of service "web" of host "b" is not a DNS name; expected a name relative to domain: dot-separated labels of lowercase letters, digits and \'-\' (e.g. www)',
  );
});

test("dns: a CNAME colliding with another name (RFC 1034 §3.6.2) is a located error", () => {
  // a record's CNAME on a host's name
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", "    - { name: a, type: CNAME, value: ns1 }")),
    't.yaml:12:15: CNAME "a" of record 1 of dns.records (CNAME) collides with the host "a"; a name with a CNAME can have no other records (RFC 1034 §3.6.2): pick another name',
  );
  // another record at a service's CNAME
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", '    - { name: www, type: TXT, value: "hello" }')),
    't.yaml:12:15: record 1 of dns.records (TXT) at "www" collides with the CNAME of service "web" of host "ns1"; a name with a CNAME can have no other records (RFC 1034 §3.6.2): pick another name',
  );
  // a CNAME at the apex
  assert.equal(
    oneProblem(yaml(...SITE, "  records:", '    - { name: "@", type: CNAME, value: a }')),
    't.yaml:12:15: CNAME "@" of record 1 of dns.records (CNAME) collides with the zone apex (SOA, NS); a name with a CNAME can have no other records (RFC 1034 §3.6.2): pick another name',
  );
  // a service's CNAME on a host's name
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "  b: { address: 10.20.0.6, services: [{ name: web, port: 80, dns: a }] }",
        "domain: lab.internal",
      ),
    ),
    't.yaml:8:67: CNAME "a" of service "web" of host "b" collides with the host "a"; a name with a CNAME can have no other records (RFC 1034 §3.6.2): pick another name',
  );
});

test("dns: records and service names need a domain", () => {
  const ps = problemsOf(
    yaml(
      ...BASE,
      "  b: { address: 10.20.0.6, services: [{ name: web, port: 80, dns: www }] }",
      "dns:",
      "  records:",
      "    - { name: x, type: A, value: 10.20.0.9 }",
    ),
  );
  assert.deepEqual(ps, [
    't.yaml:8:67: dns "www" of service "web" of host "b" needs a domain; add domain: (e.g. lab.internal) at the top level',
    "t.yaml:11:5: dns.records needs a domain for the forward zone; add domain: (e.g. lab.internal) at the top level",
  ]);
});
