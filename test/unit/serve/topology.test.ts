/**
 * Topology suppression of `keel serve` as pure functions: which check is whose parent, the
 * children of each parent, when a child is suppressed, which failures are fresh after a
 * recovery, and when a child must ask its parent before alerting.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  childrenOf,
  freshFailure,
  mustAskParent,
  parentId,
  suppressedBy,
} from "../../../src/serve/topology.js";
import type { CheckKind, CheckSpec } from "../../../src/verify/types.js";

function spec(id: string, kind: CheckKind, host: string, vantage?: string, skip?: string): CheckSpec {
  const s: CheckSpec = { id, kind, host, vantage: vantage ?? "", params: {} as never };
  if (skip !== undefined) s.skip = skip;
  return s;
}

const REACH = spec("web/reachable@probe", "reachable", "web", "probe");
const API = spec("web/port.open/api@probe", "port.open", "web", "probe");
const HTTP = spec("web/http/api@probe", "http", "web", "probe");
const OTHER = spec("web/port.open/api@edge", "port.open", "web", "edge");

test("the parent of a check is its host's reachable check from the same vantage", () => {
  assert.equal(parentId(API), "web/reachable@probe");
  assert.equal(parentId(OTHER), "web/reachable@edge");
  assert.equal(parentId(REACH), undefined, "reachable has no parent");
  assert.equal(parentId(spec("web/port.open/api", "port.open", "web")), undefined, "no vantage, no parent");
});

test("children are grouped by a parent that exists and runs", () => {
  const items = [REACH, API, HTTP, OTHER].map((s) => ({ spec: s }));
  const byId = new Map(items.map((i) => [i.spec.id, i]));
  const children = childrenOf(items, byId);
  assert.deepEqual([...children.keys()], ["web/reachable@probe"]);
  assert.deepEqual(
    children.get("web/reachable@probe")!.map((i) => i.spec.id),
    [API.id, HTTP.id],
    "in the order given; OTHER's parent (from edge) is not there",
  );
  const skipped = [spec(REACH.id, "reachable", "web", "probe", "no address"), API].map((s) => ({ spec: s }));
  assert.equal(
    childrenOf(skipped, new Map(skipped.map((i) => [i.spec.id, i]))).size,
    0,
    "a skipped parent has no children",
  );
});

test("a child is suppressed while its running parent's latest result fails (fail or error)", () => {
  const pid = parentId(API);
  assert.equal(suppressedBy(pid, { spec: REACH, status: "fail" }), "web/reachable@probe");
  assert.equal(suppressedBy(pid, { spec: REACH, status: "error" }), "web/reachable@probe");
  assert.equal(suppressedBy(pid, { spec: REACH, status: "pass" }), undefined);
  assert.equal(suppressedBy(pid, { spec: REACH, status: null }), undefined, "not run yet");
  assert.equal(
    suppressedBy(pid, { spec: { skip: "no address" }, status: "fail" }),
    undefined,
    "a skipped parent",
  );
  assert.equal(suppressedBy(pid, undefined), undefined, "no parent in the inventory");
  assert.equal(suppressedBy(undefined, { spec: REACH, status: "fail" }), undefined, "no parent id");
});

test("a failure is fresh only from a run started no earlier than the parent's recovery", () => {
  assert.equal(freshFailure("fail", 5000, Number.NEGATIVE_INFINITY), true, "the parent never recovered");
  assert.equal(freshFailure("error", 5000, 5000), true);
  assert.equal(freshFailure("fail", 4999, 5000), false, "started while the host was down");
  assert.equal(freshFailure("pass", 6000, 5000), false, "not a failure");
});

test("a child that turned hard asks its parent once when the parent's latest result is older", () => {
  const parent = (lastRunMs: number) => ({ spec: REACH, lastRunMs });
  assert.equal(
    mustAskParent(parent(1000), 2000, Number.NaN),
    true,
    "parent ran before the child turned hard",
  );
  assert.equal(mustAskParent(parent(Number.NaN), 2000, Number.NaN), true, "parent never ran");
  assert.equal(mustAskParent(parent(1000), 2000, 2000), false, "already asked for this hard state");
  assert.equal(mustAskParent(parent(1000), 3000, 2000), true, "a later hard state asks again");
  assert.equal(mustAskParent(parent(2000), 2000, Number.NaN), false, "parent ran since");
  assert.equal(
    mustAskParent({ spec: { skip: "x" }, lastRunMs: 0 }, 2000, Number.NaN),
    false,
    "skipped parent",
  );
  assert.equal(mustAskParent(undefined, 2000, Number.NaN), false, "no parent");
});
