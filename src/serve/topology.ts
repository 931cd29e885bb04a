/**
 * Topology suppression of `keel serve`, as pure functions: a host's `reachable` check from
 * vantage V is the parent of every other check of that host run from V (network, content and
 * SSH checks alike). While the parent's latest result is failing (the parent is soft- or
 * hard-failing), its children carry `suppressedBy` = the parent's id and raise no new alerts.
 * When the parent passes again after failing, a child's failing results from runs started
 * before that say nothing new (the host was down), so only a fresher failure may alert.
 *
 * The engine (`engine.ts`) applies these; the rules of when an alert fires are in its module doc.
 */
import { checkId } from "../verify/derive.js";
import type { CheckSpec, CheckStatus } from "../verify/types.js";
import { isFailing } from "./state.js";

/** The parent of a check in the topology: the host's `reachable` check from the same vantage. */
export function parentId(spec: CheckSpec): string | undefined {
  if (spec.kind === "reachable" || !spec.vantage) return undefined;
  return checkId(spec.host, "reachable", undefined, spec.vantage);
}

/** What suppression needs to know of a parent check. */
interface ParentView {
  spec: Pick<CheckSpec, "skip">;
  /** The parent's latest result's status; null before its first result. */
  status: CheckStatus | null;
}

/**
 * The children of each parent, by parent id, in the order of `items`: only children whose
 * parent is among `items` and runs (is not a derivation skip).
 */
export function childrenOf<T extends { spec: CheckSpec }>(
  items: readonly T[],
  byId: ReadonlyMap<string, T>,
): Map<string, T[]> {
  const children = new Map<string, T[]>();
  for (const item of items) {
    const pid = parentId(item.spec);
    const parent = pid !== undefined ? byId.get(pid) : undefined;
    if (!parent || parent.spec.skip !== undefined) continue;
    const list = children.get(pid!) ?? [];
    list.push(item);
    children.set(pid!, list);
  }
  return children;
}

/**
 * The `suppressedBy` of a check whose parent is `parent` (with id `pid`): the parent's id while
 * the parent runs and its latest result is failing, else undefined.
 */
export function suppressedBy(pid: string | undefined, parent: ParentView | undefined): string | undefined {
  return pid !== undefined &&
    parent !== undefined &&
    parent.spec.skip === undefined &&
    isFailing(parent.status)
    ? pid
    : undefined;
}

/**
 * True when a check's latest result is failing and comes from a run that started
 * (`runStartedAt`, epoch ms) no earlier than its parent last recovered (`parentRecoveredAt`):
 * a run that started while the host was still down says nothing new.
 */
export function freshFailure(
  status: CheckStatus | null,
  runStartedAt: number,
  parentRecoveredAt: number,
): boolean {
  return isFailing(status) && runStartedAt >= parentRecoveredAt;
}

/**
 * True when a child that turned hard at `hardSinceMs` (epoch ms) must wait for its parent to run
 * once more before alerting (Nagios' on-demand host check): the parent runs, has not been asked
 * for this hard state yet (`askedFor`), and its latest result (`parentLastRunMs`, NaN: none) is
 * older than the child's hard state.
 */
export function mustAskParent(
  parent: { spec: Pick<CheckSpec, "skip">; lastRunMs: number } | undefined,
  hardSinceMs: number,
  askedFor: number,
): boolean {
  if (parent === undefined || parent.spec.skip !== undefined) return false;
  const stale = Number.isNaN(parent.lastRunMs) || parent.lastRunMs < hardSinceMs;
  return stale && !Object.is(askedFor, hardSinceMs);
}
