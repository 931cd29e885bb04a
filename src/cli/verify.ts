/**
 * `keel verify FILE`: derive the day-2 checks from the inventory, run them from each vantage,
 * print the report, store it in the history database. Exit 0 when every check passes (skips
 * allowed), 1 when any fails or errors, 2 for an invalid inventory or command line.
 */
import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import picomatch from "picomatch";
import { UserError } from "../errors.js";
import { loadInventory } from "../inventory/load.js";
import { checkKinds } from "../verify/checks/index.js";
import { deriveChecks } from "../verify/derive.js";
import { autoWorkers, isPortable, runChecksParallel } from "../verify/parallel.js";
import { progressLine, renderJUnit, renderText } from "../verify/report.js";
import { buildReport, exitStatusOf } from "../verify/runner.js";
import { proberFactory } from "../verify/vantages/index.js";
import {
  concurrencyOption,
  intFlag,
  type RegisterCommand,
  STRICT_HOST_KEYS_HELP,
  timeoutOption,
} from "./options.js";
import { storeRun } from "./store-run.js";

interface VerifyFlags {
  json?: boolean;
  junit?: string;
  only?: string[];
  vantage?: string[];
  concurrency: number;
  timeout: number;
  db?: string;
  history: boolean;
  verbose?: boolean;
  progress: boolean;
  workers: number | "auto";
  strictHostKeys?: boolean;
}

const collect = (value: string, prev: string[] = []) => [
  ...prev,
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

export const registerVerify: RegisterCommand = (program: Command) => {
  program
    .command("verify")
    .description("run the day-2 checks derived from the inventory against the live site")
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--json", "print the report as JSON on stdout (the contract's report format)")
    .option("--junit <path>", "also write the report as JUnit XML to PATH")
    .option(
      "--only <glob>",
      "run only checks whose id matches GLOB (* matches any text; repeatable, comma-separated)",
      collect,
    )
    .option("--vantage <name>", "run only from this vantage (repeatable, comma-separated)", collect)
    .addOption(concurrencyOption())
    .addOption(timeoutOption())
    .addOption(
      new Option(
        "--workers <n>",
        "worker threads for network probes from local vantages (auto: by site size and CPUs)",
      )
        .argParser((v: string) => (v === "auto" ? "auto" : intFlag(0, 64)(v)))
        .default("auto"),
    )
    .option(
      "--db <path|url>",
      "history database: a SQLite file or a postgres:// URL (default: .keel/keel.db beside the inventory)",
    )
    .option("--strict-host-keys", STRICT_HOST_KEYS_HELP)
    .option("--no-history", "do not store this run in the history database")
    .option("--no-progress", "no live progress line on a terminal")
    .option("-v, --verbose", "also list passing and skipped checks")
    .action(async (file: string, flags: VerifyFlags) => {
      process.exitCode = await verify(file, flags);
    });
};

async function verify(file: string, flags: VerifyFlags): Promise<number> {
  const inv = loadInventory(file);
  const known = inv.vantages.map((v) => v.name);
  for (const name of flags.vantage ?? []) {
    if (!known.includes(name)) {
      throw new UserError(
        `--vantage: no vantage named "${name}"; the inventory declares ${known.join(", ")}`,
      );
    }
  }
  const only = flags.only?.length ? picomatch(flags.only, { bash: true }) : undefined;
  const specs = deriveChecks(inv, flags.vantage ? { vantages: flags.vantage } : {});
  if (only && !specs.some((s) => only(s.id))) {
    throw new UserError(
      `--only: no check id matches ${flags.only?.join(", ")}; \`keel verify --verbose\` lists every id`,
    );
  }

  const started = new Date();
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", onSigint);
  const live = flags.progress && !flags.json && process.stderr.isTTY === true;
  const bad = { fail: 0, error: 0 };
  const localVantages = new Set(inv.vantages.filter((v) => v.type === "local").map((v) => v.name));
  const workers =
    flags.workers === "auto"
      ? autoWorkers(
          specs.filter((s) => s.skip === undefined && (!only || only(s.id)) && isPortable(s, localVantages))
            .length,
        )
      : flags.workers;
  const results = await runChecksParallel(specs, {
    workers,
    localVantages,
    concurrency: flags.concurrency,
    timeoutMs: flags.timeout,
    kinds: checkKinds,
    proberFor: proberFactory(inv, flags.strictHostKeys ? { hostKeyChecking: "strict" } : {}),
    signal: ac.signal,
    filter: only ? (s) => (only(s.id) ? undefined : "filtered out by --only") : undefined,
    onResult: (r, done, total) => {
      if (r.status === "fail" || r.status === "error") bad[r.status]++;
      if (live) process.stderr.write(`\r\x1b[2K${progressLine(done, total, bad, r)}`);
    },
  }).finally(() => process.removeListener("SIGINT", onSigint));
  if (live) process.stderr.write("\r\x1b[2K");
  const report = buildReport(file, started, results);

  // The report first: whatever happens to the history database, the run's result is shown.
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(renderText(report, { color, verbose: flags.verbose === true }));
  }
  if (flags.history && ac.signal.aborted) {
    process.stderr.write("keel: the run was interrupted; it is not stored in the history\n");
  } else if (flags.history) {
    await storeRun(report, file, inv, flags.db);
  }
  if (flags.junit) {
    try {
      writeFileSync(flags.junit, await renderJUnit(report));
    } catch (err) {
      throw new UserError(`--junit: cannot write ${flags.junit}: ${(err as Error).message}`);
    }
  }
  return exitStatusOf(report);
}
