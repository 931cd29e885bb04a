/**
 * MAC addresses as written in an inventory or a lock file (IEEE 802 EUI-48: six colon-separated
 * hex octets). Keel's own allocation of VM MACs is in `src/inventory/ipam/mac.ts`.
 */

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
