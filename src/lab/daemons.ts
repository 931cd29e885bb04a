/**
 * Daemons of the lab: starting one detached inside a host's namespaces (recorded in the state
 * before `up` goes on), stopping a recorded one, and the process record that serves each
 * planned service (sshd, node_exporter, Prometheus, BIND, the stand-in responder; WireGuard is
 * started with its interface by wireguard.ts).
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { namedProcess } from "./named.js";
import type { HostPlan, ServicePlan } from "./plan.js";
import { LabError, pidAlive, pidCommand, placeCmd, sleep } from "./run.js";
import type { ProcessRecord } from "./state.js";
import { hostDir, hostPlace, type Lab, saveLab } from "./twin.js";

/** Starts a daemon detached inside a host's place, recording its pid before returning. */
export function spawnDaemon(lab: Lab, rec: Omit<ProcessRecord, "pid">): ProcessRecord {
  const place = hostPlace(lab, rec.host);
  mkdirSync(dirname(rec.log), { recursive: true });
  const fd = openSync(rec.log, "a");
  const [cmd, args] = placeCmd(place, rec.argv[0] ?? "", rec.argv.slice(1));
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ["ignore", fd, fd],
    // a clean environment: the operator's (proxies, NODE_OPTIONS, test-runner variables) stays out
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: "/root",
      LANG: "C.UTF-8",
      ...rec.env,
    },
  });
  closeSync(fd);
  child.on("error", () => {});
  child.unref();
  if (child.pid === undefined) throw new LabError(`could not start ${rec.argv.join(" ")}`);
  const full: ProcessRecord = { ...rec, pid: child.pid };
  lab.state.processes.push(full);
  saveLab(lab);
  return full;
}

/**
 * Signals a recorded process (its `stopSignal`, default TERM; then KILL after 5 s, or 20 s for
 * PostgreSQL's fast shutdown); a no-op when it is gone or the pid was reused.
 */
export async function killProcess(p: ProcessRecord): Promise<void> {
  if (!pidAlive(p.pid)) return;
  const cmd = pidCommand(p.pid);
  if (!cmd.includes(basename(p.exe)) && !cmd.startsWith("nsenter")) return;
  try {
    process.kill(p.pid, p.stopSignal ?? "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < (p.stopSignal === "SIGINT" ? 200 : 50) && pidAlive(p.pid); i++) await sleep(100);
  if (pidAlive(p.pid)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
}

/** Argument vector of the stand-in responder (run with tsx when Keel runs from source). */
export function responderArgv(args: string[]): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) {
    return [
      process.execPath,
      "--import",
      import.meta.resolve("tsx"),
      join(dirname(here), "responder.ts"),
      ...args,
    ];
  }
  return [process.execPath, join(dirname(here), "responder.js"), ...args];
}

/** The process record template that serves one service of a host. */
export function serviceProcess(lab: Lab, hp: HostPlan, sp: ServicePlan): Omit<ProcessRecord, "pid"> | null {
  const dir = hostDir(lab, hp.host);
  const base = {
    host: hp.host,
    service: sp.service,
    daemon: sp.daemon,
    real: sp.real,
    log: join(dir, `${sp.service}.log`),
    port: sp.port,
    protocol: sp.protocol,
  };
  switch (sp.daemon) {
    case "sshd":
      return {
        ...base,
        exe: "/usr/sbin/sshd",
        argv: ["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")],
      };
    case "node_exporter":
      return {
        ...base,
        exe: "prometheus-node-exporter",
        argv: ["prometheus-node-exporter", `--web.listen-address=:${sp.port}`],
      };
    case "prometheus":
      return {
        ...base,
        exe: "prometheus",
        argv: [
          "prometheus",
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
          `--web.listen-address=:${sp.port}`,
          "--web.enable-lifecycle",
          "--storage.tsdb.retention.time=2h",
        ],
      };
    case "wireguard":
      return null; // started with its interface by startWireguard
    case "postgres":
      return null; // started with its cluster by prepareBackups (backups.ts)
    case "named":
      return namedProcess(lab, hp.host, sp.service, sp.port);
    case "standin":
      return {
        ...base,
        exe: process.execPath,
        argv: responderArgv([
          sp.mode ?? "tcp",
          String(sp.port),
          "::",
          sp.httpPath ?? "/",
          String(sp.httpStatus ?? 200),
        ]),
      };
  }
}
