/**
 * Every property path of the inventory's JSON Schema (`src/inventory/schema.ts`, what
 * `keel schema` prints), as the inventory reference (`docs/inventory.md`) spells keys:
 * `hosts.NAME.services[].port`. A map by name (`additionalProperties` with `propertyNames`)
 * is a `NAME` segment, an array item a `[]` suffix, and the per-kind entries of
 * `serve.checks` one `KIND` segment. `$ref`s are followed; maps and arrays of plain values
 * (`networks.NAME.ranges`, `hosts.NAME.tags`) end their path.
 */
import { inventorySchema } from "../../../src/inventory/schema.js";
import { CHECK_KINDS } from "../../../src/verify/types.js";

type Json = { [key: string]: unknown };

/** Follows a `#/…` JSON pointer into the inventory schema. */
function deref(node: Json): Json {
  let n = node;
  while (typeof n.$ref === "string") {
    let target: unknown = inventorySchema;
    for (const part of n.$ref.replace(/^#\//, "").split("/")) target = (target as Json)[part];
    n = target as Json;
  }
  return n;
}

/** True when a schema node (after `$ref`s) has named properties of its own. */
function hasProperties(node: Json): boolean {
  const n = deref(node);
  return typeof n.properties === "object" && n.properties !== null;
}

function walk(node: Json, prefix: string, out: Set<string>): void {
  const n = deref(node);
  const props = (n.properties ?? {}) as Record<string, Json>;
  // the entries of serve.checks: one per check kind, all alike
  const byKind = CHECK_KINDS.every((k) => k in props);
  const kinds = new Set<string>(byKind ? CHECK_KINDS : []);
  for (const [key, child] of Object.entries(props)) {
    const seg = kinds.has(key) ? "KIND" : key;
    const path = prefix ? `${prefix}.${seg}` : seg;
    out.add(path);
    walk(child, path, out);
    const c = deref(child);
    if (typeof c.additionalProperties === "object" && hasProperties(c.additionalProperties as Json)) {
      out.add(`${path}.NAME`);
      walk(c.additionalProperties as Json, `${path}.NAME`, out);
    }
    if (typeof c.items === "object" && hasProperties(c.items as Json))
      walk(c.items as Json, `${path}[]`, out);
  }
}

/** Every property path of the inventory schema, sorted. */
export function schemaPaths(): string[] {
  const out = new Set<string>();
  walk(inventorySchema as unknown as Json, "", out);
  return [...out].sort();
}
