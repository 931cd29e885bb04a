/**
 * The `serve:` and `alerts:` inventory keys (Keel extensions, docs/inventory.md): normalisation and
 * one located error per rule. Lines 1–7 are BASE; the tested lines start at 8.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseInventory } from "../../../src/inventory/load.js";
import { DEFAULT_RETENTION, defaultServeSettings } from "../../../src/inventory/serve-settings.js";
import { BASE, oneProblem, problemsOf, yaml } from "./helpers.js";

const HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

test("without serve: and alerts: the defaults of serve-settings.ts apply", () => {
  const inv = parseInventory(yaml(...BASE), "t.yaml");
  assert.deepEqual(inv.serve, defaultServeSettings());
  assert.deepEqual(inv.alerts, { alertmanagers: [], webhooks: [] });
});

test("the docs/inventory.md example of serve: and alerts: loads and normalises", () => {
  const inv = parseInventory(
    yaml(
      ...BASE,
      "serve:",
      "  listen: 127.0.0.1:8484",
      "  checks:",
      "    default: { interval: 60s, fail_after: 3, recover_after: 2 }",
      "    http: { interval: 15s, fail_after: 2 }",
      "  flapping: { window: 20, changes: 6 }",
      "  retention: { raw: 7d, bucket: 1h, max_age: 365d, per_check: 10000 }",
      "  tokens:",
      `    - { name: alice, role: operator, sha256: ${HASH.toUpperCase()} }`,
      `    - { name: grafana, role: viewer, token: "\${KEEL_VIEWER_TOKEN}" }`,
      "alerts:",
      "  alertmanager: [http://10.20.0.3:9093/]",
      "  webhooks:",
      `    - { name: chat, url: "http://10.20.0.5:8080/hook", headers: { Authorization: "Bearer \${CHAT_TOKEN}" } }`,
    ),
    "t.yaml",
  );
  assert.equal(inv.serve.listen, "127.0.0.1:8484");
  assert.deepEqual(inv.serve.checks.http, { intervalMs: 15_000, failAfter: 2, recoverAfter: 2 });
  assert.deepEqual(inv.serve.checks.sysctl, { intervalMs: 60_000, failAfter: 3, recoverAfter: 2 });
  // an explicit default interval wins over the faster built-in one of reachable
  assert.deepEqual(inv.serve.checks.reachable, { intervalMs: 60_000, failAfter: 3, recoverAfter: 2 });
  assert.deepEqual(inv.serve.flapping, { window: 20, changes: 6 });
  assert.deepEqual(inv.serve.retention, {
    rawMs: 7 * 86_400_000,
    bucketMs: 3_600_000,
    maxAgeMs: 365 * 86_400_000,
    perCheck: 10_000,
  });
  assert.deepEqual(
    inv.serve.tokens.map(({ pos, ...t }) => [t, pos.line]),
    [
      [{ name: "alice", role: "operator", sha256: HASH }, 16],
      [{ name: "grafana", role: "viewer", env: "KEEL_VIEWER_TOKEN" }, 17],
    ],
  );
  assert.deepEqual(inv.alerts.alertmanagers, ["http://10.20.0.3:9093"]);
  assert.deepEqual(
    inv.alerts.webhooks.map(({ pos, ...w }) => [w, pos.line]),
    [
      [
        {
          name: "chat",
          url: "http://10.20.0.5:8080/hook",
          headers: { Authorization: `Bearer \${CHAT_TOKEN}` },
        },
        21,
      ],
    ],
  );
});

test("per-kind thresholds: a kind's entry wins over default, partial entries keep the rest", () => {
  const inv = parseInventory(
    yaml(
      ...BASE,
      "serve:",
      "  checks:",
      "    default: { fail_after: 5 }",
      "    port.open: { recover_after: 4 }",
      "    sysctl: { interval: 1h }",
    ),
    "t.yaml",
  );
  assert.deepEqual(inv.serve.checks["port.open"], { intervalMs: 30_000, failAfter: 5, recoverAfter: 4 });
  assert.deepEqual(inv.serve.checks.sysctl, { intervalMs: 3_600_000, failAfter: 5, recoverAfter: 2 });
  assert.deepEqual(inv.serve.checks.listeners, { intervalMs: 60_000, failAfter: 5, recoverAfter: 2 });
  assert.deepEqual(inv.serve.retention, DEFAULT_RETENTION);
});

// ---- serve: one located error per rule ----------------------------------------------------------

test("an unknown check kind is located at its key and suggests the close one", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    htp: { interval: 15s }")),
    't.yaml:10:5: unknown check kind "htp" in serve.checks (did you mean "http"?); expected default or one of reachable, ssh.hostkey, ssh.key-only, ssh.login, port.open, port.closed, http, listeners, sysctl, wireguard.peers, backup.walg, backup.pgbackrest, backup.pgbackrest-check, backup.wal-archive, backup.rehearsal, prometheus.targets, grafana, node_exporter, dns.records, proxmox.cluster, proxmox.ceph',
  );
});

test("an interval that is not a Prometheus duration is rejected", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    http: { interval: 15 }")),
    "t.yaml:10:23: serve.checks.http.interval 15 is not a duration; expected a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d",
  );
  assert.match(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    http: { interval: 1m30 }")),
    /^t\.yaml:10:23: serve\.checks\.http\.interval "1m30" is not a duration/,
  );
});

test("an interval shorter than 1s is rejected", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    default: { interval: 500ms }")),
    "t.yaml:10:26: serve.checks.default.interval 500ms is too short; expected at least 1s",
  );
});

test("fail_after and recover_after are whole numbers of at least 1", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    http: { fail_after: 0 }")),
    "t.yaml:10:25: serve.checks.http.fail_after 0 is out of range; expected a whole number of at least 1",
  );
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    http: { recover_after: 1.5 }")),
    "t.yaml:10:28: serve.checks.http.recover_after must be a whole number; got a number",
  );
});

test("an unknown key in a check schedule is rejected", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  checks:", "    http: { intervall: 15s }")),
    't.yaml:10:13: unknown key "intervall" in serve.checks.http (did you mean "interval"?); expected one of interval, fail_after, recover_after',
  );
});

test("serve.listen is HOST:PORT", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  listen: 127.0.0.1:70000")),
    't.yaml:9:11: serve.listen "127.0.0.1:70000" is invalid; expected HOST:PORT with an IP address or host name and a port from 0 to 65535, e.g. 127.0.0.1:8484 or [::1]:8484',
  );
  assert.match(
    oneProblem(yaml(...BASE, "serve:", "  listen: ::1:8484")),
    /^t\.yaml:9:11: serve\.listen "::1:8484"/,
  );
  for (const ok of ["[::1]:8484", "localhost:0", "0.0.0.0:80"])
    assert.equal(parseInventory(yaml(...BASE, "serve:", `  listen: "${ok}"`), "t.yaml").serve.listen, ok);
});

test("flapping: window from 2 to 1000, changes fewer than window", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  flapping: { window: 1 }")),
    "t.yaml:9:23: serve.flapping.window 1 is out of range; expected a whole number from 2 to 1000",
  );
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  flapping: { window: 10, changes: 10 }")),
    "t.yaml:9:36: serve.flapping.changes 10 can never be reached: 10 results hold at most 9 changes; expected a number from 1 to 9",
  );
  // against the default window of 20
  assert.match(
    oneProblem(yaml(...BASE, "serve:", "  flapping: { changes: 25 }")),
    /^t\.yaml:9:24: serve\.flapping\.changes 25 can never be reached: 20 results/,
  );
});

test("retention: durations above zero, max_age at least raw, per_check at least 1", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  retention: { raw: 1week }")),
    't.yaml:9:21: serve.retention.raw "1week" is not a duration; expected a Prometheus duration such as 500ms, 30s, 5m, 1h30m or 7d',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  retention: { bucket: 0s }")),
    "t.yaml:9:24: serve.retention.bucket is 0; expected a duration above zero",
  );
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  retention: { raw: 30d, max_age: 2w }")),
    "t.yaml:9:35: serve.retention.max_age 2w is shorter than raw (30d); expected at least as long as raw",
  );
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  retention: { per_check: 0 }")),
    "t.yaml:9:27: serve.retention.per_check 0 is out of range; expected a whole number of at least 1",
  );
});

test("a token needs exactly one of sha256 and token", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  tokens:", "    - { name: bob, role: viewer }")),
    `t.yaml:10:7: API token "bob" has neither sha256 nor token; expected exactly one: sha256: HEX (the token's SHA-256) or token: \${ENV_VAR}`,
  );
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "serve:",
        "  tokens:",
        `    - { name: bob, role: viewer, sha256: ${HASH}, token: "\${T}" }`,
      ),
    ),
    `t.yaml:10:7: API token "bob" has both sha256 and token; expected exactly one: sha256: HEX (the token's SHA-256) or token: \${ENV_VAR}`,
  );
});

test("a sha256 that is not 64 hex digits is rejected without echoing it", () => {
  const p = oneProblem(
    yaml(...BASE, "serve:", "  tokens:", "    - { name: bob, role: viewer, sha256: s3cr3t-token }"),
  );
  assert.equal(
    p,
    't.yaml:10:42: sha256 of API token "bob" is not a SHA-256 (got 12 characters); expected 64 hexadecimal digits, e.g. from `printf %s TOKEN | sha256sum`',
  );
  assert.doesNotMatch(p, /s3cr3t/);
});

test(`a literal token is rejected without echoing it: tokens are \${ENV} references`, () => {
  const p = oneProblem(
    yaml(...BASE, "serve:", "  tokens:", "    - { name: bob, role: viewer, token: hunter2 }"),
  );
  assert.equal(
    p,
    `t.yaml:10:41: token of API token "bob" must be an environment variable reference such as \${KEEL_TOKEN}, not the secret itself; set the variable, or give sha256: (the hex SHA-256 of the token) instead`,
  );
  assert.doesNotMatch(p, /hunter2/);
});

test("a token role is viewer or operator", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "serve:", "  tokens:", `    - { name: bob, role: admin, sha256: ${HASH} }`)),
    't.yaml:10:26: role "admin" of API token "bob" is not a role; expected viewer (reads) or operator (may also trigger runs)',
  );
});

test("token names are unique", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "serve:",
        "  tokens:",
        `    - { name: bob, role: viewer, sha256: ${HASH} }`,
        `    - { name: bob, role: operator, token: "\${BOB}" }`,
      ),
    ),
    't.yaml:11:15: API token name "bob" is used twice (first at line 10); token names must be unique',
  );
});

test("an unknown key under serve is rejected", () => {
  assert.match(
    oneProblem(yaml(...BASE, "serve:", "  listn: 127.0.0.1:1")),
    /^t\.yaml:9:3: unknown key "listn" in serve \(did you mean "listen"\?\); expected one of listen, checks, flapping, retention, tokens$/,
  );
});

// ---- alerts: one located error per rule ---------------------------------------------------------

test("an alertmanager URL must be http(s)", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "alerts:", '  alertmanager: ["10.20.0.3:9093"]')),
    't.yaml:9:18: alerts.alertmanager item 1 "10.20.0.3:9093" is not an http:// or https:// URL; expected e.g. http://10.20.0.3:9093',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "alerts:", '  alertmanager: ["http://"]')),
    't.yaml:9:18: alertmanager URL "http://" is not a URL; expected Alertmanager\'s base URL such as http://10.20.0.3:9093',
  );
});

test("a URL with credentials is rejected without echoing them", () => {
  const p = oneProblem(yaml(...BASE, "alerts:", "  alertmanager: [http://am:s3cret@10.20.0.3:9093]"));
  assert.equal(
    p,
    "t.yaml:9:18: alertmanager URL (item 1) holds credentials (user:password@), a literal secret in the inventory; expected Alertmanager's base URL such as http://10.20.0.3:9093",
  );
  assert.doesNotMatch(p, /s3cret/);
});

test("a webhook needs a name and an http(s) url", () => {
  assert.equal(
    oneProblem(yaml(...BASE, "alerts:", "  webhooks:", "    - { url: http://10.20.0.5/hook }")),
    't.yaml:10:7: webhook 1 of alerts.webhooks is missing required key "name"',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "alerts:", "  webhooks:", "    - { name: chat, url: mailto:ops@example.org }")),
    't.yaml:10:26: url "mailto:ops@example.org" of webhook "chat" is not an http:// or https:// URL; expected e.g. http://10.20.0.5:8080/hook',
  );
  assert.equal(
    oneProblem(yaml(...BASE, "alerts:", "  webhooks:", '    - { name: chat, url: "http://[zz]/" }')),
    't.yaml:10:26: url "http://[zz]/" of webhook "chat" is not a URL; expected e.g. http://10.20.0.5:8080/hook',
  );
});

test("webhook names are unique", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "alerts:",
        "  webhooks:",
        "    - { name: chat, url: http://10.20.0.5/a }",
        "    - { name: chat, url: http://10.20.0.5/b }",
      ),
    ),
    't.yaml:11:15: webhook name "chat" is used twice (first at line 10); webhook names must be unique',
  );
});

test("webhook header names are HTTP tokens and values strings", () => {
  assert.equal(
    oneProblem(
      yaml(
        ...BASE,
        "alerts:",
        "  webhooks:",
        '    - { name: chat, url: http://x/, headers: { "X Key": v } }',
      ),
    ),
    't.yaml:10:48: header name "X Key" in headers of webhook "chat" is not a valid HTTP header name; expected letters, digits and !#$%&\'*+.^_`|~- (RFC 9110 token)',
  );
  assert.equal(
    oneProblem(
      yaml(...BASE, "alerts:", "  webhooks:", "    - { name: chat, url: http://x/, headers: { X-N: [1] } }"),
    ),
    't.yaml:10:53: headers.X-N of webhook "chat" must be a string; got a list',
  );
});

test("serve and alerts problems are reported together with the rest of the file", () => {
  const ps = problemsOf(
    yaml(
      ...BASE,
      "serve:",
      "  checks: { http: { interval: 1x } }",
      "  tokens: [{ name: a, role: viewer }]",
      "alerts:",
      "  webhooks: [{ name: w, url: ftp://x }]",
    ),
  );
  assert.deepEqual(
    ps.map((p) => p.split(": ")[0]),
    ["t.yaml:9:31", "t.yaml:10:12", "t.yaml:12:30"],
  );
});
