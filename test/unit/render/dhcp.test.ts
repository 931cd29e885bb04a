import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { parseInventory } from "../../../src/inventory/load.js";
import type { Inventory } from "../../../src/inventory/model.js";
import { dhcpRenderer } from "../../../src/render/dhcp.js";
import type { RenderedFile } from "../../../src/render/types.js";
import { accepts, text, tool, writeFiles } from "./tools.js";

const tmp = mkdtempSync(join(tmpdir(), "keel-dhcp-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A site with DHCP on `lan` (pool: range `vms`, the top /25 less the broadcast address), a
 * reservation-only network `srv`, an IPv6 network with DHCPv6, and three VMs.
 * The test sets `vm` and `dhcp` on the loaded model directly, as the loader does from the
 * YAML keys `vm:` and `dhcp:`.
 */
function site(): Inventory {
  const inv = parseInventory(
    `keel: 1
site: dh
domain: dh.internal
networks:
  lan:
    cidr: 10.40.0.0/24
    gateway: 10.40.0.1
    dns: [ns1, 10.40.0.53]
    ranges: { infra: 10.40.0.0/28, vms: 10.40.0.128/25 }
  srv: { cidr: 10.41.0.0/16, gateway: 10.41.0.1, dns: [ns1] }
  six:
    cidr: "fd00:40::/64"
    dns: [ns1]
    ranges: { pool: "fd00:40::1000/116" }
hosts:
  ns1: { address: { lan: 10.40.0.2, srv: 10.41.0.2, six: "fd00:40::2" } }
  web-2: { address: { lan: 10.40.0.131 } }
  web-1: { address: { lan: 10.40.0.130 } }
  db-1: { address: { srv: 10.41.3.7 } }
  v6vm: { address: { six: "fd00:40::1001" } }
`,
    "dh.yaml",
  );
  const vm = (mac: string) => ({
    mac,
    macAllocated: false,
    instance: 1,
    users: [],
    packages: [],
    packageUpgrade: false,
    pos: inv.hosts[0]!.pos,
  });
  inv.networks.find((n) => n.name === "lan")!.dhcp = { range: "vms", leaseSeconds: 43200 };
  inv.networks.find((n) => n.name === "six")!.dhcp = { range: "pool", leaseSeconds: 3600 };
  const hosts = new Map(inv.hosts.map((h) => [h.name, h]));
  hosts.get("web-1")!.vm = vm("02:00:00:00:00:01");
  hosts.get("web-2")!.vm = vm("02:00:00:00:00:02");
  hosts.get("db-1")!.vm = vm("02:00:00:00:00:0A");
  hosts.get("v6vm")!.vm = vm("02:00:00:00:00:06");
  return inv;
}

function render(inv: Inventory): RenderedFile[] {
  return dhcpRenderer.render(inv, { now: new Date(), previous: () => undefined }) as RenderedFile[];
}

test("dnsmasq.conf: ranges, options and one reservation per VM; dnsmasq --test accepts it", () => {
  const files = render(site());
  assert.deepEqual(
    files.map((f) => f.path),
    ["dhcp/dnsmasq.conf", "dhcp/kea-dhcp4.conf"],
  );
  const conf = text(files, "dhcp/dnsmasq.conf");
  const lines = conf.split("\n").filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(lines, [
    "domain=dh.internal",
    "dhcp-range=set:lan,10.40.0.128,10.40.0.254,255.255.255.0,43200",
    "dhcp-option=tag:lan,option:router,10.40.0.1",
    "dhcp-option=tag:lan,option:dns-server,10.40.0.2,10.40.0.53",
    "dhcp-host=02:00:00:00:00:01,10.40.0.130,web-1",
    "dhcp-host=02:00:00:00:00:02,10.40.0.131,web-2",
    "dhcp-range=set:srv,10.41.0.0,static,255.255.0.0,43200",
    "dhcp-option=tag:srv,option:router,10.41.0.1",
    "dhcp-option=tag:srv,option:dns-server,10.41.0.2",
    "dhcp-host=02:00:00:00:00:0a,10.41.3.7,db-1",
    "dhcp-range=set:six,fd00:40::1000,fd00:40::1fff,64,3600",
    "dhcp-option=tag:six,option6:dns-server,[fd00:40::2]",
    "dhcp-host=02:00:00:00:00:06,[fd00:40::1001],v6vm",
  ]);
  writeFiles(tmp, files);
  assert.match(
    accepts("dnsmasq", ["--test", `--conf-file=${join(tmp, "dhcp", "dnsmasq.conf")}`]),
    /syntax check OK/,
  );
});

test("kea-dhcp4.conf: subnet4 with id, pool, reservations and options; kea-dhcp4 -t accepts it", () => {
  const files = render(site());
  const kea = JSON.parse(text(files, "dhcp/kea-dhcp4.conf")) as {
    Dhcp4: { "option-data": unknown; subnet4: Record<string, unknown>[] };
  };
  assert.deepEqual(kea.Dhcp4["option-data"], [{ name: "domain-name", data: "dh.internal" }]);
  assert.deepEqual(kea.Dhcp4.subnet4, [
    {
      id: 1,
      subnet: "10.40.0.0/24",
      "valid-lifetime": 43200,
      pools: [{ pool: "10.40.0.128 - 10.40.0.254" }],
      "option-data": [
        { name: "routers", data: "10.40.0.1" },
        { name: "domain-name-servers", data: "10.40.0.2, 10.40.0.53" },
      ],
      reservations: [
        { "hw-address": "02:00:00:00:00:01", "ip-address": "10.40.0.130", hostname: "web-1" },
        { "hw-address": "02:00:00:00:00:02", "ip-address": "10.40.0.131", hostname: "web-2" },
      ],
      "user-context": { network: "lan" },
    },
    {
      id: 2,
      subnet: "10.41.0.0/16",
      "valid-lifetime": 43200,
      pools: [],
      "option-data": [
        { name: "routers", data: "10.41.0.1" },
        { name: "domain-name-servers", data: "10.41.0.2" },
      ],
      reservations: [{ "hw-address": "02:00:00:00:00:0a", "ip-address": "10.41.3.7", hostname: "db-1" }],
      "user-context": { network: "srv" },
    },
  ]);
  writeFiles(tmp, files);
  const out = accepts("kea-dhcp4", ["-t", join(tmp, "dhcp", "kea-dhcp4.conf")]);
  assert.match(out, /a new subnet has been added to configuration: 10\.40\.0\.0\/24/);
  assert.match(out, /a new subnet has been added to configuration: 10\.41\.0\.0\/16/);
});

test("the checkers are no rubber stamps: dnsmasq and kea-dhcp4 reject a broken config", () => {
  const files = render(site());
  const dnsmasq = join(tmp, "broken-dnsmasq.conf");
  writeFileSync(dnsmasq, text(files, "dhcp/dnsmasq.conf").replace("10.40.0.254,255", "10.40.0.999,255"));
  assert.notEqual(tool("dnsmasq", ["--test", `--conf-file=${dnsmasq}`]).status, 0);
  const kea = join(tmp, "broken-kea.conf");
  // two reservations for one address in a subnet
  writeFileSync(
    kea,
    text(files, "dhcp/kea-dhcp4.conf").replace('"ip-address": "10.40.0.131"', '"ip-address": "10.40.0.130"'),
  );
  assert.notEqual(tool("kea-dhcp4", ["-t", kea]).status, 0);
});

test("dhcp: deterministic bytes; nothing without dhcp networks or VMs; an unknown dhcp.range is located", () => {
  assert.deepEqual(render(site()), render(site()));
  const plain = parseInventory(
    "keel: 1\nsite: x\nnetworks: { lan: { cidr: 10.20.0.0/24 } }\nhosts: { a: { address: 10.20.0.5 } }\n",
    "x.yaml",
  );
  assert.deepEqual(render(plain), []);
  const inv = site();
  inv.networks[0]!.dhcp = { range: "vm", leaseSeconds: 60 };
  assert.throws(
    () => render(inv),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        'dh.yaml:5:3: dhcp.range "vm" of network "lan" names no range; expected one of infra, vms',
  );
});
