/**
 * Prometheus durations (`500ms`, `30s`, `5m`, `1h30m`, `7d`, `2w`, `1y`), as Prometheus parses
 * them (`prometheus/common/model.ParseDuration`): one or more `NUMBER UNIT` parts, units from
 * largest to smallest, each at most once; `y` is 365 days, `w` 7 days; a bare `0` is zero.
 */

/** Milliseconds per unit, largest first (the order parts must appear in). */
const UNITS: readonly [unit: string, ms: number][] = [
  ["y", 365 * 86_400_000],
  ["w", 7 * 86_400_000],
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/**
 * The syntax as a regular expression (also used as the JSON Schema `pattern` of durations, so
 * editors flag bad ones). Matches the empty string too: give the schema `minLength: 1`.
 */
export const DURATION_PATTERN =
  "^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$";

const PART = /(\d+)(ms|s|m|h|d|w|y)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** What a duration looks like, for error messages. */
export const DURATION_EXPECTED = "a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d";

/**
 * Parses a Prometheus duration into milliseconds.
 * @returns the duration in ms, or undefined when `text` is not a duration (empty, a bare
 *   number other than 0, an unknown unit, units out of order or repeated, a fraction, a sign)
 *   or is too large to be a safe integer.
 */
export function parseDuration(text: string): number | undefined {
  if (text === "" || !WHOLE.test(text)) return undefined;
  if (text === "0") return 0;
  let ms = 0;
  for (const m of text.matchAll(PART)) {
    const unit = UNITS.find(([u]) => u === m[2]);
    ms += Number(m[1]) * unit![1];
  }
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Formats milliseconds as the shortest Prometheus duration that parses back to it
 * (`90000` → `1m30s`, `0` → `0s`).
 * @throws RangeError for a negative or non-integer number.
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in ms: ${ms}`);
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
