/**
 * The store part of the serve benchmark (`bench/serve.ts`): the size of the results store after
 * a simulated day of `keel serve` on the benchmark site (`bench/serve-site.ts`).
 *
 * Every check of the site (the inventory's own derived checks, ids included) yields one result
 * per interval of its kind (`schedules()` of `src/inventory/serve-settings.ts`: 30 s for reachable,
 * port.open and http, 60 s for port.closed), at the engine's slot for it (phase = FNV-1a of the
 * id modulo the interval, as `src/serve/engine.ts`), for `hours` simulated hours. Every result
 * goes through the store's public write path, `saveResults(results, at)` with the simulated
 * time; results due in the same simulated second go in one call (the engine calls once per
 * result; the store aggregates per result either way). Retention is the default of serve
 * (`DEFAULT_RETENTION`), applied by the store's automatic passes every 10 minutes of result
 * time, as in serve, and once more at the end.
 *
 * Messages are made by the check kinds' own judges (`judgePortOpen`, `judgeHttp`, ...), so they
 * are the strings serve stores. What happens (seeded, so every run stores the same results):
 * - most checks pass all day, durations varying (0-6 ms, 10 s for a timeout);
 * - the site's built-in faults (`variety` of serve-site.ts): a port.open that fails all day
 *   (1 host in 100), an http check that flaps (503 for 40 % of results; 1 host in 100), a
 *   port.closed that fails all day (1 host in 250);
 * - 1 host in 100 is down once for 10-120 minutes (reachable fails, ports filtered, http
 *   times out);
 * - 1 check in 100 has 1-3 outages of its service of 2-60 minutes (refused, 503);
 * - any result is a timeout (`error`) with probability 1/10,000.
 */
import { rmSync, statSync } from "node:fs";
import { parseInventory } from "../src/inventory/load.js";
import { schedules } from "../src/inventory/serve-settings.js";
import { fnv1a } from "../src/serve/engine.js";
import { openStore } from "../src/store/index.js";
import type { RetentionReport, StoreStats } from "../src/store/types.js";
import { judgeHttp } from "../src/verify/checks/http.js";
import { judgePortClosed } from "../src/verify/checks/port-closed.js";
import { judgePortOpen } from "../src/verify/checks/port-open.js";
import { judgeReachable } from "../src/verify/checks/reachable.js";
import { deriveChecks } from "../src/verify/derive.js";
import type { CheckOutcome, CheckResult, CheckSpec } from "../src/verify/types.js";
import { siteYaml, variety } from "./serve-site.js";

/** Options of {@link simulateDay}. */
export interface DayOptions {
  /** Hosts of the site (10 checks each). */
  hosts: number;
  /** Simulated hours (24 for a day). */
  hours: number;
  /** Store spec: a SQLite file (removed first) or a PostgreSQL URL of an empty database. */
  spec: string;
  /** The store's `flushMs` (ms of result time); the store's default when absent. */
  flushMs?: number;
}

/** What {@link simulateDay} measured. */
export interface DayReport {
  checks: number;
  results: number;
  byStatus: { pass: number; fail: number; error: number };
  /** Wall time of the simulation, ms. */
  wallMs: number;
  /** `sizeBytes()` after the day (before `close()`). */
  sizeBytes: number;
  /** SQLite only: the database file and its -wal file after `close()`, bytes. */
  filesAfterClose?: { db: number; wal: number };
  stats: StoreStats;
  retention: RetentionReport;
}

/** A small seeded PRNG (mulberry32): the same simulated day on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOUR = 3_600_000;
const MIN = 60_000;
/** Start of the simulated day (fixed, so runs compare). */
const DAY_START = Date.UTC(2025, 0, 6, 0, 0, 0);
/** The engine's per-check timeout (the runner's default, never longer than the interval). */
const TIMEOUT_MS = 10_000;

type Window = [number, number];
type Mode = "up" | "down" | "hostDown" | "timeout";

interface Sim {
  spec: CheckSpec;
  result: CheckResult;
  intervalMs: number;
  phaseMs: number;
  /** Outages of the check's service and of its host, [start, end) epoch ms. */
  outages: Window[];
  hostOutage: Window | null;
  alwaysDown: boolean;
  flaky: boolean;
  /** Outcomes by mode, computed once (they do not depend on time). */
  outcomes: Partial<Record<Mode, CheckOutcome>>;
}

function outcome(spec: CheckSpec, mode: Mode): CheckOutcome {
  const p = spec.params;
  if (mode === "timeout")
    return { status: "error", message: `no answer within the ${TIMEOUT_MS} ms timeout` };
  switch (p.kind) {
    case "reachable":
      return mode === "hostDown"
        ? judgeReachable(p.address, {
            ping: false,
            ports: p.tcpPorts.map((port) => ({ port, state: "filtered" as const })),
          })
        : judgeReachable(p.address, { ping: true, ports: [] });
    case "port.open":
      return judgePortOpen(
        p.address,
        p.port,
        p.protocol,
        mode === "up" ? "open" : mode === "hostDown" ? "filtered" : "refused",
        spec.vantage,
      );
    case "port.closed":
      return judgePortClosed(
        p.address,
        p.port,
        p.protocol,
        mode === "down" ? "open" : mode === "hostDown" ? "filtered" : "refused",
        p.allowed,
      );
    case "http":
      if (mode === "hostDown") return outcome(spec, "timeout");
      return judgeHttp(
        p.url,
        p.expect,
        p.body,
        mode === "up"
          ? { status: 200, headers: {}, body: "ok\n" }
          : { status: 503, headers: {}, body: "unavailable\n" },
      );
    default:
      throw new Error(`the benchmark site has no ${p.kind} checks`);
  }
}

function inside(t: number, w: Window | null): boolean {
  return w !== null && t >= w[0] && t < w[1];
}

/** Builds the simulated checks of a site of `hosts` hosts. */
function build(hosts: number): Sim[] {
  const inv = parseInventory(siteYaml(hosts, "127.0.0.1:8484"), "bench.yaml");
  const sched = schedules();
  const rnd = prng(0x6b65656c);
  const hostOutages = new Map<string, Window>();
  inv.hosts.forEach((h, i) => {
    if (i % 100 !== 61) return; // 1 host in 100
    const start = DAY_START + Math.floor(rnd() * 22 * HOUR);
    hostOutages.set(h.name, [start, start + (10 + Math.floor(rnd() * 110)) * MIN]);
  });
  return deriveChecks(inv)
    .filter((s) => !s.skip)
    .map((spec) => {
      const i = Number(spec.host.slice(1));
      const intervalMs = sched[spec.kind]!.intervalMs;
      const outages: Window[] = [];
      if (spec.kind !== "reachable" && rnd() < 0.01) {
        for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
          const start = DAY_START + Math.floor(rnd() * 23 * HOUR);
          outages.push([start, start + (2 + Math.floor(rnd() * 58)) * MIN]);
        }
      }
      const result: CheckResult = {
        id: spec.id,
        kind: spec.kind,
        host: spec.host,
        status: "pass",
        message: "",
        durationMs: 0,
      };
      if (spec.service) result.service = spec.service;
      if (spec.vantage) result.vantage = spec.vantage;
      return {
        spec,
        result,
        intervalMs,
        phaseMs: fnv1a(spec.id) % intervalMs,
        outages,
        hostOutage: hostOutages.get(spec.host) ?? null,
        alwaysDown:
          (spec.service === "d" && spec.kind === "port.open" && variety.closedPort(i)) ||
          (spec.service === "admin" && variety.openAdmin(i)),
        flaky: spec.kind === "http" && spec.service === "api" && variety.flaky(i),
        outcomes: {},
      };
    });
}

/**
 * Feeds a simulated day (see the module doc) into a fresh store at `o.spec`.
 * @throws Error when the store cannot be opened or written.
 */
export async function simulateDay(o: DayOptions): Promise<DayReport> {
  const sims = build(o.hosts);
  const sqlite = !/^postgres(ql)?:\/\//i.test(o.spec);
  if (sqlite) for (const f of ["", "-wal", "-shm"]) rmSync(`${o.spec}${f}`, { force: true });
  const store = await openStore(o.spec, o.flushMs === undefined ? {} : { flushMs: o.flushMs });
  // Checks due in each second of their interval: slots[intervalMs][second] = sims.
  const slots = new Map<number, Sim[][]>();
  for (const s of sims) {
    let byInterval = slots.get(s.intervalMs);
    if (!byInterval) {
      byInterval = Array.from({ length: Math.ceil(s.intervalMs / 1000) }, () => []);
      slots.set(s.intervalMs, byInterval);
    }
    byInterval[Math.floor(s.phaseMs / 1000)]!.push(s);
  }
  const rnd = prng(0x64617973);
  const byStatus = { pass: 0, fail: 0, error: 0 };
  const batch: CheckResult[] = [];
  const t0 = performance.now();
  const end = DAY_START + o.hours * HOUR;
  let report: RetentionReport;
  try {
    for (let t = DAY_START; t < end; t += 1000) {
      batch.length = 0;
      const second = (t - DAY_START) / 1000;
      for (const byInterval of slots.values()) {
        for (const s of byInterval[second % byInterval.length]!) {
          let mode: Mode;
          if (inside(t, s.hostOutage)) mode = "hostDown";
          else if (rnd() < 1e-4) mode = "timeout";
          else if (s.alwaysDown || s.outages.some((w) => inside(t, w))) mode = "down";
          else if (s.flaky) mode = rnd() < 0.4 ? "down" : "up";
          else mode = "up";
          let out = s.outcomes[mode];
          if (out === undefined) {
            out = outcome(s.spec, mode);
            s.outcomes[mode] = out;
          }
          const r = s.result;
          r.status = out.status;
          r.message = out.message;
          r.durationMs = out.status === "error" ? Math.min(TIMEOUT_MS, s.intervalMs) : 0.1 + 6 * rnd() ** 3;
          byStatus[out.status as "pass" | "fail" | "error"]++;
          batch.push(r);
        }
      }
      if (batch.length > 0) await store.saveResults(batch, new Date(t));
    }
    report = await store.applyRetention(new Date(end));
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  const stats = await store.stats();
  const sizeBytes = await store.sizeBytes();
  await store.close();
  const wallMs = performance.now() - t0;
  const out: DayReport = {
    checks: sims.length,
    results: byStatus.pass + byStatus.fail + byStatus.error,
    byStatus,
    wallMs,
    sizeBytes,
    stats,
    retention: report,
  };
  if (sqlite) {
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    out.filesAfterClose = { db: size(o.spec), wal: size(`${o.spec}-wal`) };
  }
  return out;
}
