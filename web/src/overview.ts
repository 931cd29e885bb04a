/**
 * The overview (`GET /api/overview`) shared by the top bar and the overview page, so a page
 * load asks for it once. Kept live: failing checks are patched from each batch of events at
 * once, and the whole overview (counts, problems) is refetched at most every REFRESH_MS while
 * events arrive.
 */
import { useEffect, useSyncExternalStore } from "react";
import { ApiError, api, type CheckState, type EngineEvent, type Overview } from "./api.js";
import { latestStates, live } from "./events.js";

const REFRESH_MS = 2000;

interface Snapshot {
  data: Overview | null;
  error: ApiError | null;
}

let snap: Snapshot = { data: null, error: null };
const subs = new Set<() => void>();
let inflight: Promise<void> | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;

function publish(next: Snapshot): void {
  snap = next;
  for (const s of subs) s();
}

/** Fetches the overview now (joins a fetch already under way). */
export function loadOverview(): Promise<void> {
  inflight ??= api<Overview>("api/overview")
    .then((data) => publish({ data, error: null }))
    .catch((e: unknown) =>
      publish({ ...snap, error: e instanceof ApiError ? e : new ApiError(0, String(e)) }),
    )
    .finally(() => {
      inflight = null;
    });
  return inflight;
}

/** Forgets the overview (another token may see another site). */
export function resetOverview(): void {
  publish({ data: null, error: null });
}

const ORDER: Record<string, number> = { hard: 0, soft: 1 };

/** Applies live states to the failing list: failing ones in (hard first), recovered ones out. */
export function patchFailing(failing: CheckState[], updates: Map<string, CheckState>): CheckState[] {
  if (updates.size === 0) return failing;
  const byId = new Map(failing.map((c) => [c.id, c]));
  let changed = false;
  for (const [id, s] of updates) {
    if (s.state === "hard" || s.state === "soft") {
      byId.set(id, s);
      changed = true;
    } else if (byId.delete(id)) changed = true;
  }
  if (!changed) return failing;
  return [...byId.values()].sort((a, b) => (ORDER[a.state] ?? 2) - (ORDER[b.state] ?? 2));
}

function onBatch(events: EngineEvent[]): void {
  if (events.length === 0) return;
  if (snap.data) {
    const failing = patchFailing(snap.data.failing, latestStates(events));
    if (failing !== snap.data.failing) publish({ ...snap, data: { ...snap.data, failing } });
  }
  if (timer === null) {
    timer = setTimeout(() => {
      timer = null;
      void loadOverview();
    }, REFRESH_MS);
  }
}

let unsubscribeLive: (() => void) | null = null;

function subscribe(cb: () => void): () => void {
  subs.add(cb);
  unsubscribeLive ??= live.subscribe(onBatch);
  return () => {
    subs.delete(cb);
    if (subs.size === 0) {
      unsubscribeLive?.();
      unsubscribeLive = null;
    }
  };
}

/** The shared overview; loads it on first use. */
export function useOverview(): Snapshot & { reload: () => void } {
  const s = useSyncExternalStore(subscribe, () => snap);
  useEffect(() => {
    if (snap.data === null && inflight === null) void loadOverview();
  }, []);
  return { ...s, reload: () => void loadOverview() };
}
