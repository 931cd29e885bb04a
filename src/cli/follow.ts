/**
 * `keel apply`'s DNS and DHCP follow (docs/apply.md, "DNS and DHCP follow"): after the machine
 * steps, `--render-out DIR` renders the `dns` and `dhcp` kinds into DIR as `keel render --out DIR
 * --only dns,dhcp` does (`renderInto`), and `--dns-key K` sends the zones' differences to the DNS
 * server with RFC 2136 as `keel dns sync --apply` does (`syncZones`), to `--dns-server S` or the
 * first of `dns.servers`. Both are idempotent: a render writes only changed files, a zone in sync
 * is sent nothing, so a follow an earlier run could not finish is finished by the next one.
 *
 * Everything the follow needs is checked by `prepareFollow` before apply changes anything (the
 * flags, the output directory, the zones and reservations rendered in memory, the key, the
 * server, dig and nsupdate), so a mistake there exits 2 with no machine touched.
 */
import path from "node:path";
import { loadKey, type TsigKey, withKeyFile } from "../dns/key.js";
import { syncZones } from "../dns/sync.js";
import { requireTools } from "../dns/transport.js";
import type { ServerAddress } from "../dns/update.js";
import type { SiteZones } from "../dns/zone.js";
import { UserError } from "../errors.js";
import type { Inventory } from "../inventory/model.js";
import { renderAll } from "../render/index.js";
import type { RenderKind } from "../render/types.js";
import { formatResult, managedZones, resolveServer } from "./dns.js";
import { checkOutDir, renderInto } from "./render.js";

/** `keel apply`'s follow flags, as commander gives them. */
export interface FollowFlags {
  /** `--render-out DIR`. */
  renderOut?: string;
  /** `--dns-key K`: a key file or `${VAR}`. */
  dnsKey?: string;
  /** `--dns-server S`: a host of the inventory, `ADDR`, `ADDR:PORT` or `[IPV6]:PORT`. */
  dnsServer?: string;
}

/** The kinds the follow renders. */
const KINDS: readonly RenderKind[] = ["dns", "dhcp"];

/** The follow of one apply, checked and ready to run after the machine steps. */
export interface Follow {
  /**
   * Renders and syncs as the flags say, printing a `DNS and DHCP:` section to stdout and each
   * failure, with its reason, as `keel: …` on stderr. `lockWritten`: apply has written keel.lock
   * already (else the render writes it when it changed, as `keel render` does).
   * @returns the exit status the follow adds: 0 done; 1 the render or the DNS update failed; 130
   *   interrupted while rendering (nothing written into DIR, no DNS update sent).
   * @throws what is neither a user's nor the file system's error (a bug).
   */
  run(lockWritten: boolean): Promise<number>;
}

/**
 * Checks the follow flags of `keel apply` against `inv` before anything is changed: the
 * `--render-out` directory can be written and the inventory's `dns` and `dhcp` files render (in
 * memory, nothing written); with `--dns-key`, the inventory has zones, the key loads, the server
 * resolves and dig and nsupdate are installed.
 * @returns undefined when no follow flag was given, else the follow to run.
 * @throws UserError (exit 2) naming the flag: `--dns-server` without `--dns-key`; a `--render-out`
 *   that is not a directory or cannot be written; a renderer's error; an inventory without
 *   `domain` or name server; an unreadable or malformed key, an unset `${VAR}`; a bad server; a
 *   missing dig or nsupdate.
 */
export async function prepareFollow(inv: Inventory, flags: FollowFlags): Promise<Follow | undefined> {
  if (flags.dnsServer !== undefined && flags.dnsKey === undefined)
    throw new UserError(
      `--dns-server ${flags.dnsServer}: only used with --dns-key, which sends the zones' updates; add --dns-key KEYFILE (or '\${VAR}'), or leave --dns-server out`,
    );
  const out = flags.renderOut;
  if (out !== undefined) {
    checkOutDir(out, "--render-out", out);
    // the files render (a renderer's UserError comes now, not after the machine steps)
    await renderAll(inv, { now: new Date(), previous: () => undefined }, KINDS);
  }
  let dns: { site: SiteZones; server: ServerAddress; key: TsigKey } | undefined;
  if (flags.dnsKey !== undefined) {
    const site = managedZones(inv, "--dns-key");
    const server = resolveServer(inv, flags.dnsServer, site.servers, "--dns-server");
    const key = loadKey(flags.dnsKey, process.env, "--dns-key");
    requireTools();
    dns = { site, server, key };
  }
  if (out === undefined && dns === undefined) return undefined;
  return {
    run: async (lockWritten) => {
      process.stdout.write("\nDNS and DHCP:\n");
      let status = 0;
      if (out !== undefined) {
        status = await renderFollow(inv, out, lockWritten);
        if (status === 130) return 130;
      }
      if (dns !== undefined) status = Math.max(status, await syncFollow(dns.site, dns.server, dns.key));
      return status;
    },
  };
}

/** Indents each line of `text` by two spaces (the section's items). */
function indent(text: string): string {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => `  ${l}\n`)
    .join("");
}

/** What the follow says after a failure: apply does not undo machine steps. */
const MACHINES_KEPT = "the machines are left as they are; run keel apply again to finish it";

/** Renders the follow's kinds into `out`; returns 0, 1 (failed) or 130 (interrupted). */
async function renderFollow(inv: Inventory, out: string, lockWritten: boolean): Promise<number> {
  const what = `${KINDS.join(", ")} into ${out}`;
  try {
    const r = await renderInto(inv, {
      out,
      flag: "--render-out",
      kinds: KINDS,
      lock: lockWritten ? "keep" : "write",
    });
    if (r.status === "interrupted") {
      process.stderr.write(
        `keel: interrupted while rendering ${what}; nothing was written there and no DNS update sent; ${MACHINES_KEPT}\n`,
      );
      return 130;
    }
    if (r.status === "image-failed") {
      process.stderr.write(
        `keel: rendering ${what} failed: ${r.message}; nothing was written there; ${MACHINES_KEPT}\n`,
      );
      return 1;
    }
    const plural = (n: number) => `${n} file${n === 1 ? "" : "s"}`;
    process.stdout.write(
      `  rendered ${what}: ${plural(r.written.length)} changed, ${r.unchanged.length} unchanged` +
        (r.removed.length ? `, ${plural(r.removed.length)} removed` : "") +
        (r.lock === "written" ? `; wrote ${path.basename(inv.ipam.lockFile)}` : "") +
        "\n",
    );
    return 0;
  } catch (e) {
    // after the machine steps a bad directory or a full disk is the follow's failure, not a usage error
    if (!(e instanceof UserError || (e instanceof Error && "code" in e))) throw e;
    process.stderr.write(`keel: rendering ${what} failed: ${(e as Error).message}; ${MACHINES_KEPT}\n`);
    return 1;
  }
}

/** Sends the zones' differences to `server` (`keel dns sync --apply`); returns 0 or 1 (failed). */
async function syncFollow(site: SiteZones, server: ServerAddress, key: TsigKey): Promise<number> {
  const result = await withKeyFile(key, (keyFile) =>
    syncZones(site, server, keyFile, key.name, { apply: true }),
  );
  const lines = formatResult(result).split("\n");
  if (result.error === undefined) {
    process.stdout.write(indent(lines.join("\n")));
    return 0;
  }
  // the report's last line is the failure: it goes to stderr, said for apply
  lines.splice(-2, 1);
  process.stdout.write(indent(lines.join("\n")));
  const sent = result.zones.some((z) => z.status === "failed");
  process.stderr.write(
    `keel: the DNS update failed: ${result.error.message}${sent ? "" : "; nothing was sent"}; ${MACHINES_KEPT}\n`,
  );
  return 1;
}
