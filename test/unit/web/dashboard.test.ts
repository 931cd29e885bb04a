/// <reference lib="dom" />
/**
 * Pure pieces of the dashboard: the Server-Sent Events parser (chunks split anywhere), the
 * timeline's segments, the live patch of the failing list, hash routes and glob escaping.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import picomatch from "picomatch";
import type { CheckState } from "../../../src/serve/types.js";
import { globEscape } from "../../../web/src/api.js";
import { age, bytes, objectiveBadge } from "../../../web/src/backups.js";
import { parseEventStream } from "../../../web/src/events.js";
import { parseRoute } from "../../../web/src/hooks.js";
import { patchFailing } from "../../../web/src/overview.js";
import { cellText } from "../../../web/src/posture.js";
import { segments } from "../../../web/src/timeline.js";

test("event stream: events split across chunks at any byte come out whole, comments ignored", () => {
  const events = [
    { type: "reload", ok: true, problems: [] },
    { n: 2, s: "a\nb" },
  ];
  const text = `: hello\n\n${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("")}: ping\r\n\r\n`;
  for (let cut = 0; cut <= text.length; cut++) {
    const got: unknown[] = [];
    let buffer = "";
    for (const chunk of [text.slice(0, cut), text.slice(cut)]) {
      const r = parseEventStream(buffer + chunk);
      buffer = r.rest;
      for (const d of r.data) got.push(JSON.parse(d));
    }
    assert.deepEqual(got, events, `cut at ${cut}`);
    assert.equal(buffer, "");
  }
});

test("event stream: multi-line data is joined with newlines, CRLF accepted", () => {
  assert.deepEqual(parseEventStream("data: a\r\ndata:b\r\n\r\ndata: c").data, ["a\nb"]);
  assert.equal(parseEventStream("data: a\r\ndata:b\r\n\r\ndata: c").rest, "data: c");
});

test("timeline segments: the value before the window carries in, changes split, clipped to the window", () => {
  const at = (ms: number) => new Date(ms).toISOString();
  const segs = segments(
    [
      { at: at(500), from: null, to: "ok" },
      { at: at(1500), from: "ok", to: "hard" },
      { at: at(1800), from: "hard", to: "ok" },
      { at: at(5000), from: "ok", to: "soft" },
    ],
    1000,
    2000,
  );
  assert.deepEqual(segs, [
    { from: 1000, to: 1500, value: "ok" },
    { from: 1500, to: 1800, value: "hard" },
    { from: 1800, to: 2000, value: "ok" },
  ]);
  assert.deepEqual(segments([], 0, 10), [{ from: 0, to: 10, value: null }]);
  // changes cut at the window's start: the first one inside tells what came before it
  assert.deepEqual(segments([{ at: at(1500), from: "pass", to: "fail" }], 1000, 2000), [
    { from: 1000, to: 1500, value: "pass" },
    { from: 1500, to: 2000, value: "fail" },
  ]);
});

function st(id: string, state: CheckState["state"]): CheckState {
  return {
    id,
    kind: "reachable",
    host: id.split("/")[0] ?? id,
    status: state === "ok" ? "pass" : "fail",
    message: "",
    durationMs: 1,
    state,
    consecutive: 1,
    since: null,
    lastRunAt: null,
    nextRunAt: null,
    flapping: false,
  };
}

test("failing list patch: new hard checks come before soft ones, recovered ones leave, no change keeps the array", () => {
  const list = [st("a/reachable@x", "hard"), st("b/reachable@x", "soft")];
  const out = patchFailing(
    list,
    new Map([
      ["c/reachable@x", st("c/reachable@x", "hard")],
      ["a/reachable@x", st("a/reachable@x", "ok")],
    ]),
  );
  assert.deepEqual(
    out.map((c) => [c.id, c.state]),
    [
      ["c/reachable@x", "hard"],
      ["b/reachable@x", "soft"],
    ],
  );
  assert.equal(patchFailing(list, new Map([["z/reachable@x", st("z/reachable@x", "ok")]])), list);
});

test("hash routes decode segments and parameters", () => {
  const r = parseRoute(`#/check/${encodeURIComponent("gpu/port.open/ssh@admin")}?x=1`);
  assert.deepEqual(r.path, ["check", "gpu/port.open/ssh@admin"]);
  assert.equal(r.params.get("x"), "1");
  assert.deepEqual(parseRoute("").path, []);
});

test("glob escaping selects exactly the check id", () => {
  for (const id of ["gpu/port.open/ssh@admin", "gw-vpn/sysctl/net.ipv4.ip_forward", "x/http/a+b@(v)"]) {
    const m = picomatch(globEscape(id));
    assert.equal(m(id), true, id);
    assert.equal(m(`${id}x`), false, id);
    assert.equal(m("gpu/port.open/ssh@adminz"), false);
  }
});

test("posture cells: UDP silence reads 'not observed', never as open or closed", () => {
  const cell = { service: "ntp", vantage: "admin", checkId: "h/port.open/ntp@admin" };
  assert.equal(
    cellText({ ...cell, expected: "open", observed: "open|filtered", ok: false }),
    "not observed: UDP silence ✗ expected open",
  );
  assert.equal(
    cellText({ ...cell, expected: "closed", observed: "prohibited", ok: true }),
    "prohibited (expected closed)",
  );
  assert.equal(
    cellText({ ...cell, expected: "open", observed: "refused", ok: false }),
    "refused ✗ expected open",
  );
  assert.equal(cellText({ ...cell, expected: null, observed: null, ok: null }), "not probed");
});

test("backups view: ages in human units like the API's reasons, sizes in IEC units, objective badges", () => {
  assert.deepEqual(
    [
      null,
      0,
      45,
      59.6,
      60,
      725,
      3600,
      3 * 3600 + 12 * 60,
      26 * 3600,
      47 * 3600 + 59 * 60,
      48 * 3600,
      7 * 86400 + 3600,
    ].map(age),
    [
      "—",
      "0 s",
      "45 s",
      "1 min",
      "1 min",
      "12 min",
      "1 h",
      "3 h 12 min",
      "26 h",
      "47 h 59 min",
      "2 d",
      "7 d 1 h",
    ],
  );
  assert.deepEqual([null, 512, 1536, 1_073_741_824, 40e9].map(bytes), [
    "—",
    "512 B",
    "1.5 KiB",
    "1.0 GiB",
    "37.3 GiB",
  ]);
  const o = (met: boolean | null) => ({ objectiveSec: 900, met, reason: "r" });
  assert.deepEqual(
    [true, false, null].map((m) => objectiveBadge(o(m)).met),
    ["true", "false", "none"],
  );
  assert.equal(objectiveBadge(o(null)).text, "not observed");
});
