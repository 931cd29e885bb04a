/**
 * The built `keel serve` with real probes, a real Alertmanager and a real webhook receiver: a host
 * in a network namespace goes dark (nftables drops everything), its `reachable` check turns
 * hard and fires in Alertmanager and at the webhook, while its service checks (also failing)
 * are suppressed by it and raise nothing; when the host comes back, the alert is resolved.
 * Also: delivery failures are retried with backoff and never hold up the checks.
 *
 * Needs root (ip netns, nft), `npm run build` (dist/cli) and prometheus-alertmanager
 * (scripts/setup.sh installs it).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AlertDispatcher, type WebhookBody } from "../../src/serve/alerts/index.js";
import { sha256Hex } from "../../src/serve/auth.js";
import type { CheckState } from "../../src/serve/types.js";
import {
  type Alertmanager,
  eventually,
  startAlertmanager,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../helpers/alertmanager.js";
import { freePort, tempDir, waitForPort } from "../helpers/daemons.js";
import { createNetns, type Netns } from "../helpers/netns.js";
import { spawnServe } from "../helpers/serve.js";

// 10.250.230–249 (other tests use 10.250.10–212)
const subnet = 230 + (process.pid % 20);

let am: Alertmanager;
let hook: WebhookReceiver;
let ns: Netns;
let web: ChildProcess;
let webPort: number;
let dir: string;

before(async () => {
  [am, hook] = await Promise.all([startAlertmanager(), startWebhookReceiver()]);
  ns = createNetns("a", subnet);
  webPort = await freePort();
  web = spawn(
    "ip",
    ["netns", "exec", ns.name, "python3", "-m", "http.server", String(webPort), "--bind", ns.nsAddress],
    { stdio: "ignore" },
  );
  await waitForPort(ns.nsAddress, webPort);
  dir = tempDir("serve-alerts");
});

after(async () => {
  web?.kill("SIGTERM");
  ns?.destroy();
  await Promise.all([am?.stop(), hook?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const REACH = "web/reachable@probe";
const API = "web/port.open/api@probe";
const HTTP = "web/http/api@probe";
const VIEWER = `alerts-view-${process.pid}-${Date.now()}`;

function inventory(): string {
  return `keel: 1
site: lab
networks:
  link: { cidr: ${ns.nsAddress.replace(/\.2$/, ".0")}/30 }
hosts:
  web:
    address: ${ns.nsAddress}
    ssh: false
    services:
      - { name: api, port: ${webPort}, http: / }
vantages:
  probe: { local: true, networks: [link] }
serve:
  checks:
    default: { interval: 1s, fail_after: 2, recover_after: 2 }
  tokens:
    - { name: t, role: viewer, sha256: ${sha256Hex(VIEWER)} }
alerts:
  alertmanager: ["${am.url}"]
  webhooks:
    - name: hook
      url: "${hook.url}/hook"
      headers: { Authorization: "Bearer \${KEEL_TEST_HOOK_TOKEN}" }
`;
}

const DARK = `table inet keeldark {
  chain input { type filter hook input priority -10; policy drop; }
}`;

test("a dark host fires one alert (its reachable check) in Alertmanager and at the webhook, then resolves", async () => {
  const file = join(dir, "keel.yaml");
  writeFileSync(file, inventory());
  const keel = await spawnServe(file, {
    args: ["--db", join(dir, "keel.db"), "--timeout", "800"],
    env: { KEEL_TEST_HOOK_TOKEN: "s3cret" },
  });
  const states = new Map<string, CheckState>();
  /** Refreshes `states` from keel serve's API. */
  const refresh = async () => {
    const res = await fetch(`${keel.url}/api/checks`, { headers: { authorization: `Bearer ${VIEWER}` } });
    for (const c of ((await res.json()) as { items: CheckState[] }).items) states.set(c.id, c);
    return true;
  };
  const seen = (id: string) => states.get(id);
  try {
    await eventually(
      "every check ok",
      async () => (await refresh()) && [REACH, API, HTTP].every((id) => seen(id)?.state === "ok"),
    );
    assert.deepEqual(
      (await am.alerts()).filter((a) => a.labels.site === "lab"),
      [],
    );

    // the host goes dark: everything fails, only the parent alerts
    execNft(DARK);
    await eventually(
      "the children hard and suppressed",
      async () =>
        (await refresh()) &&
        [API, HTTP].every((id) => seen(id)?.state === "hard" && seen(id)?.suppressedBy === REACH) &&
        seen(REACH)?.state === "hard",
      20_000,
    );
    const firing = await eventually("the alert in Alertmanager", async () =>
      (await am.alerts()).find((a) => a.labels.check === REACH && a.status.state === "active"),
    );
    assert.deepEqual(firing.labels, {
      alertname: "KeelCheckFailing",
      site: "lab",
      check: REACH,
      kind: "reachable",
      host: "web",
      vantage: "probe",
    });
    assert.match(
      firing.annotations.summary ?? "",
      /^web\/reachable@probe is failing: 10\.250\.\d+\.2: ping timed out/,
    );
    assert.equal(firing.annotations.state, "hard");
    assert.ok(Date.parse(firing.endsAt) > Date.now(), "a firing alert ends in the future");
    // two more rounds of checks: still no alert for the suppressed children
    await new Promise((r) => setTimeout(r, 2500));
    const labs = (await am.alerts()).filter((a) => a.labels.site === "lab");
    assert.deepEqual(
      labs.map((a) => a.labels.check),
      [REACH],
    );
    const bodies = hook.received.map((r) => r.body as WebhookBody);
    assert.deepEqual(
      bodies.map((b) => [b.status, b.check.id]),
      [["firing", REACH]],
    );
    assert.equal(hook.received[0]?.path, "/hook");
    assert.equal(hook.received[0]?.headers.authorization, "Bearer s3cret");
    assert.equal(hook.received[0]?.headers["content-type"], "application/json");
    assert.equal(bodies[0]?.version, 1);
    assert.equal(bodies[0]?.site, "lab");
    assert.equal(bodies[0]?.labels.check, REACH);
    assert.equal(bodies[0]?.check.state, "hard");

    // back: the alert resolves in Alertmanager and at the webhook
    ns.exec(["nft", "delete", "table", "inet", "keeldark"]);
    await eventually(
      "reachable ok again",
      async () => (await refresh()) && seen(REACH)?.state === "ok",
      20_000,
    );
    await eventually("the alert resolved in Alertmanager", async () => {
      const a = (await am.alerts()).find((x) => x.labels.check === REACH);
      return a === undefined || Date.parse(a.endsAt) <= Date.now();
    });
    await eventually("the resolved webhook", () => hook.received.length >= 2);
    const resolved = hook.received[1]!.body as WebhookBody;
    assert.equal(resolved.status, "resolved");
    assert.equal(resolved.check.id, REACH);
    assert.ok(resolved.endsAt && Date.parse(resolved.endsAt) >= Date.parse(resolved.startsAt));
    assert.equal(await keel.stop(), 0, keel.stderr());
    assert.deepEqual(
      keel
        .stderr()
        .split("\n")
        .filter((l) => l.includes("failed")),
      [],
    );
    assert.equal(keel.stderr().includes("s3cret"), false, "the webhook's secret header is in serve's output");
  } finally {
    await keel.stop();
    try {
      ns.exec(["nft", "delete", "table", "inet", "keeldark"]);
    } catch {
      // already removed
    }
  }
});

function execNft(rules: string): void {
  execFileSync("ip", ["netns", "exec", ns.name, "nft", "-f", "-"], { input: rules });
}

test("failed deliveries are retried with backoff; an unreachable Alertmanager never holds up anything", async () => {
  const deadPort = await freePort(); // nothing listens there
  let answers = [503, 503];
  hook.received.length = 0;
  hook.status = () => answers.shift() ?? 200;
  const logs: string[] = [];
  const d = new AlertDispatcher(
    {
      alertmanagers: [`http://127.0.0.1:${deadPort}`],
      webhooks: [
        { name: "hook", url: `${hook.url}/retry`, headers: {}, pos: { file: "t", line: 1, col: 1 } },
      ],
    },
    { site: "lab", retryBaseMs: 50, retryMaxMs: 200, maxAttempts: 4, log: (l) => logs.push(l) },
  );
  const state: CheckState = {
    id: "x/reachable@probe",
    kind: "reachable",
    host: "x",
    vantage: "probe",
    status: "fail",
    message: "down",
    durationMs: 1,
    state: "hard",
    consecutive: 3,
    since: new Date().toISOString(),
    lastRunAt: new Date().toISOString(),
    nextRunAt: null,
    flapping: false,
  };
  const t0 = performance.now();
  d.fire(state, state.since!);
  assert.ok(performance.now() - t0 < 50, "fire only queues");
  await eventually("the webhook delivered after two 503s", () => hook.received.length === 1, 5000);
  assert.equal((hook.received[0]!.body as WebhookBody).status, "firing");
  assert.equal(
    logs.filter((l) => /alert to webhook hook failed \(HTTP 503: try later\); retrying in \d+ ms/.test(l))
      .length,
    2,
  );
  await eventually("the dead Alertmanager given up on", () =>
    logs.some((l) =>
      /alert to alertmanager http:\/\/127\.0\.0\.1:\d+ failed .*gave up after 4 attempts/.test(l),
    ),
  );
  assert.equal(d.pending(), 0);
  answers = [];
  await d.close();
});
