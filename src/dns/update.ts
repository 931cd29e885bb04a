/**
 * The RFC 2136 UPDATE message of one zone, as an `nsupdate` script: one `send`, so the server
 * applies all of it or none of it (RFC 2136 §3.7). Pure: no I/O.
 *
 * - Prerequisite: the SOA RRset exists with exactly the value read before the plan ("RRset exists,
 *   value dependent", RFC 2136 §2.4.2), so a zone changed meanwhile (its serial moved) fails the
 *   whole message with NXRRSET instead of being clobbered.
 * - A changed RRset is changed in place: its values that go are deleted and those that come are
 *   added in the same message (RFC 2136 §2.5.4, §2.5.1); the other values stay. A new TTL is an
 *   add of the same values with the new TTL, which replaces them (RFC 2136 §3.4.2.2).
 * - Order: deletes, then adds, then deletes of apex NS records. Deletes go first so a name can
 *   turn from A into CNAME (an added CNAME is ignored while other data exists, RFC 2136
 *   §3.4.2.2); apex NS deletes go last because a server ignores a delete of the zone's last NS
 *   (RFC 2136 §3.4.2.4), so the new NS must be there first.
 */
import type { Change } from "./diff.js";

/** Where the server is: an address literal and a UDP/TCP port. */
export interface ServerAddress {
  host: string;
  port: number;
}

/**
 * The nsupdate script that applies `changes` to `zone` (no final dot) on `server`, guarded by
 * the SOA RDATA `soa` (presentation format, as read: `MNAME RNAME SERIAL REFRESH RETRY EXPIRE
 * MINIMUM`). Ends with one `send`.
 */
export function updateScript(server: ServerAddress, zone: string, soa: string, changes: Change[]): string {
  const apex = `${zone.toLowerCase()}.`;
  const deletes: string[] = [];
  const adds: string[] = [];
  const lastDeletes: string[] = [];
  for (const c of changes) {
    const oldValues = c.old?.values ?? [];
    const next = c.new;
    const gone = next ? oldValues.filter((v) => !next.values.includes(v)) : oldValues;
    const target = c.type === "NS" && c.name === apex ? lastDeletes : deletes;
    for (const v of gone) target.push(`update delete ${c.name} IN ${c.type} ${v}`);
    if (next) {
      const ttlChanged = c.old !== undefined && c.old.ttl !== next.ttl;
      for (const v of next.values)
        if (ttlChanged || !oldValues.includes(v))
          adds.push(`update add ${c.name} ${next.ttl} IN ${c.type} ${v}`);
    }
  }
  return [
    `server ${server.host} ${server.port}`,
    `zone ${apex}`,
    `prereq yxrrset ${apex} IN SOA ${soa}`,
    ...deletes,
    ...adds,
    ...lastDeletes,
    "send",
    "",
  ].join("\n");
}
