/**
 * The inventory reference (docs/inventory.md) and the JSON Schema `keel schema` prints
 * (src/inventory/schema.ts) document the same keys: every property path of the schema is a key
 * of a reference table (or the path in a table's heading), and every key the reference documents
 * is in the schema. A table with a `Key` column documents the keys under the backquoted paths in
 * its heading (`## A service (\`hosts.NAME.services[]\`)`), or top-level keys when its heading
 * has none; `*` in a documented key stands for any one key.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { schemaPaths } from "./schema-paths.js";

const DOC = path.resolve(import.meta.dirname, "../../../docs/inventory.md");

/** A documented key, with the line it is on. */
export interface DocumentedKey {
  path: string;
  line: number;
}

/** `a.b[]` and `a.b` name the same property. */
const strip = (p: string) => p.replace(/\[\]$/, "");

/** The keys the reference documents: its tables' keys under their headings' paths, and those paths. */
export function documentedKeys(markdown: string): DocumentedKey[] {
  const keys: DocumentedKey[] = [];
  let prefixes = [""];
  let inKeyTable = false;
  let inCode = false;
  markdown.split("\n").forEach((text, i) => {
    const line = i + 1;
    if (text.startsWith("```")) inCode = !inCode;
    if (inCode || text.startsWith("```")) return;
    const heading = /^#{1,6}\s+(.*)$/.exec(text);
    if (heading) {
      const paths = [...heading[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      prefixes = paths.length > 0 ? paths : [""];
      for (const p of paths) keys.push({ path: strip(p), line });
      inKeyTable = false;
      return;
    }
    if (!text.startsWith("|")) {
      inKeyTable = false;
      return;
    }
    const first = text.split("|")[1]!.trim();
    if (/^Key$/i.test(first)) {
      inKeyTable = true;
      return;
    }
    if (!inKeyTable || /^-+$/.test(first)) return;
    const key = /^`([^`]+)`$/.exec(first)?.[1];
    assert.ok(key, `docs/inventory.md:${line}: the Key cell should be one \`key\`, got ${first}`);
    for (const prefix of prefixes) keys.push({ path: strip(prefix ? `${prefix}.${key}` : key), line });
  });
  return keys;
}

/** True when documented `pattern` (segments, `*` for any one) names schema path `p`. */
function matches(pattern: string, p: string): boolean {
  const a = pattern.split(".");
  const b = p.split(".");
  return a.length === b.length && a.every((s, i) => s === "*" || s === b[i]);
}

/** Schema paths the reference does not document, and documented keys that are not in the schema. */
export function compare(markdown: string): { undocumented: string[]; unknown: DocumentedKey[] } {
  const documented = documentedKeys(markdown);
  const schema = schemaPaths();
  return {
    undocumented: schema.filter((p) => !documented.some((d) => matches(d.path, p))),
    unknown: documented.filter((d) => !schema.some((p) => matches(d.path, p))),
  };
}

test("every key of the JSON Schema is in docs/inventory.md, and every key documented there is in the schema", () => {
  const { undocumented, unknown } = compare(readFileSync(DOC, "utf8"));
  assert.deepEqual(undocumented, [], "schema keys missing from docs/inventory.md");
  assert.deepEqual(
    unknown.map((k) => `docs/inventory.md:${k.line}: ${k.path}`),
    [],
    "keys in docs/inventory.md that the schema does not have",
  );
});

test("the schema walk sees the keys it should (the comparison above is not vacuous)", () => {
  const paths = schemaPaths();
  for (const p of [
    "keel",
    "networks.NAME.dhcp.lease",
    "hosts.NAME.services[].http.expect",
    "hosts.NAME.vm.users[].sudo",
    "serve.checks.KIND.interval",
    "serve.checks.default.fail_after",
    "serve.tokens[].sha256",
    "alerts.webhooks[].headers",
    "vantages.NAME.via",
    "hypervisors.NAME.networks",
    "images.NAME.sha256",
    "hosts.NAME.vm.hypervisor",
    "defaults.vm.memory",
    "backups.pgbackrest.NAME.postgres[].data",
    "backups.pgbackrest.NAME.schedule.incr",
    "backups.walg.NAME.rehearsal.queries",
  ])
    assert.ok(paths.includes(p), p);
});

test("a schema key missing from the reference, or a key the schema lacks, is reported", () => {
  const doc = readFileSync(DOC, "utf8");
  const without = doc
    .split("\n")
    .filter((l) => !l.startsWith("| `dhcp.lease` "))
    .join("\n");
  assert.deepEqual(compare(without).undocumented, ["networks.NAME.dhcp.lease"]);
  const extra = doc.replace("| `dhcp.lease` |", "| `dhcp.leases` |");
  assert.deepEqual(
    compare(extra).unknown.map((k) => k.path),
    ["networks.NAME.dhcp.leases"],
  );
});
