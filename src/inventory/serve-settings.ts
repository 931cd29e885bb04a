/**
 * Defaults of the `serve:` and `alerts:` inventory sections (Keel extensions).
 *
 * Intervals follow Prometheus' habit of one scrape a minute, faster for the cheap
 * reachability probes; thresholds follow Nagios/Icinga (`max_check_attempts` 3) and Gatus
 * (`failure-threshold` 3, `success-threshold` 2).
 */

import { CHECK_KINDS, DEFAULT_KIND_INTERVAL_MS } from "./check-kinds.js";
import type { AlertSettings, CheckSchedule, Retention, ServeSettings } from "./model.js";

/** Default listen address of `keel serve`. */
export const DEFAULT_LISTEN = "127.0.0.1:8484";

/** The schedule every kind starts from: every 60 s, hard after 3 failures, recovered after 2 passes. */
export const DEFAULT_SCHEDULE: CheckSchedule = { intervalMs: 60_000, failAfter: 3, recoverAfter: 2 };

const DAY_MS = 86_400_000;

/** Default retention: 7 days raw, 1-hour buckets, nothing older than 365 days, 10,000 raw per check. */
export const DEFAULT_RETENTION: Retention = {
  rawMs: 7 * DAY_MS,
  bucketMs: 3_600_000,
  maxAgeMs: 365 * DAY_MS,
  perCheck: 10_000,
};

/** Default flapping detection: 6 or more state changes within the last 20 results. */
export const DEFAULT_FLAPPING = { window: 20, changes: 6 };

/**
 * Fills every check kind's schedule: the built-in default, then the inventory's `default`,
 * then the kind's own defaults, then the inventory's entry for the kind.
 * @param declared partial schedules by kind (or `default`) as written in `serve.checks`.
 */
export function schedules(
  declared: Record<string, Partial<CheckSchedule>> = {},
): Record<string, CheckSchedule> {
  const base = { ...DEFAULT_SCHEDULE, ...declared.default };
  const out: Record<string, CheckSchedule> = { default: base };
  for (const kind of CHECK_KINDS) {
    const kindInterval = DEFAULT_KIND_INTERVAL_MS[kind];
    const own = declared[kind] ?? {};
    out[kind] = {
      ...base,
      ...(kindInterval !== undefined && declared.default?.intervalMs === undefined
        ? { intervalMs: kindInterval }
        : {}),
      ...own,
    };
  }
  return out;
}

/** `serve:` when the inventory has none. */
export function defaultServeSettings(): ServeSettings {
  return {
    listen: DEFAULT_LISTEN,
    checks: schedules(),
    flapping: { ...DEFAULT_FLAPPING },
    retention: { ...DEFAULT_RETENTION },
    tokens: [],
  };
}

/** `alerts:` when the inventory has none. */
export function defaultAlertSettings(): AlertSettings {
  return { alertmanagers: [], webhooks: [] };
}
