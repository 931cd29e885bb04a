/**
 * WireGuard in the lab: wireguard-go interfaces of the gateways and their peers (in host
 * namespaces or the root namespace), their keys and `wg set` configuration.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnDaemon } from "./daemons.js";
import type { WgGatewayPlan } from "./plan.js";
import { LabError, must, type Place, placeCmd, runAt, sleep } from "./run.js";
import { hostDir, hostPlace, type Lab, saveLab } from "./twin.js";

/**
 * Waits until a wireguard-go interface can be configured: its link exists and wg(8) can talk to
 * its UAPI socket (`/var/run/wireguard/IFNAME.sock` in the place's mount namespace). wireguard-go
 * in the foreground creates the TUN device first and the socket a moment later; a `wg set` in
 * between finds no socket, falls back to the kernel's netlink and fails with "Protocol not
 * supported". Polls every 50 ms.
 * @param timeoutMs how long to wait, ms (default 5,000)
 * @throws LabError naming the interface when it is not ready in time
 */
export async function waitWireguard(place: Place | null, ifname: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (
      (await runAt(place, "ip", ["link", "show", ifname])).code === 0 &&
      (await runAt(place, "wg", ["show", ifname, "public-key"])).code === 0
    ) {
      return;
    }
    if (Date.now() >= until) break;
    await sleep(50);
  }
  throw new LabError(
    `WireGuard interface ${ifname} did not become ready${place ? ` in ${place.ns}` : ""} within ${timeoutMs} ms (no link, or wireguard-go's UAPI socket is missing)`,
  );
}

async function wgKey(file: string): Promise<string> {
  const priv = await must("wg", ["genkey"]);
  writeFileSync(file, priv, { mode: 0o600 });
  chmodSync(file, 0o600);
  return (await must("wg", ["pubkey"], { input: priv })).trim();
}

/** wg-set arguments that add a gateway's peer (its allowed-ips). */
export function gatewayPeerArgs(publicKey: string, allowedIps: string[]): string[] {
  return ["peer", publicKey, "allowed-ips", allowedIps.join(",")];
}

/** wg-set arguments on the peer side: the gateway with endpoint and a 5 s keepalive. */
export function peerGatewayArgs(gwPublicKey: string, endpoint: string, allowedIps: string[]): string[] {
  return [
    "peer",
    gwPublicKey,
    "endpoint",
    endpoint,
    "persistent-keepalive",
    "5",
    "allowed-ips",
    allowedIps.join(","),
  ];
}

/** Starts (or restarts) a gateway's wireguard-go and configures its key, port and peers. */
export async function startWireguardGateway(lab: Lab, gw: WgGatewayPlan): Promise<void> {
  const place = hostPlace(lab, gw.host);
  const dir = hostDir(lab, gw.host);
  const hp = lab.plan.hosts.find((h) => h.host === gw.host);
  const svc = hp?.services.find((s) => s.daemon === "wireguard");
  spawnDaemon(lab, {
    host: gw.host,
    service: svc?.service ?? `wireguard:${gw.ifname}`,
    daemon: "wireguard",
    real: true,
    exe: "wireguard-go",
    argv: ["wireguard-go", gw.ifname],
    env: { WG_PROCESS_FOREGROUND: "1" },
    log: join(dir, `wireguard-${gw.ifname}.log`),
    port: gw.port,
    protocol: "udp",
  });
  await waitWireguard(place, gw.ifname);
  const rec = lab.state.wireguard.find((w) => w.gatewayHost === gw.host && w.ifname === gw.ifname);
  if (!rec) throw new LabError(`no WireGuard keys recorded for ${gw.host}`);
  const peerArgs = rec.peers.flatMap((p) => gatewayPeerArgs(p.publicKey, p.allowedIps));
  const [c, a] = placeCmd(place, "wg", [
    "set",
    gw.ifname,
    "listen-port",
    String(gw.port),
    "private-key",
    join(dir, `${gw.ifname}.key`),
    ...peerArgs,
  ]);
  await must(c, a);
  const [c2, a2] = placeCmd(place, "ip", ["link", "set", gw.ifname, "up"]);
  await must(c2, a2);
}

/**
 * Starts every planned WireGuard gateway and its peers: generates and records their keys, runs
 * wireguard-go for each interface and configures it with wg(8).
 * @throws LabError when a command fails or an interface does not become ready
 */
export async function startWireguard(lab: Lab): Promise<void> {
  for (const gw of lab.plan.wireguard) {
    const dir = hostDir(lab, gw.host);
    const gwPub = await wgKey(join(dir, `${gw.ifname}.key`));
    const peers = [];
    for (const p of gw.peers) {
      const pdir = hostDir(lab, p.host ?? null);
      mkdirSync(pdir, { recursive: true });
      const pub = await wgKey(join(pdir, `${p.ifname}.key`));
      peers.push({
        name: p.name,
        host: p.host ?? null,
        ifname: p.ifname,
        publicKey: pub,
        allowedIps: p.allowedIps,
        endpoint: p.endpoint,
        gatewayAllowedIps: p.gatewayAllowedIps,
      });
    }
    lab.state.wireguard.push({
      gatewayHost: gw.host,
      ifname: gw.ifname,
      port: gw.port,
      publicKey: gwPub,
      peers,
    });
    saveLab(lab);
    await startWireguardGateway(lab, gw);
    for (const p of peers) {
      const place = hostPlace(lab, p.host);
      const pdir = hostDir(lab, p.host);
      spawnDaemon(lab, {
        host: p.host,
        service: `wireguard:${p.ifname}`,
        daemon: "wireguard",
        real: true,
        exe: "wireguard-go",
        argv: ["wireguard-go", p.ifname],
        env: { WG_PROCESS_FOREGROUND: "1" },
        log: join(pdir, `wireguard-${p.ifname}.log`),
      });
      if (p.host === null) {
        lab.state.rootWg.push(p.ifname);
        saveLab(lab);
      }
      await waitWireguard(place, p.ifname);
      const [c, a] = placeCmd(place, "wg", [
        "set",
        p.ifname,
        "private-key",
        join(pdir, `${p.ifname}.key`),
        ...peerGatewayArgs(gwPub, p.endpoint, p.gatewayAllowedIps),
      ]);
      await must(c, a);
      const [c2, a2] = placeCmd(place, "ip", ["link", "set", p.ifname, "up"]);
      await must(c2, a2);
    }
  }
}
