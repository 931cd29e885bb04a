/**
 * ICMP echo for many addresses at once with fping(8) (Debian package `fping`): requests that
 * arrive within a short window share one `fping` process instead of one `ping` each.
 *
 * Why: `keel serve` on a site of 5,000 hosts asks for ~170 reachability probes a second, and
 * spawning a child costs the parent a fork of its whole address space (~3 ms of CPU each with a
 * 500 MB heap, measured), half a core for pings alone. One fping per window does the same work
 * with one spawn.
 *
 * fping is run as `fping -a -r 0 -i 0 -t MS ADDR...`: one echo request per address (`-r 0`: no
 * retries), sent without pacing (`-i 0`; needs root or CAP_NET_RAW, as `ping` does), waiting
 * MS ms for each reply; `-a` prints each address that answered on its own line. Exit status 0
 * (all answered) and 1 (some did not) are results; anything else (2: an address not found, 3:
 * bad arguments, 4: a failed system call such as no permission for raw sockets) is an error of
 * the vantage.
 */
import { spawn } from "node:child_process";
import { VantageError } from "../types.js";

/** Options of `PingBatcher`. */
export interface PingBatcherOptions {
  /** The vantage's name, for messages. */
  vantage: string;
  /** The fping binary; default `fping` from PATH. */
  command?: string;
  /** How long (ms) a request waits for others to share its fping; default 100 (a reachability check waits at most that much longer). */
  windowMs?: number;
  /** Most addresses per fping process; default 512 (a full batch starts at once). */
  maxBatch?: number;
}

interface Waiter {
  resolve: (alive: boolean) => void;
  reject: (err: Error) => void;
}

interface Batch {
  timeoutMs: number;
  waiters: Map<string, Waiter[]>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Coalesces `ping(address, timeoutMs)` calls into fping runs. Requests with the same timeout
 * share a batch; a batch starts `windowMs` after its first request or when it holds `maxBatch`
 * addresses. Each address's promise settles when its fping exits; the fping child is killed if
 * it runs longer than its timeout plus a second. Callers enforce their own deadline and abort
 * (e.g. with `raceDeadline`): a caller that stops waiting does not stop the batch.
 */
export class PingBatcher {
  readonly #opts: Required<PingBatcherOptions>;
  readonly #open = new Map<number, Batch>();

  constructor(options: PingBatcherOptions) {
    this.#opts = { command: "fping", windowMs: 100, maxBatch: 512, ...options };
  }

  /**
   * One ICMP echo to `address` (IPv4 or IPv6), waiting `timeoutMs` ms for the reply.
   * @returns true when the address answered, false when it did not (timeout, unreachable).
   * @throws VantageError when fping is missing or fails (e.g. no permission for raw sockets).
   */
  ping(address: string, timeoutMs: number): Promise<boolean> {
    const t = Math.max(1, Math.round(timeoutMs));
    let batch = this.#open.get(t);
    if (!batch) {
      const created: Batch = { timeoutMs: t, waiters: new Map(), timer: undefined };
      created.timer = setTimeout(() => this.#start(created), this.#opts.windowMs);
      this.#open.set(t, created);
      batch = created;
    }
    const b = batch;
    const done = new Promise<boolean>((resolve, reject) => {
      const list = b.waiters.get(address);
      if (list) list.push({ resolve, reject });
      else b.waiters.set(address, [{ resolve, reject }]);
    });
    if (b.waiters.size >= this.#opts.maxBatch) this.#start(b);
    return done;
  }

  #start(b: Batch): void {
    if (this.#open.get(b.timeoutMs) === b) this.#open.delete(b.timeoutMs);
    clearTimeout(b.timer);
    const addresses = [...b.waiters.keys()];
    const { command, vantage } = this.#opts;
    const settleAll = (alive: Set<string> | Error): void => {
      for (const [addr, list] of b.waiters)
        for (const w of list) alive instanceof Error ? w.reject(alive) : w.resolve(alive.has(addr));
    };
    const child = spawn(command, ["-a", "-r", "0", "-i", "0", "-t", String(b.timeoutMs), ...addresses], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString("utf8");
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), b.timeoutMs + 1000);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(killer);
      settleAll(
        new VantageError(
          e.code === "ENOENT"
            ? `${command} is not installed on vantage ${vantage}`
            : `cannot run ${command} on vantage ${vantage}: ${e.message}`,
        ),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      if (code === 0 || code === 1 || signal === "SIGKILL") {
        // SIGKILL: it overran its own timeout; whatever answered by then answered
        settleAll(new Set(out.split("\n").map((l) => l.trim())));
      } else {
        const why = err.trim().split("\n").slice(-3).join("; ");
        settleAll(new VantageError(`${command} failed on vantage ${vantage} (exit ${code}): ${why}`));
      }
    });
  }
}
