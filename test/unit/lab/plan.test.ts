import assert from "node:assert/strict";
import { test } from "node:test";
import { loadInventory } from "../../../src/inventory/load.js";
import {
  freeAddressFromTop,
  localVantageAddresses,
  namedConf,
  planLab,
  prometheusYaml,
} from "../../../src/lab/plan.js";
import { overlaps, parsePrefix } from "../../../src/net/prefix.js";
import { allowPrefixes, hostRuleset } from "../../../src/render/nftables.js";
import { labInventory } from "../../lab/fixture.js";

const overlap = (a: string, b: string) => overlaps(parsePrefix(a), parsePrefix(b));
const inv = labInventory({ site: "unit", dir: "/nonexistent", octet: 20 });

test("freeAddressFromTop: highest usable address not in use", () => {
  assert.equal(freeAddressFromTop("10.99.0.0/24"), "10.99.0.254");
  assert.equal(freeAddressFromTop("10.0.0.0/31"), "10.0.0.1");
  assert.equal(freeAddressFromTop("fd00:1::/64"), "fd00:1::ffff:ffff:ffff:ffff");
  assert.equal(freeAddressFromTop("10.1.0.0/24", new Set(["10.1.0.254", "10.1.0.253"])), "10.1.0.252");
  assert.equal(freeAddressFromTop("10.1.0.0/16", new Set(["10.1.255.254"])), "10.1.255.253");
  assert.throws(
    () => freeAddressFromTop("10.1.0.0/30", new Set(["10.1.0.1", "10.1.0.2"])),
    /no free address/,
  );
});

test("names: host and switch namespaces, 15-character interface names", () => {
  const plan = planLab(inv);
  assert.equal(plan.switchNs, "keel-unit-sw");
  assert.deepEqual(
    plan.hosts.map((h) => h.ns),
    ["keel-unit-gw-vpn", "keel-unit-mon", "keel-unit-gpu", "keel-unit-svc-1"],
  );
  const names = [
    ...plan.hosts.flatMap((h) => h.links.flatMap((l) => [l.ifname, l.swPort])),
    ...plan.rootLinks.map((l) => l.ifname),
    ...plan.wireguard.flatMap((w) => w.peers.map((p) => p.ifname)),
  ];
  for (const n of names) assert.ok(n.length <= 15, n);
});

test("routes: hosts on lan reach vpn through gw-vpn; the root namespace reaches lan through it", () => {
  const plan = planLab(inv);
  const gpu = plan.hosts.find((h) => h.host === "gpu")!;
  assert.deepEqual(gpu.routes, [{ network: "vpn", cidr: "10.21.0.0/24", via: "10.20.0.2", family: 4 }]);
  assert.deepEqual(plan.hosts.find((h) => h.host === "gw-vpn")!.routes, []);
  assert.deepEqual(
    plan.rootLinks.map((l) => [l.network, l.addresses]),
    [["vpn", ["10.21.0.250/24"]]],
  );
  assert.deepEqual(plan.rootRoutes, [{ network: "lan", cidr: "10.20.0.0/24", via: "10.21.0.1", family: 4 }]);
});

test("local vantages without declared addresses get the last usable address of each network", () => {
  const bare = labInventory({ site: "unit", dir: "/nonexistent", octet: 20 });
  bare.vantages[0]!.addresses = [];
  assert.deepEqual(localVantageAddresses(bare), { admin: ["10.21.0.254"] });
  bare.hosts[0]!.addresses.push({ network: "vpn", address: "10.21.0.254" });
  assert.deepEqual(localVantageAddresses(bare), { admin: ["10.21.0.253"] });
});

test("firewall: each host gets the ruleset keel render writes for it, nothing added", () => {
  const plan = planLab(inv);
  for (const h of inv.hosts) {
    assert.equal(plan.hosts.find((x) => x.host === h.name)!.firewall, hostRuleset(inv, h));
  }
  const gpu = plan.hosts.find((h) => h.host === "gpu")!.firewall;
  assert.match(gpu, /policy drop;/);
  assert.match(gpu, /ip saddr \{ 10\.20\.0\.3\/32, 10\.21\.0\.0\/24 \} tcp dport 9100 accept/);
  assert.doesNotMatch(gpu, /faults|reject/);
});

test("services: real daemons where Debian has one, stand-ins otherwise", () => {
  const plan = planLab(inv);
  const kinds = Object.fromEntries(
    plan.hosts.flatMap((h) =>
      h.services.map((s) => [`${h.host}/${s.service}`, `${s.daemon}:${s.mode ?? ""}`]),
    ),
  );
  assert.equal(kinds["gw-vpn/wireguard"], "wireguard:");
  assert.equal(kinds["mon/prometheus"], "prometheus:");
  assert.equal(kinds["mon/grafana"], "standin:grafana");
  assert.equal(kinds["svc-1/web"], "standin:http");
  assert.equal(kinds["gpu/ssh"], "sshd:");
  assert.equal(kinds["gpu/node_exporter"], "node_exporter:");
});

test("prometheus scrapes every monitored host on the network it shares with mon", () => {
  const plan = planLab(inv);
  const targets = plan.prometheus.mon!.targets;
  assert.deepEqual(targets, [
    { host: "gw-vpn", target: "10.20.0.2:9100" },
    { host: "mon", target: "10.20.0.3:9100" },
    { host: "gpu", target: "10.20.0.10:9100" },
    { host: "svc-1", target: "10.20.0.20:9100" },
  ]);
  const yaml = JSON.parse(prometheusYaml(targets));
  assert.equal(yaml.global.scrape_interval, "2s");
  assert.deepEqual(yaml.scrape_configs[0].static_configs[2], {
    targets: ["10.20.0.10:9100"],
    labels: { host: "gpu" },
  });
});

test("wireguard: the gateway admits each peer by its /32 on the shared network; peers keep alive", () => {
  const [gw] = planLab(inv).wireguard;
  assert.equal(gw!.ifname, "wg0");
  assert.equal(gw!.port, 51820);
  const [admin] = gw!.peers;
  assert.equal(admin!.ns, null);
  assert.deepEqual(admin!.allowedIps, ["10.21.0.250/32"]);
  assert.equal(admin!.endpoint, "10.21.0.1:51820");
  const gpu = gw!.peers[1]!;
  assert.equal(gpu.ns, "keel-unit-gpu");
  assert.deepEqual(gpu.allowedIps, ["10.20.0.10/32"]);
  assert.equal(gpu.endpoint, "10.20.0.2:51820");
});

test("names that do not fit are refused as user errors", () => {
  const long = labInventory({ site: "a-very-long-site-name-for-the-lab", dir: "/x", octet: 20 });
  assert.throws(() => planLab(long), /longer than 40 characters/);
});

test("examples/lab: ssh admits both vantages; gpu's node_exporter does not admit lan-probe", () => {
  const ex = loadInventory("examples/lab/keel.yaml");
  const gpu = ex.hosts.find((h) => h.name === "gpu")!;
  const ne = allowPrefixes(ex, gpu.services.find((s) => s.kind === "node_exporter")!.allow)!;
  const probe = ex.vantages.find((v) => v.name === "lan-probe")!;
  const probeAddr = `${ex.hosts.find((h) => h.name === probe.via)!.addresses[0]!.address}/32`;
  assert.ok(!ne.some((p) => overlap(p, probeAddr)), `${ne} admits ${probeAddr}`);
  for (const h of ex.hosts) {
    const ssh = allowPrefixes(ex, h.services.find((s) => s.kind === "ssh")!.allow)!;
    assert.ok(
      ssh.some((p) => overlap(p, probeAddr)),
      `${h.name} ssh from lan-probe`,
    );
    assert.ok(
      ssh.some((p) => overlap(p, "10.99.0.250/32")),
      `${h.name} ssh from admin`,
    );
  }
  assert.equal(planLab(ex).rootLinks[0]!.addresses[0], "10.99.0.250/24");
});

test("IPv6 networks: ip6 firewall sources, /128 allowed-ips, bracketed endpoints", () => {
  const v6 = labInventory({ site: "unit", dir: "/nonexistent", octet: 20 });
  v6.networks[1] = { ...v6.networks[1]!, cidr: "fd00:21::/64", family: 6 };
  v6.hosts[0]!.addresses[1]!.address = "fd00:21::1";
  v6.vantages[0]!.addresses = [{ network: "vpn", address: "fd00:21::250" }];
  const plan = planLab(v6);
  const gpu = plan.hosts.find((h) => h.host === "gpu")!;
  assert.match(gpu.firewall, /ip6 saddr fd00:21::\/64 tcp dport 9100 accept/);
  assert.match(gpu.firewall, /ip saddr 10\.20\.0\.3\/32 tcp dport 9100 accept/);
  const admin = plan.wireguard[0]!.peers[0]!;
  assert.deepEqual(admin.allowedIps, ["fd00:21::250/128"]);
  assert.equal(admin.endpoint, "[fd00:21::1]:51820");
  assert.deepEqual(plan.rootLinks[0]!.addresses, ["fd00:21::250/64"]);
  assert.deepEqual(plan.rootRoutes, []); // no IPv4 route through an IPv6 next hop
  assert.deepEqual(gpu.routes, []);
});

test("BIND runs on each dns.servers host (its dns service, else port 53), on the host's addresses only", () => {
  const ex = loadInventory("examples/lab/keel.yaml");
  const plan = planLab(ex);
  const gw = plan.hosts.find((h) => h.host === "gw-vpn")!;
  assert.deepEqual(gw.named, { service: "dns", port: 53, listen4: ["10.20.0.2", "10.99.0.1"], listen6: [] });
  assert.equal(gw.services.find((s) => s.service === "dns")?.daemon, "named");
  assert.ok(plan.hosts.find((h) => h.host === "mon")!.named);
  assert.equal(plan.hosts.find((h) => h.host === "gpu")!.named, undefined);
  const conf = namedConf("/x/named", gw.named!);
  assert.match(conf, /listen-on port 53 \{ 10\.20\.0\.2; 10\.99\.0\.1; \};/);
  assert.match(conf, /listen-on-v6 port 53 \{ none; \};/);
  assert.match(conf, /recursion no;/);
  assert.match(conf, /controls \{ \};/);
  assert.match(conf, /include "\/x\/named\/named\.conf\.zones";/);
  // without a domain there are no zones, so no BIND; a server without a dns service gets port 53
  const { domain: _, ...noDomain } = ex;
  assert.ok(planLab(noDomain).hosts.every((h) => h.named === undefined));
  const gpuNs = planLab({ ...ex, dns: { ...ex.dns!, servers: ["gpu"] } }).hosts.find(
    (h) => h.host === "gpu",
  )!;
  assert.deepEqual(gpuNs.named, { service: "dns", port: 53, listen4: ["10.20.0.10"], listen6: [] });
  // the stand-in stays for a dns service on a host that is not a server
  assert.equal(
    planLab({ ...ex, dns: { ...ex.dns!, servers: ["mon"] } })
      .hosts.find((h) => h.host === "gw-vpn")!
      .services.find((s) => s.service === "dns")?.daemon,
    "standin",
  );
});
