/**
 * A stand-in for `keel apply` that the journal and lock tests kill with SIGKILL:
 * `node --import tsx apply-child.ts DIR MODE`, where MODE is
 *
 * - `journal`: opens the journal of DIR, writes an intent and its result, then a second intent,
 *   prints `ready`, and waits to be killed (the second intent is what the crash leaves pending);
 * - `loop`: opens the journal and writes intents and results without end (killed at any point);
 * - `lock`: takes the apply lock of DIR, prints `ready`, and waits to be killed.
 */
import { openJournal } from "../../../src/provision/journal.js";
import { acquireLock } from "../../../src/provision/lock.js";

const [dir, mode] = process.argv.slice(2);
if (dir === undefined || mode === undefined) throw new Error("usage: apply-child.ts DIR MODE");

/** Prints `ready` (the parent waits for it), then keeps the process alive until it is killed. */
function ready(): void {
  process.stdout.write("ready\n");
  setInterval(() => {}, 1 << 30);
}

if (mode === "journal") {
  const j = openJournal(dir);
  const a = j.intent("volume.create", "web-1", "vega", { pool: "default", volume: "web-1.qcow2" });
  j.result(a, true, { key: "/pool/web-1.qcow2" });
  j.intent("domain.define", "web-1", "vega", { name: "web-1" });
  ready();
} else if (mode === "loop") {
  const j = openJournal(dir);
  process.stdout.write("ready\n");
  for (let i = 0; ; i++) {
    const seq = j.intent("domain.start", `web-${i}`, "vega", { name: `web-${i}` });
    j.result(seq, true);
  }
} else if (mode === "lock") {
  await acquireLock(dir);
  ready();
} else throw new Error(`unknown mode ${mode}`);
