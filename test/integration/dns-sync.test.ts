/**
 * `keel dns sync` (the built CLI) against a real BIND started here on 127.0.0.1: in sync, add,
 * change (in place, one update per zone) and remove a host, a wrong key, and a rollback when the
 * second zone refuses its update. Zones are loaded from what `keel render --only dns` writes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Change } from "../../src/dns/diff.js";
import { DnsServerError, sendUpdate, transferZone } from "../../src/dns/transport.js";
import { updateScript } from "../../src/dns/update.js";
import { freePort } from "../helpers/daemons.js";
import { digShort as dig, type Named, startNamed, tsigKeygen } from "../helpers/named.js";
import { runKeel } from "../unit/cli/built.js";

const FWD = "sync.test";
const REV = "0.77.10.in-addr.arpa";

/** The inventory, with `hosts` lines (YAML, under `hosts:`) and the MX record's TTL. */
function inventory(hosts: string[], mxTtl = 600): string {
  return `keel: 1
site: syncsite
domain: ${FWD}
dns:
  ttl: 600
  servers: [ns1]
  records:
    - { name: "@", type: MX, value: "10 ns1", ttl: ${mxTtl} }
    - { name: "@", type: TXT, value: "v=spf1 -all" }
networks:
  lan: { cidr: 10.77.0.0/24 }
hosts:
  ns1: { address: { lan: 10.77.0.2 }, services: [{ name: dns, kind: dns, port: 53/udp }] }
  web-1: { address: { lan: 10.77.0.10 }, services: [{ name: https, port: 443, dns: www }] }
${hosts.map((h) => `  ${h}`).join("\n")}
`;
}

const tmp = mkdtempSync(join(tmpdir(), "keel-dnssync-"));
const inv = join(tmp, "keel.yaml");
const KEY = tsigKeygen("keel-sync");
const keyFile = join(tmp, "keel-sync.key");
const wrongKeyFile = join(tmp, "wrong.key");
writeFileSync(keyFile, KEY, { mode: 0o600 });
writeFileSync(wrongKeyFile, tsigKeygen("keel-sync"), { mode: 0o600 });
const servers: Named[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Renders the zones of `text` with the built CLI and starts named on them. */
async function serve(text: string, updateReverse = true): Promise<Named> {
  writeFileSync(inv, text);
  const out = join(tmp, `out-${servers.length}`);
  const r = await runKeel("render", inv, "--out", out, "--only", "dns");
  assert.equal(r.code, 0, r.stderr);
  const named = await startNamed(
    [
      { name: FWD, file: join(out, "dns", `db.${FWD}`), update: true },
      { name: REV, file: join(out, "dns", `db.${REV}`), update: updateReverse },
    ],
    KEY,
    "keel-sync",
  );
  servers.push(named);
  return named;
}

/** The zone's SOA serial. */
function serial(named: Named, zone: string): number {
  return Number(dig(named, zone, "SOA")[0]!.split(" ")[2]);
}

/** Every record of the zone (AXFR, SOA lines left out), sorted. */
function zoneDump(named: Named, zone: string): string[] {
  const out = execFileSync(
    "dig",
    ["-k", keyFile, "-p", String(named.port), "@127.0.0.1", zone, "AXFR", "+noall", "+answer"],
    { encoding: "utf8" },
  );
  return out
    .split("\n")
    .filter((l) => l.trim() !== "" && !/\sSOA\s/.test(l))
    .sort();
}

function sync(named: Named, ...flags: string[]) {
  return runKeel("dns", "sync", inv, "--server", `127.0.0.1:${named.port}`, "--key", keyFile, ...flags);
}

describe("keel dns sync against BIND", () => {
  let named: Named;
  before(async () => {
    named = await serve(inventory([]));
  });

  test("a server loaded from the rendered zones is in sync: exit 0, no changes", async () => {
    const r = await sync(named);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`zone ${FWD} \\(serial \\d+\\) on 127\\.0\\.0\\.1#${named.port}: in sync`),
    );
    assert.match(r.stdout, new RegExp(`zone ${REV.replace(/\./g, "\\.")} .*: in sync`));
    assert.doesNotMatch(r.stdout, /^\s*[+~-] /m);
    const j = JSON.parse((await sync(named, "--json")).stdout);
    assert.equal(j.inSync, true);
    assert.deepEqual(
      j.zones.map((z: { zone: string; status: string }) => `${z.zone} ${z.status}`),
      [`${FWD} in-sync`, `${REV} in-sync`],
    );
  });

  test("a host added to the inventory: the plan shows +, changes nothing; --apply adds A and PTR; then in sync", async () => {
    writeFileSync(inv, inventory(["db-1: { address: { lan: 10.77.0.11 } }"]));
    const before = [serial(named, FWD), serial(named, REV)];
    const plan = await sync(named);
    assert.equal(plan.code, 1, plan.stderr);
    assert.match(plan.stdout, /^ {2}\+ db-1\.sync\.test\. 600 A 10\.77\.0\.11$/m);
    assert.match(plan.stdout, /^ {2}\+ 11\.0\.77\.10\.in-addr\.arpa\. 600 PTR db-1\.sync\.test\.$/m);
    assert.match(plan.stdout, /2 changes in 2 zones; run with --apply/);
    assert.deepEqual(dig(named, "db-1.sync.test", "A"), []);
    assert.deepEqual([serial(named, FWD), serial(named, REV)], before);

    const applied = await sync(named, "--apply");
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    assert.match(applied.stdout, /applied 2 changes in 2 zones/);
    assert.deepEqual(dig(named, "db-1.sync.test", "A"), ["10.77.0.11"]);
    assert.deepEqual(dig(named, "11.0.77.10.in-addr.arpa", "PTR"), ["db-1.sync.test."]);
    assert.deepEqual([serial(named, FWD), serial(named, REV)], [before[0]! + 1, before[1]! + 1]);

    const again = await sync(named);
    assert.equal(again.code, 0, again.stdout);
    assert.doesNotMatch(again.stdout, /^\s*[+~-] /m);
  });

  test("a host's address changed: changed in place, one update (one serial step) per zone; a TTL-only change too", async () => {
    writeFileSync(inv, inventory(["db-1: { address: { lan: 10.77.0.12 } }"], 60));
    const before = [serial(named, FWD), serial(named, REV)];
    const plan = await sync(named, "--json");
    assert.equal(plan.code, 1);
    const j = JSON.parse(plan.stdout);
    const fwd = j.zones.find((z: { zone: string }) => z.zone === FWD);
    assert.deepEqual(fwd.changes, [
      {
        action: "change",
        name: "db-1.sync.test.",
        type: "A",
        old: { ttl: 600, values: ["10.77.0.11"] },
        new: { ttl: 600, values: ["10.77.0.12"] },
      },
      {
        action: "change",
        name: "sync.test.",
        type: "MX",
        old: { ttl: 600, values: ["10 ns1.sync.test."] },
        new: { ttl: 60, values: ["10 ns1.sync.test."] },
      },
    ]);
    const text = await sync(named);
    assert.match(text.stdout, /^ {2}~ db-1\.sync\.test\. A\n {6}- 10\.77\.0\.11\n {6}\+ 10\.77\.0\.12$/m);
    assert.match(text.stdout, /^ {2}~ sync\.test\. MX TTL 600 => 60 \(10 ns1\.sync\.test\.\)$/m);

    const applied = await sync(named, "--apply");
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    assert.deepEqual(dig(named, "db-1.sync.test", "A"), ["10.77.0.12"]);
    assert.deepEqual(dig(named, "12.0.77.10.in-addr.arpa", "PTR"), ["db-1.sync.test."]);
    assert.deepEqual(dig(named, "11.0.77.10.in-addr.arpa", "PTR"), []);
    assert.ok(
      zoneDump(named, FWD).some((l) => /^sync\.test\.\s+60\s+IN\s+MX\s+10 ns1\.sync\.test\.$/.test(l)),
    );
    // one UPDATE message per zone: the server's serial moved exactly once in each
    assert.deepEqual([serial(named, FWD), serial(named, REV)], [before[0]! + 1, before[1]! + 1]);
    // named's log: one update per zone, each a delete and an add of the changed record
    const updates = named
      .log()
      .split("\n")
      .filter((l) => /updating zone/.test(l))
      .map((l) => l.replace(/^.*updating zone /, ""));
    assert.deepEqual(updates.slice(2), [
      "'sync.test/IN': deleting an RR at db-1.sync.test A",
      "'sync.test/IN': adding an RR at 'db-1.sync.test' A 10.77.0.12",
      "'sync.test/IN': adding an RR at 'sync.test' MX 10 ns1.sync.test.",
      "'0.77.10.in-addr.arpa/IN': deleting an RR at 11.0.77.10.in-addr.arpa PTR",
      "'0.77.10.in-addr.arpa/IN': adding an RR at '12.0.77.10.in-addr.arpa' PTR db-1.sync.test.",
    ]);
    assert.equal((await sync(named)).code, 0);
  });

  test("a host removed from the inventory: its A and PTR are removed", async () => {
    writeFileSync(inv, inventory([], 60));
    const plan = await sync(named);
    assert.match(plan.stdout, /^ {2}- db-1\.sync\.test\. 600 A 10\.77\.0\.12$/m);
    assert.match(plan.stdout, /^ {2}- 12\.0\.77\.10\.in-addr\.arpa\. 600 PTR db-1\.sync\.test\.$/m);
    const applied = await sync(named, "--apply");
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    assert.deepEqual(dig(named, "db-1.sync.test", "A"), []);
    assert.deepEqual(dig(named, "12.0.77.10.in-addr.arpa", "PTR"), []);
    assert.deepEqual(dig(named, "web-1.sync.test", "A"), ["10.77.0.10"]);
    assert.equal((await sync(named)).code, 0);
  });

  test("a wrong key (same name, other secret): exit 1 naming NOTAUTH (BADSIG) and the server; nothing changes", async () => {
    writeFileSync(inv, inventory(["db-9: { address: { lan: 10.77.0.99 } }"], 60));
    const before = [zoneDump(named, FWD), zoneDump(named, REV)];
    const r = await runKeel(
      "dns",
      "sync",
      inv,
      "--server",
      `127.0.0.1:${named.port}`,
      "--key",
      wrongKeyFile,
      "--apply",
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`server 127\\.0\\.0\\.1#${named.port} failed: NOTAUTH \\(BADSIG\\)`));
    assert.match(r.stderr, /nothing was changed/);
    for (const k of [KEY, readFileSync(wrongKeyFile, "utf8")])
      assert.ok(!(r.stdout + r.stderr).includes(/secret "([^"]+)"/.exec(k)![1]!), "a secret was printed");
    assert.deepEqual([zoneDump(named, FWD), zoneDump(named, REV)], before);
    const j = JSON.parse(
      (
        await runKeel(
          "dns",
          "sync",
          inv,
          "--server",
          `127.0.0.1:${named.port}`,
          "--key",
          wrongKeyFile,
          "--json",
        )
      ).stdout,
    );
    assert.equal(j.error.reason, "BADSIG");
    assert.equal(j.error.zone, FWD);
  });

  test(`the key from an environment variable ('\${VAR}' holding the key file's text)`, async () => {
    writeFileSync(inv, inventory([], 60));
    process.env.KEEL_TEST_TSIG = KEY;
    const r = await runKeel(
      "dns",
      "sync",
      inv,
      "--server",
      `127.0.0.1:${named.port}`,
      "--key",
      `\${KEEL_TEST_TSIG}`,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    delete process.env.KEEL_TEST_TSIG;
  });
});

describe("keel dns sync: a refused second zone rolls the first back", () => {
  test("forward zone updated, reverse zone REFUSED: the forward zone is put back, exit 1, the report says so", async () => {
    const named = await serve(inventory([]), false);
    writeFileSync(inv, inventory(["db-2: { address: { lan: 10.77.0.30 } }"]));
    const before = [zoneDump(named, FWD), zoneDump(named, REV)];
    const r = await sync(named, "--apply");
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `updating zone ${REV.replace(/\./g, "\\.")} on server 127\\.0\\.0\\.1#${named.port} failed: REFUSED`,
      ),
    );
    assert.match(r.stdout, /applied, then ROLLED BACK because a later zone failed/);
    assert.match(r.stdout, /NOT applied: updating zone 0\.77\.10/);
    assert.deepEqual([zoneDump(named, FWD), zoneDump(named, REV)], before);
    assert.deepEqual(dig(named, "db-2.sync.test", "A"), []);
    const j = JSON.parse((await sync(named, "--apply", "--json")).stdout);
    assert.deepEqual(
      j.zones.map((z: { zone: string; status: string }) => `${z.zone} ${z.status}`),
      [`${FWD} rolled-back`, `${REV} failed`],
    );
    assert.equal(j.error.reason, "REFUSED");
    // --zone: only the forward zone, which the key may update
    const one = await sync(named, "--apply", "--zone", `${FWD}.`);
    assert.equal(one.code, 0, one.stdout + one.stderr);
    assert.deepEqual(dig(named, "db-2.sync.test", "A"), ["10.77.0.30"]);
  });
});

describe("keel dns sync: usage mistakes exit 2 naming the flag", () => {
  test(`bad --server, unreadable --key, unset \${VAR}, not a key file, unknown --zone, missing --key`, async () => {
    writeFileSync(inv, inventory([]));
    const cases: [string[], RegExp][] = [
      [["--server", "not a host", "--key", keyFile], /^--server not a host: not a host of .* nor an address/],
      [["--server", "127.0.0.1:99999", "--key", keyFile], /^--server 127\.0\.0\.1:99999: /],
      [["--key", join(tmp, "missing.key")], /^--key .*missing\.key: cannot read the key file \(ENOENT\)/],
      [
        ["--key", `\${KEEL_NO_SUCH_VAR}`],
        /^--key \$\{KEEL_NO_SUCH_VAR\}: the environment variable KEEL_NO_SUCH_VAR is not set/,
      ],
      [["--key", inv], /is not a BIND key file; expected one key as tsig-keygen writes it/],
      [
        ["--key", keyFile, "--zone", "other.test"],
        /^--zone other\.test: not a zone of .*; expected one of sync\.test, 0\.77\.10\.in-addr\.arpa/,
      ],
      [[], /^--key is required/],
    ];
    for (const [flags, message] of cases) {
      const r = await runKeel("dns", "sync", inv, "--server", "127.0.0.1:1", ...flags);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});

describe("keel dns sync: the update itself against BIND", () => {
  test("a stale SOA prerequisite (the zone changed meanwhile) fails the whole message with NXRRSET; a wrong key's update is NOTAUTH (BADSIG)", async () => {
    const named = await serve(inventory([]));
    const server = { host: "127.0.0.1", port: named.port };
    const read = await transferZone(server, FWD, keyFile);
    const add = (ip: string): Change[] => [
      { action: "add", name: `x.${FWD}.`, type: "A", new: { ttl: 60, values: [ip] } },
    ];
    await sendUpdate(server, FWD, updateScript(server, FWD, read.soa, add("10.77.0.50")), keyFile);
    const stale = updateScript(server, FWD, read.soa, add("10.77.0.51"));
    await assert.rejects(sendUpdate(server, FWD, stale, keyFile), (e: unknown) => {
      assert.ok(e instanceof DnsServerError);
      assert.equal(e.reason, "NXRRSET");
      assert.match(
        e.message,
        new RegExp(`updating zone ${FWD} on server 127\\.0\\.0\\.1#${named.port} failed: NXRRSET`),
      );
      return true;
    });
    const now = await transferZone(server, FWD, keyFile);
    assert.equal(now.serial, read.serial + 1);
    const wrong = updateScript(server, FWD, now.soa, add("10.77.0.52"));
    await assert.rejects(sendUpdate(server, FWD, wrong, wrongKeyFile), (e: unknown) => {
      assert.ok(e instanceof DnsServerError);
      assert.equal(e.reason, "BADSIG");
      assert.match(e.message, /failed: NOTAUTH \(BADSIG\)/);
      return true;
    });
    assert.deepEqual(dig(named, `x.${FWD}`, "A"), ["10.77.0.50"]);
    assert.equal(serial(named, FWD), now.serial);
  });

  test("nothing listening at --server: exit 1, unreachable, naming the server", async () => {
    writeFileSync(inv, inventory([]));
    const port = await freePort();
    const r = await runKeel("dns", "sync", inv, "--server", `127.0.0.1:${port}`, "--key", keyFile);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`on server 127\\.0\\.0\\.1#${port} failed: unreachable`));
  });

  test("dig and nsupdate missing from PATH: exit 2 naming bind9-dnsutils", async () => {
    writeFileSync(inv, inventory([]));
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const r = await runKeel("dns", "sync", inv, "--server", "127.0.0.1:1", "--key", keyFile);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^dig is not installed; .*bind9-dnsutils/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe("keel apply --dns-key: the zones follow through the same sync", () => {
  /** `keel apply` with nothing to apply (no machines), the follow sending to `named` with `key`. */
  const apply = (named: Named, key = keyFile) =>
    runKeel("apply", inv, "--yes", "--dns-key", key, "--dns-server", `127.0.0.1:${named.port}`);

  test("nothing to apply: the changes are sent after the plan, then in sync; a wrong key exits 1 with the reason, leaving the machines", async () => {
    const named = await serve(inventory([]));
    writeFileSync(inv, inventory(["db-7: { address: { lan: 10.77.0.70 } }"]));
    const r = await apply(named);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^nothing to apply\n\nDNS and DHCP:\n/m);
    assert.match(r.stdout, /^ {4}\+ db-7\.sync\.test\. 600 A 10\.77\.0\.70$/m);
    assert.match(r.stdout, /^ {2}applied 2 changes in 2 zones$/m);
    assert.deepEqual(dig(named, "db-7.sync.test", "A"), ["10.77.0.70"]);
    assert.deepEqual(dig(named, "70.0.77.10.in-addr.arpa", "PTR"), ["db-7.sync.test."]);

    const again = await apply(named);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /^ {2}in sync: 2 zones on 127\.0\.0\.1#\d+ hold what the inventory says$/m);

    writeFileSync(inv, inventory([]));
    const before = [zoneDump(named, FWD), zoneDump(named, REV)];
    const wrong = await apply(named, wrongKeyFile);
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(
      wrong.stderr,
      new RegExp(
        `^keel: the DNS update failed: reading zone ${FWD} \\(AXFR\\) on server 127\\.0\\.0\\.1#${named.port} failed: NOTAUTH \\(BADSIG\\): .*; nothing was sent; the machines are left as they are; run keel apply again to finish it$`,
        "m",
      ),
    );
    assert.ok(
      !(wrong.stdout + wrong.stderr).includes(
        /secret "([^"]+)"/.exec(readFileSync(wrongKeyFile, "utf8"))![1]!,
      ),
    );
    assert.deepEqual([zoneDump(named, FWD), zoneDump(named, REV)], before);
    // the next run with the right key finishes it
    const fixed = await apply(named);
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.deepEqual(dig(named, "db-7.sync.test", "A"), []);
  });

  test("dig and nsupdate missing from PATH: exit 2 naming bind9-dnsutils, before the plan", async () => {
    writeFileSync(inv, inventory([]));
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const r = await runKeel("apply", inv, "--yes", "--dns-key", keyFile, "--dns-server", "127.0.0.1:1");
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^dig is not installed; .*bind9-dnsutils/);
      assert.equal(r.stdout, "");
    } finally {
      process.env.PATH = path;
    }
  });
});
