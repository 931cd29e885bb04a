/**
 * Runs virsh(1), libvirt's own client, against one connection URI. Keel drives libvirt through
 * virsh rather than a native binding: it is libvirt's maintained client, speaks every URI
 * (`qemu:///system`, `qemu+ssh://…`), and needs nothing compiled into Keel.
 *
 * Reading many domains costs one virsh process and one connection per batch: virsh runs the
 * commands of one argument separated by `;` in order (virsh(1), "Commands"), and each command's
 * output is framed by an `echo` of a marker.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { UserError } from "../../errors.js";
import { ProviderError } from "../provider.js";

/** A virsh command that failed; `stderr` holds virsh's message (`error: …`). */
export class VirshError extends ProviderError {
  override name = "VirshError";
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(
      `virsh ${args[0] ?? ""}: ${stderr
        .replace(/^error: /gm, "")
        .trim()
        .split("\n")
        .join("; ")}`,
    );
  }
}

/** True when virsh's message says the connection itself failed (the daemon or the URI), not one command. */
export function isConnectionFailure(stderr: string): boolean {
  return /failed to connect to the hypervisor|Cannot recv data|End of file while reading data|no connection driver available/i.test(
    stderr,
  );
}

/** Milliseconds a single virsh call may take before it is killed (a batch gets this per 100 commands). */
export const VIRSH_TIMEOUT_MS = 60_000;

/**
 * Runs `virsh --connect URI ARGS…` and resolves with its stdout.
 * @throws UserError when virsh is not installed; VirshError (with virsh's stderr) when it exits non-zero.
 */
export function virsh(uri: string, args: readonly string[], timeoutMs = VIRSH_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "virsh",
      ["--quiet", "--connect", uri, ...args],
      { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT")
            reject(
              new UserError(
                "virsh: not found; expected libvirt's client on PATH (Debian package libvirt-clients)",
              ),
            );
          else reject(new VirshError(args, stderr || err.message));
        } else resolve(stdout);
      },
    );
  });
}

/** A word as virsh's command parser reads it: names and paths quoted when they hold anything unusual. */
function word(w: string): string {
  return /^[A-Za-z0-9._:/@+=,-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/**
 * Runs `commands` (each an argument list) in one virsh process, in order, and returns each
 * command's stdout, or undefined for a command that failed (a domain that vanished meanwhile,
 * say). Commands are framed with markers, so an output can hold any text.
 * @throws UserError when virsh is missing; VirshError when the connection itself failed.
 */
export async function virshBatch(
  uri: string,
  commands: readonly (readonly string[])[],
): Promise<(string | undefined)[]> {
  if (commands.length === 0) return [];
  const marker = `keel-${randomBytes(6).toString("hex")}`;
  const script = commands
    .map((c, i) => `echo ${marker}-begin-${i}; ${c.map(word).join(" ")}; echo ${marker}-end-${i}`)
    .join("; ");
  // virsh goes on after a failed command and exits with the status of the last one, an echo:
  // a non-zero exit means the connection failed (or virsh itself did)
  let stdout: string;
  try {
    stdout = await virsh(uri, [script], VIRSH_TIMEOUT_MS * Math.max(1, Math.ceil(commands.length / 100)));
  } catch (e) {
    // named after its first command, not the whole framed script
    if (e instanceof VirshError) throw new VirshError(commands[0]!, e.stderr);
    throw e;
  }
  const out: (string | undefined)[] = new Array(commands.length).fill(undefined);
  // with --quiet, virsh's echo ends no line: a marker may run straight into the next output
  const re = new RegExp(`${marker}-begin-(\\d+)\\n?([\\s\\S]*?)${marker}-end-\\1\\n?`, "g");
  for (const m of stdout.matchAll(re)) {
    const body = m[2]!;
    out[Number(m[1])] = body;
  }
  // an empty output of a failed command is indistinguishable from an empty success: callers
  // only batch commands whose success always prints something
  return out.map((o) => (o === undefined || o.trim() === "" ? undefined : o));
}

/** The capacity in bytes from `virsh vol-info --bytes` output (`Capacity:  10737418240 bytes`). */
export function capacityBytes(out: string | undefined): number | undefined {
  const m = /^Capacity:\s+(\d+)\s+bytes$/m.exec(out ?? "");
  return m ? Number(m[1]) : undefined;
}
