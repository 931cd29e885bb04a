/**
 * MAC addresses of VMs (IEEE 802 EUI-48, written as six colon-separated hex octets). Keel
 * allocates locally administered unicast ones: first octet `02` (U/L bit set, I/G bit clear),
 * the other five octets from SHA-256 of `SITE/HOST`, walking upward on a collision
 * (`docs/ipam.md`).
 */
import { createHash } from "node:crypto";

/** What a MAC looks like, for error messages. */
export const MAC_EXPECTED = 'six hex octets separated by ":", such as 52:54:00:12:34:56';

/**
 * Normalises a MAC as written (`52:54:00:AB:CD:EF`) to lowercase colon form.
 * @returns undefined when it is not six colon-separated hex octets.
 */
export function parseMac(text: string): string | undefined {
  return /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(text) ? text.toLowerCase() : undefined;
}

/** True when the MAC (lowercase colon form) is a group address: the I/G bit (bit 0 of octet 1) is set. */
export function isMulticastMac(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** The `02:…` MAC whose octets 2–6 are the 40-bit number `n`. */
function fromLow40(n: number): string {
  const hex = n.toString(16).padStart(10, "0");
  return `02:${hex.match(/../g)!.join(":")}`;
}

/**
 * The MAC Keel gives VM `host` of site `site`: `02:` and the first five octets of
 * SHA-256(`SITE/HOST`), or, when that one is in `taken`, the next one upward (wrapping after
 * `02:ff:ff:ff:ff:ff`).
 * @param taken MACs already used (lowercase colon form); the result is not added to it.
 */
export function allocateMac(site: string, host: string, taken: ReadonlySet<string>): string {
  const digest = createHash("sha256").update(`${site}/${host}`).digest();
  let n = digest.readUIntBE(0, 5);
  for (;;) {
    const mac = fromLow40(n);
    if (!taken.has(mac)) return mac;
    n = (n + 1) % 2 ** 40;
  }
}
