import assert from "node:assert/strict";
import { test } from "node:test";
import {
  admits,
  checkId,
  deriveChecks,
  mayReach,
  probeAddress,
  sshTarget,
} from "../../../src/verify/derive.js";
import { contractExample, vantage } from "../../helpers/inventory.js";

const ids = (inv = contractExample()) => deriveChecks(inv).map((s) => s.id);

test("check ids follow HOST/KIND[/SERVICE][@VANTAGE]", () => {
  assert.equal(
    checkId("gw-vpn", "port.open", "node_exporter", "admin"),
    "gw-vpn/port.open/node_exporter@admin",
  );
  assert.equal(checkId("gpu", "listeners"), "gpu/listeners");
  assert.equal(checkId("gpu", "ssh.key-only", undefined, "admin"), "gpu/ssh.key-only@admin");
});

test("allow admits by any, vantage name, vantage network, and the via host", () => {
  const inv = contractExample();
  const [admin, lanProbe] = inv.vantages;
  assert.ok(admin && lanProbe);
  assert.ok(admits(["any"], admin));
  assert.ok(admits(["admin"], admin));
  assert.ok(admits(["vpn"], admin));
  assert.ok(!admits(["lan", "mon"], admin));
  assert.ok(admits(["gpu"], lanProbe), "via host name admits the via vantage");
  assert.ok(admits(["lan"], lanProbe));
  assert.ok(!admits(["mon", "vpn"], lanProbe));
});

test("the contract's example ids are derived", () => {
  const all = ids();
  for (const id of [
    "gw-vpn/port.open/node_exporter@admin",
    "gpu/ssh.key-only@admin",
    "gpu/listeners",
    "gw-vpn/sysctl/net.ipv4.ip_forward",
    "gw-vpn/wireguard.peers/wg0",
    "mon/prometheus.targets/prometheus@admin",
    "mon/grafana/grafana@admin",
    "mon/http/prometheus@admin",
    "gpu/node_exporter/node_exporter@admin",
  ]) {
    assert.ok(all.includes(id), `missing ${id}`);
  }
});

test("a service not admitting a vantage gets port.closed from it, with the allow list for the message", () => {
  const specs = deriveChecks(contractExample());
  const closed = specs.find((s) => s.id === "mon/port.closed/node_exporter@lan-probe");
  assert.ok(closed, "mon's node_exporter allows mon, vpn: lan-probe must see it closed");
  assert.deepEqual(closed.params, {
    kind: "port.closed",
    address: "10.20.0.3",
    port: 9100,
    protocol: "tcp",
    allowed: "mon, vpn",
  });
  assert.ok(!specs.some((s) => s.id === "mon/port.open/node_exporter@lan-probe"));
});

test("UDP services carry their protocol probe: a DNS query for kind dns, handshakes for the WireGuard port", () => {
  const inv = contractExample();
  const specs = deriveChecks(inv);
  const params = (id: string) => specs.find((s) => s.id === id)?.params;
  assert.deepEqual(params("ns1/port.open/dns@admin"), {
    kind: "port.open",
    address: "10.20.0.4",
    port: 53,
    protocol: "udp",
    probe: { kind: "dns", zone: "lab.internal" },
  });
  const wg = params("gw-vpn/port.open/wireguard@admin");
  assert.ok(wg?.kind === "port.open");
  assert.deepEqual(
    wg.probe && { ...wg.probe, target: { ...(wg.probe as { target: object }).target, identity: "…" } },
    {
      kind: "wireguard",
      target: { host: "gw-vpn", address: "10.99.0.1", port: 22, user: "root", identity: "…" },
      interface: "wg0",
      maxHandshakeAgeSec: 180,
    },
  );
  // lan-probe may not log in to gw-vpn (ssh allows vpn only): its WireGuard port.open has no probe
  const fromLan = params("gw-vpn/port.open/wireguard@lan-probe");
  assert.ok(fromLan?.kind === "port.open" && fromLan.probe === undefined);

  const ns1 = inv.hosts.find((h) => h.name === "ns1");
  ns1!.services[0]!.allow = ["vpn"];
  const closed = deriveChecks(inv).find((s) => s.id === "ns1/port.closed/dns@lan-probe")?.params;
  assert.ok(closed?.kind === "port.closed");
  assert.deepEqual(closed.probe, { kind: "dns", zone: "lab.internal" });
});

test("a via vantage's checks of its own host are skip", () => {
  const specs = deriveChecks(contractExample()).filter(
    (s) => s.host === "gpu" && s.id.endsWith("@lan-probe"),
  );
  assert.ok(specs.length > 0);
  for (const s of specs) assert.equal(s.skip, "vantage lan-probe runs on gpu itself");
});

test("probe address: first shared network, else the first address", () => {
  const inv = contractExample();
  const [admin, lanProbe] = inv.vantages;
  const gw = inv.hosts.find((h) => h.name === "gw-vpn");
  const gpu = inv.hosts.find((h) => h.name === "gpu");
  assert.ok(admin && lanProbe && gw && gpu);
  assert.equal(probeAddress(gw, admin), "10.99.0.1");
  assert.equal(probeAddress(gw, lanProbe), "10.20.0.2");
  assert.equal(probeAddress(gpu, admin), "10.20.0.10", "routed: no shared network");
});

test("a vantage sharing no network and admitted by no service does not probe the host", () => {
  const inv = contractExample();
  const outsider = vantage("outsider", { networks: [] });
  const ns1 = inv.hosts.find((h) => h.name === "ns1");
  assert.ok(ns1);
  assert.equal(mayReach(ns1, outsider), false);
  inv.vantages.push(outsider);
  assert.ok(!ids(inv).some((id) => id.startsWith("ns1/") && id.endsWith("@outsider")));
  assert.ok(ids(inv).includes("gw-vpn/port.open/wireguard@outsider"), "wireguard allows any");
});

test("host-side checks go through the first vantage SSH admits, and carry that login", () => {
  const specs = deriveChecks(contractExample());
  const listeners = specs.find((s) => s.id === "gpu/listeners");
  assert.ok(listeners && listeners.params.kind === "listeners");
  assert.equal(listeners.vantage, "admin");
  assert.equal(listeners.params.target.address, "10.20.0.10");
  assert.deepEqual(listeners.params.ignore, ["127.0.0.0/8", "::1"]);
  assert.deepEqual(
    listeners.params.declared.map((d) => `${d.service}:${d.port}/${d.protocol}`),
    ["ssh:22/tcp", "node_exporter:9100/tcp"],
  );
  const wg = specs.find((s) => s.id === "gw-vpn/wireguard.peers/wg0");
  assert.ok(wg && wg.params.kind === "wireguard.peers");
  assert.deepEqual(wg.params.peers, [{ name: "admin", addresses: [] }]);
  assert.equal(wg.params.maxHandshakeAgeSec, 180);
});

test("host-side checks with no way in are listed as skip with the reason", () => {
  const inv = contractExample();
  const gpu = inv.hosts.find((h) => h.name === "gpu");
  assert.ok(gpu);
  delete gpu.ssh;
  gpu.services = gpu.services.filter((s) => s.kind !== "ssh");
  const listeners = deriveChecks(inv).find((s) => s.id === "gpu/listeners");
  assert.equal(listeners?.skip, "gpu has ssh: false, so host-side checks cannot run");
});

test("--vantage restricts derivation to the named vantages", () => {
  const specs = deriveChecks(contractExample(), { vantages: ["lan-probe"] });
  assert.ok(specs.every((s) => s.vantage === "lan-probe" || s.vantage === "" || s.skip));
  assert.ok(specs.some((s) => s.id === "mon/port.open/ssh@lan-probe") === false, "ssh allows only vpn");
  assert.ok(specs.some((s) => s.id === "mon/port.closed/ssh@lan-probe"));
});

test("derivation is deterministic", () => {
  assert.deepEqual(deriveChecks(contractExample()), deriveChecks(contractExample()));
});

test("identity paths: ~ expands to the home directory, relative paths resolve against the inventory", () => {
  const inv = contractExample();
  const [admin] = inv.vantages;
  const gpu = inv.hosts.find((h) => h.name === "gpu");
  assert.ok(admin && gpu?.ssh);
  const identityPath = (identity: string | undefined) =>
    sshTarget(inv, { ...gpu, ssh: { ...gpu.ssh!, identity } }, admin)?.identity;
  assert.equal(identityPath(".keel/id"), "/srv/site/.keel/id");
  assert.ok(identityPath("~/.ssh/id_ed25519")?.endsWith("/.ssh/id_ed25519"));
  assert.equal(identityPath(undefined), undefined);
});

test("reachable falls back to every declared TCP port, admitted ones first", () => {
  const specs = deriveChecks(contractExample());
  const r = specs.find((s) => s.id === "gw-vpn/reachable@lan-probe");
  assert.ok(r && r.params.kind === "reachable");
  // lan-probe is admitted to none of gw-vpn's TCP ports (ssh: vpn; node_exporter: mon, vpn)
  assert.deepEqual(r.params.tcpPorts, [22, 9100]);
  const m = specs.find((s) => s.id === "mon/reachable@admin");
  assert.ok(m && m.params.kind === "reachable");
  assert.deepEqual(m.params.tcpPorts, [9090, 3000, 22, 9100]);
});

test("prometheus.targets lists each monitored host with its node_exporter port", () => {
  const inv = contractExample();
  const spec = deriveChecks(inv).find((s) => s.id === "mon/prometheus.targets/prometheus@admin")!;
  assert.equal(spec.params.kind, "prometheus.targets");
  const monitored = (spec.params as { monitored: { host: string; port?: number }[] }).monitored;
  assert.ok(monitored.length > 0);
  for (const m of monitored) {
    const h = inv.hosts.find((x) => x.name === m.host)!;
    assert.equal(m.port, h.services.find((s) => s.kind === "node_exporter")!.port, m.host);
  }
});
