/**
 * Prefix and address helpers over `ipaddr.js`. Every bit of IP arithmetic in Keel goes through
 * this module (and so through ipaddr.js); nothing else parses or compares addresses by hand.
 *
 * Parsing is strict: IPv4 must be four decimal parts (`10.20.0.1`, not `10.20.1` or `0xa.0.0.1`),
 * IPv6 must not carry a zone id, and a prefix must have its host bits zero.
 */
import ipaddr from "ipaddr.js";

/** A parsed IPv4 or IPv6 address (an ipaddr.js object). */
export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A parsed prefix: its network address, prefix length in bits, and address family. */
export interface Prefix {
  /** The network address (host bits zero). */
  network: Address;
  /** Prefix length in bits: 0–32 for IPv4, 0–128 for IPv6. */
  length: number;
  family: 4 | 6;
}

/** Thrown by the strict parsers; `message` says what is wrong and what is expected. */
export class AddressError extends Error {
  override name = "AddressError";
}

/** Address family of an ipaddr.js address. */
export function familyOf(addr: Address): 4 | 6 {
  return addr.kind() === "ipv4" ? 4 : 6;
}

/** An IPv4 dotted quad of four decimal parts without leading zeros (ipaddr.js's own test in `isValidFourPartDecimal`). */
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;

/**
 * Parses one IP address strictly (IPv4 dotted quad with four decimal parts, or IPv6 without a
 * zone id). Returns undefined for anything else; use `parseAddress` for a thrown explanation.
 */
export function tryParseAddress(text: string): Address | undefined {
  // ipaddr's isValidFourPartDecimal parses twice and then parse once more; the same test as
  // its regex, then one parse (which throws for a part over 255), gives the same answer.
  if (FOUR_PART_DECIMAL.test(text)) {
    try {
      return ipaddr.IPv4.parse(text);
    } catch {
      return undefined;
    }
  }
  if (!text.includes("%") && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

/**
 * Parses one IP address strictly (see `tryParseAddress`).
 * @throws AddressError when `text` is not an IPv4 or IPv6 address.
 */
export function parseAddress(text: string): Address {
  const addr = tryParseAddress(text);
  if (!addr)
    throw new AddressError(`"${text}" is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)`);
  return addr;
}

/** True when `text` parses as an address under the strict rules of `tryParseAddress`. */
export function isAddress(text: string): boolean {
  return tryParseAddress(text) !== undefined;
}

/**
 * Canonical textual form of an address: dotted quad for IPv4, RFC 5952 compressed lowercase
 * for IPv6 (`FD00:0::1` → `fd00::1`).
 */
export function canonicalAddress(addr: Address | string): string {
  const a = typeof addr === "string" ? parseAddress(addr) : addr;
  return a.kind() === "ipv4" ? a.toString() : (a as ipaddr.IPv6).toRFC5952String();
}

/** Canonical `network/length` text of a prefix, e.g. `10.20.0.0/24`, `fd00::/64`. */
export function formatPrefix(p: Prefix): string {
  return `${canonicalAddress(p.network)}/${p.length}`;
}

/**
 * Parses a CIDR prefix strictly: an address as in `tryParseAddress`, a `/`, and a decimal length
 * within the family's width; the host bits must be zero.
 * @throws AddressError naming the problem; for host bits set, the message gives the correct
 *   prefix ("10.20.0.1/24 has host bits set; did you mean 10.20.0.0/24?").
 */
export function parsePrefix(text: string): Prefix {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const addr = m ? tryParseAddress(m[1]!) : undefined;
  if (!m || !addr)
    throw new AddressError(`"${text}" is not a CIDR prefix; expected ADDRESS/LENGTH such as 10.20.0.0/24`);
  const family = familyOf(addr);
  const width = family === 4 ? 32 : 128;
  const length = Number(m[2]);
  if (length > width)
    throw new AddressError(`"${text}" has prefix length ${length}; expected 0 to ${width} for IPv${family}`);
  const cidr = `${canonicalAddress(addr)}/${length}`;
  const network =
    family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  const p: Prefix = { network, length, family };
  if (canonicalAddress(network) !== canonicalAddress(addr))
    throw new AddressError(`${text} has host bits set; did you mean ${formatPrefix(p)}?`);
  return p;
}

/** True when `addr` lies inside prefix `p` (always false across address families). */
export function contains(p: Prefix, addr: Address | string): boolean {
  const a = typeof addr === "string" ? parseAddress(addr) : addr;
  return a.kind() === p.network.kind() && a.match(p.network, p.length);
}

/** True when prefix `inner` lies entirely inside prefix `outer`. */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return inner.length >= outer.length && contains(outer, inner.network);
}

/** True when two prefixes share at least one address (one of them contains the other). */
export function overlaps(a: Prefix, b: Prefix): boolean {
  return containsPrefix(a, b) || containsPrefix(b, a);
}

/** Canonical texts of each prefix's network and last address, worked out once per prefix (the loader asks once per host). */
const edgesOf = new WeakMap<Prefix, { network: string; last: string }>();

function broadcastOf(p: Prefix): Address {
  const cidr = formatPrefix(p);
  return p.family === 4
    ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr)
    : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
}

/** The last address of prefix `p` (the broadcast address of an IPv4 prefix). */
export function lastAddress(p: Prefix): Address {
  return broadcastOf(p);
}

/** The netmask of an IPv4 prefix length, e.g. 24 → `255.255.255.0`. */
export function netmaskOf(length: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(length).toString();
}

/** Orders addresses numerically (IPv4 before IPv6); for sorting. */
export function compareAddresses(a: Address, b: Address): number {
  const x = a.toByteArray();
  const y = b.toByteArray();
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/**
 * True when `addr` is the network or broadcast address of IPv4 prefix `p` shorter than /31
 * (such addresses cannot be given to a host). Always false for IPv6 and for /31 and /32.
 */
export function isNetworkOrBroadcast(p: Prefix, addr: Address | string): boolean {
  if (p.family !== 4 || p.length >= 31) return false;
  let edges = edgesOf.get(p);
  if (!edges) {
    edges = { network: canonicalAddress(p.network), last: canonicalAddress(broadcastOf(p)) };
    edgesOf.set(p, edges);
  }
  const a = canonicalAddress(addr);
  return a === edges.network || a === edges.last;
}

/** The address `delta` (±1) away from `addr`, via ipaddr.js byte arrays (carry across bytes). */
function step(addr: Address, delta: 1 | -1): Address {
  const bytes = addr.toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    const v = bytes[i]! + delta;
    bytes[i] = (v + 256) % 256;
    if (v >= 0 && v <= 255) break;
  }
  return ipaddr.fromByteArray(bytes);
}

/**
 * First address of `p` that may be given to a host: the network address + 1 for IPv4 prefixes
 * shorter than /31, the network address itself otherwise (IPv4 /31, /32 and IPv6).
 */
export function firstUsable(p: Prefix): Address {
  return p.family === 4 && p.length < 31 ? step(p.network, 1) : p.network;
}

/**
 * Last address of `p` that may be given to a host: the broadcast address − 1 for IPv4 prefixes
 * shorter than /31, the last address of the prefix otherwise.
 */
export function lastUsable(p: Prefix): Address {
  const last = broadcastOf(p);
  return p.family === 4 && p.length < 31 ? step(last, -1) : last;
}

/**
 * An address as an unsigned integer (IPv4: 32 bits, IPv6: 128 bits), built from the octets or
 * 16-bit parts ipaddr.js parsed (network byte order). For sets and ordering of many addresses,
 * where comparing ipaddr.js objects one by one is too slow; `addressFromBigInt` turns it back.
 */
export function addressToBigInt(addr: Address): bigint {
  if (addr.kind() === "ipv4") {
    const o = (addr as ipaddr.IPv4).octets;
    return BigInt(((o[0]! * 256 + o[1]!) * 256 + o[2]!) * 256 + o[3]!);
  }
  let n = 0n;
  for (const part of (addr as ipaddr.IPv6).parts) n = (n << 16n) | BigInt(part);
  return n;
}

/**
 * The address of an unsigned integer (see `addressToBigInt`), built through ipaddr.js from its
 * bytes. @throws RangeError when `n` does not fit the family's width.
 */
export function addressFromBigInt(n: bigint, family: 4 | 6): Address {
  const width = family === 4 ? 4 : 16;
  if (n < 0n || n >> BigInt(width * 8) !== 0n) throw new RangeError(`${n} is not an IPv${family} address`);
  const bytes: number[] = new Array(width);
  let rest = n;
  for (let i = width - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 255n);
    rest >>= 8n;
  }
  return ipaddr.fromByteArray(bytes);
}

/** First and last address of prefix `p` (network and broadcast for IPv4) as integers, inclusive. */
export function prefixBounds(p: Prefix): { first: bigint; last: bigint } {
  const first = addressToBigInt(p.network);
  const hostBits = BigInt((p.family === 4 ? 32 : 128) - p.length);
  return { first, last: first + (1n << hostBits) - 1n };
}
