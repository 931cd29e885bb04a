import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type CanonicalRr,
  canonicalRdata,
  diffRecords,
  formatChange,
  parseDigAnswer,
  wantedRecords,
} from "../../../src/dns/diff.js";
import { updateScript } from "../../../src/dns/update.js";
import { siteZones } from "../../../src/dns/zone.js";
import { parseInventory } from "../../../src/inventory/load.js";

const rr = (name: string, type: string, rdata: string, ttl = 3600): CanonicalRr => ({
  name,
  ttl,
  type,
  rdata,
});

const SOA = "lab.internal.\t3600\tIN\tSOA\tns1.lab.internal. hostmaster.lab.internal. 7 3600 900 1209600 300";

test("in sync: no changes; SOA and DNSSEC types are ignored on either side", () => {
  const want = [rr("web.lab.internal.", "A", "10.0.0.5")];
  const have = parseDigAnswer(
    [
      SOA,
      "web.lab.internal.\t3600\tIN\tA\t10.0.0.5",
      "lab.internal.\t3600\tIN\tDNSKEY\t257 3 13 abc=",
      "web.lab.internal.\t3600\tIN\tRRSIG\tA 13 3 3600 20261201000000 20261101000000 1 lab.internal. sig=",
      "lab.internal.\t0\tIN\tTYPE65534\t\\# 5 0D0001",
      "lab.internal.\t300\tIN\tNSEC3PARAM\t1 0 0 -",
      SOA,
    ].join("\n"),
    "lab.internal",
  );
  assert.deepEqual(diffRecords(want, have), []);
});

test("owner names and names in RDATA compare case-insensitively, with or without the final dot", () => {
  const have = parseDigAnswer(
    "WEB.Lab.Internal.\t3600\tIN\tCNAME\tHost-1.LAB.internal.\nmx\t3600\tIN\tMX\t10 Mail\n",
    "lab.internal",
  );
  const want = [
    rr("web.lab.internal.", "CNAME", "host-1.lab.internal."),
    rr("mx.lab.internal.", "MX", "10 mail.lab.internal."),
  ];
  assert.deepEqual(diffRecords(want, have), []);
  assert.equal(canonicalRdata("CNAME", "host-1", "Lab.Internal"), "host-1.lab.internal.");
  assert.equal(canonicalRdata("AAAA", "FD00:0:0::99", "x"), "fd00::99");
  assert.equal(canonicalRdata("TXT", '"a\\065" b', "x"), '"aA" "b"');
  assert.equal(canonicalRdata("CAA", '0 ISSUE "letsencrypt.org"', "x"), '0 issue "letsencrypt.org"');
});

test("add, change (values and TTL-only) and remove, one change per RRset", () => {
  const want = [
    rr("new.z.", "A", "10.0.0.9"),
    rr("moved.z.", "A", "10.0.0.6"),
    rr("ttl.z.", "A", "10.0.0.7", 600),
    rr("same.z.", "A", "10.0.0.8"),
  ];
  const have = [
    rr("moved.z.", "A", "10.0.0.5"),
    rr("ttl.z.", "A", "10.0.0.7", 3600),
    rr("same.z.", "A", "10.0.0.8"),
    rr("gone.z.", "A", "10.0.0.4"),
    rr("gone.z.", "TXT", '"x"'),
  ];
  const changes = diffRecords(want, have);
  assert.deepEqual(
    changes.map((c) => `${c.action} ${c.name} ${c.type}`),
    ["remove gone.z. A", "remove gone.z. TXT", "change moved.z. A", "add new.z. A", "change ttl.z. A"],
  );
  assert.deepEqual(changes.flatMap(formatChange), [
    "- gone.z. 3600 A 10.0.0.4",
    '- gone.z. 3600 TXT "x"',
    "~ moved.z. A",
    "    - 10.0.0.5",
    "    + 10.0.0.6",
    "+ new.z. 3600 A 10.0.0.9",
    "~ ttl.z. A TTL 3600 => 600 (10.0.0.7)",
  ]);
});

test("the inventory's records: absolute names, the zone's TTL, an RRset's TTL from its first record", () => {
  const inv = parseInventory(
    `keel: 1
site: t
domain: Lab.Internal
dns:
  ttl: 600
  servers: [ns1]
  records:
    - { name: "@", type: MX, value: "10 ns1", ttl: 60 }
    - { name: "@", type: MX, value: "20 ns1" }
networks:
  lan: { cidr: 10.0.0.0/24 }
hosts:
  ns1: { address: { lan: 10.0.0.2 }, services: [{ name: www, port: 80, dns: www }] }
`,
    "keel.yaml",
  );
  const site = siteZones(inv)!;
  assert.deepEqual(
    site.zones.map((z) => z.name),
    ["lab.internal", "0.0.10.in-addr.arpa"],
  );
  const fwd = wantedRecords(site.zones[0]!, site.ttl).map((r) => `${r.name} ${r.ttl} ${r.type} ${r.rdata}`);
  assert.deepEqual(fwd, [
    "lab.internal. 600 NS ns1.lab.internal.",
    "lab.internal. 60 MX 10 ns1.lab.internal.",
    "lab.internal. 60 MX 20 ns1.lab.internal.",
    "ns1.lab.internal. 600 A 10.0.0.2",
    "www.lab.internal. 600 CNAME ns1.lab.internal.",
  ]);
  const rev = wantedRecords(site.zones[1]!, site.ttl).map((r) => `${r.name} ${r.type} ${r.rdata}`);
  assert.deepEqual(rev, [
    "0.0.10.in-addr.arpa. NS ns1.lab.internal.",
    "2.0.0.10.in-addr.arpa. PTR ns1.lab.internal.",
  ]);
});

test("update script: one message, SOA prerequisite, a change is delete + add in it, a TTL change is an add", () => {
  const changes = diffRecords(
    [
      rr("z.", "NS", "ns2.z."),
      rr("moved.z.", "A", "10.0.0.6"),
      rr("ttl.z.", "A", "10.0.0.7", 600),
      rr("new.z.", "A", "10.0.0.9"),
    ],
    [
      rr("z.", "NS", "ns1.z."),
      rr("moved.z.", "A", "10.0.0.5"),
      rr("ttl.z.", "A", "10.0.0.7"),
      rr("gone.z.", "A", "10.0.0.4"),
    ],
  );
  const script = updateScript(
    { host: "127.0.0.1", port: 5353 },
    "Z",
    "ns1.z. h.z. 7 3600 900 1209600 300",
    changes,
  );
  assert.equal(
    script,
    [
      "server 127.0.0.1 5353",
      "zone z.",
      "prereq yxrrset z. IN SOA ns1.z. h.z. 7 3600 900 1209600 300",
      "update delete gone.z. IN A 10.0.0.4",
      "update delete moved.z. IN A 10.0.0.5",
      "update add moved.z. 3600 IN A 10.0.0.6",
      "update add new.z. 3600 IN A 10.0.0.9",
      "update add ttl.z. 600 IN A 10.0.0.7",
      "update add z. 3600 IN NS ns2.z.",
      "update delete z. IN NS ns1.z.",
      "send",
      "",
    ].join("\n"),
  );
  assert.equal(script.match(/^send$/gm)?.length, 1);
});
