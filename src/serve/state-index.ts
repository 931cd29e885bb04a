/**
 * Indexes the serve API keeps beside the engine so a request touches the hosts or checks it
 * answers with, not the whole site: check ids by host, and host summaries recomputed only for
 * hosts whose checks changed since they were last asked for.
 */
import type { Host, Inventory } from "../inventory/model.js";
import type { CheckState, Engine, EngineEvent, HardState } from "./types.js";

/** The latest statuses a check can have, `unknown` standing for "no result yet". */
export const STATUSES = ["pass", "fail", "error", "skip", "unknown"] as const;
/** Every state a check can be in. */
export const STATES: readonly HardState[] = ["ok", "soft", "hard", "unknown", "skipped"];
/** Worst first: the order a host's `worst` and the overview's failing list use. */
export const SEVERITY: Record<HardState, number> = { hard: 4, soft: 3, unknown: 2, ok: 1, skipped: 0 };

type StatusKey = (typeof STATUSES)[number];
/** Checks per latest status. */
export type Counts = Record<StatusKey, number>;

/** One host as `GET /api/hosts` lists it (plus the text `q` is matched against). */
export interface HostSummary {
  name: string;
  addresses: Host["addresses"];
  tags: string[];
  counts: Counts;
  worst: HardState;
  /** Lower-case text `q` is matched against: name, addresses, tags. */
  text: string;
}

/** Every status count at zero. */
export const zeroCounts = (): Counts => ({ pass: 0, fail: 0, error: 0, skip: 0, unknown: 0 });

/**
 * Indexes over the engine's states: check ids by host, and host summaries recomputed only for
 * hosts that had events since they were last computed. Rebuilt when the engine reloads (or
 * serves another inventory object). Subscribes to the engine until {@link close}.
 */
export class StateIndex {
  private inv: Inventory | undefined;
  private stale = true;
  private hostNames: string[] = [];
  private hosts = new Map<string, Host>();
  private idsByHost = new Map<string, string[]>();
  private summaries = new Map<string, HostSummary>();
  private dirty = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly engine: Engine) {
    this.unsubscribe = engine.subscribe((e) => this.onEvent(e));
  }

  private onEvent(e: EngineEvent): void {
    if (e.type === "reload") this.stale = true;
    else this.dirty.add(e.state.host);
  }

  /** Stops following the engine. */
  close(): void {
    this.unsubscribe();
  }

  private fresh(): void {
    const inv = this.engine.inventory();
    if (!this.stale && inv === this.inv) return;
    this.inv = inv;
    this.stale = false;
    this.hostNames = inv.hosts.map((h) => h.name);
    this.hosts = new Map(inv.hosts.map((h) => [h.name, h]));
    this.idsByHost = new Map(this.hostNames.map((n) => [n, []]));
    this.engine.forEachState((s) => {
      const ids = this.idsByHost.get(s.host);
      if (ids) ids.push(s.id);
      else this.idsByHost.set(s.host, [s.id]);
    });
    this.summaries.clear();
    this.dirty = new Set(this.hostNames);
  }

  /** The inventory the engine serves. */
  inventory(): Inventory {
    this.fresh();
    return this.inv!;
  }

  /** The host of that name in the served inventory, if any. */
  host(name: string): Host | undefined {
    this.fresh();
    return this.hosts.get(name);
  }

  /** The current states of a host's checks, in derivation order. */
  statesOf(host: string): CheckState[] {
    this.fresh();
    const out: CheckState[] = [];
    for (const id of this.idsByHost.get(host) ?? []) {
      const s = this.engine.state(id);
      if (s) out.push(s);
    }
    return out;
  }

  /** Summaries of every host in inventory order, each up to date. */
  summariesAll(): HostSummary[] {
    this.fresh();
    for (const name of this.dirty) {
      const h = this.hosts.get(name);
      if (h) this.summaries.set(name, this.summarise(h));
    }
    this.dirty.clear();
    return this.hostNames.map((n) => this.summaries.get(n)!);
  }

  private summarise(h: Host): HostSummary {
    const counts = zeroCounts();
    let worst: HardState | undefined;
    for (const s of this.statesOf(h.name)) {
      counts[s.status ?? "unknown"]++;
      if (worst === undefined || SEVERITY[s.state] > SEVERITY[worst]) worst = s.state;
    }
    return {
      name: h.name,
      addresses: h.addresses,
      tags: h.tags,
      counts,
      worst: worst ?? "unknown",
      text: [h.name, ...h.addresses.map((a) => a.address), ...h.tags].join("\n").toLowerCase(),
    };
  }
}
