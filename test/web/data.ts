/**
 * Data of the dashboard's fixture server (test/web/server.ts): a site as `keel serve` would
 * describe it through its API (docs/serve.md), without running checks.
 *
 * - {@link labSite}: the lab twin's checklist (test/lab/fixture.ts through the real
 *   `deriveChecks`), every check passing but one hard failure (gpu's node_exporter port open
 *   to lan-probe) and one soft failure, with 7 days of history.
 * - {@link bigSite}: 5,000 hosts × 10 checks = 50,000 checks for the first-render benchmark.
 *
 * Everything is deterministic (seeded by check id) so screenshots and numbers are comparable.
 */
import type { Problem } from "../../src/errors.js";
import type { Host, Inventory } from "../../src/inventory/model.js";
import type { CheckState, HardState } from "../../src/serve/types.js";
import { deriveChecks } from "../../src/verify/derive.js";
import type { CheckKind, CheckStatus } from "../../src/verify/types.js";
import { labInventory } from "../lab/fixture.js";

/** A host as `GET /api/hosts/:name` shows it (no secrets). */
export interface HostInfo {
  name: string;
  addresses: { network: string; address: string }[];
  tags: string[];
  services: { name: string; kind?: string; port: number; protocol: "tcp" | "udp"; allow: string[] }[];
}

/** One site's worth of API data. */
export interface SiteData {
  site: string;
  file: string;
  networks: { name: string; cidr: string }[];
  vantages: { name: string; type: "local" | "via"; networks: string[] }[];
  hosts: HostInfo[];
  /** Current states in derivation order. */
  states: CheckState[];
  problems: Problem[];
  /** Check interval used to generate history, in ms. */
  intervalMs: number;
}

/** 32-bit FNV-1a of a string: the seed of a check's generated history. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32 PRNG: deterministic floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function state(
  id: string,
  kind: CheckKind,
  host: string,
  service: string | undefined,
  vantage: string | undefined,
  status: CheckStatus,
  hard: HardState,
  now: number,
  message: string,
  observed?: Record<string, unknown>,
): CheckState {
  const r = rng(hash(id));
  return {
    id,
    kind,
    host,
    ...(service ? { service } : {}),
    ...(vantage ? { vantage } : {}),
    status,
    message,
    ...(observed ? { observed } : {}),
    durationMs: Math.round(2 + r() * 40),
    state: hard,
    consecutive: hard === "hard" ? 4 : hard === "soft" ? 1 : 120,
    since: new Date(now - (hard === "ok" ? 86_400_000 : hard === "hard" ? 900_000 : 30_000)).toISOString(),
    lastRunAt: new Date(now - Math.round(r() * 30_000)).toISOString(),
    nextRunAt: new Date(now + Math.round(r() * 30_000)).toISOString(),
    flapping: false,
  };
}

function hostInfo(h: Host): HostInfo {
  return {
    name: h.name,
    addresses: h.addresses.map((a) => ({ ...a })),
    tags: [...h.tags],
    services: h.services.map((s) => ({
      name: s.name,
      ...(s.kind ? { kind: s.kind } : {}),
      port: s.port,
      protocol: s.protocol,
      allow: [...s.allow],
    })),
  };
}

function siteOf(inv: Inventory): Omit<SiteData, "states" | "problems" | "intervalMs"> {
  return {
    site: inv.site,
    file: inv.file,
    networks: inv.networks.map((n) => ({ name: n.name, cidr: n.cidr })),
    vantages: inv.vantages.map((v) => ({ name: v.name, type: v.type, networks: [...v.networks] })),
    hosts: inv.hosts.map(hostInfo),
  };
}

/** The id of the check that fails hard in {@link labSite}. */
export const LAB_HARD = "gpu/port.closed/node_exporter@lan-probe";
/** The id of the check that fails soft in {@link labSite}. */
export const LAB_SOFT = "mon/http/grafana@admin";

/** The lab twin's checklist as a running `keel serve` would show it. */
export function labSite(now = Date.now()): SiteData {
  const inv = labInventory({ site: "lab-fixture", dir: "/srv/keel", octet: 32 });
  const states = deriveChecks(inv).map((s) => {
    const portState = s.kind === "port.closed" ? "refused" : s.kind === "port.open" ? "open" : undefined;
    if (s.skip) return state(s.id, s.kind, s.host, s.service, s.vantage, "skip", "skipped", now, s.skip);
    if (s.id === LAB_HARD)
      return state(
        s.id,
        s.kind,
        s.host,
        s.service,
        s.vantage,
        "fail",
        "hard",
        now,
        "10.32.0.10:9100/tcp is open; allow admits only mon, vpn",
        { state: "open" },
      );
    if (s.id === LAB_SOFT)
      return state(
        s.id,
        s.kind,
        s.host,
        s.service,
        s.vantage,
        "fail",
        "soft",
        now,
        "GET http://10.32.0.3:3000/api/health: 503; expected 200",
      );
    const vantage = s.id.includes("@") ? s.vantage : undefined;
    return state(
      s.id,
      s.kind,
      s.host,
      s.service,
      vantage,
      "pass",
      "ok",
      now,
      "ok",
      portState ? { state: portState } : undefined,
    );
  });
  return { ...siteOf(inv), states, problems: [], intervalMs: 60_000 };
}

const BIG_KINDS: [CheckKind, string | undefined, string | undefined][] = [
  ["reachable", undefined, "admin"],
  ["ssh.key-only", undefined, "admin"],
  ["port.open", "ssh", "admin"],
  ["port.open", "node_exporter", "admin"],
  ["port.open", "web", "admin"],
  ["port.open", "web", "lan-probe"],
  ["port.closed", "node_exporter", "lan-probe"],
  ["http", "web", "admin"],
  ["node_exporter", "node_exporter", "admin"],
  ["listeners", undefined, undefined],
];

/**
 * A large site: `hosts` hosts named `node-00001`…, each with ssh, node_exporter and web and
 * 10 checks (so 50,000 checks for 5,000 hosts); about 1 % of checks failing (hard or soft).
 */
export function bigSite(hosts = 5000, now = Date.now()): SiteData {
  const r = rng(42);
  const hostList: HostInfo[] = [];
  const states: CheckState[] = [];
  for (let i = 1; i <= hosts; i++) {
    const name = `node-${String(i).padStart(5, "0")}`;
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    hostList.push({
      name,
      addresses: [{ network: "lan", address }],
      tags: i % 7 === 0 ? ["monitored", "gpu"] : ["monitored"],
      services: [
        { name: "ssh", kind: "ssh", port: 22, protocol: "tcp", allow: ["lan", "vpn"] },
        { name: "node_exporter", kind: "node_exporter", port: 9100, protocol: "tcp", allow: ["mon", "vpn"] },
        { name: "web", kind: "http", port: 8080, protocol: "tcp", allow: ["lan", "vpn"] },
      ],
    });
    for (const [kind, service, vantage] of BIG_KINDS) {
      const id = `${name}/${kind}${service ? `/${service}` : ""}${vantage ? `@${vantage}` : ""}`;
      const x = r();
      const hard: HardState = x < 0.006 ? "hard" : x < 0.01 ? "soft" : "ok";
      const status: CheckStatus = hard === "ok" ? "pass" : "fail";
      const portState =
        kind === "port.open"
          ? status === "pass"
            ? "open"
            : "refused"
          : kind === "port.closed"
            ? status === "pass"
              ? "refused"
              : "open"
            : undefined;
      states.push(
        state(
          id,
          kind,
          name,
          service,
          vantage,
          status,
          hard,
          now,
          status === "pass" ? "ok" : `${kind} failed on ${name}`,
          portState ? { state: portState } : undefined,
        ),
      );
    }
  }
  return {
    site: "big",
    file: "/srv/keel/keel.yaml",
    networks: [{ name: "lan", cidr: "10.0.0.0/8" }],
    vantages: [
      { name: "admin", type: "local", networks: ["vpn"] },
      { name: "lan-probe", type: "via", networks: ["lan"] },
    ],
    hosts: hostList,
    states,
    problems: [],
    intervalMs: 30_000,
  };
}

/** A span of the generated history: consecutive results with the same status and message. */
export interface Span {
  at: string;
  until: string;
  status: CheckStatus;
  message: string;
  count: number;
  /** Mean, min and max duration in ms. */
  durationMs: number;
  minMs: number;
  maxMs: number;
}

/** A downsampled bucket of the generated history. */
export interface Bucket {
  start: string;
  end: string;
  pass: number;
  fail: number;
  error: number;
  avgMs: number;
  minMs: number;
  maxMs: number;
}

/** A status change of the generated history. */
export interface Change {
  checkId: string;
  at: string;
  from: CheckStatus | null;
  to: CheckStatus;
  message: string;
}

const HOUR = 3_600_000;

/**
 * A check's history up to `now`, in the shapes of the store (src/serve/schemas.ts): raw
 * results every `intervalMs` for the last 24 h merged into spans of the same status and
 * message, hourly buckets for the 6 days before, and the status changes. A check failing now
 * fails from `since` on; half of the others (by seed) had a short outage 5 h ago.
 */
export function historyOf(
  s: CheckState,
  intervalMs: number,
  now: number,
): { points: Span[]; buckets: Bucket[]; changes: Change[] } {
  const r = rng(hash(s.id) ^ 0x5bd1e995);
  const failingSince =
    s.state === "hard" || s.state === "soft" ? Date.parse(s.since ?? "") : Number.POSITIVE_INFINITY;
  const outage: [number, number] | null =
    r() < 0.5 ? [now - 5 * HOUR, now - 5 * HOUR + 4 * intervalMs] : null;
  const failedAt = (t: number) => t >= failingSince || (outage !== null && t >= outage[0] && t < outage[1]);
  const points: Span[] = [];
  const changes: Change[] = [];
  const first = now - 24 * HOUR;
  for (let t = first - ((first - now) % intervalMs); t <= now; t += intervalMs) {
    const fail = s.status !== "skip" && failedAt(t);
    const status: CheckStatus = s.status === "skip" ? "skip" : fail ? "fail" : "pass";
    const message = fail ? (t >= failingSince ? s.message : "connect timed out") : "ok";
    const ms = Math.round((fail ? 900 : 5) + r() * 30);
    const at = new Date(t).toISOString();
    const last = points[points.length - 1];
    if (last && last.status === status && last.message === message) {
      last.until = at;
      last.durationMs = (last.durationMs * last.count + ms) / (last.count + 1);
      last.count++;
      last.minMs = Math.min(last.minMs, ms);
      last.maxMs = Math.max(last.maxMs, ms);
      continue;
    }
    if (status !== "skip" && last?.status !== status)
      changes.push({
        checkId: s.id,
        at,
        from: (last?.status as CheckStatus | undefined) ?? null,
        to: status,
        message,
      });
    points.push({ at, until: at, status, message, count: 1, durationMs: ms, minMs: ms, maxMs: ms });
  }
  const buckets: Bucket[] = [];
  for (let t = now - 7 * 24 * HOUR; t < first; t += HOUR) {
    const n = Math.round(HOUR / intervalMs);
    const bad = r() < 0.02 ? Math.ceil(r() * n) : 0;
    buckets.push({
      start: new Date(t).toISOString(),
      end: new Date(t + HOUR).toISOString(),
      pass: n - bad,
      fail: bad,
      error: 0,
      avgMs: Math.round(5 + r() * 20),
      minMs: 3,
      maxMs: Math.round(30 + r() * 60),
    });
  }
  return { points, buckets, changes };
}
