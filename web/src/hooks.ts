/** Small React hooks of the dashboard: hash routing, API loads, live batches, paged lists. */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { ApiError, api, type EngineEvent, type Page } from "./api.js";
import { live } from "./events.js";

/** A parsed hash route: `#/host/gpu?x=1` → `{ path: ["host", "gpu"], params }`. */
export interface Route {
  path: string[];
  params: URLSearchParams;
}

function readHash(): string {
  return window.location.hash;
}

function subscribeHash(cb: () => void): () => void {
  window.addEventListener("hashchange", cb);
  return () => window.removeEventListener("hashchange", cb);
}

/** Parses `#/a/b?c=d`; segments are URL-decoded. */
export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, "");
  const [p = "", q = ""] = h.split("?", 2);
  return { path: p.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

/** The current hash route; re-renders on `hashchange`. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribeHash, readHash);
  return parseRoute(hash);
}

/** `#/seg1/seg2`, each segment URL-encoded. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join("/")}`;
}

/** Result of {@link useApi}. */
export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  /** Loads again without clearing what is shown. */
  reload: () => void;
  /** Replaces the data locally (live patches). */
  set: (f: (old: T) => T) => void;
}

/** Loads `path` (null: nothing) and keeps the last answer while reloading. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  const current = useRef(path);
  current.current = path;
  const lastPath = useRef<string | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: tick forces a reload
  useEffect(() => {
    if (path === null) return;
    if (lastPath.current !== path) {
      setData(null);
      lastPath.current = path;
    }
    const ac = new AbortController();
    setLoading(true);
    api<T>(path, { signal: ac.signal })
      .then((d) => {
        if (current.current !== path) return;
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if ((e as Error).name === "AbortError") return;
        setError(e instanceof ApiError ? e : new ApiError(0, String(e)));
      })
      .finally(() => {
        if (!ac.signal.aborted) setLoading(false);
      });
    return () => ac.abort();
  }, [path, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const set = useCallback((f: (old: T) => T) => setData((d) => (d === null ? d : f(d))), []);
  return { data, error, loading, reload, set };
}

/** Calls `onBatch` with every batch of live events while mounted (latest closure). */
export function useLive(onBatch: (events: EngineEvent[]) => void): void {
  const ref = useRef(onBatch);
  ref.current = onBatch;
  useEffect(() => live.subscribe((b) => ref.current(b)), []);
}

/**
 * Calls `fn` at most once per `ms`: the first call runs after `ms`, later calls within that
 * window are merged into it. For refetching aggregates (counts) after live events.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

/** A server-side filtered, paged list fetched page by page as rows become visible. */
export interface PagedList<T> {
  total: number | null;
  error: ApiError | null;
  /** The row at `i`, or undefined while its page loads. */
  item: (i: number) => T | undefined;
  /** Makes sure rows `start..end` (exclusive) are loaded or loading. */
  ensure: (start: number, end: number) => void;
  /** Refetches the loaded pages (live updates) without clearing them. */
  refresh: () => void;
  /** Increments whenever rows change (for memoised renderers). */
  version: number;
}

/**
 * Pages of `base + query` (e.g. `api/hosts?q=gpu`), `pageSize` rows each, fetched with
 * `offset`/`limit` (docs/serve.md: server-side filtering and paging, max 1000 per page).
 * Changing `base` starts over.
 */
export function usePagedList<T>(base: string, pageSize = 200): PagedList<T> {
  const pages = useRef(new Map<number, T[]>());
  const inflight = useRef(new Set<number>());
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [version, setVersion] = useState(0);
  const generation = useRef(0);

  const load = useCallback(
    (page: number, gen: number) => {
      if (inflight.current.has(page)) return;
      inflight.current.add(page);
      const sep = base.includes("?") ? "&" : "?";
      api<Page<T>>(`${base}${sep}offset=${page * pageSize}&limit=${pageSize}`)
        .then((r) => {
          if (gen !== generation.current) return;
          pages.current.set(page, r.items);
          setTotal(r.total);
          setError(null);
          setVersion((v) => v + 1);
        })
        .catch((e: unknown) => {
          if (gen !== generation.current) return;
          setError(e instanceof ApiError ? e : new ApiError(0, String(e)));
        })
        .finally(() => {
          if (gen === generation.current) inflight.current.delete(page);
        });
    },
    [base, pageSize],
  );

  useEffect(() => {
    generation.current++;
    pages.current = new Map();
    inflight.current = new Set();
    setTotal(null);
    setVersion((v) => v + 1);
    load(0, generation.current);
  }, [load]);

  const ensure = useCallback(
    (start: number, end: number) => {
      // An empty range (the list before its first page arrived) needs no page: the reset
      // effect loads page 0, and asking here too would fetch it twice.
      if (end <= start) return;
      const first = Math.floor(start / pageSize);
      const last = Math.floor(Math.max(start, end - 1) / pageSize);
      for (let p = first; p <= last; p++) if (!pages.current.has(p)) load(p, generation.current);
    },
    [load, pageSize],
  );

  const refresh = useCallback(() => {
    for (const p of pages.current.keys()) load(p, generation.current);
  }, [load]);

  const item = useCallback(
    (i: number) => pages.current.get(Math.floor(i / pageSize))?.[i % pageSize],
    [pageSize],
  );

  return { total, error, item, ensure, refresh, version };
}
