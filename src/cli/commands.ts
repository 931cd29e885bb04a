/**
 * The list of CLI commands. Adding a command touches its module and this list, nothing else.
 * Each entry loads its module on demand: `keel render` does not load the HTTP server, the SSH
 * client or SQLite, which keeps a command's start-up to what it uses (~45 ms less for render).
 */
import type { RegisterCommand } from "./options.js";

export type { RegisterCommand } from "./options.js";

/** Command name → a loader of the function that registers it. */
export const commands: Record<string, () => Promise<RegisterCommand>> = {
  validate: async () => (await import("./validate.js")).register,
  schema: async () => (await import("./schema.js")).register,
  verify: async () => (await import("./verify.js")).registerVerify,
  history: async () => (await import("./history.js")).registerHistory,
  serve: async () => (await import("./serve.js")).register,
  lab: async () => (await import("./lab.js")).register,
  render: async () => (await import("./render.js")).register,
  ipam: async () => (await import("./ipam.js")).register,
  dns: async () => (await import("./dns.js")).register,
  plan: async () => (await import("./plan.js")).register,
  apply: async () => (await import("./apply.js")).register,
  destroy: async () => (await import("./destroy.js")).register,
  snapshots: async () => (await import("./snapshots.js")).register,
  rollback: async () => (await import("./rollback.js")).register,
  vm: async () => (await import("./vm.js")).register,
  backup: async () => (await import("./backup.js")).register,
};

/**
 * The register functions needed for `argv` (as `process.argv`: node, script, then arguments):
 * only the named command's when the first argument names one, every command's otherwise (help,
 * `--version`, a mistyped command, which commander then suggests a correction for).
 */
export async function commandsFor(argv: readonly string[]): Promise<RegisterCommand[]> {
  const first = argv[2];
  if (first !== undefined && Object.hasOwn(commands, first)) return [await commands[first]!()];
  return Promise.all(Object.values(commands).map((load) => load()));
}
