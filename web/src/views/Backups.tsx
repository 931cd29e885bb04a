/**
 * Backups: per pgBackRest stanza and WAL-G backup of the inventory (`GET /api/backups`), whether
 * its objectives are met (with the reason), its newest backups by type and their age, the WAL
 * archive's lag, backlog and space, the last restore rehearsal and its duration, and the checks
 * it is made of. Facts not yet observed are shown as such, never as met. Live results of backup
 * checks refetch it at most every 3 s.
 */
import type { ReactNode } from "react";
import type { BackupView } from "../../../src/serve/backups.js";
import { age, bytes, objectiveBadge } from "../backups.js";
import { CheckLink, StatusBadge } from "../components.js";
import { useApi, useLive, useThrottled } from "../hooks.js";

/** `GET /api/backups`. */
interface BackupsAnswer {
  at: string;
  items: BackupView[];
}

/** An ISO instant as UTC text, to the second; `—` for null. */
function instant(iso: string | null): string {
  return iso ? `${iso.slice(0, 19).replace("T", " ")} UTC` : "—";
}

/** Seconds since an ISO instant, or null. */
function ageOf(iso: string | null): number | null {
  return iso ? (Date.now() - Date.parse(iso)) / 1000 : null;
}

function Objectives({ b }: { b: BackupView }): ReactNode {
  return (
    <table data-testid="objectives">
      <tbody>
        {(["backup", "wal"] as const).map((k) => {
          const o = b.objectives[k];
          const badge = objectiveBadge(o);
          return (
            <tr key={k} data-testid={`objective-${k}`} data-met={badge.met}>
              <th>{k === "backup" ? "backup objective" : "WAL objective"}</th>
              <td>{age(o.objectiveSec)}</td>
              <td>
                <span className={`badge ${badge.cls}`}>{badge.text}</span>
              </td>
              <td data-testid="reason">{o.reason}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function NewestBackups({ b }: { b: BackupView }): ReactNode {
  const set = b.backups;
  if (set.observedAt === null) return <p className="muted">Backups: not yet observed.</p>;
  return (
    <table data-testid="newest">
      <thead>
        <tr>
          <th>type</th>
          <th>schedule</th>
          <th>newest</th>
          <th>finished</th>
          <th>age</th>
        </tr>
      </thead>
      <tbody>
        {set.types.map((t) => (
          <tr key={t.type} data-testid={`newest-${t.type}`}>
            <td>{t.type}</td>
            <td className="muted">
              {t.scheduleSec === null ? "not scheduled" : `every ${age(t.scheduleSec)}`}
            </td>
            <td className="mono">{t.newest?.label ?? "none"}</td>
            <td>{instant(t.newest?.finished ?? null)}</td>
            <td data-testid="age">{age(t.newest?.ageSec)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td colSpan={5} className="muted">
            {set.count ?? "—"} backups in the repository, seen {instant(set.observedAt)}
            {set.running ? (
              <span data-testid="backup-running">
                ; a backup is running{set.running.forSec !== null ? ` for ${age(set.running.forSec)}` : ""}
              </span>
            ) : null}
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

function Wal({ b }: { b: BackupView }): ReactNode {
  const w = b.wal;
  if (w.observedAt === null) return <p className="muted">WAL archive on {w.host}: not yet observed.</p>;
  const freePct =
    w.freeBytes !== null && w.filesystemBytes
      ? ` (${((100 * w.freeBytes) / w.filesystemBytes).toFixed(0)}% free)`
      : "";
  return (
    <div className="kv" data-testid="wal">
      <span className="muted">archive lag</span>
      <span data-testid="wal-lag">
        {w.lagSec === null
          ? "nothing archived"
          : `${age(w.lagSec)} since ${w.lastArchivedWal ?? "the last segment"}`}
        {w.failing ? (
          <span
            className="badge s-fail"
            data-testid="wal-failing"
            title={`last failure ${instant(w.lastFailed)}`}
          >
            archiving failing: {w.lastFailedWal ?? "a segment"} failed {age(ageOf(w.lastFailed))} ago
          </span>
        ) : null}
      </span>
      <span className="muted">backlog</span>
      <span data-testid="wal-backlog">
        {w.ready === null
          ? "—"
          : w.ready === 0
            ? "none waiting"
            : `${w.ready} segments waiting, oldest ${age(w.oldestReadyAgeSec)}`}
      </span>
      <span className="muted">pg_wal on {w.host}</span>
      <span data-testid="wal-space">
        {bytes(w.walBytes)}, {bytes(w.freeBytes)} free of {bytes(w.filesystemBytes)}
        {freePct}
      </span>
    </div>
  );
}

function RehearsalPanel({ b }: { b: BackupView }): ReactNode {
  const r = b.rehearsal;
  if (!r) return <p className="muted">No restore rehearsal is declared.</p>;
  if (r.at === null)
    return (
      <p className="muted" data-testid="rehearsal">
        Restore rehearsal on {r.host} every {age(r.intervalSec)}: none yet.
      </p>
    );
  return (
    <div className="kv" data-testid="rehearsal">
      <span className="muted">last rehearsal</span>
      <span>
        <StatusBadge status={r.status} /> {instant(r.at)} on {r.host}
        {r.overdue ? (
          <span className="badge s-fail" title={`older than twice the interval (${age(r.intervalSec)})`}>
            overdue
          </span>
        ) : null}
      </span>
      <span className="muted">restored</span>
      <span className="mono">{r.set ?? "—"}</span>
      <span className="muted">recovered to</span>
      <span>{instant(r.pointInTime)}</span>
      <span className="muted">recovery time</span>
      <span data-testid="rehearsal-duration">{age(r.durationSec)}</span>
      {r.status !== "pass" ? (
        <>
          <span className="muted">failed</span>
          <span className="error">
            {r.step ? `at ${r.step}: ` : ""}
            {r.message}
          </span>
        </>
      ) : null}
    </div>
  );
}

function BackupCard({ b }: { b: BackupView }): ReactNode {
  const hosts = [
    `primary ${b.hosts.primary}`,
    ...(b.hosts.repository ? [`repository ${b.hosts.repository}`] : []),
    ...(b.hosts.rehearsal ? [`rehearsal ${b.hosts.rehearsal}`] : []),
  ];
  return (
    <section data-testid={`backup-${b.tool}-${b.name}`}>
      <h2>
        {b.name} <span className="muted">{b.tool === "pgbackrest" ? "pgBackRest stanza" : "WAL-G"}</span>{" "}
        <span className="muted">{hosts.join(", ")}</span>
      </h2>
      <Objectives b={b} />
      <h3>Newest backups</h3>
      <NewestBackups b={b} />
      <h3>WAL archive</h3>
      <Wal b={b} />
      <h3>Restore rehearsal</h3>
      <RehearsalPanel b={b} />
      <h3>Checks</h3>
      <table data-testid="backup-checks">
        <tbody>
          {b.checks.map((c) => (
            <tr key={c.id}>
              <td>
                <StatusBadge status={c.status} />
              </td>
              <td>{c.served ? <CheckLink id={c.id} /> : <span className="mono">{c.id}</span>}</td>
              <td>{c.status === null ? (c.served ? "no result yet" : c.message) : c.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Backups(): ReactNode {
  const d = useApi<BackupsAnswer>("api/backups");
  const refresh = useThrottled(d.reload, 3000);
  useLive((events) => {
    if (events.some((e) => e.type === "reload" || e.state.kind.startsWith("backup."))) refresh();
  });
  if (d.error) return <p className="error">backups: {d.error.message}</p>;
  if (!d.data) return <p className="muted">loading…</p>;
  const items = d.data.items;
  const missed = items.filter(
    (b) => b.objectives.backup.met === false || b.objectives.wal.met === false,
  ).length;
  return (
    <div data-testid="backups-page">
      <h1>
        Backups{" "}
        <span className="muted">
          {items.length} declared{missed > 0 ? `, ${missed} missing an objective` : ""}
        </span>
      </h1>
      {items.length === 0 ? (
        <p className="muted">The inventory declares no backups (see backups: in docs/inventory.md).</p>
      ) : (
        items.map((b) => <BackupCard key={`${b.tool}/${b.name}`} b={b} />)
      )}
    </div>
  );
}
