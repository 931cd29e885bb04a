/**
 * Alert delivery behind providers: the exact Alertmanager v2 and webhook bodies, and what the
 * dispatcher hands a provider (update with the firing alerts, fire once, resolve, re-sends).
 * Delivery over HTTP is covered by test/integration/serve-alerts.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ALERT_PROVIDERS,
  AlertDispatcher,
  type AlertProvider,
  amAlert,
  type Firing,
  webhookBody,
} from "../../../src/serve/alerts/index.js";
import type { CheckState } from "../../../src/serve/types.js";
import { FakeClock } from "./fake.js";

const STATE: CheckState = {
  id: "db/port.open/pg@probe",
  kind: "port.open",
  host: "db",
  service: "pg",
  vantage: "probe",
  status: "fail",
  message: "10.20.0.6:5432: connection refused",
  durationMs: 3,
  state: "hard",
  consecutive: 3,
  since: "2026-01-01T00:00:30.000Z",
  lastRunAt: "2026-01-01T00:00:30.000Z",
  nextRunAt: "2026-01-01T00:00:40.000Z",
  flapping: true,
};
const FIRING: Firing = { state: STATE, startsAt: "2026-01-01T00:00:30.000Z" };
const NOW = Date.UTC(2026, 0, 1, 0, 1);
const LABELS = {
  alertname: "KeelCheckFailing",
  site: "lab",
  check: "db/port.open/pg@probe",
  kind: "port.open",
  host: "db",
  service: "pg",
  vantage: "probe",
};

test("Alertmanager v2 alert: labels, annotations, endsAt 4 × resend ahead while firing, now once resolved", () => {
  assert.deepEqual(amAlert(FIRING, "firing", "lab", NOW, 60_000), {
    labels: LABELS,
    annotations: {
      summary: "db/port.open/pg@probe is failing: 10.20.0.6:5432: connection refused",
      description: "10.20.0.6:5432: connection refused",
      state: "hard",
      flapping: "true",
    },
    startsAt: "2026-01-01T00:00:30.000Z",
    endsAt: "2026-01-01T00:05:00.000Z",
  });
  const ok = {
    state: { ...STATE, state: "ok" as const, flapping: false, message: "open" },
    startsAt: FIRING.startsAt,
  };
  assert.deepEqual(amAlert(ok, "resolved", "lab", NOW, 60_000), {
    labels: LABELS,
    annotations: { summary: "db/port.open/pg@probe recovered: open", description: "open", state: "ok" },
    startsAt: "2026-01-01T00:00:30.000Z",
    endsAt: "2026-01-01T00:01:00.000Z",
  });
});

test("webhook body: version 1, the check's state, endsAt only when resolved", () => {
  assert.deepEqual(webhookBody(FIRING, "firing", "lab", NOW), {
    version: 1,
    status: "firing",
    site: "lab",
    labels: LABELS,
    check: STATE,
    summary: "db/port.open/pg@probe is failing: 10.20.0.6:5432: connection refused",
    startsAt: "2026-01-01T00:00:30.000Z",
  });
  assert.equal(webhookBody(FIRING, "resolved", "lab", NOW).endsAt, "2026-01-01T00:01:00.000Z");
});

test("the providers are Alertmanager and webhooks, in that order", () => {
  assert.equal(ALERT_PROVIDERS.length, 2);
});

test("the dispatcher hands each provider updates, one fire per alert, resolves and re-sends", async () => {
  const calls: string[] = [];
  const recording: AlertProvider = {
    update: (settings, site, firing) =>
      calls.push(`update ${site} ${settings.webhooks.length} [${[...firing.keys()]}]`),
    fire: (f) => calls.push(`fire ${f.state.id} ${f.startsAt}`),
    resolve: (f) => calls.push(`resolve ${f.state.id} ${f.state.state} ${f.startsAt}`),
    resend: (firing) => calls.push(`resend [${[...firing.keys()]}]`),
    pending: () => 7,
    close: async () => {
      calls.push("close");
    },
  };
  const clock = new FakeClock();
  const d = new AlertDispatcher(
    { alertmanagers: [], webhooks: [] },
    { site: "lab", clock, resendMs: 1000, providers: [() => recording] },
  );
  d.fire(STATE, "2026-01-01T00:00:30.000Z");
  d.fire({ ...STATE, message: "still" }, "2026-01-01T00:00:40.000Z");
  d.update(
    {
      alertmanagers: [],
      webhooks: [{ name: "chat", url: "http://x", headers: {}, pos: { file: "keel.yaml", line: 1, col: 1 } }],
    },
    "lab2",
  );
  await clock.advance(1000, async () => undefined);
  assert.equal(d.pending(), 7);
  d.resolve({ ...STATE, state: "ok" });
  d.resolve({ ...STATE, state: "ok" });
  await d.close();
  assert.deepEqual(calls, [
    "update lab 0 []",
    "fire db/port.open/pg@probe 2026-01-01T00:00:30.000Z",
    "update lab2 1 [db/port.open/pg@probe]",
    "resend [db/port.open/pg@probe]",
    "resolve db/port.open/pg@probe ok 2026-01-01T00:00:30.000Z",
    "close",
  ]);
  assert.deepEqual(d.firingIds(), []);
});
