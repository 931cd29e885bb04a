/**
 * A stateful stand-in of the Proxmox VE API for tests: one HTTPS server per node on 127.0.0.1
 * (each its own port and its own self-signed certificate, made with the `openssl` CLI at start
 * into a temp directory), sharing one cluster state: nodes, VMs, storages, tasks and locks.
 *
 * Every request is checked against the facts file (`test/fixtures/proxmox-api.json`, see
 * pve-contract.ts): an endpoint it does not list is answered 501 and recorded in
 * `violations`; parameters that break the documented schema are answered 400 with
 * `{"errors": {param: message}, "data": null}` as Proxmox does. The stand-in checks its own
 * answers against the documented `returns` and records mismatches in `violations`: tests assert
 * it stays empty.
 *
 * Locks behave as on a cluster, with the real texts, time scaled down: a clone holds the
 * cluster-wide lock `storage-NAME` (PVE::Storage cfs_lock_storage) for its whole duration and a
 * second one waits `lockWaitMs` (Proxmox: 10 s) before its task fails with "cfs-lock
 * 'storage-NAME' error: got lock request timeout"; a config change waits `configLockWaitMs` for
 * a VM's flock (PVE::AbstractConfig lock_config) before HTTP 500 "can't lock file
 * '/var/lock/qemu-server/lock-VMID.conf' - got timeout"; a VM whose config has `lock: clone`
 * refuses changes with "VM is locked (clone)"; a stale `digest` gets "detected modified
 * configuration - file changed by other user? Try again.".
 */

import { execFileSync } from "node:child_process";
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { type FormData, Response } from "undici";
import { tempDir } from "./daemons.js";
import {
  type ApiFacts,
  checkParams,
  checkReturns,
  entryFor,
  loadFacts,
  type Matched,
  matchEndpoint,
} from "./pve-contract.js";

/** Options of {@link PveStandin.start}. */
export interface StandinOptions {
  /** Node names, one HTTPS endpoint each; default `["vega", "rigel", "altair"]`. */
  nodes?: string[];
  /** The one accepted API token; default `root@pam!keel=<random UUID>`. */
  token?: string;
  /** The API facts; default the facts file. */
  facts?: ApiFacts;
  /** How long a task of a type runs (milliseconds), e.g. `{ qmclone: 300 }`; others `defaultTaskMs`. */
  taskMs?: Record<string, number>;
  /** Default task duration; default 30 ms. */
  defaultTaskMs?: number;
  /** How long a cfs lock request waits (Proxmox: 10 s); default 200 ms. */
  lockWaitMs?: number;
  /** How long a config change waits for a VM's config flock (Proxmox: 10 s); default 100 ms. */
  configLockWaitMs?: number;
  /** The cluster's name; default `keel-test`. */
  clusterName?: string;
}

/** A VM as the stand-in keeps it. */
export interface StandinVm {
  vmid: number;
  node: string;
  /** The config, key → value as in /etc/pve/qemu-server/VMID.conf (`name`, `lock`, `template`, …). */
  config: Record<string, string>;
  status: "running" | "stopped";
  snapshots: Map<
    string,
    {
      description: string;
      snaptime: number;
      parent?: string;
      vmstate: boolean;
      config: Record<string, string>;
    }
  >;
  /** The current snapshot's parent. */
  parent?: string;
  /** Not made by Keel (a tag tests use to tell them apart). */
  unmanaged: boolean;
}

/** A storage and its volumes. */
export interface StandinStorage {
  name: string;
  type: "lvmthin" | "dir" | "rbd";
  content: string[];
  shared: boolean;
  /** volid → volume; non-shared storages' volumes belong to a node. */
  volumes: Map<
    string,
    {
      volid: string;
      node: string;
      content: string;
      format: string;
      size: number;
      vmid?: number;
      ctime: number;
    }
  >;
}

/** A task as the stand-in keeps it. */
export interface StandinTask {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  starttime: number;
  pid: number;
  pstart: number;
  status: "running" | "stopped";
  exitstatus?: string;
  log: string[];
  /** Settles when the task stops. */
  done: Promise<void>;
}

/** One request as the stand-in saw it. */
export interface SeenRequest {
  node: string;
  method: string;
  path: string;
  status: number;
}

interface NodeState {
  name: string;
  online: boolean;
  server: Server;
  port: number;
  fingerprint: string;
  key: string;
  cert: string;
  sockets: Set<Socket>;
  /** TCP connections accepted, requests or not. */
  connections: number;
}

/** An HTTP error answer: status, the status line's reason, per-parameter errors. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly errors?: Record<string, string>,
  ) {
    super(reason);
  }
}

/** A task failure: the task's exit status. */
class TaskFail extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

/** A mutex that a waiter gives up on after a while (a cfs lock, a flock). */
class TimedLock {
  #held = false;
  #waiters: (() => void)[] = [];
  get held(): boolean {
    return this.#held;
  }
  /** Resolves once held; rejects with `timeoutText` after `waitMs`. */
  acquire(waitMs: number, timeoutText: string): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== grant);
        reject(new TaskFail(timeoutText));
      }, waitMs);
      this.#waiters.push(grant);
    });
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
}

type Handler = (ctx: Ctx) => unknown | Promise<unknown>;

interface Ctx {
  node: string;
  vars: Record<string, string>;
  params: Map<string, string[]>;
  p: (name: string) => string | undefined;
  user: string;
  matched: Matched;
  form?: FormData;
}

/** Makes a self-signed EC certificate for `cn` with the openssl CLI; returns PEMs and fingerprint. */
function makeCertificate(dir: string, cn: string): { key: string; cert: string; fingerprint: string } {
  const keyFile = join(dir, `${cn}.key`);
  const certFile = join(dir, `${cn}.pem`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      `subjectAltName=DNS:${cn},IP:127.0.0.1`,
    ],
    { stdio: "ignore" },
  );
  const cert = readFileSync(certFile, "utf8");
  return { key: readFileSync(keyFile, "utf8"), cert, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/**
 * The stand-in. Start it with {@link PveStandin.start}, point a client at `endpoints` with
 * `fingerprints` and `token`, and `close()` it after the test.
 */
export class PveStandin {
  readonly token: string;
  readonly facts: ApiFacts;
  /** Contract problems: unknown endpoints, unimplemented ones, answers that break `returns`. */
  readonly violations: string[] = [];
  /** Every request answered, in order. */
  readonly requests: SeenRequest[] = [];
  readonly vms = new Map<number, StandinVm>();
  readonly storages = new Map<string, StandinStorage>();
  readonly tasks = new Map<string, StandinTask>();
  /** Whether the cluster is quorate (GET /cluster/status); changes need quorum. */
  quorate = true;
  /** The Ceph status, or undefined when Ceph is not installed. */
  ceph?: {
    health: "HEALTH_OK" | "HEALTH_WARN" | "HEALTH_ERR";
    checks: Record<string, { severity: string; message: string }>;
  };

  readonly #nodes = new Map<string, NodeState>();
  readonly #dir: string;
  readonly #opts: Required<Omit<StandinOptions, "facts" | "token" | "nodes">>;
  readonly #cfsLocks = new Map<string, TimedLock>();
  readonly #configLocks = new Map<number, TimedLock>();
  readonly #lockOnce = new Map<number, number>();
  readonly #failNext = new Map<string, { exitstatus: string; log: string[] }[]>();
  readonly #handlers = new Map<string, Handler>();
  #pid = 0x1000;

  private constructor(opts: StandinOptions) {
    this.token = opts.token ?? `root@pam!keel=${randomUUID()}`;
    this.facts = opts.facts ?? loadFacts();
    this.#dir = tempDir("pve-standin");
    this.#opts = {
      taskMs: opts.taskMs ?? {},
      defaultTaskMs: opts.defaultTaskMs ?? 30,
      lockWaitMs: opts.lockWaitMs ?? 200,
      configLockWaitMs: opts.configLockWaitMs ?? 100,
      clusterName: opts.clusterName ?? "keel-test",
    };
    for (const [name, type, content, shared] of [
      ["local", "dir", ["iso", "vztmpl", "backup", "import"], false],
      ["local-lvm", "lvmthin", ["images", "rootdir"], false],
      ["ceph-vm", "rbd", ["images", "rootdir"], true],
    ] as const) {
      this.storages.set(name, { name, type, content: [...content], shared, volumes: new Map() });
    }
    this.#routes();
  }

  /** Starts one HTTPS server per node. */
  static async start(opts: StandinOptions = {}): Promise<PveStandin> {
    const s = new PveStandin(opts);
    for (const name of opts.nodes ?? ["vega", "rigel", "altair"]) await s.#startNode(name);
    return s;
  }

  /** Node names, in order. */
  get nodes(): string[] {
    return [...this.#nodes.keys()];
  }

  /** The base URL of every node's endpoint (`https://127.0.0.1:PORT`), in node order. */
  get endpoints(): string[] {
    return this.nodes.map((n) => this.endpointOf(n));
  }

  /** The endpoint of one node. */
  endpointOf(node: string): string {
    return `https://127.0.0.1:${this.#node(node).port}`;
  }

  /** Endpoint → certificate SHA-256 fingerprint (upper-case hex with colons). */
  get fingerprints(): Record<string, string> {
    return Object.fromEntries(this.nodes.map((n) => [this.endpointOf(n), this.#node(n).fingerprint]));
  }

  /** How many TCP connections a node's endpoint accepted (whether a request followed or not). */
  connections(node: string): number {
    return this.#node(node).connections;
  }

  // ---- fault injection -------------------------------------------------------------------

  /**
   * The next task of `type` (e.g. `qmclone`) ends with `exitstatus` and `logLines` in its log.
   * An exit status `WARNINGS: n` still does the task's work; any other does none of it.
   */
  failNextTask(type: string, exitstatus: string, logLines: string[] = []): void {
    const list = this.#failNext.get(type) ?? [];
    list.push({ exitstatus, log: logLines });
    this.#failNext.set(type, list);
  }

  /** The next `times` (default 1) config changes of `vmid` find its config flock held and time out. */
  lockOnce(vmid: number, times = 1): void {
    this.#lockOnce.set(vmid, (this.#lockOnce.get(vmid) ?? 0) + times);
  }

  /** Takes a node down: its endpoint closes its connections and refuses new ones; others see it offline. */
  async nodeDown(name: string): Promise<void> {
    const n = this.#node(name);
    if (!n.online) return;
    n.online = false;
    await new Promise<void>((resolve) => {
      n.server.close(() => resolve());
      for (const s of n.sockets) s.destroy();
      n.server.closeAllConnections();
    });
  }

  /** Brings a node back on its port. */
  async nodeUp(name: string): Promise<void> {
    const n = this.#node(name);
    if (n.online) return;
    await new Promise<void>((resolve) => n.server.listen(n.port, "127.0.0.1", resolve));
    n.online = true;
  }

  /** Sets whether the cluster is quorate. */
  setQuorum(quorate: boolean): void {
    this.quorate = quorate;
  }

  /** Installs Ceph with this health (checks: name → severity and message), or removes it (undefined). */
  setCeph(
    health?: "HEALTH_OK" | "HEALTH_WARN" | "HEALTH_ERR",
    checks: Record<string, { severity?: string; message: string }> = {},
  ): void {
    this.ceph = health
      ? {
          health,
          checks: Object.fromEntries(
            Object.entries(checks).map(([k, c]) => [
              k,
              { severity: c.severity ?? health, message: c.message },
            ]),
          ),
        }
      : undefined;
  }

  /**
   * Adds a VM directly (a template to clone from, or a VM Keel did not make). Its disk `scsi0`
   * is a volume on `storage` (default local-lvm).
   */
  addVm(vm: {
    vmid: number;
    node: string;
    name: string;
    template?: boolean;
    status?: "running" | "stopped";
    storage?: string;
    config?: Record<string, string>;
    unmanaged?: boolean;
  }): StandinVm {
    this.#node(vm.node);
    if (this.vms.has(vm.vmid)) throw new Error(`VM ${vm.vmid} already exists`);
    const storage = vm.storage ?? "local-lvm";
    const disk = `${vm.template ? "base" : "vm"}-${vm.vmid}-disk-0`;
    this.#addVolume(storage, vm.node, `${storage}:${disk}`, "images", 8 * 2 ** 30, vm.vmid);
    const config: Record<string, string> = {
      name: vm.name,
      memory: "2048",
      cores: "2",
      ostype: "l26",
      scsihw: "virtio-scsi-single",
      scsi0: `${storage}:${disk},size=8G`,
      net0: `virtio=${this.#mac(vm.vmid)},bridge=vmbr0`,
      ...(vm.template ? { template: "1" } : {}),
      ...vm.config,
    };
    const v: StandinVm = {
      vmid: vm.vmid,
      node: vm.node,
      config,
      status: vm.template ? "stopped" : (vm.status ?? "stopped"),
      snapshots: new Map(),
      unmanaged: vm.unmanaged ?? false,
    };
    this.vms.set(vm.vmid, v);
    return v;
  }

  /** The digest of a VM's config: SHA-1 of its text, as PVE::QemuConfig answers `digest`. */
  digest(vmid: number): string {
    const vm = this.vms.get(vmid);
    if (!vm) throw new Error(`no VM ${vmid}`);
    return configDigest(vm.config);
  }

  /** Waits until no task is running. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.tasks.values()].filter((t) => t.status === "running");
      if (running.length === 0) return;
      await Promise.all(running.map((t) => t.done));
    }
  }

  /** Stops every server and removes the certificates. */
  async close(): Promise<void> {
    await this.idle();
    for (const n of this.nodes) await this.nodeDown(n);
    rmSync(this.#dir, { recursive: true, force: true });
  }

  // ---- servers ---------------------------------------------------------------------------

  #node(name: string): NodeState {
    const n = this.#nodes.get(name);
    if (!n) throw new Error(`the stand-in has no node "${name}"`);
    return n;
  }

  async #startNode(name: string): Promise<void> {
    const { key, cert, fingerprint } = makeCertificate(this.#dir, name);
    const server = createServer({ key, cert }, (req, res) => {
      void this.#serve(name, req, res);
    });
    const state: NodeState = {
      name,
      online: true,
      server,
      port: 0,
      fingerprint,
      key,
      cert,
      sockets: new Set(),
      connections: 0,
    };
    server.on("connection", (s: Socket) => {
      state.connections++;
      state.sockets.add(s);
      s.on("close", () => state.sockets.delete(s));
    });
    server.on("tlsClientError", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    state.port = (server.address() as AddressInfo).port;
    this.#nodes.set(name, state);
  }

  async #serve(node: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "https://standin");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const answer = (status: number, reason: string, payload: unknown) => {
      this.requests.push({ node, method, path: url.pathname, status });
      res.statusCode = status;
      res.statusMessage = reason.replace(/[\r\n]+/g, " ").trim();
      res.setHeader("content-type", "application/json;charset=UTF-8");
      res.end(JSON.stringify(payload));
    };
    try {
      const auth = req.headers.authorization ?? "";
      if (auth !== `PVEAPIToken=${this.token}`) {
        answer(401, auth.startsWith("PVEAPIToken=") ? "invalid token value!" : "No ticket", { data: null });
        return;
      }
      const user = this.token.slice(0, this.token.indexOf("="));
      if (!url.pathname.startsWith("/api2/json/")) throw new HttpError(501, `Unknown path ${url.pathname}`);
      const path = url.pathname.slice("/api2/json".length);
      const matched = matchEndpoint(this.facts, method, path);
      if (!matched) {
        this.violations.push(`request to an endpoint the API does not have: ${method} ${path}`);
        throw new HttpError(501, `Method '${method} ${path}' not implemented`);
      }
      const params = new Map<string, string[]>();
      const add = (k: string, v: string) => params.set(k, [...(params.get(k) ?? []), v]);
      for (const [k, v] of Object.entries(matched.vars)) add(k, v);
      let form: FormData | undefined;
      const ctype = req.headers["content-type"] ?? "";
      if (method === "GET" || method === "DELETE") {
        for (const [k, v] of url.searchParams) add(k, v);
      } else if (ctype.startsWith("multipart/form-data")) {
        form = await new Response(body, { headers: { "content-type": ctype } }).formData();
        for (const [k, v] of form) if (typeof v === "string") add(k, v);
      } else if (body.length > 0) {
        if (!ctype.startsWith("application/x-www-form-urlencoded"))
          throw new HttpError(415, `Unsupported content type '${ctype}'`);
        for (const [k, v] of new URLSearchParams(body.toString("utf8"))) add(k, v);
      }
      const errors = checkParams(matched.facts, params);
      // The upload's file part is named `filename` (a parameter), parsed by pveproxy into tmpfilename.
      if (form && errors.filename && form.get("filename") instanceof Blob) delete errors.filename;
      if (Object.keys(errors).length > 0) throw new HttpError(400, "Parameter verification failed.", errors);
      const handler = this.#handlers.get(matched.key);
      if (!handler) {
        this.violations.push(`the stand-in does not implement ${matched.key}`);
        throw new HttpError(501, `Method '${method} ${path}' not implemented`);
      }
      const p = (name: string) => params.get(name)?.[0];
      const data = await handler({ node, vars: matched.vars, params, p, user, matched, form });
      for (const v of checkReturns(matched.facts.returns, data ?? null)) {
        this.violations.push(`${matched.key} answered against its documented returns: ${v}`);
      }
      answer(200, "OK", { data: data ?? null });
    } catch (err) {
      if (err instanceof HttpError) {
        answer(err.status, err.reason, err.errors ? { errors: err.errors, data: null } : { data: null });
      } else {
        this.violations.push(`stand-in failure on ${method} ${url.pathname}: ${(err as Error).stack}`);
        answer(500, (err as Error).message, { data: null });
      }
    }
  }

  // ---- state helpers ---------------------------------------------------------------------

  #mac(vmid: number): string {
    const h = createHash("sha1").update(`${vmid}-${randomUUID()}`).digest("hex").toUpperCase();
    return `BC:24:11:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
  }

  #addVolume(
    storage: string,
    node: string,
    volid: string,
    content: string,
    size: number,
    vmid?: number,
  ): void {
    const st = this.storages.get(storage);
    if (!st) throw new HttpError(500, `storage '${storage}' does not exist`);
    st.volumes.set(volid, {
      volid,
      node,
      content,
      format: content === "iso" ? "iso" : "raw",
      size,
      ...(vmid !== undefined ? { vmid } : {}),
      ctime: Math.floor(Date.now() / 1000),
    });
  }

  /** The node a request names must be a cluster member, and online (pveproxy proxies to it). */
  #checkNode(name: string): NodeState {
    const n = this.#nodes.get(name);
    if (!n)
      throw new HttpError(
        500,
        `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`,
      );
    if (!n.online) throw new HttpError(595, "No route to host");
    return n;
  }

  /** A VM on `node`, as PVE::QemuConfig::load_config finds it. */
  #vmOn(node: string, vmid: string | number): StandinVm {
    this.#checkNode(node);
    const vm = this.vms.get(Number(vmid));
    if (!vm || vm.node !== node) {
      throw new HttpError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    }
    return vm;
  }

  #needQuorum(): void {
    if (!this.quorate) throw new HttpError(500, "cluster not ready - no quorum?");
  }

  /** A config change: quorum, the VM's flock (waiting `configLockWaitMs`), the config's `lock`, skiplock. */
  async #withConfigLock<T>(vm: StandinVm, skiplock: boolean, fn: () => T | Promise<T>): Promise<T> {
    this.#needQuorum();
    const text = `can't lock file '/var/lock/qemu-server/lock-${vm.vmid}.conf' - got timeout`;
    const left = this.#lockOnce.get(vm.vmid) ?? 0;
    if (left > 0) {
      this.#lockOnce.set(vm.vmid, left - 1);
      await sleep(this.#opts.configLockWaitMs);
      throw new HttpError(500, text);
    }
    let lock = this.#configLocks.get(vm.vmid);
    if (!lock) {
      lock = new TimedLock();
      this.#configLocks.set(vm.vmid, lock);
    }
    try {
      await lock.acquire(this.#opts.configLockWaitMs, text);
    } catch {
      throw new HttpError(500, text);
    }
    try {
      if (vm.config.lock && !skiplock) throw new HttpError(500, `VM is locked (${vm.config.lock})`);
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** Holds a VM's config flock for a task's work (as clone, snapshot and rollback workers do). */
  async #holdConfigLock(vmid: number, fn: () => Promise<void>): Promise<void> {
    let lock = this.#configLocks.get(vmid);
    if (!lock) {
      lock = new TimedLock();
      this.#configLocks.set(vmid, lock);
    }
    await lock.acquire(
      this.#opts.configLockWaitMs,
      `can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`,
    );
    try {
      await fn();
    } finally {
      lock.release();
    }
  }

  /**
   * Starts a worker task on `node` (PVE::RESTEnvironment::fork_worker): answers its UPID at
   * once; `work` runs while the status says running (it sleeps the task's duration itself). A thrown
   * {@link TaskFail}/Error ends it with that text as exit status (and runs `onFail`, the
   * worker's cleanup); a number returned is a count of warnings.
   */
  #task(
    node: string,
    type: string,
    id: string,
    user: string,
    work: (t: StandinTask) => Promise<unknown>,
    onFail?: () => void,
  ): string {
    const starttime = Math.floor(Date.now() / 1000);
    const pid = this.#pid++;
    const pstart = 0x100000 + pid;
    const upid = `UPID:${node}:${hex8(pid)}:${hex8(pstart)}:${hex8(starttime)}:${type}:${id}:${user}:`;
    const task: StandinTask = {
      upid,
      node,
      type,
      id,
      user,
      starttime,
      pid,
      pstart,
      status: "running",
      log: [],
      done: Promise.resolve(),
    };
    this.tasks.set(upid, task);
    const injected = this.#failNext.get(type)?.shift();
    const duration = this.#opts.taskMs[type] ?? this.#opts.defaultTaskMs;
    task.done = (async () => {
      let exitstatus = "OK";
      try {
        if (injected && !injected.exitstatus.startsWith("WARNINGS")) {
          await sleep(duration);
          task.log.push(...injected.log);
          throw new TaskFail(injected.exitstatus);
        }
        const warnings = await work(task);
        if (injected) {
          task.log.push(...injected.log);
          exitstatus = injected.exitstatus;
        } else if (typeof warnings === "number" && warnings > 0) {
          exitstatus = `WARNINGS: ${warnings}`;
        }
        task.log.push(exitstatus === "OK" ? "TASK OK" : `TASK ${exitstatus}`);
      } catch (err) {
        exitstatus = (err as Error).message;
        onFail?.();
        task.log.push(`TASK ERROR: ${exitstatus}`);
      }
      task.exitstatus = exitstatus;
      task.status = "stopped";
    })();
    return upid;
  }

  #duration(type: string): number {
    return this.#opts.taskMs[type] ?? this.#opts.defaultTaskMs;
  }

  #cfsLock(id: string): TimedLock {
    let l = this.#cfsLocks.get(id);
    if (!l) {
      l = new TimedLock();
      this.#cfsLocks.set(id, l);
    }
    return l;
  }

  /** Config values typed as the documented `returns` of GET config says (integers as numbers). */
  #typedConfig(matched: Matched, config: Record<string, string>): Record<string, unknown> {
    const props = matched.facts.returns?.properties ?? {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
      const t = entryFor(props, k)?.type;
      const type = Array.isArray(t) ? t[0] : t;
      out[k] = type === "integer" || type === "number" || type === "boolean" ? Number(v) : v;
    }
    return out;
  }

  #vmResource(vm: StandinVm) {
    return {
      id: `qemu/${vm.vmid}`,
      type: "qemu",
      vmid: vm.vmid,
      node: vm.node,
      name: vm.config.name ?? `VM ${vm.vmid}`,
      status: vm.status,
      template: vm.config.template === "1" ? 1 : 0,
      maxcpu: Number(vm.config.cores ?? 1),
      maxmem: Number(vm.config.memory ?? 512) * 2 ** 20,
      maxdisk: 8 * 2 ** 30,
      uptime: vm.status === "running" ? 60 : 0,
      ...(vm.config.lock ? { lock: vm.config.lock } : {}),
      ...(vm.config.tags ? { tags: vm.config.tags } : {}),
    };
  }

  /** The storage of a VM's first disk (`scsi0: local-lvm:vm-100-disk-0,size=8G`). */
  #diskStorage(config: Record<string, string>): string | undefined {
    for (const k of Object.keys(config).sort()) {
      if (/^(scsi|virtio|sata|ide)\d+$/.test(k) && !config[k]!.includes("media=cdrom")) {
        return config[k]!.split(":")[0];
      }
    }
    return undefined;
  }

  // ---- routes ----------------------------------------------------------------------------

  #on(key: string, h: Handler): void {
    this.#handlers.set(key, h);
  }

  #routes(): void {
    const bool = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);
    const Q = "/nodes/{node}/qemu/{vmid}";

    this.#on("GET /version", () => ({ version: "7.4-17", release: "7.4", repoid: "513c62be" }));

    this.#on("GET /cluster/status", () => [
      {
        type: "cluster",
        id: "cluster",
        name: this.#opts.clusterName,
        nodes: this.#nodes.size,
        quorate: this.quorate ? 1 : 0,
        version: this.#nodes.size + 2,
      },
      ...this.nodes.map((name, i) => ({
        type: "node",
        id: `node/${name}`,
        name,
        nodeid: i + 1,
        ip: "127.0.0.1",
        online: this.#node(name).online ? 1 : 0,
        local: 0,
        level: "",
      })),
    ]);

    this.#on("GET /cluster/resources", (c) => {
      const type = c.p("type");
      const out: Record<string, unknown>[] = [];
      if (!type || type === "node") {
        for (const n of this.nodes) {
          const online = this.#node(n).online;
          out.push({
            id: `node/${n}`,
            type: "node",
            node: n,
            status: online ? "online" : "offline",
            maxcpu: 16,
            maxmem: 64 * 2 ** 30,
            uptime: online ? 86400 : 0,
          });
        }
      }
      if (!type || type === "vm") for (const vm of this.vms.values()) out.push(this.#vmResource(vm));
      if (!type || type === "storage") {
        for (const n of this.nodes) {
          for (const st of this.storages.values()) {
            out.push({
              id: `storage/${n}/${st.name}`,
              type: "storage",
              node: n,
              storage: st.name,
              status: this.#node(n).online ? "available" : "unknown",
              plugintype: st.type,
              content: st.content.join(","),
              shared: st.shared ? 1 : 0,
              maxdisk: 2 ** 40,
              disk: 2 ** 38,
            });
          }
        }
      }
      return out;
    });

    this.#on("GET /cluster/ceph/status", () => {
      if (!this.ceph) throw new HttpError(500, "binary not installed: /usr/bin/ceph-mon");
      return {
        fsid: "9c5f2a1e-0d44-4f4a-9d8a-2b6a7d0c4e11",
        health: {
          status: this.ceph.health,
          checks: Object.fromEntries(
            Object.entries(this.ceph.checks).map(([k, c]) => [
              k,
              { severity: c.severity, summary: { message: c.message, count: 1 }, muted: false },
            ]),
          ),
          mutes: [],
        },
        quorum_names: this.nodes.filter((n) => this.#node(n).online),
      };
    });

    this.#on("GET /nodes", () =>
      this.nodes.map((n) => {
        const s = this.#node(n);
        return {
          node: n,
          id: `node/${n}`,
          type: "node",
          status: s.online ? "online" : "offline",
          ssl_fingerprint: s.fingerprint,
          ...(s.online
            ? { maxcpu: 16, maxmem: 64 * 2 ** 30, cpu: 0.05, mem: 8 * 2 ** 30, uptime: 86400 }
            : {}),
          level: "",
        };
      }),
    );

    this.#on("GET /nodes/{node}/qemu", (c) => {
      this.#checkNode(c.vars.node!);
      return [...this.vms.values()]
        .filter((vm) => vm.node === c.vars.node)
        .map((vm) => {
          const r = this.#vmResource(vm);
          return {
            vmid: r.vmid,
            name: r.name,
            status: r.status,
            cpus: r.maxcpu,
            maxmem: r.maxmem,
            maxdisk: r.maxdisk,
            uptime: r.uptime,
            ...(r.template ? { template: 1 } : {}),
            ...(vm.config.lock ? { lock: vm.config.lock } : {}),
          };
        });
    });

    this.#on("POST /nodes/{node}/qemu", (c) => {
      const node = c.vars.node!;
      this.#checkNode(node);
      this.#needQuorum();
      const vmid = Number(c.p("vmid"));
      if (this.vms.has(vmid))
        throw new HttpError(500, `VM ${vmid} already exists on node '${this.vms.get(vmid)!.node}'`);
      const config: Record<string, string> = { lock: "create" };
      for (const [k, [v]] of c.params) {
        if (["node", "vmid", "start", "storage", "unique", "pool", "force", "archive"].includes(k)) continue;
        config[k] = v!;
      }
      const vm: StandinVm = { vmid, node, config, status: "stopped", snapshots: new Map(), unmanaged: false };
      this.vms.set(vmid, vm);
      return this.#task(
        node,
        "qmcreate",
        String(vmid),
        c.user,
        async () => {
          await sleep(this.#duration("qmcreate"));
          delete vm.config.lock;
          if (bool(c.p("start"))) vm.status = "running";
        },
        () => this.vms.delete(vmid),
      );
    });

    this.#on(`DELETE ${Q}`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      return this.#withConfigLock(vm, bool(c.p("skiplock")), () => {
        if (vm.status === "running") throw new HttpError(500, `VM ${vm.vmid} is running - destroy failed`);
        return this.#task(vm.node, "qmdestroy", String(vm.vmid), c.user, async () => {
          await sleep(this.#duration("qmdestroy"));
          this.vms.delete(vm.vmid);
          for (const st of this.storages.values()) {
            for (const [id, vol] of st.volumes) if (vol.vmid === vm.vmid) st.volumes.delete(id);
          }
        });
      });
    });

    this.#on(`POST ${Q}/clone`, (c) => {
      const src = this.#vmOn(c.vars.node!, c.vars.vmid!);
      this.#needQuorum();
      const newid = Number(c.p("newid"));
      if (this.vms.has(newid)) {
        throw new HttpError(500, `unable to create VM ${newid}: config file already exists`);
      }
      const isTemplate = src.config.template === "1";
      const full = c.p("full") !== undefined ? bool(c.p("full")) : !isTemplate;
      if (!full && !isTemplate)
        throw new HttpError(500, "Linked clone feature is not supported for drive 'scsi0'");
      if (!full && c.p("storage"))
        throw new HttpError(500, "parameter 'storage' not allowed for linked clones");
      const target = c.p("target") ?? src.node;
      this.#checkNode(target);
      const storage = c.p("storage") ?? this.#diskStorage(src.config) ?? "local-lvm";
      if (!this.storages.has(storage)) throw new HttpError(500, `storage '${storage}' does not exist`);
      const config: Record<string, string> = {};
      let disk = 0;
      for (const [k, v] of Object.entries(src.config)) {
        if (k === "template" || k === "lock" || k === "parent") continue;
        if (/^(scsi|virtio|sata|ide)\d+$/.test(k) && !v.includes("media=cdrom")) {
          const name = `vm-${newid}-disk-${disk++}`;
          const size = /size=([^,]+)/.exec(v)?.[1] ?? "8G";
          const srcVol = v.split(",")[0]!;
          config[k] = full
            ? `${storage}:${name},size=${size}`
            : `${srcVol.split(":")[0]}:${srcVol.split(":")[1]}/${name},size=${size}`;
        } else if (/^net\d+$/.test(k)) {
          config[k] = v.replace(/=([0-9A-F]{2}:){5}[0-9A-F]{2}/i, `=${this.#mac(newid)}`);
        } else config[k] = v;
      }
      config.name = c.p("name") ?? `Copy-of-VM-${src.config.name ?? src.vmid}`;
      if (c.p("description") !== undefined) config.description = c.p("description")!;
      config.lock = "clone";
      const vm: StandinVm = {
        vmid: newid,
        node: target,
        config,
        status: "stopped",
        snapshots: new Map(),
        unmanaged: false,
      };
      this.vms.set(newid, vm);
      return this.#task(
        src.node,
        "qmclone",
        String(src.vmid),
        c.user,
        async (t) => {
          const lock = this.#cfsLock(`storage-${storage}`);
          t.log.push(
            `create ${full ? "full" : "linked"} clone of drive scsi0 (${src.config.scsi0?.split(",")[0]})`,
          );
          await lock.acquire(
            this.#opts.lockWaitMs,
            `clone failed: cfs-lock 'storage-${storage}' error: got lock request timeout`,
          );
          try {
            await sleep(this.#duration("qmclone"));
            for (const [k, v] of Object.entries(config)) {
              if (/^(scsi|virtio|sata|ide)\d+$/.test(k) && !v.includes("media=cdrom")) {
                this.#addVolume(storage, target, v.split(",")[0]!, "images", 8 * 2 ** 30, newid);
              }
            }
            delete vm.config.lock;
          } finally {
            lock.release();
          }
        },
        () => this.vms.delete(newid),
      );
    });

    this.#on(`GET ${Q}/config`, (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      return { ...this.#typedConfig(c.matched, vm.config), digest: configDigest(vm.config) };
    });

    const setConfig = (c: Ctx, vm: StandinVm) => {
      const digest = c.p("digest");
      if (digest !== undefined && digest !== configDigest(vm.config)) {
        throw new HttpError(500, "detected modified configuration - file changed by other user? Try again.");
      }
      for (const key of (c.p("delete") ?? "").split(/[,;\s]+/).filter(Boolean)) delete vm.config[key];
      for (const [k, [v]] of c.params) {
        if (
          ["node", "vmid", "digest", "delete", "skiplock", "revert", "background_delay", "force"].includes(k)
        )
          continue;
        vm.config[k] = v!;
      }
    };
    this.#on(`PUT ${Q}/config`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      await this.#withConfigLock(vm, bool(c.p("skiplock")), () => setConfig(c, vm));
      return null;
    });
    this.#on(`POST ${Q}/config`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      await this.#withConfigLock(vm, bool(c.p("skiplock")), () => setConfig(c, vm));
      return this.#task(vm.node, "qmconfig", String(vm.vmid), c.user, async () => {
        await sleep(this.#duration("qmconfig"));
      });
    });

    this.#on(`PUT ${Q}/resize`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const resize = () => {
        const disk = c.p("disk")!;
        const cur = vm.config[disk];
        if (!cur) throw new HttpError(500, `disk '${disk}' does not exist`);
        const gib = (s: string) =>
          Number.parseFloat(s) * ({ K: 2 ** -20, M: 2 ** -10, G: 1, T: 1024 }[s.slice(-1)] ?? 2 ** -30);
        const have = gib(/size=([^,]+)/.exec(cur)?.[1] ?? "0G");
        const arg = c.p("size")!;
        const want = arg.startsWith("+") ? have + gib(arg.slice(1)) : gib(arg);
        if (want < have) throw new HttpError(500, "shrinking disks is not supported");
        vm.config[disk] = cur.replace(/size=[^,]+/, `size=${want}G`);
      };
      const returnsTask = c.matched.facts.returns?.type === "string";
      await this.#withConfigLock(vm, bool(c.p("skiplock")), () => {
        const digest = c.p("digest");
        if (digest !== undefined && digest !== configDigest(vm.config)) {
          throw new HttpError(
            500,
            "detected modified configuration - file changed by other user? Try again.",
          );
        }
        if (!returnsTask) resize();
      });
      if (!returnsTask) return null;
      return this.#task(vm.node, "resize", String(vm.vmid), c.user, async () => {
        await sleep(this.#duration("resize"));
        resize();
      });
    });

    this.#on(`GET ${Q}/status/current`, (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const r = this.#vmResource(vm);
      return {
        vmid: vm.vmid,
        name: r.name,
        status: vm.status,
        qmpstatus: vm.status,
        cpus: r.maxcpu,
        maxmem: r.maxmem,
        maxdisk: r.maxdisk,
        uptime: r.uptime,
        ha: { managed: 0 },
        ...(r.template ? { template: 1 } : {}),
        ...(vm.config.lock ? { lock: vm.config.lock } : {}),
        ...(vm.config.tags ? { tags: vm.config.tags } : {}),
      };
    });

    const power = (action: "start" | "stop" | "shutdown" | "reboot", type: string) => {
      this.#on(`POST ${Q}/status/${action}`, (c) => {
        const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
        this.#needQuorum();
        if (vm.config.lock && !bool(c.p("skiplock")))
          throw new HttpError(500, `VM is locked (${vm.config.lock})`);
        return this.#task(vm.node, type, String(vm.vmid), c.user, async () => {
          await sleep(this.#duration(type));
          if (action === "start") {
            if (vm.config.template === "1") throw new TaskFail("you can't start a vm if it's a template");
            if (vm.status === "running") throw new TaskFail(`VM ${vm.vmid} already running`);
            vm.status = "running";
          } else if (action === "reboot") {
            if (vm.status !== "running") throw new TaskFail(`VM ${vm.vmid} not running`);
          } else {
            if (vm.status !== "running" && action === "shutdown")
              throw new TaskFail(`VM ${vm.vmid} not running`);
            vm.status = "stopped";
          }
        });
      });
    };
    power("start", "qmstart");
    power("stop", "qmstop");
    power("shutdown", "qmshutdown");
    power("reboot", "qmreboot");

    this.#on(`GET ${Q}/snapshot`, (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      return [
        ...[...vm.snapshots].map(([name, s]) => ({
          name,
          description: s.description,
          snaptime: s.snaptime,
          ...(s.parent ? { parent: s.parent } : {}),
          ...(s.vmstate ? { vmstate: 1 } : {}),
        })),
        {
          name: "current",
          description: "You are here!",
          running: vm.status === "running" ? 1 : 0,
          ...(vm.parent ? { parent: vm.parent } : {}),
        },
      ];
    });

    this.#on(`POST ${Q}/snapshot`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const name = c.p("snapname")!;
      await this.#withConfigLock(vm, false, () => {
        if (name === "current") throw new HttpError(500, "invalid snapshot name 'current'");
        if (vm.snapshots.has(name)) throw new HttpError(500, `snapshot name '${name}' already used`);
      });
      return this.#task(vm.node, "qmsnapshot", String(vm.vmid), c.user, async () => {
        await this.#holdConfigLock(vm.vmid, async () => {
          vm.config.lock = "snapshot";
          await sleep(this.#duration("qmsnapshot"));
          const { lock: _lock, ...config } = vm.config;
          vm.snapshots.set(name, {
            description: c.p("description") ?? "",
            snaptime: Math.floor(Date.now() / 1000),
            vmstate: bool(c.p("vmstate")),
            config,
            ...(vm.parent ? { parent: vm.parent } : {}),
          });
          vm.parent = name;
          delete vm.config.lock;
        });
      });
    });

    this.#on(`DELETE ${Q}/snapshot/{snapname}`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const name = c.vars.snapname!;
      await this.#withConfigLock(vm, false, () => {
        if (!vm.snapshots.has(name)) throw new HttpError(500, `snapshot '${name}' does not exist`);
      });
      return this.#task(vm.node, "qmdelsnapshot", String(vm.vmid), c.user, async () => {
        await sleep(this.#duration("qmdelsnapshot"));
        const gone = vm.snapshots.get(name);
        vm.snapshots.delete(name);
        for (const s of vm.snapshots.values()) if (s.parent === name) s.parent = gone?.parent;
        if (vm.parent === name) vm.parent = gone?.parent;
      });
    });

    this.#on(`POST ${Q}/snapshot/{snapname}/rollback`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const name = c.vars.snapname!;
      await this.#withConfigLock(vm, false, () => {
        if (!vm.snapshots.has(name)) throw new HttpError(500, `snapshot '${name}' does not exist`);
      });
      return this.#task(vm.node, "qmrollback", String(vm.vmid), c.user, async () => {
        await this.#holdConfigLock(vm.vmid, async () => {
          await sleep(this.#duration("qmrollback"));
          const snap = vm.snapshots.get(name)!;
          vm.config = { ...snap.config };
          vm.parent = name;
          vm.status = snap.vmstate || bool(c.p("start")) ? "running" : "stopped";
        });
      });
    });

    this.#on(`GET ${Q}/migrate`, (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const local = [...this.storages.values()].filter((s) => !s.shared).map((s) => s.name);
      const disks = Object.entries(vm.config).filter(
        ([k, v]) => /^(scsi|virtio|sata|ide)\d+$/.test(k) && local.includes(v.split(":")[0]!),
      );
      return {
        running: vm.status === "running" ? 1 : 0,
        allowed_nodes: this.nodes.filter((n) => n !== vm.node && this.#node(n).online),
        not_allowed_nodes: {},
        local_disks: disks.map(([k, v]) => ({
          volid: v.split(",")[0],
          drivename: k,
          size: 8 * 2 ** 30,
          is_unused: 0,
        })),
        local_resources: [],
      };
    });

    this.#on(`POST ${Q}/migrate`, async (c) => {
      const vm = this.#vmOn(c.vars.node!, c.vars.vmid!);
      const target = c.p("target")!;
      this.#checkNode(target);
      if (target === vm.node) throw new HttpError(500, `target is local node.`);
      if (vm.status === "running" && !bool(c.p("online")))
        throw new HttpError(500, `can't migrate running VM without --online`);
      await this.#withConfigLock(vm, false, () => {});
      return this.#task(vm.node, "qmigrate", String(vm.vmid), c.user, async () => {
        vm.config.lock = "migrate";
        await sleep(this.#duration("qmigrate"));
        vm.node = target;
        delete vm.config.lock;
      });
    });

    this.#on("POST /nodes/{node}/storage/{storage}/upload", async (c) => {
      const node = c.vars.node!;
      this.#checkNode(node);
      const st = this.storages.get(c.vars.storage!);
      if (!st) throw new HttpError(500, `storage '${c.vars.storage}' does not exist`);
      const content = c.p("content")!;
      if (!st.content.includes(content)) {
        throw new HttpError(500, `storage '${st.name}' does not support '${content}' content`);
      }
      const file = c.form?.get("filename");
      if (!(file instanceof Blob))
        throw new HttpError(400, "Parameter verification failed.", { filename: "no file uploaded" });
      const name = (file as unknown as { name: string }).name.replace(/[^-a-zA-Z0-9_.]/g, "_");
      const bytes = Buffer.from(await file.arrayBuffer());
      const algo = c.p("checksum-algorithm");
      const want = c.p("checksum");
      return this.#task(node, "imgcopy", "", c.user, async (t) => {
        await sleep(this.#duration("imgcopy"));
        t.log.push(`starting file import from: /var/tmp/pveupload-${randomUUID().slice(0, 8)}`);
        if (want && algo) {
          const got = createHash(algo).update(bytes).digest("hex");
          t.log.push(`calculating checksum...`);
          if (got !== want.toLowerCase())
            throw new TaskFail(`checksum mismatch: got '${got}' != expect '${want}'`);
          t.log.push("checksum verified");
        }
        this.#addVolume(st.name, node, `${st.name}:${content}/${name}`, content, bytes.length);
      });
    });

    this.#on("GET /nodes/{node}/storage", (c) => {
      this.#checkNode(c.vars.node!);
      const want = c.p("content");
      return [...this.storages.values()]
        .filter((st) => !want || want.split(",").some((w) => st.content.includes(w)))
        .filter((st) => !c.p("storage") || st.name === c.p("storage"))
        .map((st) => ({
          storage: st.name,
          type: st.type,
          content: st.content.join(","),
          active: 1,
          enabled: 1,
          shared: st.shared ? 1 : 0,
          total: 2 ** 40,
          used: 2 ** 38,
          avail: 2 ** 40 - 2 ** 38,
          used_fraction: 0.25,
        }));
    });

    this.#on("GET /access/permissions", () => ({
      "/": Object.fromEntries(
        [
          "Sys.Audit",
          "VM.Allocate",
          "VM.Clone",
          "VM.Config.Disk",
          "VM.PowerMgmt",
          "VM.Snapshot",
          "Datastore.AllocateSpace",
        ].map((p) => [p, 1]),
      ),
    }));

    this.#on("GET /nodes/{node}/storage/{storage}/content", (c) => {
      const node = c.vars.node!;
      this.#checkNode(node);
      const st = this.storages.get(c.vars.storage!);
      if (!st) throw new HttpError(500, `storage '${c.vars.storage}' does not exist`);
      const want = c.p("content");
      const vmid = c.p("vmid");
      return [...st.volumes.values()]
        .filter((v) => (st.shared || v.node === node) && (!want || v.content === want))
        .filter((v) => vmid === undefined || v.vmid === Number(vmid))
        .map((v) => ({
          volid: v.volid,
          content: v.content,
          format: v.format,
          size: v.size,
          ctime: v.ctime,
          ...(v.vmid !== undefined ? { vmid: v.vmid } : {}),
        }));
    });

    this.#on("DELETE /nodes/{node}/storage/{storage}/content/{volume}", (c) => {
      const node = c.vars.node!;
      this.#checkNode(node);
      const st = this.storages.get(c.vars.storage!);
      if (!st) throw new HttpError(500, `storage '${c.vars.storage}' does not exist`);
      const vol = c.vars.volume!;
      const volid = vol.includes(":") ? vol : `${st.name}:${vol}`;
      if (!st.volumes.has(volid)) throw new HttpError(500, `volume '${volid}' does not exist`);
      if (c.matched.facts.returns?.type === "string") {
        // pve-storage's DELETE …/content/{volume} forks its worker without an id
        // (fork_worker('imgdel', undef, …)): a volume ID's ':' could not stand in a UPID
        return this.#task(node, "imgdel", "", c.user, async () => {
          await sleep(this.#duration("imgdel"));
          st.volumes.delete(volid);
        });
      }
      st.volumes.delete(volid);
      return null;
    });

    const findTask = (c: Ctx): StandinTask => {
      this.#checkNode(c.vars.node!);
      const t = this.tasks.get(c.vars.upid!);
      if (!t || t.node !== c.vars.node)
        throw new HttpError(500, `unable to open file - No such file or directory`);
      return t;
    };
    this.#on("GET /nodes/{node}/tasks/{upid}/status", (c) => {
      const t = findTask(c);
      return {
        upid: t.upid,
        node: t.node,
        pid: t.pid,
        pstart: t.pstart,
        starttime: t.starttime,
        type: t.type,
        id: t.id,
        user: t.user,
        status: t.status,
        ...(t.exitstatus !== undefined ? { exitstatus: t.exitstatus } : {}),
      };
    });
    this.#on("GET /nodes/{node}/tasks/{upid}/log", (c) => {
      const t = findTask(c);
      const start = Number(c.p("start") ?? 0);
      const limit = Number(c.p("limit") ?? 50);
      return t.log.slice(start, start + limit).map((line, i) => ({ n: start + i + 1, t: line }));
    });
  }
}

/** SHA-1 of a config's text, `key: value` lines in key order (the form of a VMID.conf). */
export function configDigest(config: Record<string, string>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join("");
  return createHash("sha1").update(text).digest("hex");
}
