/**
 * `backup.pgbackrest-check`: `pgbackrest --stanza=NAME check` passes on the stanza's repository
 * host. pgBackRest's `check` (command reference, "Check Command") confirms the configuration of
 * the repository and of the primary and that WAL reaches the archive: it forces a WAL switch and
 * waits up to `archive-timeout` (60 s by default) for the segment to be archived. So it runs on
 * the stanza's own `check_interval` (6 h by default) in `keel serve`, with a deadline above that
 * timeout, and one failure makes it hard. A failing `check` fails with pgBackRest's error line;
 * a host Keel cannot log in to, or without pgbackrest, is an error.
 */
import type { PgBackRestStanza } from "../../inventory/model.js";
import type { CheckKindDefinition, CheckOutcome, SshTarget } from "../kind.js";
import { shellQuote } from "../vantages/deadline.js";
import { humanAge, sudoPrefix } from "./backup-common.js";
import { excerpt, hostSideError, toolMissing, undecided } from "./common.js";

/** The params of a `backup.pgbackrest-check` check: derived for each stanza on its repository host. */
export interface BackupPgBackRestCheckParams {
  kind: "backup.pgbackrest-check";
  target: SshTarget;
  stanza: string;
  /** Run as `sudo -n -u USER`; absent: as the SSH user. */
  user?: string;
}

/** The deadline of one `pgbackrest check`, ms: its default `archive-timeout` (60 s) and a minute for the rest. */
export const PGBACKREST_CHECK_TIMEOUT_MS = 120_000;

/** `[sudo -n -u USER] pgbackrest --stanza=NAME check`, stderr into stdout so its ERROR line is kept in order. */
export function pgbackrestCheckCommand(stanza: string, user: string | undefined): string {
  return `${sudoPrefix(user)}pgbackrest --stanza=${shellQuote(stanza)} check 2>&1`;
}

/**
 * The ERROR lines of pgBackRest's console output (`ERROR: [082]: WAL segment … was not archived
 * before the 60000ms timeout`), with their HINT lines, one line each.
 */
export function pgbackrestErrors(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split("\n")) {
    const t = line.trim();
    if (/^(P\d+ +)?ERROR:/.test(t)) out.push(t.replace(/^P\d+ +/, ""));
    else if (/^HINT:/.test(t) && out.length > 0) out[out.length - 1] += ` ${t}`;
  }
  return out;
}

/** Judges one run of `pgbackrest check`: exit 0 passes; anything else fails with its error lines. */
export function judgePgBackRestCheck(
  stanza: string,
  code: number,
  output: string,
  tookMs: number,
): CheckOutcome {
  const observed = { stanza, durationSec: Math.round(tookMs / 100) / 10, exit: code };
  if (code === 0)
    return {
      status: "pass",
      message: `pgbackrest check of stanza ${stanza} passed in ${humanAge(tookMs)}`,
      observed,
    };
  const errors = pgbackrestErrors(output);
  const said = errors.length > 0 ? errors.join("; ") : excerpt(output, 300) || "(no output)";
  return {
    status: "fail",
    message: `pgbackrest check of stanza ${stanza} failed (exit ${code}): ${excerpt(said, 400)}; expected it to pass`,
    observed,
  };
}

/** The check's params for stanza `s` once the SSH target is known. */
function paramsOf(s: PgBackRestStanza, target: SshTarget): BackupPgBackRestCheckParams {
  return {
    kind: "backup.pgbackrest-check",
    target,
    stanza: s.stanza,
    ...(s.user !== undefined ? { user: s.user } : {}),
  };
}

/** Runs `pgbackrest check` on the stanza's repository host and judges it with `judgePgBackRestCheck`. */
export const backupPgBackRestCheck: CheckKindDefinition<
  "backup.pgbackrest-check",
  BackupPgBackRestCheckParams
> = {
  kind: "backup.pgbackrest-check",
  transport: "ssh",
  scope: "on-host",
  derive(h, ctx) {
    return ctx.inv.backups.pgbackrest
      .filter((s) => s.repository === h.name)
      .map((s) => ({
        service: s.stanza,
        make: (target: SshTarget) => paramsOf(s, target),
        intervalMs: s.checkIntervalMs,
        timeoutMs: PGBACKREST_CHECK_TIMEOUT_MS,
        failAfter: 1,
      }));
  },
  async run(spec, ctx) {
    const p = spec.params;
    try {
      const started = Date.now();
      const r = await ctx.prober.sshExec(
        p.target,
        pgbackrestCheckCommand(p.stanza, p.user),
        ctx.timeoutMs,
        ctx.signal,
      );
      const took = Date.now() - started;
      if (toolMissing(r, "pgbackrest")) return undecided(`pgbackrest is not installed on ${spec.host}`);
      if (r.code === null)
        return undecided(`pgbackrest check on ${spec.host} ended without an exit status (a signal)`);
      if (r.code !== 0 && /sudo: /.test(r.stdout) && !/ERROR:/.test(r.stdout))
        return undecided(`cannot run pgbackrest as ${p.user} on ${spec.host}: ${excerpt(r.stdout, 200)}`);
      return judgePgBackRestCheck(p.stanza, r.code, `${r.stdout}\n${r.stderr}`, took);
    } catch (e) {
      return hostSideError(spec.host, e);
    }
  },
};
