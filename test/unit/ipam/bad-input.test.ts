import assert from "node:assert/strict";
import { test } from "node:test";
import { UserError } from "../../../src/errors.js";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import { BASE, oneProblem, problemsOf, yaml } from "../inventory/helpers.js";

/** BASE with `lan` replaced by a network carrying a plan (lines 4-7), hosts from line 10 on. */
function plan(...hosts: string[]): string {
  return yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  lan:",
    "    cidr: 10.20.0.0/24",
    "    ranges: { vms: 10.20.0.128/30 }",
    "    reserved: [10.20.0.130]",
    "  vpn: { cidr: 10.99.0.0/24 }",
    "hosts:",
    ...hosts,
  );
}

test("overlapping ranges are a located error at the second range", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE.slice(0, 3),
        "  lan: { cidr: 10.20.0.0/24, ranges: { a: 10.20.0.0/25, b: 10.20.0.64/26 } }",
        ...BASE.slice(4),
      ),
    ),
    't.yaml:4:60: range "b" (10.20.0.64/26) overlaps range "a" (10.20.0.0/25) of network "lan"; ranges must not overlap',
  );
});

test("a range outside its network is a located error", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE.slice(0, 3),
        "  lan: { cidr: 10.20.0.0/24, ranges: { a: 10.21.0.0/25 } }",
        ...BASE.slice(4),
      ),
    ),
    't.yaml:4:43: range "a" (10.21.0.0/25) is outside network "lan" (10.20.0.0/24); expected a prefix inside it',
  );
});

test("a reserved entry outside its network, or not an address or prefix, is a located error", () => {
  assert.deepEqual(
    problemsOf(
      yaml(
        ...BASE.slice(0, 3),
        "  lan: { cidr: 10.20.0.0/24, reserved: [10.20.0.9, 10.21.0.1, 10.20.1.0/28, nope] }",
        ...BASE.slice(4),
      ),
    ),
    [
      't.yaml:4:52: reserved entry 10.21.0.1 of network "lan" is outside the network (10.20.0.0/24); expected an address or prefix inside it',
      't.yaml:4:63: reserved entry 10.20.1.0/28 of network "lan" is outside the network (10.20.0.0/24); expected an address or prefix inside it',
      't.yaml:4:77: reserved entry "nope" of network "lan" is neither an address nor a CIDR prefix; expected e.g. 10.20.0.250 or 10.20.0.240/29 inside 10.20.0.0/24',
    ],
  );
});

test("an exhausted range is a located error at the auto value that cannot be served", () => {
  // vms is a /30: .128 .129 .131 usable (.130 reserved); the fourth host finds nothing
  const lines = [
    "  a: { address: { lan: auto@vms } }",
    "  b: { address: { lan: auto@vms } }",
    "  c: { address: { lan: auto@vms } }",
    "  d: { address: { vpn: 10.99.0.4, lan: auto@vms } }",
  ];
  assert.equal(
    oneProblem(plan(...lines)),
    't.yaml:13:40: address auto@vms of host "d" cannot be allocated: range "vms" of network "lan" (10.20.0.128/30) is exhausted (all 4 addresses are used, reserved or excluded); widen it, free an address, or allocate from another range',
  );
  // three fit
  assert.equal(
    parseInventory(plan(...lines.slice(0, 3)), "t.yaml").hosts[2]!.addresses[0]!.address,
    "10.20.0.131",
  );
});

test("an exhausted network (auto outside the ranges) is a located error", () => {
  const text = yaml(
    "keel: 1",
    "site: lab",
    "networks:",
    "  p2p: { cidr: 10.20.0.0/30 }",
    "hosts:",
    "  a: { address: { p2p: auto } }",
    "  b: { address: { p2p: auto } }",
    "  c: { address: { p2p: auto } }",
  );
  assert.equal(
    oneProblem(text),
    't.yaml:8:24: address auto of host "c" cannot be allocated: network "p2p" (10.20.0.0/30) is exhausted (all 4 addresses are used, reserved or excluded); widen it, free an address, or allocate from another range',
  );
});

test("auto@RANGE naming no range of the network is a located error with a suggestion", () => {
  assert.equal(
    oneProblem(plan("  a: { address: { lan: auto@vm } }")),
    't.yaml:10:24: address auto@vm of host "a" names no range of network "lan" (did you mean "vms"?); expected auto or auto@RANGE with RANGE one of vms',
  );
});

test("auto in the shorthand form or on a vantage is a located error", () => {
  assert.deepEqual(
    problemsOf(plan("  a: { address: auto }", "vantages:", "  v: { local: true, address: { vpn: auto } }")),
    [
      't.yaml:10:17: address auto of host "a" does not say which network; expected { NETWORK: auto }, e.g. { lan: auto }',
      't.yaml:12:37: address auto of vantage "v": auto is only for hosts; expected an IP address',
    ],
  );
});

test("a duplicate static MAC is a located error at the second one", () => {
  assert.equal(
    oneProblem(
      plan(
        '  a: { address: 10.20.0.5, vm: { mac: "52:54:00:00:00:01" } }',
        '  b: { address: 10.20.0.6, vm: { mac: "52:54:00:00:00:01" } }',
      ),
    ),
    't.yaml:11:39: mac 52:54:00:00:00:01 of host "b" is already used by host "a" (line 10); MACs must be unique across the site',
  );
});

test("a multicast or malformed MAC is a located error", () => {
  assert.deepEqual(
    problemsOf(
      plan(
        '  a: { address: 10.20.0.5, vm: { mac: "01:00:5e:00:00:01" } }',
        "  b: { address: 10.20.0.6, vm: { mac: 52-54-00-00-00-01 } }",
      ),
    ),
    [
      't.yaml:10:39: mac 01:00:5e:00:00:01 of host "a" is a multicast (group) address: the I/G bit of its first octet is set; expected a unicast MAC (first octet even, e.g. 52:54:00:…) or auto',
      't.yaml:11:39: mac "52-54-00-00-00-01" of vm of host "b" is not a MAC address; expected auto or six hex octets separated by ":", such as 52:54:00:12:34:56',
    ],
  );
});

test("vm sub-keys are checked: unknown keys, user names, SSH keys, instance", () => {
  assert.deepEqual(
    problemsOf(
      plan(
        "  a:",
        "    address: 10.20.0.5",
        "    vm:",
        "      instance: 0",
        '      users: [{ name: Root, ssh_authorized_keys: ["AAAA no type"] }]',
        "      pakages: [x]",
      ),
    ),
    [
      't.yaml:13:17: instance 0 of vm of host "a" is out of range; expected a whole number of at least 1',
      't.yaml:14:23: name "Root" of item 1 of users of vm of host "a" is not a valid user name; expected a lowercase letter or _, then lowercase letters, digits, _ or -, at most 32 characters',
      't.yaml:14:51: item 1 of ssh_authorized_keys of item 1 of users of vm of host "a" "AAAA no type" is not an OpenSSH public key; expected one authorized_keys line without options: TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAAC3Nza… ops@lab',
      't.yaml:15:7: unknown key "pakages" in vm of host "a" (did you mean "packages"?); expected one of mac, vmid, instance, users, packages, package_upgrade, hypervisor, image, vcpus, memory, disk, autostart, keep_snapshots',
    ],
  );
});

test("dhcp.range naming no range, and a lease too short, are located errors", () => {
  assert.deepEqual(
    problemsOf(
      yaml(
        "keel: 1",
        "site: lab",
        "networks:",
        "  lan: { cidr: 10.20.0.0/24, ranges: { vms: 10.20.0.128/25 }, dhcp: { range: vm, lease: 1m } }",
        "  vpn: { cidr: 10.99.0.0/24, dhcp: { range: pool } }",
      ),
    ),
    [
      't.yaml:4:78: dhcp.range "vm" of network "lan" names no range of that network (did you mean "vms"?); expected one of vms',
      't.yaml:4:89: dhcp.lease 1m of network "lan" is too short; expected whole seconds, at least 2m (dnsmasq\'s minimum)',
      't.yaml:5:45: dhcp.range "pool" of network "vpn" names no range of that network; expected one of (the network declares no ranges: add ranges: { NAME: CIDR })',
    ],
  );
});

test("a malformed keel.lock is a located error naming keel.lock", () => {
  const text = plan("  a: { address: { lan: auto@vms } }");
  const cases: [string, string][] = [
    [
      "keel-lock: 1\naddresses:\n  a: { lan: 10.20.0.999 }\n",
      'site/keel.lock:3:13: address of host "a" on network "lan" in keel.lock is not an IP address; keel.lock is written by keel: fix the entry, or delete the file and run keel ipam to allocate again',
    ],
    [
      "keel-lock: 2\n",
      "site/keel.lock:1:12: keel-lock: 2 is not a supported lock format; this Keel writes keel-lock: 1",
    ],
    [
      'keel-lock: 1\nmacs:\n  a: "01:00:5e:00:00:01"\n',
      'site/keel.lock:3:6: MAC of host "a" in keel.lock is not a unicast MAC (six hex octets separated by ":", such as 52:54:00:12:34:56); keel.lock is written by keel: fix the entry, or delete the file and run keel ipam to allocate again',
    ],
    [
      "keel-lock: 1\naddresses: [\n",
      "site/keel.lock:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
    [
      "keel-lock: 1\naddresses:\n  a: { lan: 10.20.0.128 }\n  a: { lan: 10.20.0.129 }\n",
      'site/keel.lock:4:3: host "a" appears twice in addresses of keel.lock; keel.lock is written by keel: fix the entry, or delete the file and run keel ipam to allocate again',
    ],
    [
      "keel-lock: 1\nextra: 1\n",
      'site/keel.lock:2:1: unknown key "extra" in keel.lock; expected keel-lock, addresses, macs, vmids',
    ],
  ];
  for (const [lockText, expected] of cases)
    for (const load of [parseInventory, parseLocated])
      assert.throws(
        () => load(text, "site/keel.yaml", { lockText }),
        (e: unknown) => {
          assert.ok(e instanceof UserError);
          assert.equal(e.message.split("\n")[0], expected);
          return true;
        },
      );
});
