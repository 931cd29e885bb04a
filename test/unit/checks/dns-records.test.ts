import assert from "node:assert/strict";
import { test } from "node:test";
import { loadInventory } from "../../../src/inventory/load.js";
import { dnsRecords } from "../../../src/verify/checks/dns-records.js";
import { type DnsAnswer, dnsQuestions, judgeDnsRecords } from "../../../src/verify/checks/index.js";
import { deriveChecks, expectedRecords } from "../../../src/verify/derive.js";
import type { CheckParams, CheckSpec, DnsQueryType, DnsQuestion, Prober } from "../../../src/verify/types.js";
import { ProbeError } from "../../../src/verify/types.js";
import { reverseOwner } from "../../../src/verify/vantages/ssh.js";

type Params = Extract<CheckParams, { kind: "dns.records" }>;
const inv = loadInventory("examples/lab/keel.yaml");
const specs = deriveChecks(inv).filter((s) => s.kind === "dns.records");
const gwAdmin = specs.find((s) => s.id === "gw-vpn/dns.records/dns@admin")!;
const p = gwAdmin.params as Params;

/** The answers a server that matches the inventory gives. */
function truthful(params: Params): DnsAnswer[] {
  return dnsQuestions(params).map((q) => {
    if (q.type === "PTR") return { ...q, values: [params.ptr.find((x) => x.address === q.name)!.name] };
    const n = params.names.find((x) => x.name === q.name)!;
    return { ...q, values: q.type === "A" ? n.a : n.aaaa };
  });
}

const serials = (serial: string) => p.zones.map((zone) => ({ zone, serial }));

test("derive: every dns.servers host, from every vantage its dns service admits, peers and zones", () => {
  assert.deepEqual(
    specs.map((s) => [s.id, s.skip ?? ""]),
    [
      ["gw-vpn/dns.records/dns@admin", ""],
      ["gw-vpn/dns.records/dns@lan-probe", ""],
      ["mon/dns.records/dns@admin", ""],
      ["mon/dns.records/dns@lan-probe", ""],
    ],
  );
  assert.deepEqual(p.server, { host: "gw-vpn", address: "10.99.0.1", port: 53 });
  assert.deepEqual(p.peers, [{ host: "mon", address: "10.20.0.3", port: 53 }]);
  assert.deepEqual(p.zones, ["lab.internal", "0.20.10.in-addr.arpa", "0.99.10.in-addr.arpa"]);
  assert.deepEqual(p.names[0], { name: "gw-vpn.lab.internal", a: ["10.20.0.2", "10.99.0.1"], aaaa: [] });
  assert.deepEqual(p.ptr.at(-1), { address: "10.20.0.20", name: "svc-1.lab.internal" });
  const viaMon = specs.find((s) => s.id === "mon/dns.records/dns@lan-probe")!.params as Params;
  assert.deepEqual(viaMon.server, { host: "mon", address: "10.20.0.3", port: 53 });
  assert.deepEqual(viaMon.peers, [{ host: "gw-vpn", address: "10.20.0.2", port: 53 }]);
});

test("derive: no domain or no dns.servers, no dns.records; a via vantage on the server is skip", () => {
  assert.equal(
    deriveChecks({ ...inv, dns: { ...inv.dns!, servers: [] } }).some((s) => s.kind === "dns.records"),
    false,
  );
  const { domain: _, ...noDomain } = inv;
  assert.equal(
    deriveChecks(noDomain).some((s) => s.kind === "dns.records"),
    false,
  );
  const onSvc = deriveChecks({ ...inv, dns: { ...inv.dns!, servers: ["svc-1"] } }).filter(
    (s) => s.kind === "dns.records",
  );
  assert.deepEqual(
    onSvc.map((s) => [s.id, s.skip]),
    [
      ["svc-1/dns.records@admin", undefined],
      ["svc-1/dns.records@lan-probe", "vantage lan-probe runs on svc-1 itself"],
    ],
  );
  assert.equal((onSvc[0]!.params as Params).server.port, 53);
});

test("expectedRecords: IPv6 addresses are AAAA and live in a nibble-boundary ip6.arpa zone", () => {
  const v6 = {
    ...inv,
    networks: [...inv.networks, { ...inv.networks[1]!, name: "v6", cidr: "fd00:1::/64", family: 6 as const }],
    hosts: inv.hosts.map((h) =>
      h.name === "gpu" ? { ...h, addresses: [...h.addresses, { network: "v6", address: "fd00:1::10" }] } : h,
    ),
  };
  const e = expectedRecords(v6, "lab.internal");
  assert.deepEqual(
    e.names.find((n) => n.name === "gpu.lab.internal"),
    { name: "gpu.lab.internal", a: ["10.20.0.10"], aaaa: ["fd00:1::10"] },
  );
  assert.ok(e.zones.includes("0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"), e.zones.join(" "));
});

test("judge: a server that matches the inventory and is not behind its peers passes", () => {
  const o = judgeDnsRecords(p, truthful(p), serials("2026120200"), [
    { peer: "mon", zone: "lab.internal", serial: "2026120200" },
  ]);
  assert.equal(o.status, "pass", o.message);
  assert.equal(
    o.message,
    `gw-vpn (10.99.0.1:53): ${dnsQuestions(p).length} answers match the inventory; SOA serials not behind mon`,
  );
});

test("judge: a wrong, a missing and an extra record are each named with expected vs got", () => {
  const answers = truthful(p).map((a) => {
    if (a.name === "svc-1.lab.internal" && a.type === "A") return { ...a, values: ["10.20.0.9"] };
    if (a.name === "gpu.lab.internal" && a.type === "A") return { ...a, values: [] };
    if (a.name === "mon.lab.internal" && a.type === "AAAA") return { ...a, values: ["fd00::3"] };
    if (a.name === "10.20.0.10" && a.type === "PTR") return { ...a, values: ["svc-1.lab.internal"] };
    return a;
  });
  const o = judgeDnsRecords(p, answers, serials("2026120200"), []);
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "gw-vpn (10.99.0.1:53) disagrees with the inventory: mon.lab.internal AAAA: got fd00::3, expected none; " +
      "gpu.lab.internal A: no record, expected 10.20.0.10; svc-1.lab.internal A: got 10.20.0.9, expected 10.20.0.20; " +
      "10.20.0.10 PTR: got svc-1.lab.internal, expected gpu.lab.internal",
  );
  assert.equal(o.observed?.mismatches, 4);
});

test("judge: a zone whose serial is behind a peer's fails as stale; a silent peer is only noted", () => {
  const o = judgeDnsRecords(p, truthful(p), serials("2026120200"), [
    { peer: "mon", zone: "lab.internal", serial: "2026120201" },
    { peer: "ns9", zone: "lab.internal", serial: undefined },
  ]);
  assert.equal(o.status, "fail");
  assert.equal(
    o.message,
    "gw-vpn (10.99.0.1:53) disagrees with its peers: SOA serial of lab.internal is 2026120200, behind mon's 2026120201",
  );
  assert.deepEqual(o.observed?.peersNotAnswering, ["ns9"]);
  // the peer that is ahead is not blamed
  assert.equal(
    judgeDnsRecords(p, truthful(p), serials("2026120201"), [
      { peer: "gw-vpn", zone: "lab.internal", serial: "2026120200" },
    ]).status,
    "pass",
  );
});

test("judge: addresses compare in canonical form, names without case or trailing dot", () => {
  const answers = truthful(p).map((a) =>
    a.type === "PTR" ? { ...a, values: a.values.map((v) => `${v.toUpperCase()}.`) } : a,
  );
  assert.equal(judgeDnsRecords(p, answers, serials("1"), []).status, "pass");
});

/** A prober answering from a table; `silent` servers time out. Records each batch asked. */
function fakeProber(
  answer: (server: string, name: string, type: DnsQueryType) => string[],
  silent: string[] = [],
) {
  const batches: { server: string; size: number }[] = [];
  const prober = {
    vantage: "admin",
    async dnsQuery(server: string, _port: number, questions: DnsQuestion[]) {
      batches.push({ server, size: questions.length });
      if (silent.includes(server)) throw new ProbeError(`${server}:53: no answer within 2000 ms`);
      return questions.map((q) => answer(server, q.name, q.type));
    },
  } as unknown as Prober;
  return { prober, batches };
}

const run = (prober: Prober) =>
  dnsRecords.run(gwAdmin as CheckSpec & { params: Params }, {
    prober,
    timeoutMs: 2000,
    signal: new AbortController().signal,
  });

const truthfulAnswer = (serial: (server: string) => string) => {
  const truth = truthful(p);
  return (server: string, name: string, type: DnsQueryType) =>
    type === "SOA" ? [serial(server)] : truth.find((a) => a.name === name && a.type === type)!.values;
};

test("run: one batch to the server (SOA of each zone, then every question), one SOA batch per peer", async () => {
  const f = fakeProber(truthfulAnswer(() => "2026120200"));
  const o = await run(f.prober);
  assert.equal(o.status, "pass", o.message);
  assert.deepEqual(f.batches, [
    { server: "10.99.0.1", size: p.zones.length + dnsQuestions(p).length },
    { server: "10.20.0.3", size: p.zones.length },
  ]);
});

test("run: a peer ahead of the server makes it stale; a silent peer is only noted", async () => {
  const ahead = await run(
    fakeProber(truthfulAnswer((s) => (s === "10.20.0.3" ? "2026120201" : "2026120200"))).prober,
  );
  assert.equal(ahead.status, "fail");
  assert.match(ahead.message, /behind mon's 2026120201/);
  const silent = await run(
    fakeProber(
      truthfulAnswer(() => "1"),
      ["10.20.0.3"],
    ).prober,
  );
  assert.equal(silent.status, "pass", silent.message);
  assert.deepEqual(silent.observed?.peersNotAnswering, ["mon"]);
});

test("run: a server that does not answer is error (undecided), naming it", async () => {
  const o = await run(fakeProber(() => [], ["10.99.0.1"]).prober);
  assert.equal(o.status, "error");
  assert.equal(o.message, "gw-vpn (10.99.0.1:53) does not answer: 10.99.0.1:53: no answer within 2000 ms");
});

test("via dig answers are matched by PTR owner: in-addr.arpa by octets, ip6.arpa by 32 nibbles", () => {
  assert.equal(reverseOwner("10.20.0.20"), "20.0.20.10.in-addr.arpa");
  assert.equal(
    reverseOwner("fd00:1::10"),
    "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa",
  );
});
