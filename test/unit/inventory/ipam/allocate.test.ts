import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLock, parseLockLocated } from "../../../../src/inventory/ipam/lock.js";
import { parseInventory } from "../../../../src/inventory/load.js";
import type { Inventory } from "../../../../src/inventory/model.js";
import { yaml } from "../helpers.js";

/** A site with a plan: infra and vms ranges, a gateway, reserved entries; `hosts` lines appended. */
function site(...hosts: string[]): string {
  return yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  lan:",
    "    cidr: 10.20.0.0/24",
    "    gateway: 10.20.0.1",
    "    ranges: { infra: 10.20.0.0/28, vms: 10.20.0.128/25 }",
    "    reserved: [10.20.0.17, 10.20.0.128/30]",
    '  v6: { cidr: "fd00:20::/64" }',
    "hosts:",
    ...hosts,
  );
}

function load(text: string, lockText?: string): Inventory {
  return parseInventory(text, "site/keel.yaml", lockText !== undefined ? { lockText } : {});
}

function addr(inv: Inventory, host: string, network = "lan"): string | undefined {
  return inv.hosts.find((h) => h.name === host)?.addresses.find((a) => a.network === network)?.address;
}

test("auto takes the lowest free address outside the named ranges; auto@RANGE the lowest of the range; reserved and gateway are skipped", () => {
  const inv = load(
    site(
      "  ns1: { address: 10.20.0.16 }",
      "  db-1: { address: { lan: auto } }",
      "  web-1: { address: { lan: auto@vms } }",
      "  web-2: { address: { lan: auto@vms } }",
      "  infra-1: { address: { lan: auto@infra } }",
    ),
  );
  // 10.20.0.16 is static, .17 reserved: auto gets .18; vms starts at .128 but .128/30 is reserved
  assert.equal(addr(inv, "db-1"), "10.20.0.18");
  assert.equal(addr(inv, "web-1"), "10.20.0.132");
  assert.equal(addr(inv, "web-2"), "10.20.0.133");
  // infra includes the network address (.0) and the gateway (.1): neither is given out
  assert.equal(addr(inv, "infra-1"), "10.20.0.2");
  assert.deepEqual(inv.hosts[1]!.addresses[0], { network: "lan", address: "10.20.0.18", auto: {} });
  assert.deepEqual(inv.hosts[2]!.addresses[0]?.auto, { range: "vms" });
  assert.equal(
    inv.ipam.lock,
    [
      "# Written by keel: allocated addresses and MACs. Commit this file.",
      "keel-lock: 1",
      "addresses:",
      "  db-1: { lan: 10.20.0.18 }",
      "  infra-1: { lan: 10.20.0.2 }",
      "  web-1: { lan: 10.20.0.132 }",
      "  web-2: { lan: 10.20.0.133 }",
      "macs: {}",
      "",
    ].join("\n"),
  );
  assert.equal(inv.ipam.lockFile, "site/keel.lock");
  assert.equal(inv.ipam.lockChanged, true);
  assert.deepEqual(
    inv.ipam.changes.map((c) => `${c.host} ${c.network} ${c.to} ${c.reason}`),
    [
      "db-1 lan 10.20.0.18 new",
      "web-1 lan 10.20.0.132 new",
      "web-2 lan 10.20.0.133 new",
      "infra-1 lan 10.20.0.2 new",
    ],
  );
});

test("stable: a second run with the lock changes nothing, and gives the same lock bytes", () => {
  const text = site("  a1: { address: { lan: auto@vms } }", "  a2: { address: { lan: auto@vms }, vm: {} }");
  const first = load(text);
  const second = load(text, first.ipam.lock);
  assert.equal(second.ipam.lockChanged, false);
  assert.deepEqual(second.ipam.changes, []);
  assert.equal(second.ipam.lock, first.ipam.lock);
  assert.equal(load(text).ipam.lock, first.ipam.lock, "two runs without a lock agree");
});

test("adding a host renumbers nobody, even when it comes first in the file; removing one frees its address", () => {
  const before = load(site("  a1: { address: { lan: auto@vms } }", "  a2: { address: { lan: auto@vms } }"));
  const added = load(
    site(
      "  new: { address: { lan: auto@vms } }",
      "  a1: { address: { lan: auto@vms } }",
      "  a2: { address: { lan: auto@vms } }",
    ),
    before.ipam.lock,
  );
  assert.equal(addr(added, "a1"), addr(before, "a1"));
  assert.equal(addr(added, "a2"), addr(before, "a2"));
  assert.equal(addr(added, "new"), "10.20.0.134");
  assert.deepEqual(
    added.ipam.changes.map((c) => [c.host, c.to, c.reason]),
    [["new", "10.20.0.134", "new"]],
  );
  // remove a1: its address is freed (not in the lock any more) and the next new host gets it
  const removed = load(site("  a2: { address: { lan: auto@vms } }"), added.ipam.lock);
  assert.equal(addr(removed, "a2"), addr(before, "a2"));
  assert.deepEqual(
    removed.ipam.changes.map((c) => [c.host, c.from, c.to, c.reason]),
    [
      ["a1", "10.20.0.132", undefined, "freed: host removed"],
      ["new", "10.20.0.134", undefined, "freed: host removed"],
    ],
  );
  assert.deepEqual(Object.keys(parseLock(removed.ipam.lock!, "keel.lock").addresses), ["a2"]);
  const refill = load(
    site("  a2: { address: { lan: auto@vms } }", "  b: { address: { lan: auto@vms } }"),
    removed.ipam.lock,
  );
  assert.equal(addr(refill, "b"), "10.20.0.132");
});

test("a static address that collides with a locked one wins; the locked host moves and the change says why", () => {
  const first = load(site("  a1: { address: { lan: auto } }"));
  assert.equal(addr(first, "a1"), "10.20.0.16");
  const next = load(
    site("  ns1: { address: 10.20.0.16 }", "  a1: { address: { lan: auto } }"),
    first.ipam.lock,
  );
  assert.equal(addr(next, "ns1"), "10.20.0.16");
  assert.equal(addr(next, "a1"), "10.20.0.18");
  assert.deepEqual(next.ipam.changes, [
    {
      host: "a1",
      kind: "address",
      network: "lan",
      from: "10.20.0.16",
      to: "10.20.0.18",
      reason: "a static address took 10.20.0.16",
    },
  ]);
});

test("a locked address outside its range (the host moved to another range) is re-allocated", () => {
  const first = load(site("  a1: { address: { lan: auto@vms } }"));
  const next = load(site("  a1: { address: { lan: auto@infra } }"), first.ipam.lock);
  assert.equal(addr(next, "a1"), "10.20.0.2");
  assert.equal(next.ipam.changes[0]?.reason, 'no longer inside range "infra"');
});

test("a hand-edited lock giving two hosts one address: the first in the file keeps it", () => {
  const lock = "keel-lock: 1\naddresses:\n  a1: { lan: 10.20.0.140 }\n  a2: { lan: 10.20.0.140 }\nmacs: {}\n";
  const inv = load(
    site("  a1: { address: { lan: auto@vms } }", "  a2: { address: { lan: auto@vms } }"),
    lock,
  );
  assert.equal(addr(inv, "a1"), "10.20.0.140");
  assert.equal(addr(inv, "a2"), "10.20.0.132");
});

test("IPv6: auto skips the Subnet-Router anycast address and the lock round-trips", () => {
  const text = site("  s: { address: { v6: fd00:20::1 } }", "  a: { address: { lan: auto, v6: auto } }");
  const inv = load(text);
  assert.equal(addr(inv, "a", "v6"), "fd00:20::2");
  assert.equal(load(text, inv.ipam.lock).ipam.lockChanged, false);
  assert.match(inv.ipam.lock!, /a: \{ lan: 10\.20\.0\.16, v6: "?fd00:20::2"? \}/);
});

test("an inventory without auto or vm needs no lock file; an existing one is kept, emptied", () => {
  const text = site("  a: { address: 10.20.0.5 }");
  assert.equal(load(text).ipam.lock, undefined);
  assert.equal(load(text).ipam.lockChanged, false);
  const old = "keel-lock: 1\naddresses:\n  gone: { lan: 10.20.0.140 }\n";
  const inv = load(text, old);
  assert.equal(inv.ipam.lockChanged, true);
  assert.equal(
    inv.ipam.lock,
    "# Written by keel: allocated addresses and MACs. Commit this file.\nkeel-lock: 1\naddresses: {}\nmacs: {}\n",
  );
});

test("MACs: auto is 02: and SHA-256 of SITE/HOST, stable, recorded; a static MAC is kept as written (lowercased)", () => {
  const text = site(
    "  web-1: { address: { lan: auto@vms }, vm: {} }",
    '  web-2: { address: { lan: auto@vms }, vm: { mac: "52:54:00:AB:CD:EF" } }',
  );
  const inv = load(text);
  const vm1 = inv.hosts[0]!.vm!;
  // `printf %s lab/web-1 | sha256sum` begins 010d74f546
  assert.equal(vm1.mac, "02:01:0d:74:f5:46");
  assert.equal(vm1.macAllocated, true);
  assert.equal(inv.hosts[1]!.vm!.mac, "52:54:00:ab:cd:ef");
  assert.equal(inv.hosts[1]!.vm!.macAllocated, false);
  assert.deepEqual(parseLock(inv.ipam.lock!, "keel.lock").macs, { "web-1": vm1.mac });
  assert.equal(load(text, inv.ipam.lock).hosts[0]!.vm!.mac, vm1.mac);
});

test("MACs: a static MAC equal to a locked one wins; the VM that held it gets the next MAC upward", () => {
  const first = load(site("  web-1: { address: { lan: auto@vms }, vm: {} }"));
  const held = first.hosts[0]!.vm!.mac;
  const next = load(
    site(
      `  web-0: { address: 10.20.0.20, vm: { mac: "${held}" } }`,
      "  web-1: { address: { lan: auto@vms }, vm: {} }",
    ),
    first.ipam.lock,
  );
  assert.equal(next.hosts[0]!.vm!.mac, held);
  const moved = next.hosts[1]!.vm!.mac;
  const low = (m: string) => Number.parseInt(m.slice(3).replaceAll(":", ""), 16);
  assert.equal(low(moved), low(held) + 1);
  assert.deepEqual(next.ipam.changes, [
    { host: "web-1", kind: "mac", from: held, to: moved, reason: `${held} is a static MAC` },
  ]);
});

test("vm: settings merge over defaults.vm, each list replacing the default's", () => {
  const text = yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  lan: { cidr: 10.20.0.0/24 }",
    "defaults:",
    "  vm:",
    '    users: [{ name: ops, ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ops@lab"], sudo: true }]',
    "    packages: [qemu-guest-agent]",
    "    package_upgrade: true",
    "hosts:",
    "  a: { address: 10.20.0.5, vm: { packages: [nginx], instance: 3 } }",
    "  b: { address: 10.20.0.6, vm: { users: [{ name: deploy }], package_upgrade: false } }",
    "  c: { address: 10.20.0.7 }",
  );
  const inv = parseInventory(text, "t.yaml");
  const [a, b, c] = inv.hosts;
  assert.deepEqual(
    { ...a!.vm, pos: undefined, mac: undefined },
    {
      mac: undefined,
      macAllocated: true,
      instance: 3,
      users: [
        { name: "ops", sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ops@lab"], sudo: true },
      ],
      packages: ["nginx"],
      packageUpgrade: true,
      pos: undefined,
    },
  );
  assert.deepEqual(b!.vm!.users, [{ name: "deploy", sshAuthorizedKeys: [], sudo: false }]);
  assert.deepEqual(b!.vm!.packages, ["qemu-guest-agent"]);
  assert.equal(b!.vm!.packageUpgrade, false);
  assert.equal(b!.vm!.instance, 1);
  assert.equal(a!.vm!.pos.line, 11);
  assert.equal(c!.vm, undefined);
});

test("networks: reserved and dhcp are normalised (lease in seconds, default 12h)", () => {
  const text = yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  lan:",
    "    cidr: 10.20.0.0/24",
    "    ranges: { vms: 10.20.0.128/25 }",
    "    reserved: [10.20.0.250, 10.20.0.240/29]",
    "    dhcp: { range: vms, lease: 1h30m }",
    "  lab: { cidr: 10.30.0.0/24, ranges: { pool: 10.30.0.0/25 }, dhcp: { range: pool } }",
  );
  const [lan, lab] = parseInventory(text, "t.yaml").networks;
  assert.deepEqual(lan!.reserved, ["10.20.0.250", "10.20.0.240/29"]);
  assert.deepEqual(lan!.dhcp, { range: "vms", leaseSeconds: 5400 });
  assert.deepEqual(lab!.dhcp, { range: "pool", leaseSeconds: 43200 });
  assert.deepEqual(lab!.reserved, []);
});

test("keel.lock: the fast reader and the located reader agree on well-formed locks", () => {
  const locks = [
    "keel-lock: 1\naddresses:\n  db-1: { lan: 10.20.0.5 }\n  web-1: { lan: 10.20.0.128, v6: 'fd00:20::0:5' }\nmacs:\n  web-1: \"02:6B:65:1A:2B:3C\"\n",
    "# Written by keel\nkeel-lock: 1\naddresses:\nmacs:\n",
    "keel-lock: 1\naddresses:\n  empty: {}\n  nothing:\n  '123': { lan: 10.20.0.9 }\nmacs: {}\n",
    "keel-lock: 1\n",
  ];
  for (const text of locks) {
    const { parsed: _a, ...fast } = parseLock(text, "keel.lock");
    const { parsed: _b, ...located } = parseLockLocated(text, "keel.lock");
    assert.deepEqual(fast, located, text);
  }
  // anything malformed still gets the located error
  assert.throws(
    () => parseLock("keel-lock: 1\naddresses:\n  db-1: { lan: not-an-ip }\n", "keel.lock"),
    /keel\.lock:3:\d+: address of host "db-1" on network "lan"/,
  );
  assert.throws(
    () => parseLock("keel-lock: 1\nmacs:\n  a: 01:00:00:00:00:01\n", "keel.lock"),
    /keel\.lock:3:\d+: MAC/,
  );
});

test("a lock with the same allocations in another layout is not a change", () => {
  const text = site("  a1: { address: { lan: auto@vms } }", "  a2: { address: { lan: auto@vms }, vm: {} }");
  const first = load(text);
  const mac = first.hosts.find((h) => h.name === "a2")!.vm!.mac;
  const relaidOut = `keel-lock: 1\nmacs:\n  a2: '${mac}'\naddresses:\n  a2:\n    lan: ${addr(first, "a2")}\n  a1:\n    lan: ${addr(first, "a1")}\n`;
  assert.equal(load(text, relaidOut).ipam.lockChanged, false);
  assert.equal(load(text, relaidOut.replace(/macs:\n.*\n/, "macs: {}\n")).ipam.lockChanged, true);
});

test("a host that stops asking for auto on one of its two networks frees that entry only", () => {
  const first = load(site("  h: { address: { lan: auto, v6: auto } }"));
  assert.equal(addr(first, "h"), "10.20.0.16");
  assert.equal(addr(first, "h", "v6"), "fd00:20::1");
  const next = load(site("  h: { address: { lan: auto, v6: 'fd00:20::99' } }"), first.ipam.lock);
  assert.equal(addr(next, "h"), "10.20.0.16");
  assert.deepEqual(
    next.ipam.changes.map((c) => [c.host, c.network, c.from, c.reason]),
    [["h", "v6", "fd00:20::1", "freed: no longer auto"]],
  );
  assert.deepEqual(parseLock(next.ipam.lock!, "keel.lock").addresses, { h: { lan: "10.20.0.16" } });
});
