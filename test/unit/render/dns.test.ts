import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { loadInventory, parseInventory } from "../../../src/inventory/load.js";
import type { Inventory } from "../../../src/inventory/model.js";
import { dnsRenderer } from "../../../src/render/dns.js";
import type { RenderContext, RenderedFile } from "../../../src/render/types.js";
import { accepts, text, tool, writeFiles } from "./tools.js";

const tmp = mkdtempSync(join(tmpdir(), "keel-dns-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const NOW = new Date("2026-11-23T10:00:00Z");

function ctx(now = NOW, previous: RenderedFile[] = []): RenderContext {
  return { now, previous: (p) => previous.find((f) => f.path === p)?.content as string | undefined };
}

function render(inv: Inventory, c = ctx()): RenderedFile[] {
  return dnsRenderer.render(inv, c) as RenderedFile[];
}

/** named-checkzone on every zone file, and named-checkconf -z on named.conf.zones loading them all. */
function checkWithBind(files: RenderedFile[], name: string): void {
  const dir = join(tmp, name);
  writeFiles(dir, files);
  const zones = files.filter((f) => f.path.startsWith("dns/db.")).map((f) => f.path.slice("dns/db.".length));
  assert.ok(zones.length > 0);
  for (const z of zones)
    accepts("named-checkzone", ["-k", "fail", "-n", "fail", z, join(dir, "dns", `db.${z}`)]);
  const conf = join(dir, "named.conf");
  writeFileSync(
    conf,
    `options { directory "${join(dir, "dns")}"; };\ninclude "${join(dir, "dns", "named.conf.zones")}";\n`,
  );
  const out = accepts("named-checkconf", ["-z", conf]);
  for (const z of zones) assert.match(out, new RegExp(`zone ${z.replace(/\./g, "\\.")}/IN: loaded serial`));
}

/** A synthetic site: IPv4 /16 and two /25s sharing a /24, IPv6 /48 and /62, every record type. */
const SYNTHETIC = `keel: 1
site: syn
domain: syn.example.
dns:
  ttl: 600
  servers: [ns1, ns2]
  contact: dns.admin@syn.example
  records:
    - { name: "@", type: MX, value: "10 mail" }
    - { name: "@", type: MX, value: "20 mx.backup.example." }
    - { name: "@", type: TXT, value: 'v=spf1 mx -all "quoted" \\ ${"x".repeat(300)}' }
    - { name: sel._domainkey, type: TXT, value: '"v=DKIM1; k=ed25519" "p=abc"' }
    - { name: "@", type: CAA, value: 0 issue "letsencrypt.org" }
    - { name: "*", type: A, value: 10.30.0.9 }
    - { name: "*.apps", type: CNAME, value: web }
    - { name: _sip._tcp, type: SRV, value: "10 5 5060 mail", ttl: 60 }
    - { name: _none._tcp, type: SRV, value: "0 0 0 ." }
    - { name: v6only, type: AAAA, value: "FD00:0:0::99" }
    - { name: sub, type: NS, value: ns2 }
    - { name: ext, type: CNAME, value: www.example.org., ttl: 0 }
networks:
  big: { cidr: 10.30.0.0/16, gateway: 10.30.0.1 }
  half-a: { cidr: 10.31.5.0/25 }
  half-b: { cidr: 10.31.5.128/25 }
  six: { cidr: "fd00:30::/48" }
  six-small: { cidr: "fd00:31:0:4::/62" }
hosts:
  ns1: { address: { big: 10.30.0.2, six: "fd00:30::2" }, services: [{ name: dns, kind: dns, port: 53/udp }] }
  ns2: { address: { big: 10.30.1.3, six: "fd00:30::3" } }
  mail: { address: { big: 10.30.200.25 } }
  web: { address: { half-a: 10.31.5.10, six-small: "fd00:31:0:7::a" }, services: [{ name: https, port: 443, dns: www }, { name: api, port: 8443, dns: api.v1 }] }
  db: { address: { half-b: 10.31.5.200 } }
`;

test("the example lab's zones pass named-checkzone and named-checkconf", () => {
  const files = render(loadInventory("examples/lab/keel.yaml"));
  assert.deepEqual(
    files.map((f) => f.path),
    [
      "dns/db.lab.internal",
      "dns/db.0.20.10.in-addr.arpa",
      "dns/db.0.99.10.in-addr.arpa",
      "dns/named.conf.zones",
    ],
  );
  const fwd = text(files, "dns/db.lab.internal");
  for (const line of [
    "$ORIGIN lab.internal.",
    "@\tIN\tSOA\tgw-vpn.lab.internal. hostmaster.lab.internal. (",
    "\t\t2026112300 ; serial",
    "@\tIN\tNS\tgw-vpn.lab.internal.",
    "@\tIN\tMX\t10 svc-1",
    '@\tIN\tTXT\t"v=spf1 mx -all"',
    "*.apps\tIN\tCNAME\tsvc-1",
    "_http._tcp\t300\tIN\tSRV\t10 5 8080 svc-1",
    "gw-vpn\tIN\tA\t10.20.0.2",
    "gw-vpn\tIN\tA\t10.99.0.1",
    "www\tIN\tCNAME\tsvc-1",
    "grafana\tIN\tCNAME\tmon",
  ])
    assert.ok(fwd.split("\n").includes(line), `missing ${JSON.stringify(line)} in\n${fwd}`);
  const rev = text(files, "dns/db.0.20.10.in-addr.arpa");
  assert.ok(rev.includes("\n10\tIN\tPTR\tgpu.lab.internal.\n"), rev);
  checkWithBind(files, "lab");
});

test("a synthetic site: octet and nibble reverse zones, every record type, accepted by BIND's checkers", () => {
  const inv = parseInventory(SYNTHETIC, "syn.yaml");
  const files = render(inv);
  assert.deepEqual(files.map((f) => f.path).sort(), [
    "dns/db.0.0.0.0.0.0.0.1.3.0.0.0.0.d.f.ip6.arpa", // fd00:31:0:4::/62 → its /60, 15 nibbles
    "dns/db.0.0.0.0.0.3.0.0.0.0.d.f.ip6.arpa", // fd00:30::/48 → 12 nibbles
    "dns/db.30.10.in-addr.arpa", // a /16: one zone
    "dns/db.5.31.10.in-addr.arpa", // two /25s: their /24's zone, once
    "dns/db.syn.example",
    "dns/named.conf.zones",
  ]);
  const fwd = text(files, "dns/db.syn.example");
  assert.match(fwd, /^@\tIN\tSOA\tns1\.syn\.example\. dns\\\.admin\.syn\.example\. \($/m);
  assert.match(fwd, /^\$TTL 600$/m);
  assert.match(fwd, /^v6only\tIN\tAAAA\tfd00::99$/m);
  assert.match(fwd, /^api\.v1\tIN\tCNAME\tweb$/m);
  assert.match(fwd, /^ext\t0\tIN\tCNAME\twww\.example\.org\.$/m);
  // TXT longer than 255 bytes: split into character-strings, quotes and backslashes escaped
  const txt = /^@\tIN\tTXT\t(.*)$/m.exec(fwd)?.[1] ?? "";
  assert.ok(txt.startsWith('"v=spf1 mx -all \\"quoted\\" \\\\ xxx'), txt);
  assert.equal(txt.match(/" "/g)?.length, 1, txt);
  const big = text(files, "dns/db.30.10.in-addr.arpa");
  assert.match(big, /^25\.200\tIN\tPTR\tmail\.syn\.example\.$/m);
  assert.match(big, /^3\.1\tIN\tPTR\tns2\.syn\.example\.$/m);
  const halves = text(files, "dns/db.5.31.10.in-addr.arpa");
  assert.match(halves, /^10\tIN\tPTR\tweb\.syn\.example\.$/m);
  assert.match(halves, /^200\tIN\tPTR\tdb\.syn\.example\.$/m);
  const six = text(files, "dns/db.0.0.0.0.0.0.0.1.3.0.0.0.0.d.f.ip6.arpa");
  // fd00:31:0:7::a, less the zone's 15 nibbles
  assert.match(six, /^a\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.7\tIN\tPTR\tweb\.syn\.example\.$/m);
  checkWithBind(files, "syn");
  // the reverse zones really answer: named-checkzone -D dumps the loaded PTR in canonical form
  const dump = accepts("named-checkzone", [
    "-D",
    "0.0.0.0.0.0.0.1.3.0.0.0.0.d.f.ip6.arpa",
    join(tmp, "syn", "dns", "db.0.0.0.0.0.0.0.1.3.0.0.0.0.d.f.ip6.arpa"),
  ]);
  assert.match(
    dump,
    /^a\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.0\.7\.0\.0\.0\.0\.0\.0\.0\.1\.3\.0\.0\.0\.0\.d\.f\.ip6\.arpa\.\s+600\s+IN\s+PTR\s+web\.syn\.example\.$/m,
  );
});

test("the checker is no rubber stamp: named-checkzone rejects a zone with a broken record", () => {
  const files = render(loadInventory("examples/lab/keel.yaml"));
  const broken = text(files, "dns/db.lab.internal").replace(
    "gpu\tIN\tA\t10.20.0.10",
    "gpu\tIN\tA\t10.20.0.300",
  );
  const f = join(tmp, "broken.zone");
  writeFileSync(f, broken);
  assert.notEqual(tool("named-checkzone", ["lab.internal", f]).status, 0);
});

test("rendering is deterministic: same inventory and previous state, same bytes", () => {
  const a = render(parseInventory(SYNTHETIC, "syn.yaml"));
  const b = render(parseInventory(SYNTHETIC, "other/place.yaml"));
  assert.deepEqual(b, a);
});

test("SOA serial: kept while the zone is unchanged, bumped when a record changes", () => {
  const day1 = render(loadInventory("examples/lab/keel.yaml"), ctx(NOW));
  const serialOf = (files: RenderedFile[], path = "dns/db.lab.internal") =>
    /^\t\t(\d+) ; serial$/m.exec(text(files, path))?.[1];
  assert.equal(serialOf(day1), "2026112300");
  // a week later, nothing changed: every zone keeps its serial and its bytes
  const later = new Date("2026-11-30T10:00:00Z");
  const same = render(loadInventory("examples/lab/keel.yaml"), ctx(later, day1));
  assert.deepEqual(same, day1);
  // a record changes that day: the forward zone gets that day's first serial; reverse zones keep theirs
  const inv = loadInventory("examples/lab/keel.yaml");
  inv.dns!.records[0]!.value = "20 svc-1";
  const changed = render(inv, ctx(later, day1));
  assert.equal(serialOf(changed), "2026113000");
  assert.equal(serialOf(changed, "dns/db.0.20.10.in-addr.arpa"), "2026112300");
  // and again the same day: old + 1
  inv.dns!.records[0]!.value = "30 svc-1";
  const again = render(inv, ctx(later, changed));
  assert.equal(serialOf(again), "2026113001");
  // a host's address changes: its reverse zone is bumped too
  inv.hosts.find((h) => h.name === "gpu")!.addresses[0]!.address = "10.20.0.11";
  const moved = render(inv, ctx(later, again));
  assert.equal(serialOf(moved, "dns/db.0.20.10.in-addr.arpa"), "2026113000");
  assert.equal(serialOf(moved), "2026113002");
});

test("no domain: no zones; a domain without a name server: an error naming the fix", () => {
  const noDomain = parseInventory(
    "keel: 1\nsite: x\nnetworks: { lan: { cidr: 10.20.0.0/24 } }\nhosts: { a: { address: 10.20.0.5 } }\n",
    "x.yaml",
  );
  assert.deepEqual(render(noDomain), []);
  const noServer = parseInventory(
    "keel: 1\nsite: x\ndomain: x.internal\nnetworks: { lan: { cidr: 10.20.0.0/24 } }\nhosts: { a: { address: 10.20.0.5 } }\n",
    "x.yaml",
  );
  assert.throws(
    () => render(noServer),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        "x.yaml: the zones of domain x.internal need a name server; declare dns: { servers: [HOST] } or give a host a service of kind dns",
  );
});
