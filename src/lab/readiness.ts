/**
 * Readiness of the lab: what listens in a namespace, HTTP from inside one, WireGuard
 * handshakes, and waiting until every daemon, Prometheus target and WireGuard peer is up.
 */
import { readFileSync } from "node:fs";
import { LabError, type Place, pidAlive, runAt, sleep } from "./run.js";
import { checkAbort, hostPlace, type Lab } from "./twin.js";

/** Listening sockets in a place, as `tcp:PORT` / `udp:PORT`. */
export async function listening(place: Place | null): Promise<Set<string>> {
  const out = new Set<string>();
  const r = await runAt(place, "ss", ["-Hlntu"]);
  for (const line of r.stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const local = cols[4] ?? "";
    out.add(`${cols[0]}:${local.slice(local.lastIndexOf(":") + 1)}`);
  }
  return out;
}

/** HTTP GET (or POST) from inside a place with curl; returns the body, or null on failure. */
export async function httpIn(place: Place | null, url: string, method = "GET"): Promise<string | null> {
  const r = await runAt(place, "curl", ["-sf", "-m", "2", "-X", method, url], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout : null;
}

/** WireGuard latest handshakes of an interface: public key → unix seconds (0 = never). */
export async function wgHandshakes(place: Place | null, ifname: string): Promise<Map<string, number>> {
  const r = await runAt(place, "wg", ["show", ifname, "latest-handshakes"]);
  const out = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    const [k, t] = line.trim().split(/\s+/);
    if (k && t) out.set(k, Number(t));
  }
  return out;
}

/** The last line of a daemon's log; for PostgreSQL, which ends with "shut down", its last FATAL line if any. */
function lastLogLine(file: string, daemon?: string): string {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n");
    const fatal = daemon === "postgres" ? lines.filter((l) => l.includes("FATAL:")).pop() : undefined;
    return fatal ?? lines[lines.length - 1] ?? "";
  } catch {
    return "";
  }
}

/** What is not ready yet, one phrase per item; empty when the whole lab is ready. */
async function notReady(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  for (const p of lab.state.processes) {
    if (p.fault || pidAlive(p.pid)) continue;
    out.push(
      `${p.host ?? "root"}/${p.service}: ${p.daemon} exited (${lastLogLine(p.log, p.daemon) || `see ${p.log}`})`,
    );
  }
  await Promise.all(
    lab.plan.hosts.map(async (hp) => {
      const place = hostPlace(lab, hp.host);
      const socks = await listening(place);
      for (const s of hp.services) {
        if (!socks.has(`${s.protocol}:${s.port}`)) {
          out.push(`${hp.host}/${s.service}: nothing listens on ${s.port}/${s.protocol}`);
        }
      }
      if (hp.named) {
        for (const proto of ["udp", "tcp"]) {
          if (!socks.has(`${proto}:${hp.named.port}`))
            out.push(`${hp.host}/named: nothing listens on ${hp.named.port}/${proto}`);
        }
      }
      const prom = lab.plan.prometheus[hp.host];
      if (prom && socks.has(`tcp:${prom.port}`)) {
        const base = `http://127.0.0.1:${prom.port}`;
        if ((await httpIn(place, `${base}/-/ready`)) === null) {
          out.push(`${hp.host}/prometheus: not ready`);
        } else {
          const body = await httpIn(place, `${base}/api/v1/targets?state=active`);
          const targets = body
            ? ((
                JSON.parse(body) as {
                  data: { activeTargets: { labels: { host?: string }; health: string }[] };
                }
              ).data.activeTargets ?? [])
            : [];
          for (const t of prom.targets) {
            const seen = targets.find((x) => x.labels.host === t.host);
            if (seen?.health !== "up")
              out.push(`${hp.host}/prometheus: target ${t.host} (${t.target}) not up`);
          }
        }
      }
    }),
  );
  for (const w of lab.state.wireguard) {
    const hs = await wgHandshakes(hostPlace(lab, w.gatewayHost), w.ifname);
    for (const p of w.peers) {
      if (!hs.get(p.publicKey)) out.push(`${w.gatewayHost}/${w.ifname}: no handshake with peer ${p.name}`);
    }
  }
  return out.sort();
}

/** Waits until {@link notReady} is empty; throws a LabError naming what did not come up. */
export async function waitReady(lab: Lab, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkAbort(signal);
    const pending = await notReady(lab);
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new LabError(
        `the lab did not come up within ${Math.round(timeoutMs / 1000)} s:\n  ${pending.join("\n  ")}`,
      );
    }
    await sleep(300);
  }
}
