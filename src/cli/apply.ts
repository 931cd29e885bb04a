/**
 * `keel apply FILE [--yes] [--parallel N] [--gate-timeout DURATION] [--shutdown-timeout DURATION]
 * [--expect-observed HEX] [--render-out DIR] [--dns-key K [--dns-server S]]`: shows the machine
 * plan, asks (unless `--yes`), and carries it out (contract `docs/apply.md`). Holds the apply
 * lock for the whole run and records every step in the journal (`.keel/apply.lock`,
 * `.keel/journal.jsonl` beside the inventory).
 *
 * DNS and DHCP follow the machines (`follow.ts`): after the machine steps, and also when there
 * was nothing to apply, `--render-out DIR` renders the `dns` and `dhcp` kinds into DIR as `keel
 * render --only dns,dhcp` does, and `--dns-key` sends the zones' differences to the DNS server
 * (`--dns-server`, default the first of `dns.servers`) as `keel dns sync --apply` does. It runs
 * whether or not a machine changed, so the next run finishes a follow that failed; not when
 * apply refused or was interrupted. Its flags, key and files are checked before any machine is.
 *
 * Exit status: 0 every machine done (or nothing to do) and the follow done; 1 a machine failed
 * or did not pass its gate, a hypervisor could not be read, a machine cannot be planned, the
 * hypervisors changed since the plan was shown, or the follow's render or DNS update failed
 * (the machines are left as they are); 2 an invalid inventory or command line (a follow flag,
 * key or output directory too), or the lock is held; 130 interrupted.
 */
import { createHash } from "node:crypto";
import { type Command, Option } from "commander";
import { commitLock } from "../inventory/ipam/lock.js";
import { loadInventoryText, readInventoryText } from "../inventory/load.js";
import type { Inventory } from "../inventory/model.js";
import { applyPlan, type MachineOutcome } from "../provision/apply.js";
import { pruneLocalSeeds } from "../provision/artifacts.js";
import { formatPlan } from "../provision/format.js";
import { readJournal } from "../provision/journal.js";
import { isEmpty, type Plan, planMachines } from "../provision/plan.js";
import { observeAll } from "../provision/providers.js";
import { withSession } from "../provision/session.js";
import { desiredMachines } from "../provision/spec.js";
import { unfinishedMachines } from "../provision/unfinished.js";
import { confirmOrYes, reportingProviderErrors } from "./confirm.js";
import { type FollowFlags, prepareFollow } from "./follow.js";
import { durationFlag, intFlag } from "./options.js";

interface ApplyFlags extends FollowFlags {
  yes?: boolean;
  parallel: number;
  gateTimeout: number;
  shutdownTimeout: number;
  expectObserved?: string;
}

/** The plan of `inv` now, with what the journal says earlier applies left unfinished. */
async function planNow(inv: Inventory) {
  const { observed, unreachable } = await observeAll(inv);
  const unfinished = unfinishedMachines(readJournal(inv.dir).records);
  return { plan: planMachines(inv.site, desiredMachines(inv), observed, unreachable, unfinished), observed };
}

/** One line per machine of the summary. */
export function formatOutcome(o: MachineOutcome): string {
  const what = { done: "done", failed: "FAILED", "gate-failed": "GATE FAILED" }[o.status];
  return `${o.host} on ${o.hypervisor}: ${o.action} ${what} in ${(o.durationMs / 1000).toFixed(1)} s: ${o.message}${o.snapshot ? ` (snapshot ${o.snapshot})` : ""}`;
}

/** Runs `keel apply`; returns the exit status. */
export async function apply(file: string, flags: ApplyFlags): Promise<number> {
  const text = readInventoryText(file);
  const inv = loadInventoryText(file, text);
  const inventoryDigest = createHash("sha256").update(text).digest("hex");
  const shutdownGraceS = Math.ceil(flags.shutdownTimeout / 1000);
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  // the follow's flags, key and files are checked before anything is changed
  const follow = await prepareFollow(inv, flags);
  return withSession(inv, { shutdownGraceS, log }, async (session) => {
    if (session.brokenLock !== undefined) process.stderr.write(`keel: ${session.brokenLock}\n`);
    const first = await planNow(inv);
    process.stdout.write(formatPlan(first.plan));
    if (blocked(first.plan)) return 1;
    if (isEmpty(first.plan)) {
      process.stdout.write("nothing to apply\n");
      // a follow an earlier run could not finish is finished now
      return follow ? follow.run(false) : 0;
    }
    if (flags.expectObserved !== undefined && flags.expectObserved !== first.plan.observed) {
      process.stderr.write(
        `keel: the hypervisors changed since the plan with observed ${flags.expectObserved} was made (now ${first.plan.observed}); review the plan above and apply again\n`,
      );
      return 1;
    }
    let { plan, observed } = first;
    if (!flags.yes) {
      if (!(await confirmOrYes(false, "apply this plan? only 'yes' is accepted: "))) return 1;
      // the hypervisors may have changed while the question was open
      const again = await planNow(inv);
      if (again.plan.observed !== first.plan.observed) {
        process.stdout.write(formatPlan(again.plan));
        process.stderr.write(
          "keel: the hypervisors changed while the plan was shown; nothing applied; the new plan is above\n",
        );
        return 1;
      }
      ({ plan, observed } = again);
    }
    // the MACs and addresses the machines are made with are the ones recorded
    if (inv.ipam.lock !== undefined) commitLock(inv.ipam, false);
    const ac = new AbortController();
    const onSigint = () => ac.abort();
    process.once("SIGINT", onSigint);
    let outcomes: MachineOutcome[];
    try {
      outcomes = await applyPlan(inv, inventoryDigest, plan, observed, session.providers, session.journal, {
        parallel: flags.parallel,
        gateDeadlineMs: flags.gateTimeout,
        signal: ac.signal,
        log,
      });
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
    // the cidata images no declared machine uses any more (a removed machine's, an old seed)
    pruneLocalSeeds(inv.dir, new Set(desiredMachines(inv).map((m) => m.spec.seed)));
    const bad = outcomes.filter((o) => o.status !== "done");
    process.stdout.write(`\napplied:\n${outcomes.map((o) => `  ${formatOutcome(o)}`).join("\n")}\n`);
    if (ac.signal.aborted) return 130;
    // the zones and reservations follow the inventory, also when a machine failed (its records
    // are the inventory's, as keel render writes them); keel.lock was written above
    const followed = follow ? await follow.run(true) : 0;
    return followed === 130 ? 130 : Math.max(followed, bad.length > 0 ? 1 : 0);
  });
}

/** True when the plan cannot be carried out as a whole: a machine blocked or a hypervisor unread. */
function blocked(plan: Plan): boolean {
  return plan.blocked.length > 0 || plan.unreachable.length > 0;
}

/** Registers `keel apply`. */
export function register(program: Command): void {
  program
    .command("apply")
    .description(
      "create, change and delete machines on the hypervisors as the inventory says, after showing the plan",
    )
    .argument("<file>", "inventory file (keel.yaml)")
    .option("--yes", "apply without asking (for automation)")
    .addOption(
      new Option("--parallel <n>", "machines worked on at once").argParser(intFlag(1, 64)).default(4),
    )
    .addOption(
      new Option("--gate-timeout <duration>", "how long a machine gets to accept the SSH login (e.g. 5m)")
        .argParser(durationFlag())
        .default(300_000, "5m"),
    )
    .addOption(
      new Option(
        "--shutdown-timeout <duration>",
        "how long a machine gets to shut down before it is powered off",
      )
        .argParser(durationFlag())
        .default(120_000, "2m"),
    )
    .option(
      "--expect-observed <sha256>",
      "refuse unless the hypervisors hold what this plan digest (keel plan --json: observed) saw",
    )
    .option(
      "--render-out <dir>",
      "afterwards, render the dns and dhcp configs into this directory, as keel render --only dns,dhcp does",
    )
    .option(
      "--dns-key <key>",
      `afterwards, send the zones' changes to the DNS server (RFC 2136, as keel dns sync --apply) signed with this TSIG key: a key file as tsig-keygen writes it, or '\${VAR}' holding that text`,
    )
    .option(
      "--dns-server <server>",
      "the DNS server for --dns-key: host name, ADDR or ADDR:PORT ([IPV6]:PORT); default: the first of dns.servers",
    )
    .action(async (file: string, flags: ApplyFlags) => {
      process.exitCode = await reportingProviderErrors(() => apply(file, flags));
    });
}
