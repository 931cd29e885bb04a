/**
 * WireGuard configurations of `keel render` (contract `docs/render.md`):
 * `wireguard/HOST/IFACE.conf` (IFACE from `hosts.HOST.wireguard.interface`, `wg0` in the
 * contract) for every host with `wireguard:`, in the wg-quick(8) format (wg(8) "CONFIGURATION
 * FILE FORMAT" plus wg-quick's `Address`). Written with mode 0600: it holds the private key.
 *
 * - Tunnel networks of a host: the networks of its addresses that one of its peers sits in,
 *   leaving out the network of its first (primary) address when it has several: the primary
 *   address is the underlay the tunnel runs over.
 * - `[Interface]`: `Address` = the host's addresses on its tunnel networks, with the network's
 *   prefix length; `ListenPort` = `wireguard.port`; `PrivateKey` = the content of
 *   `KEYS/HOST.key` (base64 of 32 bytes, as `wg genkey` writes it).
 * - `[Peer]` per `wireguard.peers` entry: `PublicKey` derived from `KEYS/PEER.key` (X25519,
 *   RFC 7748, through node:crypto), or read from `KEYS/PEER.pub` when only the public key is
 *   there; `AllowedIPs` = the peer's addresses on the host's tunnel networks as /32 or /128 (a
 *   host's addresses; a vantage's own `address` entries, or its via host's); `Endpoint` = the
 *   peer's primary address and its `wireguard.port` when the peer is a host with a port and that
 *   address is not on a tunnel network.
 *
 * Private keys are never read from the inventory, only from the `--keys` directory.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Host, InterfaceAddress, Inventory } from "../inventory/model.js";
import type { RenderContext, RenderedFile, Renderer } from "./types.js";

/** RFC 8410 §7 PKCS#8 prefix of an X25519 private key: the 32 raw key bytes follow. */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/**
 * Decodes a WireGuard key (base64 of exactly 32 bytes, as `wg genkey`/`wg pubkey` write it).
 * @throws UserError naming `file` when the text is not such a key.
 */
function decodeKey(text: string, file: string, what: string): Buffer {
  const t = text.trim();
  const raw = Buffer.from(t, "base64");
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t) || raw.length !== 32)
    throw new UserError(
      `${file}: not a WireGuard ${what}; expected 44 base64 characters (32 bytes) as wg genkey writes`,
    );
  return raw;
}

/**
 * The public key (base64) of a WireGuard private key (base64), as `wg pubkey` prints it: X25519
 * scalar multiplication of the base point (RFC 7748 §6.1), done by node:crypto (OpenSSL).
 */
export function publicKeyOf(privateKeyBase64: string, file = "private key"): string {
  const raw = decodeKey(privateKeyBase64, file, "private key");
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  const x = createPublicKey(key).export({ format: "jwk" }).x;
  return Buffer.from(x!, "base64url").toString("base64");
}

function readKeyFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`${file}: cannot read (${(e as Error).message}); expected a readable key file`);
  }
}

function keysDirOf(ctx: RenderContext, host: Host): string {
  if (ctx.keysDir === undefined)
    throw new UserError(
      `--keys: host ${host.name} has wireguard; expected --keys DIR, a directory holding ${host.name}.key (wg genkey output) and each peer's .key or .pub`,
    );
  return ctx.keysDir;
}

/** The private key (base64) of `name` from `DIR/NAME.key`. @throws UserError when missing or malformed. */
function privateKey(dir: string, name: string): string {
  const file = path.join(dir, `${name}.key`);
  const text = readKeyFile(file);
  if (text === undefined)
    throw new UserError(
      `${file}: missing; expected the WireGuard private key of ${name} (wg genkey > ${file})`,
    );
  decodeKey(text, file, "private key");
  return text.trim();
}

/** The public key of peer `name`: derived from `NAME.key`, else read from `NAME.pub`. */
function peerPublicKey(dir: string, name: string): string {
  const keyFile = path.join(dir, `${name}.key`);
  const key = readKeyFile(keyFile);
  if (key !== undefined) return publicKeyOf(key, keyFile);
  const pubFile = path.join(dir, `${name}.pub`);
  const pub = readKeyFile(pubFile);
  if (pub === undefined)
    throw new UserError(
      `${pubFile}: missing; expected the WireGuard public key of peer ${name} (wg pubkey output) or its private key as ${keyFile}`,
    );
  decodeKey(pub, pubFile, "public key");
  return pub.trim();
}

function hostPrefix(address: string): string {
  return address.includes(":") ? `${address}/128` : `${address}/32`;
}

interface PeerView {
  name: string;
  networks: string[];
  addresses: InterfaceAddress[];
  host?: Host;
}

function peerView(inv: Inventory, name: string): PeerView | undefined {
  const h = inv.hosts.find((x) => x.name === name);
  if (h) return { name, networks: h.addresses.map((a) => a.network), addresses: h.addresses, host: h };
  const v = inv.vantages.find((x) => x.name === name);
  if (!v) return undefined;
  const via = inv.hosts.find((x) => x.name === (v.via ?? v.host));
  const addresses = v.addresses.length ? v.addresses : (via?.addresses ?? []);
  return { name, networks: v.networks, addresses };
}

/** The wg-quick configuration of host `h` (see module doc). @throws UserError for missing keys or addresses. */
export function hostConfig(inv: Inventory, h: Host, ctx: RenderContext): string {
  const wg = h.wireguard!;
  const dir = keysDirOf(ctx, h);
  const peers = wg.peers.map((name) => {
    const p = peerView(inv, name);
    if (!p)
      throw new UserError([
        { pos: h.pos, message: `wireguard peer "${name}" of ${h.name} is not a host or vantage` },
      ]);
    return p;
  });
  const peerNets = new Set(peers.flatMap((p) => p.networks));
  let tunnel = h.addresses.filter((a) => peerNets.has(a.network));
  if (h.addresses.length > 1) tunnel = tunnel.filter((a) => a.network !== h.addresses[0]!.network);
  const tunnelNets = new Set(tunnel.map((a) => a.network));
  const lines = [
    `# Rendered by keel render for host ${h.name} of site ${inv.site}; edit the inventory, not this file.`,
    "[Interface]",
  ];
  for (const a of tunnel) {
    const len = inv.networks.find((n) => n.name === a.network)!.cidr.split("/")[1];
    lines.push(`Address = ${a.address}/${len}`);
  }
  if (wg.port !== undefined) lines.push(`ListenPort = ${wg.port}`);
  lines.push(`PrivateKey = ${privateKey(dir, h.name)}`);
  for (const p of peers) {
    const allowed = p.addresses.filter((a) => tunnelNets.has(a.network)).map((a) => hostPrefix(a.address));
    if (allowed.length === 0)
      throw new UserError([
        {
          pos: h.pos,
          message: `wireguard peer ${p.name} of ${h.name} has no address on ${h.name}'s tunnel networks (${[...tunnelNets].join(", ") || "none"}); expected an address there (for a vantage: address: { NETWORK: ADDRESS })`,
        },
      ]);
    lines.push("", "[Peer]", `# ${p.name}`, `PublicKey = ${peerPublicKey(dir, p.name)}`);
    lines.push(`AllowedIPs = ${allowed.join(", ")}`);
    const primary = p.host?.addresses[0];
    const port = p.host?.wireguard?.port;
    if (primary && port !== undefined && !tunnelNets.has(primary.network)) {
      const host = primary.address.includes(":") ? `[${primary.address}]` : primary.address;
      lines.push(`Endpoint = ${host}:${port}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The WireGuard renderer: one configuration per host with `wireguard:`. */
export const wireguardRenderer: Renderer<RenderedFile> = {
  kind: "wireguard",
  render(inv: Inventory, ctx: RenderContext): RenderedFile[] {
    return inv.hosts
      .filter((h) => h.wireguard)
      .map((h) => ({
        path: `wireguard/${h.name}/${h.wireguard!.interface}.conf`,
        content: hostConfig(inv, h, ctx),
        mode: 0o600,
      }));
  },
};
