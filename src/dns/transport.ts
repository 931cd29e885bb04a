/**
 * Talking to a DNS server for `keel dns sync`, through Debian's BIND tools (package
 * bind9-dnsutils) rather than hand-made wire format: `dig -k KEYFILE … ZONE AXFR` reads a zone
 * (RFC 5936, TSIG-signed, RFC 8945) and `nsupdate -k KEYFILE` sends one RFC 2136 UPDATE per
 * script (one `send`). Both over TCP. Failures become a `DnsServerError` that says what the
 * server answered (the RCODE and TSIG error) or that it was not reached.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { UserError } from "../errors.js";
import { type CanonicalRr, parseDigAnswer } from "./diff.js";
import type { ServerAddress } from "./update.js";

/** How long one dig or nsupdate exchange may take, in s. */
export const EXCHANGE_TIMEOUT_S = 10;

/** Why a server exchange failed: an RCODE, a TSIG error (RFC 8945 §5.3), or the transport's. */
export type DnsFailure =
  | "BADSIG"
  | "BADKEY"
  | "BADTIME"
  | "TSIG"
  | "NOTAUTH"
  | "REFUSED"
  | "NXRRSET"
  | "YXRRSET"
  | "NXDOMAIN"
  | "YXDOMAIN"
  | "NOTZONE"
  | "SERVFAIL"
  | "FORMERR"
  | "NOTIMP"
  | "timeout"
  | "unreachable"
  | "failed";

/** A server refused, failed or could not be reached; `message` says which, naming the server. */
export class DnsServerError extends Error {
  constructor(
    readonly reason: DnsFailure,
    message: string,
  ) {
    super(message);
    this.name = "DnsServerError";
  }
}

/** `HOST#PORT`, as dig names a server. */
export function serverLabel(s: ServerAddress): string {
  return `${s.host}#${s.port}`;
}

/** The UserError for a BIND tool that is not installed (not on PATH). */
function missingTool(cmd: string): UserError {
  return new UserError(
    `${cmd} is not installed; keel dns sync (and keel apply --dns-key) needs dig and nsupdate from Debian's bind9-dnsutils (apt-get install bind9-dnsutils)`,
  );
}

/**
 * Checks that dig and nsupdate are on `PATH` (an executable file by that name in one of its
 * directories), for commands that must know before they change anything else (`keel apply
 * --dns-key`). @throws UserError naming the first one missing and the package.
 */
export function requireTools(path: string = process.env.PATH ?? ""): void {
  for (const cmd of ["dig", "nsupdate"]) {
    const found = path.split(delimiter).some((dir) => {
      const file = join(dir === "" ? "." : dir, cmd);
      try {
        accessSync(file, constants.X_OK);
        return statSync(file).isFile();
      } catch {
        return false;
      }
    });
    if (!found) throw missingTool(cmd);
  }
}

interface Run {
  code: number;
  out: string;
}

/** Runs `cmd args` with `input` on stdin; a missing tool is a UserError naming the package. */
function run(cmd: string, args: string[], input: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") reject(missingTool(cmd));
      else reject(e);
    });
    p.on("close", (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(input);
  });
}

const RCODES = /\b(NOTAUTH|REFUSED|NXRRSET|YXRRSET|NXDOMAIN|YXDOMAIN|NOTZONE|SERVFAIL|FORMERR|NOTIMP)\b/;
const TSIG_ERRORS = /\b(BADSIG|BADKEY|BADTIME)\b/;

const EXPLAIN: Partial<Record<DnsFailure, string>> = {
  BADSIG: "the TSIG signature does not verify: the key's secret is not the one the server has",
  BADKEY: "the server does not know this key name or algorithm",
  BADTIME: "the clocks of this machine and the server differ by more than the TSIG fudge (300 s)",
  TSIG: "the server's answer is not signed with this key (a wrong key, or an unsigned refusal)",
  NOTAUTH: "the server is not authoritative for the zone or does not accept the key for it",
  REFUSED: "the server refused (the key has no rights on this zone, or the zone is not dynamic)",
  NXRRSET: "the zone changed since it was read (its SOA serial moved): run again to see the new plan",
  NOTZONE: "a name is outside the zone",
  SERVFAIL: "the server failed (see its log)",
  timeout: `no answer within ${EXCHANGE_TIMEOUT_S} s`,
  unreachable: "nothing answers at that address and port",
};

/** Classifies dig/nsupdate output into a failure reason. */
export function classify(out: string): DnsFailure {
  const tsig = TSIG_ERRORS.exec(out);
  if (tsig) return tsig[1] as DnsFailure;
  if (/tsig (indicates error|verify failure)|Couldn't verify signature/i.test(out)) return "TSIG";
  const status = /status: ([A-Z]+)/.exec(out) ?? /update failed: ([A-Z]+)/.exec(out) ?? RCODES.exec(out);
  if (status && status[1] !== "NOERROR") return status[1] as DnsFailure;
  if (/timed out/i.test(out)) return "timeout";
  if (
    /connection refused|operation canceled|no servers could be reached|network unreachable|host unreachable/i.test(
      out,
    )
  )
    return "unreachable";
  return "failed";
}

function failure(what: string, server: ServerAddress, out: string): DnsServerError {
  const reason = classify(out);
  const first = out
    .split("\n")
    .find((l) => /failed|error|refused|timed out|canceled/i.test(l))
    ?.trim();
  const why = EXPLAIN[reason] ?? (first !== undefined ? first.replace(/^;+\s*/, "") : "no details");
  const code =
    reason === "BADSIG" || reason === "BADKEY" || reason === "BADTIME" ? `NOTAUTH (${reason})` : reason;
  return new DnsServerError(reason, `${what} on server ${serverLabel(server)} failed: ${code}: ${why}`);
}

/** A zone as read by AXFR: its SOA RDATA (canonical text), serial, and every other record. */
export interface ZoneTransfer {
  soa: string;
  serial: number;
  records: CanonicalRr[];
}

/**
 * Reads `zone` (no final dot) from `server` by AXFR, signed with the key in `keyFile`.
 * @throws DnsServerError when the transfer fails or is incomplete (it must begin and end with
 *   the zone's SOA, RFC 5936 §2.2).
 */
export async function transferZone(
  server: ServerAddress,
  zone: string,
  keyFile: string,
): Promise<ZoneTransfer> {
  const r = await run(
    "dig",
    [
      "-k",
      keyFile,
      "-p",
      String(server.port),
      `@${server.host}`,
      zone,
      "AXFR",
      "+nocmd",
      "+nostats",
      `+time=${EXCHANGE_TIMEOUT_S}`,
      "+tries=1",
    ],
    "",
  );
  const records = parseDigAnswer(r.out, zone).filter((x) => x.type !== "TSIG");
  const apex = `${zone.toLowerCase()}.`;
  const first = records[0];
  const last = records[records.length - 1];
  if (
    r.code !== 0 ||
    /Transfer failed|Couldn't verify/.test(r.out) ||
    records.length < 2 ||
    first?.type !== "SOA" ||
    first.name !== apex ||
    last?.type !== "SOA"
  )
    throw failure(`reading zone ${zone} (AXFR)`, server, r.out);
  const serial = Number(first.rdata.split(" ")[2]);
  return { soa: first.rdata, serial, records: records.slice(1, -1) };
}

/**
 * Sends the nsupdate `script` (one or more `send`s, see `updateScript`), signed with the key in
 * `keyFile`, over TCP. @throws DnsServerError naming `zone`, the reason and the server.
 */
export async function sendUpdate(
  server: ServerAddress,
  zone: string,
  script: string,
  keyFile: string,
): Promise<void> {
  const r = await run("nsupdate", ["-v", "-t", String(EXCHANGE_TIMEOUT_S), "-k", keyFile], script);
  if (r.code !== 0 || /update failed|TSIG error|Communication with/i.test(r.out))
    throw failure(`updating zone ${zone}`, server, r.out);
}
