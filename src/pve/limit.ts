/**
 * Living with Proxmox VE's locks: recognising a lock that will be released, retrying, and
 * serialising the changes that take one storage's cluster-wide lock.
 */
import pLimit, { type LimitFunction } from "p-limit";
import { PveApiError, PveTaskError } from "./errors.js";

// PVE::Tools::lock_file_full: "can't lock file '$filename' - $err" with $err "got timeout"
// (the per-VM config lock, /var/lock/qemu-server/lock-VMID.conf, and lxc's).
const FILE_LOCK_TIMEOUT = /can't lock file '[^']+' - got timeout/;
// PVE::Cluster::cfs_lock: "cfs-lock '$lockid' error: got lock request timeout" (storage-NAME,
// file-..., domain-...), 10 s by default.
const CFS_LOCK_TIMEOUT = /cfs-lock '[^']+' error: got lock request timeout/;
// PVE::AbstractConfig::check_lock: "VM is locked ($lock)" / "CT is locked ($lock)".
const CONFIG_LOCKED = /\b(?:VM|CT) is locked \(([a-z-]+)\)/;

/**
 * The `lock` values of a VM's config that a running task holds and drops when it ends: a
 * clone or create in progress, a backup, a migration, a snapshot being taken, removed or rolled
 * back. A lock left behind by a task that died stays until `qm unlock`; retries then give up
 * with the real error. `suspended` (a hibernated VM) is not transient and is not retried.
 */
export const TRANSIENT_CONFIG_LOCKS: readonly string[] = [
  "backup",
  "clone",
  "create",
  "migrate",
  "rollback",
  "snapshot",
  "snapshot-delete",
];

/** The text an error carries from Proxmox: an API error's reason, a task's exit status. */
function proxmoxText(err: unknown): string | undefined {
  if (err instanceof PveApiError) return err.reason;
  if (err instanceof PveTaskError) return err.exitstatus;
  return undefined;
}

/**
 * True when `err` (a {@link PveApiError} answered with HTTP 500, or a {@link PveTaskError}) is a
 * lock timeout: "can't lock file '/var/lock/qemu-server/lock-N.conf' - got timeout" or
 * "cfs-lock 'storage-NAME' error: got lock request timeout".
 */
export function isLockTimeout(err: unknown): boolean {
  const text = proxmoxText(err);
  return text !== undefined && (FILE_LOCK_TIMEOUT.test(text) || CFS_LOCK_TIMEOUT.test(text));
}

/**
 * True when `err` is worth retrying because of a lock: a lock timeout ({@link isLockTimeout})
 * or "VM is locked (LOCK)" for a lock in {@link TRANSIENT_CONFIG_LOCKS}.
 */
export function isTransientLock(err: unknown): boolean {
  if (isLockTimeout(err)) return true;
  const m = CONFIG_LOCKED.exec(proxmoxText(err) ?? "");
  return m !== null && TRANSIENT_CONFIG_LOCKS.includes(m[1]!);
}

/** Options of {@link withLockRetry}. */
export interface LockRetryOptions {
  /** Attempts in all, the first included; default 5. */
  attempts?: number;
  /** Delay before the first retry, doubled after each (milliseconds); default 1000. */
  baseMs?: number;
  /** The longest delay (milliseconds); default 15 000. */
  capMs?: number;
  /** Called before each retry with the attempt number that failed (1-based) and its error. */
  onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
  /** Waiting (tests inject one); default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the jitter; default Math.random. */
  random?: () => number;
}

/**
 * Runs `fn`, and again while it fails with a transient lock ({@link isTransientLock}), whether
 * the lock surfaced as an HTTP 500 answer or as a task's exit status: up to `attempts` times,
 * waiting `baseMs · 2^(attempt-1)` (at most `capMs`) scaled by a jitter in [0.5, 1) so that
 * parallel callers spread out. Any other error is thrown at once; after the last attempt the
 * last error is thrown. `fn` must be safe to repeat (a failed lock means nothing was changed).
 */
export async function withLockRetry<T>(fn: () => Promise<T>, opts: LockRetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseMs ?? 1000;
  const cap = opts.capMs ?? 15_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransientLock(err)) throw err;
      const delay = Math.round(Math.min(base * 2 ** (attempt - 1), cap) * (0.5 + random() / 2));
      opts.onRetry?.(attempt, err, delay);
      await sleep(delay);
    }
  }
}

/** Runs changes one storage at a time (or a few): see {@link storageLimiter}. */
export interface StorageLimiter {
  /** Runs `fn` when fewer than the limit of changes on `storage` are running. */
  run<T>(storage: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * One p-limit queue per storage name, `limitPerStorage` (default 1) at a time. A clone or a
 * disk allocation takes the cluster-wide lock `storage-NAME` (PVE::Storage, cfs_lock_storage),
 * which others wait for 10 s before failing with "got lock request timeout": serialising the
 * changes on one storage keeps parallel applies from hitting it, while different storages still
 * proceed in parallel.
 */
export function storageLimiter(limitPerStorage = 1): StorageLimiter {
  const limits = new Map<string, LimitFunction>();
  return {
    run<T>(storage: string, fn: () => Promise<T>): Promise<T> {
      let limit = limits.get(storage);
      if (!limit) {
        limit = pLimit(limitPerStorage);
        limits.set(storage, limit);
      }
      return limit(fn);
    },
  };
}
