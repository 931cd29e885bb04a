/**
 * `keel dns sync`: plan (read every zone, diff against the inventory) and apply (one UPDATE per
 * zone, in zone order; when one fails, the zones already updated are put back as they were read).
 * The result is plain data: the CLI prints it as text or JSON (docs/dns.md).
 */
import { type Change, diffRecords, wantedRecords } from "./diff.js";
import { DnsServerError, sendUpdate, serverLabel, transferZone, type ZoneTransfer } from "./transport.js";
import { type ServerAddress, updateScript } from "./update.js";
import type { SiteZones } from "./zone.js";

/** What happened to one zone. */
export type ZoneStatus =
  | "in-sync" // nothing to change
  | "planned" // changes found, not applied (no --apply)
  | "applied" // the update was accepted
  | "failed" // the update was refused: nothing of it applied
  | "not-sent" // an earlier zone failed, so this zone's update was not sent
  | "rolled-back" // applied, then undone after a later zone failed
  | "rollback-failed"; // applied, and undoing it failed: `remaining` is still applied

/** One zone of a sync. */
export interface ZoneResult {
  zone: string;
  /** SOA serial read before the plan. */
  serial: number;
  /** The plan: what the inventory wants changed on the server. */
  changes: Change[];
  status: ZoneStatus;
  /** For `rollback-failed`: the changes that remain applied on the server. */
  remaining?: Change[];
  /** Why the update or its rollback failed. */
  error?: { reason: string; message: string };
}

/** The outcome of `keel dns sync` (also its `--json` output). */
export interface SyncResult {
  /** `HOST#PORT`. */
  server: string;
  /** The TSIG key's name (never its secret). */
  key: string;
  apply: boolean;
  /** True when no zone had changes. */
  inSync: boolean;
  zones: ZoneResult[];
  /** Set when reading a zone failed (then nothing was sent) or an update failed. */
  error?: { zone: string; reason: string; message: string };
}

/** A zone as read and planned, with the records read (kept for a rollback). */
interface Planned {
  result: ZoneResult;
  read: ZoneTransfer;
}

function err(e: unknown): { reason: string; message: string } {
  if (e instanceof DnsServerError) return { reason: e.reason, message: e.message };
  throw e;
}

/**
 * Reads the zones of `site` (those named in `only`, when given) from `server`, diffs them and,
 * when `apply`, updates them. `keyFile` is a key file path for dig/nsupdate, `keyName` its name.
 * Never throws a `DnsServerError`: failures are in the result. @throws UserError for a missing tool.
 */
export async function syncZones(
  site: SiteZones,
  server: ServerAddress,
  keyFile: string,
  keyName: string,
  opts: { apply: boolean; only?: string },
): Promise<SyncResult> {
  const result: SyncResult = {
    server: serverLabel(server),
    key: keyName,
    apply: opts.apply,
    inSync: true,
    zones: [],
  };
  const planned: Planned[] = [];
  for (const zone of site.zones) {
    if (opts.only !== undefined && zone.name !== opts.only) continue;
    let read: ZoneTransfer;
    try {
      read = await transferZone(server, zone.name, keyFile);
    } catch (e) {
      result.error = { zone: zone.name, ...err(e) };
      result.inSync = false;
      return result;
    }
    const changes = diffRecords(wantedRecords(zone, site.ttl), read.records);
    const zr: ZoneResult = {
      zone: zone.name,
      serial: read.serial,
      changes,
      status: changes.length ? (opts.apply ? "not-sent" : "planned") : "in-sync",
    };
    if (changes.length) result.inSync = false;
    result.zones.push(zr);
    planned.push({ result: zr, read });
  }
  if (!opts.apply) return result;
  const applied: Planned[] = [];
  for (const p of planned) {
    if (!p.result.changes.length) continue;
    try {
      await sendUpdate(
        server,
        p.result.zone,
        updateScript(server, p.result.zone, p.read.soa, p.result.changes),
        keyFile,
      );
      p.result.status = "applied";
      applied.push(p);
    } catch (e) {
      p.result.status = "failed";
      p.result.error = err(e);
      result.error = { zone: p.result.zone, ...p.result.error };
      for (const done of applied.reverse()) await rollback(server, keyFile, done);
      return result;
    }
  }
  return result;
}

/**
 * Puts a zone back as it was read: reads it again and sends the update that turns what it holds
 * now into what it held then (guarded by the SOA just read). Sets the zone's status.
 */
async function rollback(server: ServerAddress, keyFile: string, p: Planned): Promise<void> {
  const zone = p.result.zone;
  let now: ZoneTransfer;
  try {
    now = await transferZone(server, zone, keyFile);
  } catch (e) {
    p.result.status = "rollback-failed";
    p.result.remaining = p.result.changes;
    p.result.error = err(e);
    return;
  }
  const back = diffRecords(p.read.records, now.records);
  if (back.length === 0) {
    p.result.status = "rolled-back";
    return;
  }
  try {
    await sendUpdate(server, zone, updateScript(server, zone, now.soa, back), keyFile);
    p.result.status = "rolled-back";
  } catch (e) {
    p.result.status = "rollback-failed";
    // what the server holds beyond what it was read as: the inverse of the undo that failed
    p.result.remaining = diffRecords(now.records, p.read.records);
    p.result.error = err(e);
  }
}
