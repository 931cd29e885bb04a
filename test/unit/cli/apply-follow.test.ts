/**
 * `keel apply`'s DNS and DHCP follow at the CLI, on sites without machines (nothing to apply, so
 * no hypervisor is needed): `--render-out` writes what `keel render --only dns,dhcp` writes and
 * follows the inventory on the next run; the follow's flags, output directory, key and files are
 * checked before anything is changed (exit 2, no journal, nothing rendered); a refused apply
 * renders nothing. The DNS update itself is tested against BIND (test/integration/dns-sync.test.ts)
 * and with real machines (test/integration/apply.test.ts).
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runKeel } from "./built.js";

const tmp = mkdtempSync(join(tmpdir(), "keel-apply-follow-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SITE = `keel: 1
site: fol
domain: fol.internal
dns: { servers: [ns1] }
networks:
  lan:
    cidr: 10.46.0.0/24
    gateway: 10.46.0.1
    ranges: { pool: 10.46.0.128/25 }
    dhcp: { range: pool, lease: 1h }
hosts:
  ns1: { address: 10.46.0.2 }
  web: { address: 10.46.0.5 }
`;

/** A fresh directory `tmp/name` holding `keel.yaml` with `text`; returns the inventory's path. */
function site(name: string, text = SITE): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const file = join(dir, "keel.yaml");
  writeFileSync(file, text);
  return file;
}

/** The rendered files under `dir/dns` and `dir/dhcp` (relative path → content). */
function rendered(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kind of ["dns", "dhcp"])
    for (const f of readdirSync(join(dir, kind)).sort())
      out[`${kind}/${f}`] = readFileSync(join(dir, kind, f), "utf8");
  return out;
}

test("--render-out on a site with nothing to apply: the files keel render --only dns,dhcp writes; the next run follows the inventory", async () => {
  const inv = site("render");
  const out = join(tmp, "render", "out");
  const r = await runKeel("apply", inv, "--yes", "--render-out", out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `nothing to apply\\n\\nDNS and DHCP:\\n  rendered dns, dhcp into ${out}: 5 files changed, 0 unchanged\\n$`,
    ),
  );
  // the same renderer: the bytes of keel render --only dns,dhcp
  const ref = join(tmp, "render", "ref");
  assert.equal((await runKeel("render", inv, "--out", ref, "--only", "dns,dhcp")).code, 0);
  assert.deepEqual(rendered(out), rendered(ref));
  assert.deepEqual(Object.keys(rendered(out)), [
    "dns/db.0.46.10.in-addr.arpa",
    "dns/db.fol.internal",
    "dns/named.conf.zones",
    "dhcp/dnsmasq.conf",
    "dhcp/kea-dhcp4.conf",
  ]);
  // idempotent: nothing changed, nothing written
  const again = await runKeel("apply", inv, "--yes", "--render-out", out);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /rendered dns, dhcp into .*: 0 files changed, 5 unchanged\n$/);
  // a host removed: its records leave both zones
  writeFileSync(inv, SITE.replace("  web: { address: 10.46.0.5 }\n", ""));
  const removed = await runKeel("apply", inv, "--yes", "--render-out", out);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /rendered dns, dhcp into .*: 2 files changed, 3 unchanged\n$/);
  assert.match(readFileSync(join(ref, "dns", "db.fol.internal"), "utf8"), /^web\s/m);
  assert.doesNotMatch(readFileSync(join(out, "dns", "db.fol.internal"), "utf8"), /^web\s/m);
  assert.doesNotMatch(
    readFileSync(join(out, "dns", "db.0.46.10.in-addr.arpa"), "utf8"),
    /web\.fol\.internal/,
  );
});

test("--dns-server without --dns-key is a usage error naming both flags: exit 2, nothing done", async () => {
  const inv = site("server-only");
  const r = await runKeel("apply", inv, "--yes", "--dns-server", "127.0.0.1:5353");
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /^--dns-server 127\.0\.0\.1:5353: only used with --dns-key\b/);
  assert.equal(r.stdout, "");
  assert.ok(!existsSync(join(tmp, "server-only", ".keel")), "no journal, no lock: nothing was started");
});

test("a --render-out that is a file, or under one: exit 2 naming the flag, before the plan", async () => {
  const inv = site("bad-out");
  for (const out of [inv, join(inv, "out")]) {
    const r = await runKeel("apply", inv, "--yes", "--render-out", out);
    assert.equal(r.code, 2, r.stdout);
    assert.equal(
      r.stderr,
      `--render-out ${out}: cannot write there: it (or a parent) is not a directory; expected a directory (created if missing)\n`,
    );
    assert.equal(r.stdout, "");
  }
  assert.ok(!existsSync(join(tmp, "bad-out", ".keel")));
});

test("zones the inventory cannot render (a domain without a name server): exit 2 before the plan, nothing written", async () => {
  const inv = site("no-ns", SITE.replace("dns: { servers: [ns1] }\n", ""));
  const out = join(tmp, "no-ns", "out");
  const r = await runKeel("apply", inv, "--yes", "--render-out", out);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /the zones of domain fol\.internal need a name server/);
  assert.ok(!existsSync(out));
  // without the follow, apply has nothing to render and goes ahead
  assert.equal((await runKeel("apply", inv, "--yes")).code, 0);
});

test("--dns-key: a missing key file, an unset variable, a file that is no key, a site without domain: exit 2 naming --dns-key", async () => {
  const inv = site("keys");
  const cases: [string[], RegExp][] = [
    [
      ["--dns-key", join(tmp, "keys", "nope.key")],
      /^--dns-key \S+nope\.key: cannot read the key file \(ENOENT\)/,
    ],
    [
      ["--dns-key", `\${KEEL_TEST_UNSET_KEY}`],
      /^--dns-key \$\{KEEL_TEST_UNSET_KEY\}: the environment variable KEEL_TEST_UNSET_KEY is not set/,
    ],
    [["--dns-key", inv], /^--dns-key \S+keel\.yaml is not a BIND key file/],
    [
      ["--dns-key", inv, "--dns-server", "not an address"],
      /^--dns-server not an address: not a host of \S+ nor an address/,
    ],
  ];
  for (const [flags, expected] of cases) {
    const r = await runKeel("apply", inv, "--yes", ...flags);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, expected);
  }
  const noDomain = site("keys-no-domain", SITE.replace("domain: fol.internal\n", ""));
  const r = await runKeel("apply", noDomain, "--yes", "--dns-key", inv);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^--dns-key: \S+keel\.yaml: no domain, so keel manages no zone/);
  assert.ok(!existsSync(join(tmp, "keys", ".keel")));
});

test("a refused apply (a hypervisor that cannot be read) renders nothing", async () => {
  const inv = site(
    "refused",
    `${SITE.replace(
      "hosts:\n",
      `hypervisors:
  vega: { driver: libvirt, uri: "qemu+unix:///system?socket=${tmp}/no-such-libvirt-sock", networks: { lan: br0 } }
images:
  debian-12: { path: ${tmp}/no-such.qcow2, sha256: ${"a".repeat(64)} }
hosts:
`,
    )}  vm-1: { address: 10.46.0.9, vm: { hypervisor: vega, image: debian-12, vcpus: 1, memory: 512, disk: 4 } }
`,
  );
  const out = join(tmp, "refused", "out");
  const r = await runKeel("apply", inv, "--yes", "--render-out", out);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /vega: virsh list: failed to connect/);
  assert.doesNotMatch(r.stdout, /DNS and DHCP/);
  assert.ok(!existsSync(out));
});
