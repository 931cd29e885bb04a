/**
 * Machine provisioning keys of the inventory (Keel extensions, docs/inventory.md): `hypervisors:`,
 * `images:` and the machine keys of `vm:` / `defaults.vm`. Normalisation, defaults and merge,
 * and one located error per rule, each asserted on both the fast path (`parseInventory`) and the
 * located path (`parseLocated`). Lines 1–7 are BASE; the tested lines start at 8.
 */
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { test } from "node:test";
import { formatProblem, UserError } from "../../../src/errors.js";
import { parseInventory, parseLocated } from "../../../src/inventory/load.js";
import type { LibvirtHypervisor } from "../../../src/inventory/model.js";
import { LibvirtMachines } from "../../../src/provision/libvirt/machine.js";
import { BASE, yaml } from "./helpers.js";

const SHA256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
const SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";

/** A hypervisor and an image that the host tests can name: lines 8–11. */
const DECLARED = [
  "hypervisors:",
  "  vega: { driver: libvirt, uri: qemu:///system, networks: { lan: br0 } }",
  "images:",
  `  debian-12: { url: "https://cloud.example/debian-12.qcow2", sha256: ${SHA256} }`,
];

/** The problems of `text` on both paths (asserted equal), as `file:line:col: message`. */
function problems(text: string): string[] {
  const of = (load: typeof parseInventory): string[] => {
    try {
      load(text, "t.yaml");
    } catch (e) {
      if (e instanceof UserError) return e.problems.map(formatProblem);
      throw e;
    }
    return assert.fail("expected the inventory to be rejected");
  };
  const fast = of(parseInventory);
  assert.deepEqual(of(parseLocated), fast, "the fast and the located path disagree");
  return fast;
}

/** The one problem of `text` on both paths. */
function one(text: string): string {
  const ps = problems(text);
  assert.equal(ps.length, 1, `expected one problem, got:\n${ps.join("\n")}`);
  return ps[0]!;
}

/** Loads `text` on both paths (asserted equal) and returns the fast path's model. */
function load(text: string, file = "t.yaml") {
  const inv = parseInventory(text, file);
  assert.deepEqual(JSON.parse(JSON.stringify(parseLocated(text, file))), JSON.parse(JSON.stringify(inv)));
  return inv;
}

// ---- normalised model ---------------------------------------------------------------------------

test("without hypervisors: and images: both are empty, and a VM has no machine", () => {
  const inv = load(yaml(...BASE.slice(0, 6), "  a: { address: 10.20.0.5, vm: {} }"));
  assert.deepEqual(inv.hypervisors, []);
  assert.deepEqual(inv.images, []);
  assert.equal(inv.hosts[0]!.vm!.machine, undefined);
});

test("hypervisors normalise: storage defaults to the pool default, pool and dir as written, bridges", () => {
  const inv = load(
    yaml(
      ...BASE,
      "hypervisors:",
      "  vega: { driver: libvirt, uri: qemu:///system, networks: { lan: br0, vpn: br-vpn } }",
      '  rigel: { driver: libvirt, uri: "qemu+ssh://root@rigel:2222/system?keyfile=/k", pool: images }',
      '  deneb: { driver: libvirt, uri: "qemu+unix:///session?socket=/run/user/1000/libvirt/virtqemud-sock", dir: /srv/vms }',
    ),
  );
  assert.deepEqual(
    inv.hypervisors.map(({ pos, ...h }) => [h, pos.line, pos.col]),
    [
      [
        {
          name: "vega",
          driver: "libvirt",
          uri: "qemu:///system",
          storage: { pool: "default" },
          bridges: { lan: "br0", vpn: "br-vpn" },
        },
        9,
        3,
      ],
      [
        {
          name: "rigel",
          driver: "libvirt",
          uri: "qemu+ssh://root@rigel:2222/system?keyfile=/k",
          storage: { pool: "images" },
          bridges: {},
        },
        10,
        3,
      ],
      [
        {
          name: "deneb",
          driver: "libvirt",
          uri: "qemu+unix:///session?socket=/run/user/1000/libvirt/virtqemud-sock",
          storage: { dir: "/srv/vms" },
          bridges: {},
        },
        11,
        3,
      ],
    ],
  );
});

test("domain_type: declared kvm or qemu is kept, absent is left to libvirt, anything else is located", async () => {
  const inv = load(
    yaml(
      ...BASE,
      "hypervisors:",
      "  vega: { driver: libvirt, uri: qemu:///system, domain_type: qemu }",
      "  rigel: { driver: libvirt, uri: qemu:///system }",
    ),
  );
  assert.deepEqual(
    inv.hypervisors.map((h) => [h.name, h.driver === "libvirt" ? h.domainType : "not libvirt"]),
    [
      ["vega", "qemu"],
      ["rigel", undefined],
    ],
  );
  // a declared type is used as is: libvirt is not asked (this URI has no daemon behind it)
  const hv = { ...(inv.hypervisors[0] as LibvirtHypervisor), uri: "qemu:///system?socket=/nonexistent/sock" };
  assert.equal(await new LibvirtMachines(hv, "t").domainType(), "qemu");
  assert.match(
    one(yaml(...BASE, "hypervisors:", "  vega: { driver: libvirt, uri: qemu:///system, domain_type: xen }")),
    /^t\.yaml:9:62: domain_type "xen" of hypervisor "vega" is invalid; expected one of kvm, qemu$/,
  );
});

test("every QEMU driver scheme is accepted", () => {
  for (const scheme of [
    "qemu",
    "qemu+ssh",
    "qemu+tcp",
    "qemu+tls",
    "qemu+unix",
    "qemu+libssh2",
    "qemu+libssh",
  ]) {
    const uri = `${scheme}://${scheme === "qemu" || scheme === "qemu+unix" ? "" : "vega"}/system`;
    const inv = load(yaml(...BASE, "hypervisors:", `  vega: { driver: libvirt, uri: "${uri}" }`));
    assert.equal((inv.hypervisors[0] as LibvirtHypervisor).uri, uri);
  }
});

test("images normalise: digests lowercase, format qcow2 by default, paths resolved against the inventory's directory", () => {
  const inv = load(
    yaml(
      ...BASE,
      "images:",
      `  debian-12: { url: "https://cloud.example/debian-12.qcow2", sha256: ${SHA256} }`,
      `  local: { path: images/site.raw, sha1: ${SHA1.toUpperCase()}, format: raw }`,
      `  abs: { path: /srv/img/a.qcow2, sha256: ${SHA256.toLowerCase()} }`,
      `  home: { path: ~/img/h.qcow2, sha1: ${SHA1} }`,
    ),
    "site/keel.yaml",
  );
  assert.deepEqual(
    inv.images.map(({ pos, ...i }) => [i, pos.line]),
    [
      [
        {
          name: "debian-12",
          source: { url: "https://cloud.example/debian-12.qcow2" },
          checksum: { algorithm: "sha256", hex: SHA256.toLowerCase() },
          format: "qcow2",
        },
        9,
      ],
      [
        {
          name: "local",
          source: { path: resolve("site", "images/site.raw") },
          checksum: { algorithm: "sha1", hex: SHA1 },
          format: "raw",
        },
        10,
      ],
      [
        {
          name: "abs",
          source: { path: "/srv/img/a.qcow2" },
          checksum: { algorithm: "sha256", hex: SHA256.toLowerCase() },
          format: "qcow2",
        },
        11,
      ],
      [
        {
          name: "home",
          source: { path: resolve(homedir(), "img/h.qcow2") },
          checksum: { algorithm: "sha1", hex: SHA1 },
          format: "qcow2",
        },
        12,
      ],
    ],
  );
  assert.equal(inv.dir, resolve("site"));
});

test("a VM naming a hypervisor gets a machine: Keel's defaults, the host's first network", () => {
  const inv = load(
    yaml(
      ...BASE.slice(0, 6),
      "  a: { address: { lan: 10.20.0.5, vpn: 10.99.0.5 }, vm: { hypervisor: vega, image: debian-12 } }",
      ...DECLARED,
    ),
  );
  assert.deepEqual(inv.hosts[0]!.vm!.machine, {
    hypervisor: "vega",
    image: "debian-12",
    vcpus: 1,
    memoryMiB: 1024,
    diskGiB: 10,
    autostart: true,
    keepSnapshots: 3,
    network: "lan",
  });
});

test("defaults.vm gives every VM a machine; the host's own keys win key by key; a VM without a hypervisor has none", () => {
  const inv = load(
    yaml(
      ...BASE.slice(0, 5),
      "defaults:",
      "  vm: { hypervisor: vega, image: debian-12, vcpus: 2, memory: 2048, disk: 20, autostart: false, keep_snapshots: 5 }",
      "hosts:",
      "  a: { address: 10.20.0.5, vm: {} }",
      "  b: { address: { lan: auto }, vm: { vcpus: 8, memory: 128, disk: 65536, autostart: true, image: other, keep_snapshots: 1 } }",
      "  c: { address: 10.20.0.7 }",
      ...DECLARED,
      `  other: { path: other.qcow2, sha256: "${"0".repeat(64)}" }`,
    ),
  );
  const [a, b, c] = inv.hosts;
  assert.deepEqual(a!.vm!.machine, {
    hypervisor: "vega",
    image: "debian-12",
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 20,
    autostart: false,
    keepSnapshots: 5,
    network: "lan",
  });
  assert.deepEqual(b!.vm!.machine, {
    hypervisor: "vega",
    image: "other",
    vcpus: 8,
    memoryMiB: 128,
    diskGiB: 65536,
    autostart: true,
    keepSnapshots: 1,
    network: "lan",
  });
  assert.equal(c!.vm, undefined);
  // without any hypervisor the machine keys of defaults.vm give no machine
  const plain = load(
    yaml(
      ...BASE.slice(0, 5),
      "defaults:",
      "  vm: { vcpus: 2 }",
      "hosts:",
      "  a: { address: 10.20.0.5, vm: {} }",
    ),
  );
  assert.equal(plain.hosts[0]!.vm!.machine, undefined);
});

test("the machine's network of a shorthand address is the network that contains it", () => {
  const inv = load(
    yaml(
      ...BASE.slice(0, 6),
      "  a: { address: 10.99.0.5, vm: { hypervisor: vega, image: debian-12 } }",
      "hypervisors:",
      "  vega: { driver: libvirt, uri: qemu:///system, networks: { vpn: br9 } }",
      "images:",
      `  debian-12: { path: d.qcow2, sha256: ${SHA256} }`,
    ),
  );
  assert.equal(inv.hosts[0]!.vm!.machine!.network, "vpn");
});

// ---- hypervisors: one located error per rule ----------------------------------------------------

const hv = (...lines: string[]) => yaml(...BASE, "hypervisors:", ...lines);

test("driver is required and must be libvirt or proxmox; uri is required for libvirt", () => {
  assert.equal(
    one(hv("  vega: { driver: xen, uri: qemu:///system }")),
    't.yaml:9:19: driver "xen" of hypervisor "vega" is not a hypervisor driver; expected libvirt or proxmox',
  );
  assert.equal(
    one(hv("  vega: { uri: qemu:///system }")),
    't.yaml:9:3: hypervisor "vega" is missing required key "driver"',
  );
  assert.equal(
    one(hv("  vega: { driver: libvirt }")),
    't.yaml:9:3: hypervisor "vega" is missing required key "uri"',
  );
});

test("a hypervisor name is a DNS label and unknown keys are rejected", () => {
  assert.equal(
    one(hv("  Vega: { driver: libvirt, uri: qemu:///system }")),
    `t.yaml:9:3: hypervisor name "Vega" in hypervisors is not a valid name; expected a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters`,
  );
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///system, pools: x }")),
    't.yaml:9:49: unknown key "pools" in hypervisor "vega" (did you mean "pool"?); expected one of driver, uri, pool, dir, networks, endpoints, token, node, storage, iso_storage, clone_limit, templates, vmid_range, domain_type',
  );
});

test("the uri must parse as a URI", () => {
  assert.equal(
    one(hv('  vega: { driver: libvirt, uri: "vega system" }')),
    't.yaml:9:33: uri "vega system" of hypervisor "vega" is not a URI; expected a libvirt connection URI such as qemu:///system or qemu+ssh://root@vega/system',
  );
});

test("the uri's scheme is one of the QEMU driver's", () => {
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: xen:///system }")),
    `t.yaml:9:33: uri "xen:///system" of hypervisor "vega" has scheme "xen"; expected one of qemu, qemu+ssh, qemu+tcp, qemu+tls, qemu+unix, qemu+libssh2, qemu+libssh (libvirt's QEMU driver), e.g. qemu:///system or qemu+ssh://root@vega/system`,
  );
});

test("the uri's path is /system or /session", () => {
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///systems }")),
    't.yaml:9:33: uri "qemu:///systems" of hypervisor "vega" has path "/systems"; expected /system or /session, e.g. qemu:///system or qemu+ssh://root@vega/system',
  );
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu+ssh://vega }")),
    't.yaml:9:33: uri "qemu+ssh://vega" of hypervisor "vega" has path none; expected /system or /session, e.g. qemu:///system or qemu+ssh://root@vega/system',
  );
});

test("a uri with a password is rejected without echoing it", () => {
  const p = one(hv('  vega: { driver: libvirt, uri: "qemu+ssh://root:hunter2@vega/system" }'));
  assert.equal(
    p,
    't.yaml:9:33: uri of hypervisor "vega" holds a password (user:password@), a literal secret in the inventory; expected a URI without one, such as qemu+ssh://root@vega/system (SSH keys or the agent log in)',
  );
  assert.doesNotMatch(p, /hunter2/);
});

test("pool and dir: at most one; pool has no '/', dir is absolute", () => {
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///system, pool: p, dir: /srv/vms }")),
    't.yaml:9:58: hypervisor "vega" has both pool and dir; expected at most one: pool: NAME (an existing libvirt storage pool) or dir: /ABSOLUTE/PATH (a directory Keel makes a pool of)',
  );
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///system, pool: a/b }")),
    't.yaml:9:55: pool "a/b" of hypervisor "vega" is not a storage pool name; expected the name of a libvirt pool, without "/", e.g. default',
  );
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///system, dir: srv/vms }")),
    't.yaml:9:54: dir "srv/vms" of hypervisor "vega" is not an absolute path; expected a directory on the hypervisor starting with "/", e.g. /var/lib/keel',
  );
});

test("networks keys name inventory networks", () => {
  assert.equal(
    one(hv("  vega: { driver: libvirt, uri: qemu:///system, networks: { lam: br0 } }")),
    't.yaml:9:61: network "lam" in networks of hypervisor "vega" does not exist (did you mean "lan"?); expected one of lan, vpn',
  );
});

test("bridge names are Linux interface names", () => {
  const bridge = (b: string) =>
    one(hv(`  vega: { driver: libvirt, uri: qemu:///system, networks: { lan: "${b}" } }`));
  const tail =
    'expected a Linux interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".." (e.g. br0)';
  assert.equal(
    bridge("br-0123456789abc"),
    `t.yaml:9:66: bridge "br-0123456789abc" of network "lan" on hypervisor "vega" is 16 bytes long; ${tail}`,
  );
  assert.equal(
    bridge("br/0"),
    `t.yaml:9:66: bridge "br/0" of network "lan" on hypervisor "vega" contains "/"; ${tail}`,
  );
  assert.equal(
    bridge("br:0"),
    `t.yaml:9:66: bridge "br:0" of network "lan" on hypervisor "vega" contains ":"; ${tail}`,
  );
  assert.equal(
    bridge("br 0"),
    `t.yaml:9:66: bridge "br 0" of network "lan" on hypervisor "vega" contains whitespace; ${tail}`,
  );
  assert.equal(
    bridge(".."),
    `t.yaml:9:66: bridge ".." of network "lan" on hypervisor "vega" is not a name; ${tail}`,
  );
  assert.equal(
    bridge(""),
    't.yaml:9:66: bridge "" of network "lan" on hypervisor "vega" is not a bridge name; expected a Linux interface name such as br0',
  );
  assert.equal(
    load(hv('  vega: { driver: libvirt, uri: qemu:///system, networks: { lan: "br-0123456789ab" } }'))
      .hypervisors[0]!.bridges.lan,
    "br-0123456789ab",
  );
});

// ---- images: one located error per rule ---------------------------------------------------------

const img = (...lines: string[]) => yaml(...BASE, "images:", ...lines);

test("an image has exactly one of url and path", () => {
  assert.equal(
    one(img(`  debian-12: { url: "https://x.example/d.qcow2", path: d.qcow2, sha256: ${SHA256} }`)),
    't.yaml:9:50: image "debian-12" has both url and path; expected exactly one: url: https://… (fetched) or path: FILE (on this machine)',
  );
  assert.equal(
    one(img(`  debian-12: { sha256: ${SHA256} }`)),
    't.yaml:9:3: image "debian-12" has neither url nor path; expected exactly one: url: https://… (fetched) or path: FILE (on this machine)',
  );
});

test("an image has exactly one of sha256 and sha1", () => {
  assert.equal(
    one(img(`  debian-12: { path: d.qcow2, sha256: ${SHA256}, sha1: ${SHA1} }`)),
    't.yaml:9:105: image "debian-12" has both sha256 and sha1; expected exactly one (sha256 when the publisher gives it)',
  );
  assert.equal(
    one(img("  debian-12: { path: d.qcow2 }")),
    't.yaml:9:3: image "debian-12" has neither sha256 nor sha1; expected the digest its publisher gives, e.g. sha256: (64 hex digits, as in SHA256SUMS)',
  );
});

test("digests have the right number of hex digits", () => {
  assert.equal(
    one(img(`  debian-12: { path: d.qcow2, sha256: ${SHA256.slice(1)} }`)),
    't.yaml:9:39: sha256 of image "debian-12" has 63 hex digits; expected 64',
  );
  assert.equal(
    one(img(`  debian-12: { path: d.qcow2, sha1: ${SHA1}0 }`)),
    't.yaml:9:37: sha1 of image "debian-12" has 41 hex digits; expected 40',
  );
  assert.equal(
    one(img(`  debian-12: { path: d.qcow2, sha256: ${SHA256.slice(1)}z }`)),
    't.yaml:9:39: sha256 of image "debian-12" holds "z", which is not a hex digit; expected 64 hex digits (0-9, a-f)',
  );
});

test("the url is http(s); one with credentials is rejected without echoing it", () => {
  assert.equal(
    one(img(`  debian-12: { url: "ftp://x.example/d.qcow2", sha256: ${SHA256} }`)),
    't.yaml:9:21: url "ftp://x.example/d.qcow2" of image "debian-12" is not http:// or https://; expected e.g. https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img',
  );
  const p = one(img(`  debian-12: { url: "https://me:s3cret@x.example/d.qcow2", sha256: ${SHA256} }`));
  assert.equal(
    p,
    't.yaml:9:21: url of image "debian-12" holds credentials (user:password@), a literal secret in the inventory; expected e.g. https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img',
  );
  assert.doesNotMatch(p, /s3cret/);
});

test("a digest YAML reads as a number must be quoted", () => {
  assert.equal(
    one(img(`  debian-12: { path: d.qcow2, sha1: ${"1".repeat(40)} }`)),
    't.yaml:9:37: sha1 of image "debian-12" must be a string of hex digits; got a whole number (quote a digest made only of digits: "0123…")',
  );
});

test("format is qcow2 or raw", () => {
  assert.equal(
    one(img(`  debian-12: { path: d.vmdk, sha256: ${SHA256}, format: vmdk }`)),
    't.yaml:9:112: format "vmdk" of image "debian-12" is not an image format; expected qcow2 or raw',
  );
});

// ---- vm: the machine keys -----------------------------------------------------------------------

/** BASE with host `a` replaced by `hostLine` (line 7), then the declared hypervisor and image (lines 8–11). */
const vmHost = (hostLine: string, ...more: string[]) =>
  yaml(...BASE.slice(0, 6), hostLine, ...DECLARED, ...more);

test("vcpus, memory and disk are whole numbers in range; autostart is a boolean", () => {
  const at = (vm: string) =>
    one(vmHost(`  a: { address: 10.20.0.5, vm: { hypervisor: vega, image: debian-12, ${vm} } }`));
  assert.equal(
    at("vcpus: 0"),
    't.yaml:7:77: vcpus 0 of vm of host "a" is out of range; expected a whole number from 1 to 255',
  );
  assert.equal(
    at("vcpus: 256"),
    't.yaml:7:77: vcpus 256 of vm of host "a" is out of range; expected a whole number from 1 to 255',
  );
  assert.equal(
    at("memory: 127"),
    't.yaml:7:78: memory 127 of vm of host "a" is out of range; expected a whole number of MiB, at least 128 (e.g. 2048 for 2 GiB)',
  );
  assert.equal(
    at("memory: 2G"),
    't.yaml:7:78: memory "2G" of vm of host "a" is not a memory size; expected a whole number of MiB, at least 128 (e.g. 2048 for 2 GiB)',
  );
  assert.equal(
    at("disk: 65537"),
    't.yaml:7:76: disk 65537 of vm of host "a" is out of range; expected a whole number of GiB from 1 to 65536',
  );
  assert.equal(
    at("disk: 1.5"),
    't.yaml:7:76: disk 1.5 of vm of host "a" is not a disk size; expected a whole number of GiB from 1 to 65536',
  );
  assert.equal(
    at("autostart: yes"),
    't.yaml:7:81: autostart of vm of host "a" must be true or false; got a string',
  );
});

test("the same ranges apply in defaults.vm", () => {
  assert.equal(
    one(yaml(...BASE, "defaults:", "  vm: { memory: 64 }")),
    "t.yaml:9:17: memory 64 of defaults.vm is out of range; expected a whole number of MiB, at least 128 (e.g. 2048 for 2 GiB)",
  );
});

test("hypervisor and image must be declared (did you mean)", () => {
  assert.deepEqual(
    problems(vmHost("  a: { address: 10.20.0.5, vm: { hypervisor: vegas, image: debian-11 } }")),
    [
      't.yaml:7:46: hypervisor of vm of host "a" names "vegas", which is not a declared hypervisor (did you mean "vega"?); expected one of vega',
      't.yaml:7:60: image of vm of host "a" names "debian-11", which is not a declared image (did you mean "debian-12"?); expected one of debian-12',
    ],
  );
  assert.deepEqual(problems(yaml(...BASE, "defaults:", "  vm: { hypervisor: vega, image: debian-12 }")), [
    't.yaml:9:21: hypervisor of defaults.vm names "vega", which is not a declared hypervisor; expected one of (none are declared: add hypervisors: { NAME: { driver: libvirt, uri } })',
    't.yaml:9:34: image of defaults.vm names "debian-12", which is not a declared image; expected one of (none are declared: add images: { NAME: { url, sha256 } })',
  ]);
});

test("a hypervisor or image that the schema rejected still counts as declared", () => {
  assert.deepEqual(
    problems(
      yaml(
        ...BASE.slice(0, 6),
        "  a: { address: 10.20.0.5, vm: { hypervisor: vega, image: debian-12 } }",
        "hypervisors:",
        "  vega: { driver: xen, uri: qemu:///system }",
        "images:",
        `  debian-12: { path: d.qcow2, sha256: ${SHA256}, format: vmdk }`,
      ),
    ),
    [
      't.yaml:9:19: driver "xen" of hypervisor "vega" is not a hypervisor driver; expected libvirt or proxmox',
      't.yaml:11:113: format "vmdk" of image "debian-12" is not an image format; expected qcow2 or raw',
    ],
  );
});

test("a VM with a hypervisor needs an image, on the host or in defaults.vm", () => {
  assert.equal(
    one(vmHost("  a: { address: 10.20.0.5, vm: { hypervisor: vega } }")),
    't.yaml:7:28: vm of host "a" runs on hypervisor "vega" but names no image; expected image: NAME in its vm: or in defaults.vm, NAME one of debian-12',
  );
  assert.equal(
    one(
      yaml(
        ...BASE.slice(0, 5),
        "defaults:",
        "  vm: { hypervisor: vega }",
        "hosts:",
        "  a: { address: 10.20.0.5, vm: { vcpus: 2 } }",
        ...DECLARED,
      ),
    ),
    't.yaml:9:28: vm of host "a" runs on hypervisor "vega" but names no image; expected image: NAME in its vm: or in defaults.vm, NAME one of debian-12',
  );
});

test("the hypervisor must have a bridge for the host's first network", () => {
  assert.equal(
    one(
      vmHost(
        "  a: { address: { vpn: 10.99.0.5, lan: 10.20.0.5 }, vm: { hypervisor: vega, image: debian-12 } }",
      ),
    ),
    `t.yaml:7:71: hypervisor "vega" has no bridge for network "vpn", the first network of host "a" (the VM's NIC is attached to it); add networks: { vpn: BRIDGE } to hypervisor "vega"`,
  );
  // inherited from defaults.vm: located at the host's vm key, and says where the hypervisor came from
  assert.equal(
    one(
      yaml(
        ...BASE.slice(0, 5),
        "defaults:",
        "  vm: { hypervisor: vega, image: debian-12 }",
        "hosts:",
        "  a: { address: { vpn: auto }, vm: {} }",
        ...DECLARED,
      ),
    ),
    `t.yaml:9:32: hypervisor "vega" (from defaults.vm) has no bridge for network "vpn", the first network of host "a" (the VM's NIC is attached to it); add networks: { vpn: BRIDGE } to hypervisor "vega"`,
  );
});
