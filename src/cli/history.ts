/**
 * `keel history [FILE]`: each check's state changes over time, read from the history database
 * written by `keel verify` (when it started failing, when it recovered).
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { UserError } from "../errors.js";
import { defaultDbPath, isPostgresUrl, openStore, type ResultStore } from "../store/index.js";
import { intFlag, type RegisterCommand } from "./options.js";

interface HistoryFlags {
  check?: string;
  db?: string;
  limit: number;
  json?: boolean;
}

export const registerHistory: RegisterCommand = (program: Command) => {
  program
    .command("history")
    .description("show when checks changed state (started failing, recovered), oldest first")
    .argument("[file]", "inventory file whose history to read (its .keel/keel.db)", "keel.yaml")
    .option("--check <id>", "only this check id")
    .option(
      "--db <path|url>",
      "history database: a SQLite file or a postgres:// URL (default: .keel/keel.db beside the inventory)",
    )
    .addOption(
      new Option("--limit <n>", "at most N changes (the newest)")
        .argParser(intFlag(1, 1_000_000))
        .default(200),
    )
    .option("--json", "print the changes as a JSON array")
    .action(async (file: string, flags: HistoryFlags) => {
      const db = flags.db ?? defaultDbPath(file);
      if (!isPostgresUrl(db) && !existsSync(db)) {
        if (flags.db)
          throw new UserError(`--db: ${db} does not exist; expected a database written by keel verify`);
        process.stdout.write(
          flags.json ? "[]\n" : `no runs recorded yet (${db}); run keel verify ${file} first\n`,
        );
        return;
      }
      let store: ResultStore;
      try {
        store = await openStore(db);
      } catch (err) {
        throw new UserError(`${flags.db ? "--db: " : ""}${(err as Error).message}`);
      }
      try {
        const q: { checkId?: string; limit: number } = { limit: flags.limit };
        if (flags.check) q.checkId = flags.check;
        const changes = await store.stateChanges(q);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(changes, null, 2)}\n`);
          return;
        }
        if (changes.length === 0) {
          process.stdout.write(
            flags.check ? `no results recorded for ${flags.check}\n` : "no results recorded\n",
          );
          return;
        }
        for (const c of changes) {
          const change = c.from === null ? `first seen ${c.to}` : `${c.from} -> ${c.to}`;
          process.stdout.write(`${c.at}  ${c.checkId}  ${change}  ${c.message}\n`);
        }
      } finally {
        await store.close();
      }
    });
};
