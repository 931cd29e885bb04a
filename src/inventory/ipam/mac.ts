/**
 * MAC addresses of VMs (IEEE 802 EUI-48, written as six colon-separated hex octets). Keel
 * allocates locally administered unicast ones: first octet `02` (U/L bit set, I/G bit clear),
 * the other five octets from SHA-256 of `SITE/HOST`, walking upward on a collision
 * (`docs/ipam.md`).
 */
import { createHash } from "node:crypto";

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
