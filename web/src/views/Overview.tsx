/**
 * Overview: counts, the inventory's validation errors, failing checks first (hard, then soft),
 * then every host (virtualised, filtered server-side). Live: see overview.ts.
 */
import { type ReactNode, useEffect, useRef } from "react";
import { CheckTable, ProblemList, RunButton } from "../components.js";
import { href } from "../hooks.js";
import { useOverview } from "../overview.js";
import { HostsPanel } from "./Hosts.js";

function Count({ label, n, tone, testId }: { label: string; n: number; tone?: string; testId: string }) {
  return (
    <div className={`count ${n > 0 ? (tone ?? "") : ""}`} data-testid={testId}>
      <b>{n.toLocaleString("en")}</b>
      {label}
    </div>
  );
}

export function Overview(): ReactNode {
  const ov = useOverview();

  const marked = useRef(false);
  useEffect(() => {
    if (ov.data && !marked.current) {
      marked.current = true;
      performance.mark("keel:overview");
    }
  }, [ov.data]);

  const d = ov.data;
  return (
    <>
      {ov.error ? <p className="error">overview: {ov.error.message}</p> : null}
      {d && d.problems.length > 0 ? (
        <div className="banner" data-testid="problems-banner">
          <b>The inventory on disk is invalid</b> ({d.problems.length} problem
          {d.problems.length === 1 ? "" : "s"}); serving the last valid one.{" "}
          <ProblemList problems={d.problems.slice(0, 5)} />
          <a href={href("problems")}>All problems</a>
        </div>
      ) : null}
      {d ? (
        <>
          <div className="counts" data-testid="counts">
            <Count label="checks" n={d.counts.checks} testId="count-checks" />
            <Count label="hard" n={d.counts.hard} tone="bad" testId="count-hard" />
            <Count label="soft" n={d.counts.soft} tone="warn" testId="count-soft" />
            <Count label="ok" n={d.counts.ok} tone="good" testId="count-ok" />
            <Count label="fail" n={d.counts.fail} tone="bad" testId="count-fail" />
            <Count label="error" n={d.counts.error} tone="bad" testId="count-error" />
            <Count label="pass" n={d.counts.pass} testId="count-pass" />
            <Count label="skip" n={d.counts.skip} testId="count-skip" />
            <Count label="unknown" n={d.counts.unknown} testId="count-unknown" />
            <Count label="flapping" n={d.counts.flapping} tone="warn" testId="count-flapping" />
            <Count label="suppressed" n={d.counts.suppressed} testId="count-suppressed" />
            <Count
              label={`of ${d.hosts.total.toLocaleString("en")} hosts failing`}
              n={d.hosts.failing}
              tone="bad"
              testId="count-hosts-failing"
            />
          </div>
          <div className="actions">
            <RunButton selector={{ all: true }} label="Run all checks now" onDone={ov.reload} />
          </div>
          <h2>
            Failing checks{" "}
            <span className="muted">
              ({d.failing.length}
              {d.counts.hard + d.counts.soft > d.failing.length
                ? ` of ${d.counts.hard + d.counts.soft}; `
                : "; "}
              <a href={`${href("checks")}?state=hard`}>all failing</a>)
            </span>
          </h2>
          {d.failing.length === 0 ? (
            <p className="muted" data-testid="no-failing">
              No failing checks.
            </p>
          ) : (
            <CheckTable checks={d.failing} testId="failing" />
          )}
        </>
      ) : ov.error ? null : (
        <p className="muted">loading…</p>
      )}
      <h2>Hosts</h2>
      <HostsPanel height={420} />
    </>
  );
}
