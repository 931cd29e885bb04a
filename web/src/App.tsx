/**
 * The dashboard shell: token gate, top bar (site, views, live status), hash routes:
 * `#/` overview, `#/hosts`, `#/host/NAME`, `#/checks`, `#/check/ID`, `#/backups`, `#/clusters`,
 * `#/problems`.
 */
import { type ReactNode, useEffect, useState, useSyncExternalStore } from "react";
import { forgetReason, getToken, onTokenChange, setToken } from "./api.js";
import { type LiveStatus, live } from "./events.js";
import { href, useLive, useRoute } from "./hooks.js";
import { resetOverview, useOverview } from "./overview.js";
import { Backups } from "./views/Backups.js";
import { Check } from "./views/Check.js";
import { Checks } from "./views/Checks.js";
import { Clusters } from "./views/Clusters.js";
import { Host } from "./views/Host.js";
import { Hosts } from "./views/Hosts.js";
import { Overview } from "./views/Overview.js";
import { Problems } from "./views/Problems.js";
import { TokenPrompt } from "./views/TokenPrompt.js";

function useToken(): string | null {
  return useSyncExternalStore(onTokenChange, getToken);
}

function useLiveStatus(): LiveStatus {
  return useSyncExternalStore(
    (cb) => live.onStatus(cb),
    () => live.status,
  );
}

function Page(): ReactNode {
  const route = useRoute();
  const [first = "", second = ""] = route.path;
  switch (first) {
    case "":
      return <Overview />;
    case "hosts":
      return <Hosts />;
    case "host":
      return <Host key={second} name={second} />;
    case "checks":
      return <Checks />;
    case "check":
      return <Check key={second} id={second} />;
    case "backups":
      return <Backups />;
    case "clusters":
      return <Clusters />;
    case "problems":
      return <Problems />;
    default:
      return <p className="error">No page {window.location.hash}.</p>;
  }
}

function TopBar(): ReactNode {
  const status = useLiveStatus();
  const ov = useOverview();
  const [events, setEvents] = useState(0);
  useLive((b) => {
    setEvents((n) => n + b.length);
  });
  const problems = ov.data?.problems.length ?? 0;
  return (
    <header className="top">
      <span className="site" data-testid="site">
        {ov.data ? ov.data.site : "keel"}
      </span>
      <nav>
        <a href={href()}>Overview</a>
        <a href={href("hosts")}>Hosts</a>
        <a href={href("checks")}>Checks</a>
        <a href={href("backups")} data-testid="nav-backups">
          Backups
        </a>
        <a href={href("clusters")} data-testid="nav-clusters">
          Clusters
        </a>
        <a href={href("problems")} className={problems > 0 ? "error" : ""}>
          Problems{problems > 0 ? ` (${problems})` : ""}
        </a>
      </nav>
      <span className="spacer" />
      <span className="muted" data-testid="live" data-status={status} title={`${events} events received`}>
        {status === "live" ? "● live" : status === "connecting" ? "○ connecting" : "○ disconnected"}
      </span>
      <button type="button" onClick={() => setToken(null)} data-testid="forget-token">
        Forget token
      </button>
    </header>
  );
}

export function App(): ReactNode {
  const token = useToken();
  useEffect(() => {
    resetOverview();
    if (token === null) {
      live.stop();
      return;
    }
    live.start();
    return () => live.stop();
  }, [token]);
  if (token === null) return <TokenPrompt reason={forgetReason()} />;
  return (
    <>
      <TopBar />
      <main>
        <Page />
      </main>
    </>
  );
}
