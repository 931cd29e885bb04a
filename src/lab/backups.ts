/**
 * The backups twin (plan in pgbackrest.ts): for each pgBackRest stanza, PostgreSQL 15 on the
 * primary and pgBackRest 2.45 on the primary, the repository and the rehearsal host, each with
 * pgBackRest's default paths. The lab binds its own files over those paths inside each host's
 * private mount namespace only (the machine's /etc, /var/lib, /var/log, /tmp are never written,
 * except that a missing mount point is created empty, recorded, and removed by `down`):
 *
 * - `/etc/pgbackrest.conf` (and `/etc/pgbackrest/pgbackrest.conf` when the machine has it),
 *   `/var/log/pgbackrest`, `/var/spool/pgbackrest`, `/tmp/pgbackrest` on every stanza host;
 * - `/var/lib/pgbackrest` (`repo1-path`) on the repository;
 * - `/var/run/postgresql` (socket) and the data directory's parent on the primary;
 * - `~USER/.ssh` (key, known_hosts pinning the lab's host keys, `StrictHostKeyChecking yes`) of
 *   each user pgBackRest logs in from;
 * - `/etc/hosts`: the machine's, plus `127.0.1.1 HOST`, so sudo resolves the host's own name;
 * - `/etc/shadow`, on a host where a user pgBackRest logs in as has a locked password (`!`, as
 *   Debian's `postgres`): a copy where it reads `*` (no password, not locked), since the lab's
 *   sshd runs with `UsePAM no` and would refuse a locked account even with a key (sshd(8)).
 *
 * `prepareBackups` makes the files and binds and starts PostgreSQL; once sshd runs everywhere,
 * `finishBackups` runs `stanza-create`, a first full backup and `check`.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { knownHostName } from "../verify/vantages/hostkeys.js";
import { spawnDaemon } from "./daemons.js";
import { homeOf } from "./network.js";
import {
  dataParent,
  PG_BIN,
  PG_SOCKET_DIR,
  PG_USER,
  PGBACKREST_PATHS,
  planBackups,
  postgresConf,
  type StanzaLabPlan,
} from "./pgbackrest.js";
import { LabError, must, mustAt, pidAlive, type RunResult, runAt, sleep } from "./run.js";
import { checkAbort, hostDir, hostPlace, type Lab, saveLab } from "./twin.js";

/** uid, gid and home directory of a local user (from /etc/passwd). */
export function userIds(user: string): { uid: number; gid: number; home: string } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  const f = line?.split(":");
  if (!f || f.length < 7)
    throw new LabError(
      `user ${user} does not exist on this machine; the backups twin runs pgbackrest as it (declare it in scripts/setup.sh, or leave the stanza's user out to run as the SSH user)`,
    );
  return { uid: Number(f[2]), gid: Number(f[3]), home: homeOf(user) ?? f[5] ?? "/" };
}

/** Command and arguments running `cmd` as `user` (setpriv(1)); unchanged for root. */
export function asUser(user: string, cmd: string, args: string[]): [string, string[]] {
  if (user === "root") return [cmd, args];
  const { uid, gid } = userIds(user);
  return ["setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--", cmd, ...args]];
}

/** Environment of a command run as `user`: its HOME and the C locale. */
export function userEnv(user: string): Record<string, string> {
  return { HOME: userIds(user).home, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" };
}

/** Runs `cmd` as `user` on a lab host (its namespaces); never throws on exit status. */
export function runAs(
  lab: Lab,
  host: string,
  user: string,
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<RunResult> {
  const [c, a] = asUser(user, cmd, args);
  return runAt(hostPlace(lab, host), c, a, { env: userEnv(user), timeoutMs });
}

/** One bind mount of the lab over a path inside a host's mount namespace. */
interface Bind {
  /** Lab file or directory. */
  src: string;
  /** Path inside the host. */
  dst: string;
  file: boolean;
}

/** Creates a lab directory owned by `user` with `mode`. */
function labDirFor(path: string, user: string, mode = 0o750): string {
  mkdirSync(path, { recursive: true });
  const { uid, gid } = userIds(user);
  chownSync(path, uid, gid);
  chmodSync(path, mode);
  return path;
}

/**
 * Makes each bind's mount point exist as the host sees it: inside an earlier bind's lab source
 * when it lies under that bind, else on the machine's filesystem (created empty and recorded in
 * the state, so `down` removes it), then binds it in the host's mount namespace.
 */
async function bindAll(lab: Lab, host: string, binds: Bind[]): Promise<void> {
  const done: Bind[] = [];
  lab.state.mountpoints ??= [];
  const created = lab.state.mountpoints;
  for (const b of binds) {
    const under = [...done].reverse().find((d) => !d.file && b.dst.startsWith(`${d.dst}/`));
    if (under) {
      const p = join(under.src, posix.relative(under.dst, b.dst));
      if (b.file) {
        if (!existsSync(p)) writeFileSync(p, "");
      } else mkdirSync(p, { recursive: true });
    } else if (!existsSync(b.dst)) {
      const missing: string[] = [];
      for (let p = b.file ? posix.dirname(b.dst) : b.dst; !existsSync(p); p = posix.dirname(p))
        missing.unshift(p);
      for (const p of missing) {
        mkdirSync(p);
        created.push(p);
      }
      if (b.file) {
        writeFileSync(b.dst, "");
        created.push(b.dst);
      }
      saveLab(lab);
    }
    await mustAt(hostPlace(lab, host), "mount", ["--bind", b.src, b.dst]);
    done.push(b);
  }
}

/** The lab directory bound over `~USER/.ssh` on `host` for the backups twin, created owned by USER. */
function sshDir(lab: Lab, host: string, user: string): string {
  return labDirFor(join(hostDir(lab, host), "pgbackrest", `ssh-${user}`), user, 0o700);
}

/** Makes the key pair of `user` on `host` (once); returns its public key line. */
async function clientKey(lab: Lab, host: string, user: string): Promise<string> {
  const key = join(sshDir(lab, host, user), "id_ed25519");
  if (!existsSync(key))
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${user}@${host}.lab`, "-f", key]);
  const { uid, gid } = userIds(user);
  chownSync(key, uid, gid);
  chownSync(`${key}.pub`, uid, gid);
  return readFileSync(`${key}.pub`, "utf8").trim();
}

/**
 * Fills `~USER/.ssh` of `user` on `host`: for a client of `p.hops`, known_hosts pinning each
 * target's lab host key and a config with `StrictHostKeyChecking yes` (ssh_config(5)); for a user
 * other than root that pgBackRest logs in as, authorized_keys with its clients' keys (the lab's
 * sshd reads it for such users, see `sshdConfig`). Public keys of clients logging in as root go to
 * the lab's authorized_keys.
 */
async function userSsh(lab: Lab, p: StanzaLabPlan, host: string, user: string): Promise<Bind> {
  const dir = sshDir(lab, host, user);
  const { uid, gid, home } = userIds(user);
  const add = (f: string, lines: string[], mode: number) => {
    const path = join(dir, f);
    const prev = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    writeFileSync(path, `${[...new Set([...prev, ...lines])].join("\n")}\n`);
    chownSync(path, uid, gid);
    chmodSync(path, mode);
  };
  const out = p.hops.filter((h) => h.host === host && h.user === user);
  if (out.length > 0) {
    await clientKey(lab, host, user);
    add(
      "known_hosts",
      out.map((h) => {
        const pub = readFileSync(join(hostDir(lab, h.to), "ssh_host_ed25519_key.pub"), "utf8").trim();
        return `${knownHostName(h.address, h.port)} ${pub.split(" ").slice(0, 2).join(" ")}`;
      }),
      0o644,
    );
    // ssh_config(5): never accept an unknown or changed host key, never prompt
    add("config", ["StrictHostKeyChecking yes", "BatchMode yes"], 0o600);
  }
  const inbound = p.hops.filter((h) => h.to === host && h.as === user);
  const keys = await Promise.all(inbound.map((h) => clientKey(lab, h.host, h.user)));
  if (keys.length > 0) {
    if (user === "root") {
      const ak = join(lab.dir, "authorized_keys");
      const have = readFileSync(ak, "utf8");
      const missing = keys.filter((k) => !have.includes(k));
      if (missing.length > 0) writeFileSync(ak, `${have}${missing.join("\n")}\n`);
    } else add("authorized_keys", keys, 0o600);
  }
  return { src: dir, dst: posix.join(home, ".ssh"), file: false };
}

/** A copy of /etc/shadow where each of `users` with a locked password (`!…`) has `*` instead. */
function unlockedShadow(lab: Lab, host: string, users: string[]): Bind | null {
  const lines = readFileSync("/etc/shadow", "utf8").split("\n");
  let changed = false;
  const out = lines.map((l) => {
    const f = l.split(":");
    if (f.length > 1 && users.includes(f[0]!) && f[1]!.startsWith("!")) {
      changed = true;
      f[1] = "*";
      return f.join(":");
    }
    return l;
  });
  if (!changed) return null;
  const path = join(hostDir(lab, host), "pgbackrest", "shadow");
  writeFileSync(path, out.join("\n"), { mode: 0o640 });
  return { src: path, dst: "/etc/shadow", file: true };
}

/** Every host's binds for one stanza (and the files they point to), primary first. */
async function stanzaBinds(lab: Lab, p: StanzaLabPlan): Promise<Map<string, Bind[]>> {
  const out = new Map<string, Bind[]>();
  for (const [host, conf] of Object.entries(p.configs)) {
    const base = join(hostDir(lab, host), "pgbackrest");
    mkdirSync(base, { recursive: true });
    // PostgreSQL runs pgbackrest (archive-push, archive-get) as postgres on the primary and on a
    // server started on a restore; elsewhere only the runner does
    const owner =
      host === p.primary.host || host === p.rehearsal?.host ? PG_USER : (p.runners[host] ?? "root");
    const confFile = join(base, "pgbackrest.conf");
    writeFileSync(confFile, conf, { mode: 0o644 });
    const binds: Bind[] = [];
    if (host === p.primary.host) {
      const parent = labDirFor(join(base, "pgdata"), PG_USER, 0o700);
      binds.push({ src: parent, dst: dataParent(p.primary.data), file: false });
      binds.push({ src: labDirFor(join(base, "run"), PG_USER, 0o2775), dst: PG_SOCKET_DIR, file: false });
    }
    if (p.rehearsal?.host === host) {
      const scratch = labDirFor(join(base, "rehearsal"), "root", 0o1777);
      binds.push({ src: scratch, dst: dataParent(p.rehearsal.dir), file: false });
    }
    // the host resolves its own name (hostname(1) is the inventory name), as sudo(8) wants
    const hosts = join(base, "hosts");
    writeFileSync(hosts, `${readFileSync("/etc/hosts", "utf8").trimEnd()}\n127.0.1.1\t${host}\n`, {
      mode: 0o644,
    });
    binds.push({ src: hosts, dst: "/etc/hosts", file: true });
    binds.push({ src: confFile, dst: PGBACKREST_PATHS.config, file: true });
    if (existsSync(PGBACKREST_PATHS.configDir))
      binds.push({ src: confFile, dst: PGBACKREST_PATHS.configDir, file: true });
    if (host === p.repository)
      binds.push({
        src: labDirFor(join(base, "repo"), p.runners[host] ?? "root"),
        dst: PGBACKREST_PATHS.repo,
        file: false,
      });
    binds.push({ src: labDirFor(join(base, "log"), owner, 0o770), dst: PGBACKREST_PATHS.log, file: false });
    binds.push({
      src: labDirFor(join(base, "spool"), owner, 0o770),
      dst: PGBACKREST_PATHS.spool,
      file: false,
    });
    binds.push({ src: labDirFor(join(base, "lock"), owner, 0o770), dst: PGBACKREST_PATHS.lock, file: false });
    const logins = [...new Set(p.hops.filter((h) => h.to === host).map((h) => h.as))];
    const users = new Set([
      ...p.hops.filter((h) => h.host === host).map((h) => h.user),
      ...logins.filter((u) => u !== "root"),
    ]);
    for (const user of users) binds.push(await userSsh(lab, p, host, user));
    // root's inbound keys go to the lab's authorized_keys (no bind needed)
    if (logins.includes("root") && !users.has("root")) await userSsh(lab, p, host, "root");
    const shadow = unlockedShadow(lab, host, logins);
    if (shadow) binds.push(shadow);
    out.set(host, binds);
  }
  return out;
}

/** Throws a LabError naming a failed step of a stanza and the tool's output. */
function stepFailed(stanza: string, step: string, host: string, r: RunResult): never {
  const output = `${r.stdout.trim()}\n${r.stderr.trim()}`.trim();
  throw new LabError(
    `backups: stanza ${stanza}: ${step} on ${host} failed (exit ${r.code})${output ? `:\n${output}` : ""}`,
  );
}

/**
 * Writes each stanza's files, binds them inside its hosts, initialises the primary's cluster
 * (`initdb`, settings of `postgresConf`) and starts PostgreSQL 15 (recorded, stopped by `down`
 * with SIGINT: fast shutdown).
 * @throws LabError naming the stanza and step that failed, with the tool's output
 */
export async function prepareBackups(
  lab: Lab,
  log: (s: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  for (const p of planBackups(lab.inventory)) {
    checkAbort(signal);
    if (p.standbysLeftOut.length > 0)
      log(
        `stanza ${p.stanza}: the twin runs the primary only; standby ${p.standbysLeftOut.join(", ")} left out`,
      );
    for (const user of new Set(Object.values(p.runners))) userIds(user);
    const binds = await stanzaBinds(lab, p);
    for (const [host, b] of binds) await bindAll(lab, host, b);
    const { host, data, port } = p.primary;
    log(`stanza ${p.stanza}: PostgreSQL 15 on ${host} (${data}, port ${port})`);
    const init = await runAs(lab, host, PG_USER, join(PG_BIN, "initdb"), [
      "-D",
      data,
      "-U",
      PG_USER,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    if (init.code !== 0) stepFailed(p.stanza, "initdb", host, init);
    const conf = join(
      hostDir(lab, host),
      "pgbackrest",
      "pgdata",
      posix.relative(dataParent(data), data),
      "postgresql.conf",
    );
    writeFileSync(conf, readFileSync(conf, "utf8") + postgresConf(p));
    const hp = lab.plan.hosts.find((x) => x.host === host);
    const svc = hp?.services.find((s) => s.daemon === "postgres" && s.port === port);
    const [cmd, args] = asUser(PG_USER, join(PG_BIN, "postgres"), ["-D", data]);
    spawnDaemon(lab, {
      host,
      service: svc?.service ?? "postgres",
      daemon: "postgres",
      real: true,
      exe: "postgres",
      argv: [cmd, ...args],
      env: userEnv(PG_USER),
      log: join(hostDir(lab, host), `${svc?.service ?? "postgres"}.log`),
      port,
      protocol: "tcp",
      stopSignal: "SIGINT",
    });
  }
}

/** Runs `psql` as postgres on the primary through the default socket; the result of one query. */
export function psqlOnPrimary(lab: Lab, p: StanzaLabPlan, sql: string): Promise<RunResult> {
  return runAs(lab, p.primary.host, PG_USER, "psql", [
    "-X",
    "-h",
    PG_SOCKET_DIR,
    "-p",
    String(p.primary.port),
    "-U",
    PG_USER,
    "-d",
    "postgres",
    "-Atc",
    sql,
  ]);
}

/**
 * For each stanza, once sshd runs on every host: waits until PostgreSQL accepts queries, then
 * `pgbackrest stanza-create` and a first full backup on the repository, then `pgbackrest check`
 * on the primary and on the repository (WAL reaches the repository).
 * @throws LabError naming the stanza, the step and its output
 */
export async function finishBackups(
  lab: Lab,
  log: (s: string) => void,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  for (const p of planBackups(lab.inventory)) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      checkAbort(signal);
      const r = await psqlOnPrimary(lab, p, "select 1");
      if (r.code === 0 && r.stdout.trim() === "1") break;
      const rec = lab.state.processes.find((x) => x.host === p.primary.host && x.daemon === "postgres");
      if (rec && !pidAlive(rec.pid)) {
        const tail = existsSync(rec.log)
          ? readFileSync(rec.log, "utf8").trim().split("\n").slice(-5).join("\n")
          : "";
        throw new LabError(
          `backups: stanza ${p.stanza}: PostgreSQL on ${p.primary.host} exited:\n${tail || `see ${rec.log}`}`,
        );
      }
      if (Date.now() > deadline) stepFailed(p.stanza, "PostgreSQL accepting queries", p.primary.host, r);
      await sleep(200);
    }
    const repoUser = p.runners[p.repository] ?? "root";
    const steps: [string, string, string, string[]][] = [
      ["stanza-create", p.repository, repoUser, [`--stanza=${p.stanza}`, "stanza-create"]],
      ["full backup", p.repository, repoUser, [`--stanza=${p.stanza}`, "--type=full", "backup"]],
      ["check", p.primary.host, p.runners[p.primary.host] ?? "root", [`--stanza=${p.stanza}`, "check"]],
      ["check", p.repository, repoUser, [`--stanza=${p.stanza}`, "check"]],
    ];
    for (const [step, host, user, args] of steps) {
      checkAbort(signal);
      log(`stanza ${p.stanza}: pgbackrest ${args.slice(1).join(" ")} on ${host}`);
      const r = await runAs(lab, host, user, "pgbackrest", args, 300_000);
      if (r.code !== 0) stepFailed(p.stanza, `pgbackrest ${step}`, host, r);
    }
  }
}
