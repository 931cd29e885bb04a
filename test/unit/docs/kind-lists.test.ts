/**
 * The other lists of kinds are declared once in code: the check kinds (`CHECK_KINDS`, which the
 * registry of modules is keyed by), the render kinds (`RENDER_KINDS`, which `--only` accepts),
 * the service kinds Prometheus discovers (`SD_KINDS`). Where a second copy must exist — the
 * list of renderers, and the manual's prose — these tests fail when it differs from the list.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CHECK_KINDS } from "../../../src/inventory/check-kinds.js";
import { renderers } from "../../../src/render/index.js";
import { SD_KINDS } from "../../../src/render/targets.js";
import { RENDER_KINDS } from "../../../src/render/types.js";

const doc = (name: string): string =>
  readFileSync(path.resolve(import.meta.dirname, "../../../docs", name), "utf8");

/** The text of the section of `text` under the heading `heading`, up to the next heading of its level or above. */
function section(text: string, heading: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.replace(/^#+ /, "") === heading && l.startsWith("#"));
  assert.ok(start >= 0, `no heading "${heading}"`);
  const level = lines[start]!.match(/^#+/)![0].length;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^#+ /.test(l) && l.match(/^#+/)![0].length <= level);
  return (end < 0 ? rest : rest.slice(0, end)).join("\n");
}

/** The backquoted words of `text`, in order. */
const quoted = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

test("every render kind has exactly one renderer, and every renderer a render kind", () => {
  const kinds = renderers.map((r) => r.kind);
  assert.deepEqual([...kinds].sort(), [...RENDER_KINDS].sort());
  assert.equal(new Set(kinds).size, kinds.length);
});

test("docs/render.md's --only row lists the render kinds, in RENDER_KINDS order", () => {
  const rows = doc("render.md")
    .split("\n")
    .filter((l) => l.startsWith("| `--only KINDS` |"));
  assert.equal(rows.length, 1);
  const described = quoted(rows[0]!.split("|")[2]!);
  assert.deepEqual(described, [...RENDER_KINDS]);
});

test("docs/verify.md's 'What is checked' names every check kind", () => {
  const words = new Set(quoted(section(doc("verify.md"), "What is checked")));
  for (const k of CHECK_KINDS)
    assert.ok(words.has(k), `check kind ${k} is not in docs/verify.md#what-is-checked`);
});

test("docs/serve.md's service discovery names the discoverable service kinds, in SD_KINDS order", () => {
  const sd = section(doc("serve.md"), "Prometheus service discovery: `/sd/prometheus`");
  const param = sd.match(/`\?kind=([^`]+)`/);
  assert.ok(param, "docs/serve.md should show the ?kind= parameter");
  assert.deepEqual(param[1]!.split(","), [...SD_KINDS]);
});
