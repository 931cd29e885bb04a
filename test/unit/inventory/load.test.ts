import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path, { resolve } from "node:path";
import { test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { loadInventory, parseInventory, resolveIdentityPath } from "../../../src/inventory/load.js";
import { BASE, oneProblem, problemsOf, yaml } from "./helpers.js";

const CONTRACT = "test/fixtures/contract-example.yaml";

test("the contract example loads and normalises", () => {
  const inv = loadInventory(CONTRACT);
  assert.equal(inv.file, CONTRACT);
  assert.equal(inv.dir, resolve("test/fixtures"));
  assert.equal(inv.version, 1);
  assert.equal(inv.site, "lab");
  assert.equal(inv.domain, "lab.internal");
  assert.deepEqual(
    inv.networks.map((n) => [n.name, n.cidr, n.family, n.gateway, n.dns, n.ranges]),
    [
      [
        "lan",
        "10.20.0.0/24",
        4,
        "10.20.0.1",
        ["ns1"],
        [
          { name: "infra", cidr: "10.20.0.0/28" },
          { name: "vms", cidr: "10.20.0.128/25" },
        ],
      ],
      ["vpn", "10.99.0.0/24", 4, undefined, [], []],
    ],
  );
  assert.deepEqual(inv.defaults, {
    ssh: { user: "root", port: 22, identity: "~/.ssh/id_ed25519", allow: ["vpn"] },
    nodeExporter: { port: 9100, allow: ["mon", "vpn"] },
    knownHosts: path.join(inv.dir, ".keel", "known_hosts"),
    hostKeyChecking: "accept-new",
  });
  const hosts = Object.fromEntries(inv.hosts.map((h) => [h.name, h]));
  assert.deepEqual(Object.keys(hosts), ["gw-vpn", "mon", "ns1", "gpu"]);
  const gw = hosts["gw-vpn"]!;
  assert.deepEqual(gw.addresses, [
    { network: "lan", address: "10.20.0.2" },
    { network: "vpn", address: "10.99.0.1" },
  ]);
  assert.deepEqual(gw.sysctl, { "net.ipv4.ip_forward": "1" });
  assert.deepEqual(gw.wireguard, { interface: "wg0", port: 51820, peers: ["admin"] });
  const svc = (h: string) =>
    hosts[h]!.services.map((s) => ({
      name: s.name,
      kind: s.kind,
      port: s.port,
      protocol: s.protocol,
      allow: s.allow,
      http: s.http,
      fromDefaults: s.fromDefaults,
    }));
  const sshSvc = {
    name: "ssh",
    kind: "ssh",
    port: 22,
    protocol: "tcp",
    allow: ["vpn"],
    http: undefined,
    fromDefaults: true,
  };
  const neSvc = {
    name: "node_exporter",
    kind: "node_exporter",
    port: 9100,
    protocol: "tcp",
    allow: ["mon", "vpn"],
    http: undefined,
    fromDefaults: true,
  };
  assert.deepEqual(svc("gw-vpn"), [
    {
      name: "wireguard",
      kind: undefined,
      port: 51820,
      protocol: "udp",
      allow: ["any"],
      http: undefined,
      fromDefaults: false,
    },
    sshSvc,
    neSvc,
  ]);
  assert.deepEqual(svc("mon"), [
    {
      name: "prometheus",
      kind: "prometheus",
      port: 9090,
      protocol: "tcp",
      allow: ["vpn"],
      http: { path: "/-/healthy", expect: 200 },
      fromDefaults: false,
    },
    {
      name: "grafana",
      kind: "grafana",
      port: 3000,
      protocol: "tcp",
      allow: ["vpn"],
      http: { path: "/api/health", expect: 200 },
      fromDefaults: false,
    },
    sshSvc,
    neSvc,
  ]);
  // ns1 is not tagged monitored: ssh only from defaults
  assert.deepEqual(svc("ns1"), [
    {
      name: "dns",
      kind: "dns",
      port: 53,
      protocol: "udp",
      allow: ["lan", "vpn"],
      http: undefined,
      fromDefaults: false,
    },
    sshSvc,
  ]);
  assert.deepEqual(hosts.ns1!.addresses, [{ network: "lan", address: "10.20.0.4" }]);
  assert.deepEqual(svc("gpu"), [sshSvc, neSvc]);
  assert.deepEqual(hosts.gpu!.listenersIgnore, ["127.0.0.0/8", "::1"]);
  assert.deepEqual(hosts.gpu!.ssh, { user: "root", port: 22, identity: "~/.ssh/id_ed25519", allow: ["vpn"] });
  assert.deepEqual(
    inv.vantages.map(({ pos: _p, ...v }) => v),
    [
      { name: "admin", type: "local", networks: ["vpn"], addresses: [], implicit: false },
      {
        name: "lan-probe",
        type: "via",
        via: "gpu",
        networks: ["lan"],
        addresses: [{ network: "lan", address: "10.20.0.10" }],
        implicit: false,
      },
    ],
  );
  // positions point into the file: host gpu's name, the wireguard service item
  assert.deepEqual(hosts.gpu!.pos, { file: CONTRACT, line: 41, col: 3 });
  assert.deepEqual(gw.services[0]!.pos, { file: CONTRACT, line: 30, col: 9 });
});

test("a missing file is a UserError naming the file", () => {
  assert.throws(() => loadInventory("test/fixtures/no-such.yaml"), {
    name: "UserError",
    message: "test/fixtures/no-such.yaml: cannot read the inventory: no such file",
  });
});

// ---- top level -------------------------------------------------------------------------------

test("keel is required", () => {
  assert.match(oneProblem(yaml("site: lab")), /^t\.yaml:1:1: the inventory is missing required key "keel"/);
});

test("another keel version names the supported ones", () => {
  assert.equal(
    oneProblem(yaml("keel: 2", "site: lab")),
    "t.yaml:1:7: keel: 2 is not a supported format version; this Keel supports version 1 (keel: 1)",
  );
});

test("site is required and must be a DNS label", () => {
  assert.match(oneProblem(yaml("keel: 1")), /^t\.yaml:1:1: the inventory is missing required key "site"$/);
  assert.match(
    oneProblem(yaml("keel: 1", "site: Lab_1")),
    /^t\.yaml:2:7: site "Lab_1" is not a valid name; expected a DNS label/,
  );
});

test("a document that is not a mapping is rejected", () => {
  assert.match(oneProblem("- keel\n"), /^t\.yaml:1:1: the inventory must be a mapping .*got a list$/);
});

// ---- YAML ------------------------------------------------------------------------------------

test("a YAML syntax error is located at the yaml error's position", () => {
  assert.equal(
    oneProblem(yaml("keel: 1", "site: lab: x", "hosts: {}")),
    "t.yaml:2:7: YAML syntax error: Nested mappings are not allowed in compact mappings",
  );
});

test("a duplicate host name is a located error at the second key", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: 10.20.0.6 }", "  a: { address: 10.20.0.7 }")),
    't.yaml:9:3: duplicate host name "a" (first defined at line 7); each must appear once',
  );
});

test("a duplicate key inside a host is located and names the host", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b:", "    address: 10.20.0.6", "    tags: [x]", "    tags: [y]")),
    't.yaml:11:5: duplicate key "tags" in host "b" (first defined at line 10); each must appear once',
  );
});

// ---- unknown keys and names ------------------------------------------------------------------

test("an unknown key points at the key, lists the expected keys and suggests a close one", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  gpu:", "    address: 10.20.0.10", "    adress: 10.20.0.11")),
    't.yaml:10:5: unknown key "adress" in host "gpu" (did you mean "address"?); expected one of address, tags, sysctl, wireguard, ssh, node_exporter, services, listeners, vm',
  );
});

test("an unknown top-level key is rejected", () => {
  assert.match(
    oneProblem(yaml(...BASE, "extra: 1")),
    /^t\.yaml:8:1: unknown key "extra" in the inventory; expected one of keel, site/,
  );
});

test("names must be DNS labels of at most 63 characters", () => {
  assert.match(
    oneProblem(yaml(...BASE, "  Gpu: { address: 10.20.0.10 }")),
    /^t\.yaml:8:3: host name "Gpu" in hosts is not a valid name; expected a DNS label/,
  );
  const long = `h${"x".repeat(63)}`;
  assert.match(
    oneProblem(yaml(...BASE, `  ${long}: { address: 10.20.0.10 }`)),
    /^t\.yaml:8:3: host name "hx+"/,
  );
  assert.match(
    oneProblem(
      yaml(...BASE, "    services: [{ name: 9svc, port: 80 }]").replace(
        "  a: { address: 10.20.0.5 }\n",
        "  a:\n    address: 10.20.0.5\n",
      ),
    ),
    /^t\.yaml:9:24: name "9svc" of service "9svc" of host "a" is not a valid name/,
  );
});

// ---- networks --------------------------------------------------------------------------------

test("a network cidr with host bits set says which prefix was meant", () => {
  assert.equal(
    oneProblem(yaml("keel: 1", "site: lab", "networks:", "  lan: { cidr: 10.20.0.1/24 }")),
    't.yaml:4:16: cidr of network "lan": 10.20.0.1/24 has host bits set; did you mean 10.20.0.0/24?',
  );
});

test("a network cidr must be a prefix", () => {
  assert.match(
    oneProblem(yaml("keel: 1", "site: lab", "networks:", "  lan: { cidr: 10.20.0.0 }")),
    /^t\.yaml:4:16: cidr "10\.20\.0\.0" of network "lan" is not a CIDR prefix/,
  );
});

test("networks must not overlap", () => {
  assert.equal(
    oneProblem(
      yaml(
        "keel: 1",
        "site: lab",
        "networks:",
        "  lan: { cidr: 10.20.0.0/24 }",
        "  big: { cidr: 10.0.0.0/8 }",
      ),
    ),
    't.yaml:5:16: network "big" (10.0.0.0/8) overlaps network "lan" (10.20.0.0/24); networks must not overlap',
  );
});

test("the gateway lies inside the network", () => {
  assert.equal(
    oneProblem(
      yaml("keel: 1", "site: lab", "networks:", "  lan: { cidr: 10.20.0.0/24, gateway: 10.21.0.1 }"),
    ),
    't.yaml:4:39: gateway 10.21.0.1 of network "lan" is outside the network; expected an address inside 10.20.0.0/24',
  );
});

test("ranges lie inside the network and do not overlap each other", () => {
  const head = ["keel: 1", "site: lab", "networks:", "  lan:", "    cidr: 10.20.0.0/24", "    ranges:"];
  assert.equal(
    oneProblem(yaml(...head, "      a: 10.21.0.0/28")),
    't.yaml:7:10: range "a" (10.21.0.0/28) is outside network "lan" (10.20.0.0/24); expected a prefix inside it',
  );
  assert.equal(
    oneProblem(yaml(...head, "      a: 10.20.0.0/25", "      b: 10.20.0.64/26")),
    't.yaml:8:10: range "b" (10.20.0.64/26) overlaps range "a" (10.20.0.0/25) of network "lan"; ranges must not overlap',
  );
  assert.match(
    oneProblem(yaml(...head, "      a: 10.20.0.1/28")),
    /^t\.yaml:7:10: .*did you mean 10\.20\.0\.0\/28\?$/,
  );
});

test("dns entries are host names or IP addresses", () => {
  const text = yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  lan: { cidr: 10.20.0.0/24, dns: [a, 10.20.0.53, nsx] }",
    "hosts:",
    "  a: { address: 10.20.0.5 }",
  );
  assert.equal(
    oneProblem(text),
    't.yaml:4:51: dns entry "nsx" of network "lan" is neither a host name nor an IP address; expected one of a or an address',
  );
});

// ---- addresses -------------------------------------------------------------------------------

test("each address lies inside the network it is listed under", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: { lan: 10.20.0.6, vpn: 10.20.0.7 } }")),
    't.yaml:8:40: address 10.20.0.7 of host "b" is outside network "vpn" (10.99.0.0/24); expected an address inside it',
  );
});

test("an address is listed under a network that exists", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: { lam: 10.20.0.6 } }")),
    't.yaml:8:19: unknown network "lam" in address of host "b" (did you mean "lan"?); expected one of lan, vpn',
  );
});

test("the shorthand address falls in exactly one network", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: 10.30.0.6 }")),
    't.yaml:8:17: address 10.30.0.6 of host "b" is in no network; expected an address inside one of lan (10.20.0.0/24), vpn (10.99.0.0/24)',
  );
  // two networks can only both contain it when they overlap, which is its own problem
  const ps = problemsOf(
    yaml(
      "keel: 1",
      "site: lab",
      "networks:",
      "  lan: { cidr: 10.20.0.0/24 }",
      "  big: { cidr: 10.0.0.0/8 }",
      "hosts:",
      "  b: { address: 10.20.0.6 }",
    ),
  );
  assert.ok(
    ps.includes(
      't.yaml:7:17: address 10.20.0.6 of host "b" is in more than one network (lan, big); write { NETWORK: 10.20.0.6 } to say which',
    ),
    ps.join("\n"),
  );
});

test("network and broadcast addresses of IPv4 prefixes shorter than /31 are rejected", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: 10.20.0.255 }")),
    't.yaml:8:17: address 10.20.0.255 of host "b" is the network or broadcast address of "lan" (10.20.0.0/24); expected one from 10.20.0.1 to 10.20.0.254',
  );
  assert.match(
    oneProblem(yaml(...BASE, "  b: { address: { vpn: 10.99.0.0 } }")),
    /^t\.yaml:8:24: address 10\.99\.0\.0 of host "b" is the network or broadcast/,
  );
  const p31 = parseInventory(
    yaml(
      "keel: 1",
      "site: lab",
      "networks:",
      "  p2p: { cidr: 10.0.0.0/31 }",
      "hosts:",
      "  a: { address: 10.0.0.0 }",
    ),
    "t.yaml",
  );
  assert.deepEqual(p31.hosts[0]!.addresses, [{ network: "p2p", address: "10.0.0.0" }]);
});

test("addresses are unique across the site, hosts and vantages alike", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: 10.20.0.5 }")),
    't.yaml:8:17: address 10.20.0.5 of host "b" is already used by host "a" (line 7); addresses must be unique across the site',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  me: { local: true, address: { lan: 10.20.0.5 } }")),
    't.yaml:9:38: address 10.20.0.5 of vantage "me" is already used by host "a" (line 7); addresses must be unique across the site',
  );
});

test("an address that is not an IP address is rejected", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: { lan: 10.20.0.300 } }")),
    't.yaml:8:24: address "10.20.0.300" of host "b" is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)',
  );
});

test("IPv6 addresses are stored in canonical form", () => {
  const inv = parseInventory(
    yaml(
      "keel: 1",
      "site: lab",
      "networks:",
      '  v6: { cidr: "FD00:0:0:0::/64", gateway: "fd00:0::1" }',
      "hosts:",
      '  a: { address: "FD00::0:5" }',
    ),
    "t.yaml",
  );
  assert.equal(inv.networks[0]!.cidr, "fd00::/64");
  assert.equal(inv.networks[0]!.family, 6);
  assert.equal(inv.networks[0]!.gateway, "fd00::1");
  assert.deepEqual(inv.hosts[0]!.addresses, [{ network: "v6", address: "fd00::5" }]);
});

// ---- services --------------------------------------------------------------------------------

const HOST_B = [...BASE, "  b:", "    address: 10.20.0.6", "    services:"];

test("ports are N, N/tcp or N/udp from 1 to 65535", () => {
  assert.equal(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 70000/tcp }")),
    't.yaml:11:28: port "70000/tcp" of service "web" of host "b" is out of range; expected N, N/tcp or N/udp with N from 1 to 65535',
  );
  assert.match(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 0 }")),
    /^t\.yaml:11:28: port 0 of service "web" of host "b" is out of range/,
  );
  assert.match(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 80/sctp }")),
    /^t\.yaml:11:28: port "80\/sctp" of service "web" of host "b" is not a port; expected N, N\/tcp or N\/udp/,
  );
  const inv = parseInventory(
    yaml(
      ...HOST_B,
      "      - { name: web, port: 8080/tcp }",
      "      - { name: dns, port: 53/udp }",
      "      - { name: x, port: 65535 }",
    ),
    "t.yaml",
  );
  assert.deepEqual(
    inv.hosts[1]!.services.filter((s) => !s.fromDefaults).map((s) => [s.port, s.protocol]),
    [
      [8080, "tcp"],
      [53, "udp"],
      [65535, "tcp"],
    ],
  );
});

test("every allow name exists (network, host, vantage or any)", () => {
  assert.equal(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 80, allow: [lan, b, any, vpm] }")),
    't.yaml:11:53: allow of service "web" of host "b" names "vpm", which is not a network, host or vantage (did you mean "vpn"?); expected one of any, lan, vpn, a, b, local',
  );
  assert.match(
    oneProblem(yaml("keel: 1", "site: lab", "defaults:", "  ssh: { allow: [nowhere] }")),
    /^t\.yaml:4:18: allow of defaults\.ssh names "nowhere"/,
  );
  assert.match(
    oneProblem(yaml(...BASE, "  b: { address: 10.20.0.6, node_exporter: { allow: [lan, x] } }")),
    /^t\.yaml:8:58: allow of node_exporter of host "b" names "x"/,
  );
});

test("service names are unique per host", () => {
  assert.equal(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 80 }", "      - { name: web, port: 81 }")),
    't.yaml:12:17: service name "web" is used twice on host "b" (first at line 11); service names must be unique per host',
  );
});

test("kind is one of the known service kinds", () => {
  assert.equal(
    oneProblem(yaml(...HOST_B, "      - { name: web, port: 80, kind: nginx }")),
    't.yaml:11:38: kind "nginx" of service "web" of host "b" is not a service kind; expected one of ssh, node_exporter, prometheus, grafana, dns, http',
  );
});

test("http takes a path or { path, expect, body }; kind http defaults to /", () => {
  const inv = parseInventory(
    yaml(
      ...HOST_B,
      "      - { name: a, port: 80, http: /healthz }",
      '      - { name: b, port: 81, http: { path: /x, expect: 204, body: "^ok" } }',
      "      - { name: c, port: 82, kind: http }",
    ),
    "t.yaml",
  );
  assert.deepEqual(
    inv.hosts[1]!.services.slice(0, 3).map((s) => s.http),
    [
      { path: "/healthz", expect: 200 },
      { path: "/x", expect: 204, body: "^ok" },
      { path: "/", expect: 200 },
    ],
  );
  assert.equal(
    oneProblem(yaml(...HOST_B, "      - { name: a, port: 80, http: { path: /x, expect: 600 } }")),
    't.yaml:11:56: expect 600 of http of service "a" of host "b" is out of range; expected a whole number from 100 to 599',
  );
  assert.match(
    oneProblem(yaml(...HOST_B, "      - { name: a, port: 80, http: healthz }")),
    /^t\.yaml:11:36: http "healthz" of service "a" of host "b" is invalid; expected a path starting with "\/"/,
  );
  assert.equal(
    oneProblem(yaml(...HOST_B, '      - { name: a, port: 80, http: { path: /x, body: "a(" } }')),
    't.yaml:11:54: body "a(" of service "a" of host "b" is not a valid regular expression (Invalid regular expression: /a(/: Unterminated group); expected JavaScript RegExp syntax',
  );
});

test("wireguard peers name hosts or vantages", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "  b: { address: 10.20.0.6, wireguard: { interface: wg0, peers: [a, admn] } }",
        "vantages:",
        "  admin: { local: true }",
      ),
    ),
    't.yaml:8:68: wireguard peer "admn" of host "b" is not a host or vantage (did you mean "admin"?); expected one of a, b, admin',
  );
});

test("listeners.ignore entries are addresses or CIDR prefixes", () => {
  assert.equal(
    oneProblem(
      yaml(...BASE, '  b: { address: 10.20.0.6, listeners: { ignore: [127.0.0.0/8, "::1", localhost] } }'),
    ),
    't.yaml:8:70: listeners.ignore entry "localhost" of host "b" is neither an address nor a CIDR prefix; expected e.g. 127.0.0.0/8 or ::1',
  );
  assert.match(
    oneProblem(yaml(...BASE, "  b: { address: 10.20.0.6, listeners: { ignore: [127.0.0.1/8] } }")),
    /^t\.yaml:8:50: .*did you mean 127\.0\.0\.0\/8\?$/,
  );
});

// ---- defaults and normalisation --------------------------------------------------------------

test("defaults: ssh root@22 via agent, node_exporter 9100, both allow any", () => {
  const inv = parseInventory(
    yaml(...BASE.slice(0, 6), "  a: { address: 10.20.0.5, tags: [monitored] }"),
    "t.yaml",
  );
  assert.deepEqual(inv.defaults, {
    ssh: { user: "root", port: 22, allow: ["any"] },
    nodeExporter: { port: 9100, allow: ["any"] },
    knownHosts: path.join(inv.dir, ".keel", "known_hosts"),
    hostKeyChecking: "accept-new",
  });
  assert.deepEqual(
    inv.hosts[0]!.services.map((s) => [s.name, s.kind, s.port, s.protocol, s.allow, s.fromDefaults]),
    [
      ["ssh", "ssh", 22, "tcp", ["any"], true],
      ["node_exporter", "node_exporter", 9100, "tcp", ["any"], true],
    ],
  );
});

test("host ssh/node_exporter settings merge over defaults; false removes them", () => {
  const inv = parseInventory(
    yaml(
      "keel: 1",
      "site: lab",
      "networks:",
      "  lan: { cidr: 10.20.0.0/24 }",
      "defaults:",
      "  ssh: { user: admin, identity: keys/id, allow: [lan] }",
      "  node_exporter: { port: 9200, allow: [lan] }",
      "hosts:",
      "  a: { address: 10.20.0.5, ssh: { allow: [any] }, node_exporter: { port: 9300 } }",
      "  b: { address: 10.20.0.6, tags: [monitored], ssh: false, node_exporter: false }",
    ),
    "t.yaml",
  );
  const [a, b] = inv.hosts;
  assert.deepEqual(a!.ssh, { user: "admin", port: 22, identity: "keys/id", allow: ["any"] });
  // node_exporter: {…} adds the service although a is not tagged monitored
  assert.deepEqual(
    a!.services.map((s) => [s.name, s.port, s.allow]),
    [
      ["ssh", 22, ["any"]],
      ["node_exporter", 9300, ["lan"]],
    ],
  );
  assert.equal(b!.ssh, undefined);
  assert.deepEqual(b!.services, []);
});

test("a declared service named ssh or node_exporter wins over the default one", () => {
  const inv = parseInventory(
    yaml(
      ...HOST_B.slice(0, 9),
      "    tags: [monitored]",
      "    services:",
      "      - { name: ssh, kind: ssh, port: 2222, allow: [vpn] }",
      "      - { name: node_exporter, port: 9101 }",
    ),
    "t.yaml",
  );
  assert.deepEqual(
    inv.hosts[1]!.services.map((s) => [s.name, s.port, s.allow, s.fromDefaults]),
    [
      ["ssh", 2222, ["vpn"], false],
      ["node_exporter", 9101, ["any"], false],
    ],
  );
});

test("sysctl values become strings", () => {
  const inv = parseInventory(
    yaml(
      ...BASE,
      '  b: { address: 10.20.0.6, sysctl: { net.ipv4.ip_forward: 1, net.core.rmem: "4096 87380" } }',
    ),
    "t.yaml",
  );
  assert.deepEqual(inv.hosts[1]!.sysctl, { "net.ipv4.ip_forward": "1", "net.core.rmem": "4096 87380" });
});

test("resolveIdentityPath expands ~/ and resolves relative paths against the inventory's directory", () => {
  const inv = loadInventory(CONTRACT);
  assert.equal(resolveIdentityPath(inv, "~/.ssh/id_ed25519"), resolve(homedir(), ".ssh/id_ed25519"));
  assert.equal(resolveIdentityPath(inv, "keys/id"), resolve("test/fixtures/keys/id"));
  assert.equal(resolveIdentityPath(inv, "/etc/keel/id"), "/etc/keel/id");
});

// ---- vantages --------------------------------------------------------------------------------

test("without vantages Keel adds an implicit local one with no networks", () => {
  const inv = parseInventory(yaml(...BASE), "t.yaml");
  assert.deepEqual(inv.vantages, [
    {
      name: "local",
      type: "local",
      networks: [],
      addresses: [],
      implicit: true,
      pos: { file: "t.yaml", line: 1, col: 1 },
    },
  ]);
});

test("a local vantage with host sits in that host's networks; via sits in its host's", () => {
  const inv = parseInventory(
    yaml(
      ...BASE.slice(0, 6),
      "  a: { address: { lan: 10.20.0.5, vpn: 10.99.0.5 } }",
      "vantages:",
      "  here: { local: true, host: a }",
      "  there: { via: a }",
    ),
    "t.yaml",
  );
  assert.deepEqual(
    inv.vantages.map((v) => [v.name, v.type, v.host, v.via, v.networks, v.addresses.length]),
    [
      ["here", "local", "a", undefined, ["lan", "vpn"], 0],
      ["there", "via", undefined, "a", ["lan", "vpn"], 2],
    ],
  );
});

test("vantage address (Keel extension) takes the host forms and is canonical", () => {
  const inv = parseInventory(
    yaml(
      ...BASE,
      "vantages:",
      "  admin: { local: true, networks: [vpn], address: { vpn: 10.99.0.250 } }",
      "  two: { local: true, address: 10.99.0.251 }",
    ),
    "t.yaml",
  );
  assert.deepEqual(inv.vantages[0]!.addresses, [{ network: "vpn", address: "10.99.0.250" }]);
  assert.deepEqual(inv.vantages[1]!.addresses, [{ network: "vpn", address: "10.99.0.251" }]);
  assert.match(
    oneProblem(yaml(...BASE, "vantages:", "  admin: { local: true, address: { vpn: 10.98.0.250 } }")),
    /^t\.yaml:9:41: address 10\.98\.0\.250 of vantage "admin" is outside network "vpn"/,
  );
});

test("a local vantage has networks or host, not both", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  v: { local: true, networks: [lan], host: a }")),
    't.yaml:9:38: vantage "v" has both networks and host; expected one of them (host means the networks of that host)',
  );
});

test("vantage networks and host must exist", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  v: { local: true, networks: [lan, wan] }")),
    't.yaml:9:37: network "wan" of vantage "v" does not exist (did you mean "lan"?); expected one of lan, vpn',
  );
  assert.match(
    oneProblem(yaml(...BASE, "vantages:", "  v: { local: true, host: b }")),
    /^t\.yaml:9:27: host "b" of vantage "v" does not exist/,
  );
});

test("via names an existing host and excludes local settings", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  v: { via: gpu }")),
    't.yaml:9:13: via "gpu" of vantage "v" is not a host; expected one of a',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  v: { via: a, networks: [lan] }")),
    't.yaml:9:16: vantage "v" uses via, so it sits in the networks and addresses of host "a"; remove networks',
  );
});

test("a vantage needs local: true or via", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "vantages:", "  v: { networks: [lan] }")),
    't.yaml:9:3: vantage "v" needs either local: true or via: HOST',
  );
  assert.match(
    oneProblem(yaml(...BASE, "vantages:", "  v: { local: false }")),
    /^t\.yaml:9:15: local false of vantage "v" is invalid; expected local: true/,
  );
});

// ---- several problems ------------------------------------------------------------------------

test("all problems are reported, not just the first: shape and cross-reference problems together", () => {
  const ps = problemsOf(
    yaml(
      "keel: 1",
      "site: lab",
      "networks:",
      "  lan: { cidr: 10.20.0.1/24 }",
      "  vpn: { cidr: 10.99.0.0/24, mtu: 1400 }",
      "hosts:",
      "  a: { address: { vpn: 10.99.0.5 }, services: [{ name: web, port: 80, allow: [nobody] }] }",
    ),
  );
  assert.equal(ps.length, 3, ps.join("\n"));
  assert.match(ps[0]!, /^t\.yaml:4:16: .*host bits set/);
  assert.match(ps[1]!, /^t\.yaml:5:30: unknown key "mtu" in network "vpn"/);
  assert.match(ps[2]!, /^t\.yaml:7:79: allow of service "web" of host "a" names "nobody"/);
});

test("what the schema rejects is not reported again as a broken reference", () => {
  // network lan lacks its cidr: the host's address under lan is not checked, nor reported
  assert.match(
    oneProblem(
      yaml(
        "keel: 1",
        "site: lab",
        "networks:",
        "  lan: { gateway: 10.20.0.1 }",
        "hosts:",
        "  a: { address: { lan: 10.20.0.5 } }",
      ),
    ),
    /^t\.yaml:4:3: network "lan" is missing required key "cidr"$/,
  );
  // host b has no address: allow [b] still names an existing host
  assert.match(
    oneProblem(
      yaml(
        ...BASE,
        "  b: { tags: [x] }",
        "  c: { address: 10.20.0.7, services: [{ name: w, port: 80, allow: [b] }] }",
      ),
    ),
    /^t\.yaml:8:3: host "b" is missing required key "address"$/,
  );
});

test("all schema problems are reported together", () => {
  const ps = problemsOf(yaml(...HOST_B, "      - { name: web, port: 70000, kind: www, colour: red }"));
  assert.equal(ps.length, 3, ps.join("\n"));
});

test("UserError is what parseInventory throws for bad input", () => {
  assert.throws(
    () => parseInventory(readFileSync(CONTRACT, "utf8").replace("keel: 1", "keel: 3"), "x.yaml"),
    UserError,
  );
});

test("an address mapping needs at least one network; duplicate networks in it are located", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "  b: { address: {} }")),
    't.yaml:8:17: address of host "b" is empty; expected at least one entry such as { lan: 10.20.0.4 }',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "  b:", "    address:", "      lan: 10.20.0.6", "      lan: 10.20.0.7")),
    't.yaml:11:7: duplicate network name "lan" in address of host "b" (first defined at line 10); each must appear once',
  );
});

test("defaults.ssh pins host keys: known_hosts resolved against the inventory, host_key_checking strict", () => {
  const inv = parseInventory(
    yaml(...BASE, "defaults:", "  ssh: { known_hosts: pins/known_hosts, host_key_checking: strict }"),
    "site/t.yaml",
  );
  assert.equal(inv.defaults.knownHosts, resolve("site/pins/known_hosts"));
  assert.equal(inv.defaults.hostKeyChecking, "strict");
});

test("a bad host_key_checking names its place and the allowed values; hosts cannot set it", () => {
  assert.match(
    oneProblem(yaml(...BASE, "defaults:", "  ssh: { host_key_checking: yes }")),
    /^t\.yaml:9:29: host_key_checking "yes" of defaults\.ssh is not a host key checking mode; expected accept-new .* or strict/,
  );
  assert.match(
    oneProblem(yaml(...BASE.slice(0, 6), "  a: { address: 10.20.0.5, ssh: { known_hosts: x } }")),
    /^t\.yaml:7:/,
  );
});
