/**
 * Report renderers: the terminal summary (failures first), live progress, and JUnit XML (the
 * de-facto schema read by CI systems: `testsuites > testsuite > testcase` with `failure`,
 * `error` and `skipped` children, as produced by Maven Surefire and read by Jenkins/GitLab).
 */
import pc from "picocolors";
import type { CheckResult, CheckStatus, Report } from "./types.js";

const ORDER: Record<CheckStatus, number> = { fail: 0, error: 1, skip: 2, pass: 3 };

function label(status: CheckStatus, color: boolean): string {
  const text = status.toUpperCase().padEnd(5);
  if (!color) return text;
  switch (status) {
    case "fail":
      return pc.red(pc.bold(text));
    case "error":
      return pc.magenta(pc.bold(text));
    case "skip":
      return pc.dim(text);
    default:
      return pc.green(text);
  }
}

/** Renders `observed` as `key=value` pairs on one line (arrays joined with commas). */
export function formatObserved(observed: Record<string, unknown> | undefined): string {
  if (!observed) return "";
  return Object.entries(observed)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}

export interface TextReportOptions {
  color: boolean;
  /** Also list passing and skipped checks (one line each). */
  verbose: boolean;
}

/**
 * The end-of-run summary: failing checks first (fail, then error), each with its message and
 * what was observed; then, when verbose, skipped and passing ones; then a one-line total.
 */
export function renderText(report: Report, opts: TextReportOptions): string {
  const lines: string[] = [];
  const sorted = [...report.checks].sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || a.id.localeCompare(b.id),
  );
  for (const r of sorted) {
    if (!opts.verbose && (r.status === "pass" || r.status === "skip")) continue;
    lines.push(`${label(r.status, opts.color)} ${r.id}`);
    if (r.status === "pass" && opts.verbose) continue;
    lines.push(`      ${r.message}`);
    const obs = formatObserved(r.observed);
    if (obs && r.status !== "skip")
      lines.push(`      ${opts.color ? pc.dim(`observed: ${obs}`) : `observed: ${obs}`}`);
  }
  const s = report.summary;
  const total = s.pass + s.fail + s.error + s.skip;
  if (lines.length > 0) lines.push("");
  const counts = `${s.pass} pass, ${s.fail} fail, ${s.error} error, ${s.skip} skip`;
  const verdict = s.fail + s.error === 0 ? "OK" : "FAILED";
  const head = `${verdict}: ${total} checks in ${(report.durationMs / 1000).toFixed(1)} s: ${counts}`;
  lines.push(opts.color ? (verdict === "OK" ? pc.green(head) : pc.red(head)) : head);
  return `${lines.join("\n")}\n`;
}

/** One live progress line, e.g. `[ 120/400 ] 3 fail, 1 error  gpu/listeners`. */
export function progressLine(
  done: number,
  total: number,
  bad: { fail: number; error: number },
  last: CheckResult,
) {
  const width = String(total).length;
  return `[ ${String(done).padStart(width)}/${total} ] ${bad.fail} fail, ${bad.error} error  ${last.id}`;
}

/**
 * JUnit XML of a report: one `testsuite` per host (name = host), one `testcase` per check
 * (classname = host, name = check id, time in seconds).
 */
export async function renderJUnit(report: Report): Promise<string> {
  // loaded on demand: xmlbuilder2 costs ~0.1 s of start-up that runs without --junit need not pay
  const { create } = await import("xmlbuilder2");
  const byHost = new Map<string, CheckResult[]>();
  for (const r of report.checks) {
    const list = byHost.get(r.host) ?? [];
    list.push(r);
    byHost.set(r.host, list);
  }
  const s = report.summary;
  const root = create({ version: "1.0", encoding: "UTF-8" }).ele("testsuites", {
    name: `keel verify ${report.inventory}`,
    tests: report.checks.length,
    failures: s.fail,
    errors: s.error,
    skipped: s.skip,
    time: (report.durationMs / 1000).toFixed(3),
    timestamp: report.startedAt,
  });
  for (const [host, checks] of byHost) {
    const count = (st: CheckStatus) => checks.filter((c) => c.status === st).length;
    const suite = root.ele("testsuite", {
      name: host,
      tests: checks.length,
      failures: count("fail"),
      errors: count("error"),
      skipped: count("skip"),
      timestamp: report.startedAt,
    });
    for (const c of checks) {
      const tc = suite.ele("testcase", {
        classname: host,
        name: c.id,
        time: (c.durationMs / 1000).toFixed(3),
      });
      const detail = [c.message, formatObserved(c.observed)].filter(Boolean).join("\n");
      if (c.status === "fail") tc.ele("failure", { message: c.message, type: c.kind }).txt(detail);
      else if (c.status === "error") tc.ele("error", { message: c.message, type: c.kind }).txt(detail);
      else if (c.status === "skip") tc.ele("skipped", { message: c.message });
    }
  }
  return root.end({ prettyPrint: true });
}
