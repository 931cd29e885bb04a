/**
 * `keel backup rehearse FILE`: a restore rehearsal now. Derives the `backup.rehearsal` checks of
 * the inventory (every declared rehearsal, or those `--stanza` / `--backup` name), runs them
 * with `keel verify`'s runner and probers (SSH with the run's host-key checking), prints what
 * was restored, the point in time reached and how long it took, and stores the run in the
 * history database. Exit 0 when every rehearsal passed, 1 when one failed or could not run, 2
 * for an invalid inventory or command line.
 */
import type { Command } from "commander";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { type BackupRehearsalParams, checkKinds, REHEARSAL_TIMEOUT_MS } from "../verify/checks/index.js";
import { deriveChecks } from "../verify/derive.js";
import { buildReport, runChecks } from "../verify/runner.js";
import type { CheckResult, CheckSpec, Report } from "../verify/types.js";
import { proberFactory } from "../verify/vantages/index.js";
import { type RegisterCommand, STRICT_HOST_KEYS_HELP } from "./options.js";
import { storeRun } from "./store-run.js";

interface RehearseFlags {
  stanza?: string;
  backup?: string;
  set?: string;
  json?: boolean;
  db?: string;
  history: boolean;
  strictHostKeys?: boolean;
}

export const register: RegisterCommand = (program: Command) => {
  const backup = program.command("backup").description("PostgreSQL backups: restore rehearsals");
  backup
    .command("rehearse")
    .description(
      "restore a backup on its rehearsal host, start PostgreSQL on it, run the sanity queries, clean up",
    )
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--stanza <name>", "rehearse only this pgBackRest stanza")
    .option("--backup <name>", "rehearse only this WAL-G backup (a name under backups.walg)")
    .option(
      "--set <label>",
      "restore this backup set (pgBackRest label, WAL-G backup name) instead of the newest",
    )
    .option("--json", "print the report as JSON on stdout (keel verify's report format)")
    .option(
      "--db <path|url>",
      "history database: a SQLite file or a postgres:// URL (default: .keel/keel.db beside the inventory)",
    )
    .option("--strict-host-keys", STRICT_HOST_KEYS_HELP)
    .option("--no-history", "do not store this run in the history database")
    .action(async (file: string, flags: RehearseFlags) => {
      process.exitCode = await rehearse(file, flags);
    });
};

/** `stanza main`, `WAL-G backup app`: how a rehearsal is named to people. */
function named(p: Pick<BackupRehearsalParams, "tool" | "backup">): string {
  return p.tool === "pgbackrest" ? `stanza ${p.backup}` : `WAL-G backup ${p.backup}`;
}

/** The declared names `flag` may take, or a UserError naming the flag and the choices. */
function pick(
  flag: "--stanza" | "--backup",
  name: string,
  declared: { name: string; rehearsal: boolean }[],
): void {
  const what = flag === "--stanza" ? "pgBackRest stanza" : "WAL-G backup";
  const withRehearsal = declared.filter((d) => d.rehearsal).map((d) => d.name);
  const choices =
    withRehearsal.length > 0
      ? `the ${what}s with a rehearsal are ${withRehearsal.join(", ")}`
      : `no ${what} declares one`;
  const entry = declared.find((d) => d.name === name);
  if (!entry)
    throw new UserError(
      `${flag}: no ${what} named "${name}" is declared${declared.length > 0 ? ` (the inventory declares ${declared.map((d) => d.name).join(", ")})` : ""}; ${choices}`,
    );
  if (!entry.rehearsal)
    throw new UserError(
      `${flag}: ${what} "${name}" declares no rehearsal (expected a rehearsal: mapping under it); ${choices}`,
    );
}

/**
 * The rehearsal checks to run: derived like `keel serve` derives them (on-demand kinds
 * included), narrowed to `--stanza` / `--backup`, with `--set` put into their params.
 *
 * @throws UserError (exit 2) for a name that is not declared or has no rehearsal, for an
 *   inventory without any rehearsal, and for `--set` when it would apply to more than one.
 */
export function rehearsalSpecs(
  inv: Inventory,
  flags: Pick<RehearseFlags, "stanza" | "backup" | "set">,
): CheckSpec[] {
  const stanzas = inv.backups.pgbackrest.map((s) => ({
    name: s.stanza,
    rehearsal: s.rehearsal !== undefined,
  }));
  const walg = inv.backups.walg.map((w) => ({ name: w.name, rehearsal: w.rehearsal !== undefined }));
  if (flags.stanza !== undefined) pick("--stanza", flags.stanza, stanzas);
  if (flags.backup !== undefined) pick("--backup", flags.backup, walg);
  const wanted = (p: BackupRehearsalParams): boolean => {
    if (flags.stanza === undefined && flags.backup === undefined) return true;
    return p.tool === "pgbackrest" ? p.backup === flags.stanza : p.backup === flags.backup;
  };
  const specs = deriveChecks(inv, { onDemand: true }).filter(
    (s) => s.kind === "backup.rehearsal" && wanted(s.params as BackupRehearsalParams),
  );
  if (specs.length === 0)
    throw new UserError(
      "the inventory declares no restore rehearsal; expected a rehearsal: mapping under a stanza of backups.pgbackrest or a backup of backups.walg (docs/inventory.md)",
    );
  if (flags.set !== undefined) {
    if (specs.length > 1)
      throw new UserError(
        `--set: names one backup, and ${specs.length} rehearsals would run (${specs.map((s) => named(s.params as BackupRehearsalParams)).join(", ")}); choose one with --stanza or --backup`,
      );
    const spec = specs[0]!;
    spec.params = { ...(spec.params as BackupRehearsalParams), set: flags.set };
  }
  return specs;
}

/** The report of one rehearsal for people: status, what was rehearsed where, the message, the facts. */
export function renderRehearsal(r: CheckResult, params: BackupRehearsalParams): string {
  const o = (r.observed ?? {}) as Record<string, unknown>;
  const head = `${r.status.toUpperCase().padEnd(5)} ${named(params)} on ${r.host} (${r.id})`;
  const lines = [head, `      ${r.message}`];
  if (r.status === "skip") return `${lines.join("\n")}\n`;
  const facts: string[] = [];
  if (o.set) facts.push(`backup ${o.set}${o.type ? ` (${o.type})` : ""}`);
  if (o.pointInTime)
    facts.push(
      `point in time ${o.pointInTime}${o.pointInTimeSource === "replay" ? " (last transaction replayed)" : o.pointInTimeSource === "backup-stop" ? " (end of the backup)" : ""}`,
    );
  if (typeof o.durationSec === "number") facts.push(`recovery ${o.durationSec} s`);
  if (typeof o.totalSec === "number") facts.push(`total ${o.totalSec} s`);
  if (o.step) facts.push(`failed step: ${o.step}`);
  if (facts.length > 0) lines.push(`      ${facts.join(" · ")}`);
  for (const q of (o.queries ?? []) as { sql: string; rows?: number }[])
    lines.push(
      `      ${q.rows !== undefined ? `ok (${q.rows} row${q.rows === 1 ? "" : "s"})` : "not ok"}: ${q.sql}`,
    );
  return `${lines.join("\n")}\n`;
}

/** 0 when every rehearsal passed; 1 when one failed, errored or was skipped (could not run). */
export function rehearsalExit(report: Report): 0 | 1 {
  return report.checks.length > 0 && report.checks.every((c) => c.status === "pass") ? 0 : 1;
}

async function rehearse(file: string, flags: RehearseFlags): Promise<number> {
  const inv = loadInventory(file);
  const specs = rehearsalSpecs(inv, flags);
  const started = new Date();
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", onSigint);
  if (!flags.json)
    process.stderr.write(
      `rehearsing ${specs.map((s) => `${named(s.params as BackupRehearsalParams)} on ${s.host}`).join(", ")}…\n`,
    );
  // one at a time: each restores a whole cluster
  const results = await runChecks(specs, {
    concurrency: 1,
    timeoutMs: REHEARSAL_TIMEOUT_MS,
    kinds: checkKinds,
    proberFor: proberFactory(inv, flags.strictHostKeys ? { hostKeyChecking: "strict" } : {}),
    signal: ac.signal,
  }).finally(() => process.removeListener("SIGINT", onSigint));
  const report = buildReport(file, started, results);
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else
    process.stdout.write(
      results.map((r, i) => renderRehearsal(r, specs[i]!.params as BackupRehearsalParams)).join("\n"),
    );
  if (flags.history && ac.signal.aborted) {
    process.stderr.write("keel: the run was interrupted; it is not stored in the history\n");
  } else if (flags.history) {
    await storeRun(report, file, inv, flags.db);
  }
  return rehearsalExit(report);
}
