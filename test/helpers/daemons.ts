/**
 * Real daemons for integration tests: OpenSSH's sshd, prometheus-node-exporter and Prometheus,
 * on 127.0.0.1 at free ports (or inside a network namespace), each in a temp directory.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits until `host:port` accepts TCP connections (polling every 50 ms), or throws after `ms`. */
export async function waitForPort(host: string, port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until Prometheus at 127.0.0.1:`port` answers 200 on `/-/ready` (its readiness endpoint,
 * Prometheus docs "Management API": it answers 503 while the TSDB still starts, and its API
 * then answers 503 "Service Unavailable" too).
 * @throws Error when it is not ready after `ms`.
 */
export async function waitForPrometheusReady(port: number, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/-/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > until)
      throw new Error(`Prometheus on port ${port} is not ready after ${ms} ms (last status ${status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Daemon {
  port: number;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Sends `signal` to `proc` (unless it has already ended) and resolves once it has exited. */
export function stopChild(proc: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve();
      return;
    }
    proc.once("exit", () => resolve());
    proc.kill(signal);
  });
}

function track(proc: ChildProcess, port: number, dir: string): Daemon {
  let log = "";
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  proc.stdout?.on("data", () => undefined);
  return {
    port,
    dir,
    proc,
    stop: () => {
      void log;
      return stopChild(proc);
    },
  };
}

/** A temp dir removed by the returned function. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `keel-${prefix}-`));
}

export interface SshdOptions {
  /** Allow password authentication (the ssh.key-only check must then fail). */
  password?: boolean;
  /** Address to listen on; default 127.0.0.1. */
  listen?: string;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  port?: number;
  /** Session environment (`SetEnv` in sshd_config), e.g. `{ PATH: "/nonexistent" }` to hide tools. */
  env?: Record<string, string>;
  /** Log at VERBOSE (every authentication attempt, sshd_config(5)) to `Sshd.logFile` (`sshd -E`). */
  log?: boolean;
  /** More sshd_config lines, e.g. `["MaxSessions 1"]`. */
  extraConfig?: string[];
}

export interface Sshd extends Daemon {
  /** Private key that is authorised for root. */
  clientKey: string;
  /** A private key that is NOT authorised. */
  wrongKey: string;
  /** The host key's private file (its public key beside it, `.pub`). */
  hostKey: string;
  /** sshd's log file when started with `log: true` (else empty). */
  logFile: string;
}

/**
 * Starts `/usr/sbin/sshd -D -e -f CONFIG` with a fresh host key and an authorised client key
 * (ed25519, made with ssh-keygen), key-only unless `password` is set.
 */
export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const dir = tempDir("sshd");
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  keygen(join(dir, "host_key"));
  keygen(join(dir, "client_key"));
  keygen(join(dir, "wrong_key"));
  execFileSync("cp", [join(dir, "client_key.pub"), join(dir, "authorized_keys")]);
  const port = opts.port ?? (await freePort());
  const listen = opts.listen ?? "127.0.0.1";
  const conf = [
    `Port ${port}`,
    `ListenAddress ${listen}`,
    `HostKey ${join(dir, "host_key")}`,
    `PasswordAuthentication ${opts.password ? "yes" : "no"}`,
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "PermitRootLogin prohibit-password",
    "UsePAM no",
    "PidFile none",
    "AllowTcpForwarding yes",
    `LogLevel ${opts.log ? "VERBOSE" : "ERROR"}`,
    ...Object.entries(opts.env ?? {}).map(([k, v]) => `SetEnv ${k}=${v}`),
    ...(opts.extraConfig ?? []),
  ].join("\n");
  writeFileSync(join(dir, "sshd_config"), `${conf}\n`);
  const logFile = opts.log ? join(dir, "sshd.log") : "";
  const sshd = [
    "/usr/sbin/sshd",
    "-D",
    ...(opts.log ? ["-E", logFile] : ["-e"]),
    "-f",
    join(dir, "sshd_config"),
  ];
  // In a mount namespace of its own, the login user's start-up files are Debian's defaults from
  // /etc/skel (or empty), as on the lab twin: bash sources ~/.bashrc even for a command run by
  // sshd, and an operator's dotfiles (pyenv, nvm, ...) can take seconds a command on a loaded
  // machine, which would be charged to the probes under test.
  const home = userInfo().homedir;
  const binds = [".bashrc", ".profile", ".bash_profile", ".bash_login"]
    .map((f) => {
      const src = existsSync(`/etc/skel/${f}`) ? `/etc/skel/${f}` : "/dev/null";
      return `[ -f '${home}/${f}' ] && mount --bind ${src} '${home}/${f}'; `;
    })
    .join("");
  const argv = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${binds}exec "$@"`,
    "sh",
    ...sshd,
  ];
  const proc = opts.netns
    ? spawn("ip", ["netns", "exec", opts.netns, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const d = track(proc, port, dir);
  if (opts.netns) {
    await waitInNetns(opts.netns, listen, port);
  } else {
    await waitForPort(listen, port);
  }
  return {
    ...d,
    clientKey: join(dir, "client_key"),
    wrongKey: join(dir, "wrong_key"),
    hostKey: join(dir, "host_key"),
    logFile,
    stop: async () => {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitInNetns(ns: string, host: string, port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const out = execFileSync("ip", ["netns", "exec", ns, "ss", "-Hltn", `sport = :${port}`]).toString();
      if (out.includes(`${host}:${port}`)) return;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} in ${ns}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `prometheus-node-exporter --web.listen-address=127.0.0.1:PORT`. */
export async function startNodeExporter(): Promise<Daemon> {
  const port = await freePort();
  const proc = spawn(
    "prometheus-node-exporter",
    [
      `--web.listen-address=127.0.0.1:${port}`,
      "--collector.disable-defaults",
      "--collector.cpu",
      "--collector.loadavg",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const d = track(proc, port, "");
  await waitForPort("127.0.0.1", port);
  return d;
}

/**
 * Starts Prometheus on 127.0.0.1 scraping `targets` (each `{ address, labels }`) every 1 s,
 * with its data in a temp dir.
 */
export async function startPrometheus(
  targets: { address: string; labels: Record<string, string> }[],
): Promise<Daemon> {
  const dir = tempDir("prom");
  const port = await freePort();
  const cfg = {
    global: { scrape_interval: "1s", scrape_timeout: "500ms" },
    scrape_configs: [
      {
        job_name: "node",
        static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })),
      },
    ],
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(cfg));
  const proc = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const d = track(proc, port, dir);
  await waitForPrometheusReady(port, 20_000);
  return {
    ...d,
    stop: async () => {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A plain HTTP server (node:http) on 127.0.0.1 answering every request with `status` and
 * `body`, for services that are not installed here (Grafana) or that must look wrong.
 */
export async function startHttp(
  status: number,
  body: string,
  contentType = "text/plain",
): Promise<Daemon & { server: import("node:http").Server }> {
  const { createServer } = await import("node:http");
  const server = createServer((_req, res) => {
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    dir: "",
    proc: undefined as unknown as ChildProcess,
    server,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
