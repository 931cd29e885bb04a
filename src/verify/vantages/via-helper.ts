/**
 * The probe helper of a via vantage: one long-lived POSIX shell on the via host, in one SSH
 * session, that runs many probe commands at once. Keel writes one request line per command to
 * its stdin; the helper starts the command in the background at once and writes a framed result
 * when it ends. One session therefore carries every ping, UDP probe and DNS question of the
 * vantage, however many run at once: sshd's `MaxSessions` (10 by default, sshd_config(5)) no
 * longer bounds how many probes run, and no probe waits for a session behind slow ones.
 *
 * Protocol (lines end with `\n`; `B` is a random boundary chosen per helper, `T` a decimal tag):
 * - the helper starts with `B ready` (anything the login shell printed before is skipped);
 * - a request is `T COMMAND` (one line; the command is run by `eval` in a subshell of a background job,
 *   stdin from /dev/null);
 * - a result is `B T\n` STDOUT `\nB T stderr\n` STDERR-LINES `\nB T exit CODE\n`. Each command
 *   writes its result to a file; a single writer (a loop reading finished tags from a FIFO,
 *   copying with shell builtins) sends them whole, so results of concurrent commands never
 *   interleave. Output is handled as lines: a last line without a newline gets one.
 *
 * The helper needs `sh`, `mktemp`, `mkfifo`, `cat` and `rm` on the via host (POSIX); it keeps
 * each command's output in a private temporary directory, removed when it ends.
 */
import { randomBytes } from "node:crypto";
import type { ClientChannel, Client as SshClient } from "ssh2";
import { type ExecResult, VantageError } from "../types.js";
import { shellQuote } from "./deadline.js";

/** Results kept by the writer before it removes their files (one `rm` per this many). */
const REMOVE_BATCH = 64;

/** The helper's shell script (POSIX sh), with boundary `b`. */
function helperScript(b: string): string {
  return [
    `B=${b}`,
    "d=$(mktemp -d) || exit 1",
    "trap 'rm -rf \"$d\"' EXIT",
    'mkfifo "$d/q" || exit 1',
    // the single writer: one finished command at a time, whole
    "while IFS= read -r t; do",
    // shell builtins only, no process per result (the record file is whole lines)
    '  while IFS= read -r l; do printf \'%s\\n\' "$l"; done <"$d/$t"',
    '  q="$q $d/$t $d/$t.e"; n=$((n+1))',
    `  if [ "$n" -ge ${REMOVE_BATCH} ]; then rm -f $q; q=; n=0; fi`,
    'done <"$d/q" &',
    'exec 3>"$d/q"',
    "printf '%s ready\\n' \"$B\"",
    "while IFS=' ' read -r t c; do",
    "  {",
    "    {",
    '      printf \'%s %s\\n\' "$B" "$t"',
    '      (eval "$c") 2>"$d/$t.e" </dev/null',
    "      x=$?",
    '      printf \'\\n%s %s stderr\\n\' "$B" "$t"',
    '      while IFS= read -r l || [ -n "$l" ]; do printf \'%s\\n\' "$l"; done <"$d/$t.e"',
    '      printf \'\\n%s %s exit %s\\n\' "$B" "$t" "$x"',
    '    } >"$d/$t"',
    '    echo "$t" >&3',
    "  } &",
    "done",
    "exec 3>&-",
    "wait",
  ].join("\n");
}

interface Pending {
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
}

/**
 * One running probe helper on a via host (see the module docs). Made by `ViaHelper.start`;
 * `run` sends commands to it. When the helper's session ends (the connection dropped, the
 * helper failed), every command still waiting rejects with `VantageError` and `alive` turns
 * false: the prober then starts a new helper for the next probe.
 */
export class ViaHelper {
  readonly #channel: ClientChannel;
  readonly #boundary: Buffer;
  readonly #pending = new Map<number, Pending>();
  /** Names the helper in errors: `vantage NAME: the probe helper on HOST`. */
  readonly #label: string;
  #next = 1;
  #buf: Buffer = Buffer.alloc(0);
  #ended: string | undefined;

  private constructor(channel: ClientChannel, boundary: string, label: string) {
    this.#channel = channel;
    this.#boundary = Buffer.from(boundary);
    this.#label = label;
  }

  /** False once the helper's session has ended; `run` then rejects at once. */
  get alive(): boolean {
    return this.#ended === undefined;
  }

  /**
   * Opens a session on `client` and starts the helper in it (`exec /bin/sh -c SCRIPT`, so the
   * login shell does not matter).
   *
   * @param label names the helper in errors, e.g. `vantage lan-probe: the probe helper on svc-1`.
   * @param timeoutMs how long the session and the helper may take to start, in ms.
   * @returns once the helper said it is ready.
   * @throws VantageError when sshd refuses the session (`open failed`: e.g. `MaxSessions 0`),
   *   the helper ends before it is ready (its stderr in the message, e.g. `mktemp: not found`),
   *   or it is not ready within `timeoutMs` (its session is then closed).
   */
  static start(client: SshClient, label: string, timeoutMs: number): Promise<ViaHelper> {
    const boundary = `keel-${randomBytes(12).toString("hex")}`;
    return new Promise<ViaHelper>((resolve, reject) => {
      let late = false;
      let opened: ClientChannel | undefined;
      const timer = setTimeout(() => {
        late = true;
        opened?.close();
        reject(new VantageError(`${label} did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      client.exec(`exec /bin/sh -c ${shellQuote(helperScript(boundary))}`, (err, channel) => {
        if (!err) opened = channel;
        if (late) {
          channel?.close();
          return;
        }
        if (err) {
          clearTimeout(timer);
          reject(new VantageError(`${label}: cannot open an SSH session: ${err.message}`));
          return;
        }
        const h = new ViaHelper(channel, boundary, label);
        let ready = false;
        let stderr = "";
        const banner = Buffer.from(`${boundary} ready\n`);
        channel.stderr.on("data", (b: Buffer) => {
          if (stderr.length < 4096) stderr += b.toString("utf8");
        });
        channel.on("data", (b: Buffer) => {
          h.#buf = h.#buf.length === 0 ? b : Buffer.concat([h.#buf, b]);
          if (!ready) {
            // whatever the login shell's start-up files print comes first: skip it
            const at = h.#buf.indexOf(banner);
            if (at < 0) {
              if (h.#buf.length > 65_536) {
                clearTimeout(timer);
                channel.close();
                reject(new VantageError(`${label} did not start: unexpected output`));
              }
              return;
            }
            ready = true;
            clearTimeout(timer);
            h.#buf = h.#buf.subarray(at + banner.length);
            resolve(h);
          }
          h.parse();
        });
        channel.on("close", () => {
          const text = stderr
            .trim()
            .split(/\s*\n\s*/)
            .join("; ");
          const why = text ? `: ${text}` : "";
          h.end(`${label} ended${why}`);
          clearTimeout(timer);
          if (!ready) reject(new VantageError(`${label} did not start${why}`));
        });
      });
    });
  }

  /**
   * Runs `command` (one line of POSIX shell) on the via host, at once, beside any other
   * command of the helper.
   *
   * @returns its exit code (127: not found), stdout and stderr (whole lines).
   * @throws VantageError when the helper has ended or ends before the command does.
   */
  run(command: string): Promise<ExecResult> {
    if (this.#ended !== undefined) return Promise.reject(new VantageError(this.#ended));
    if (/[\n\r]/.test(command))
      return Promise.reject(new Error(`a probe command must be one line: ${JSON.stringify(command)}`));
    const tag = this.#next++;
    return new Promise<ExecResult>((resolve, reject) => {
      this.#pending.set(tag, { resolve, reject });
      this.#channel.write(`${tag} ${command}\n`);
    });
  }

  /** Ends the helper: its stdin closes, so it stops reading requests and exits once its commands end. */
  close(): void {
    this.end(`${this.#label} was closed`);
    this.#channel.end();
  }

  private end(reason: string): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    for (const p of this.#pending.values()) p.reject(new VantageError(reason));
    this.#pending.clear();
  }

  /** Takes every complete result off the front of the buffer. */
  private parse(): void {
    const b = this.#boundary;
    for (;;) {
      const buf = this.#buf;
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      const head = buf.subarray(0, nl).toString("latin1").split(" ");
      if (head.length !== 2 || head[0] !== b.toString()) {
        this.end(`${this.#label} wrote a result Keel cannot read`);
        this.#channel.close();
        return;
      }
      const tag = head[1]!;
      const errMark = Buffer.from(`\n${b} ${tag} stderr\n`);
      const exitMark = Buffer.from(`\n${b} ${tag} exit `);
      const e = buf.indexOf(errMark, nl);
      if (e < 0) return;
      const x = buf.indexOf(exitMark, e + errMark.length);
      if (x < 0) return;
      const codeEnd = buf.indexOf(10, x + exitMark.length);
      if (codeEnd < 0) return;
      const code = Number(buf.subarray(x + exitMark.length, codeEnd).toString("latin1"));
      const stdout = buf.subarray(nl + 1, e).toString("utf8");
      const stderr = buf.subarray(e + errMark.length, x).toString("utf8");
      this.#buf = buf.subarray(codeEnd + 1);
      const p = this.#pending.get(Number(tag));
      this.#pending.delete(Number(tag));
      // a signal-killed command exits 128+N in sh: ExecResult says null for "killed"
      p?.resolve({ code: Number.isInteger(code) && code < 128 ? code : null, stdout, stderr });
    }
  }
}
