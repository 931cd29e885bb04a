/**
 * Every relative link of the README and the manual (README.md, docs/*.md, bench/README.md)
 * points to a file of the repository, and a `#fragment` to a heading of that file (GitHub's
 * anchors: the heading's text in lower case, without punctuation, spaces as `-`).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const PAGES = [
  "README.md",
  "bench/README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** Markdown outside fenced code blocks and inline code spans. */
function prose(markdown: string): string {
  let inCode = false;
  return markdown
    .split("\n")
    .map((line) => {
      if (line.startsWith("```")) {
        inCode = !inCode;
        return "";
      }
      return inCode ? "" : line.replace(/`[^`]*`/g, "``");
    })
    .join("\n");
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings (repeats get `-1`, `-2`, … as on GitHub). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let inCode = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) inCode = !inCode;
    const h = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative link targets of a page (inline links and images), without external URLs. */
function links(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

test("every relative link of the README and docs/ resolves to a file and heading", () => {
  const broken: string[] = [];
  for (const page of PAGES) {
    const text = readFileSync(path.join(ROOT, page), "utf8");
    for (const target of links(text)) {
      const [file, fragment] = target.split("#") as [string, string | undefined];
      const resolved =
        file === "" ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), file);
      if (!existsSync(resolved)) {
        broken.push(`${page}: ${target}: no such file`);
        continue;
      }
      if (fragment === undefined || !resolved.endsWith(".md") || statSync(resolved).isDirectory()) continue;
      if (!anchors(readFileSync(resolved, "utf8")).has(fragment))
        broken.push(`${page}: ${target}: no heading with that anchor`);
    }
  }
  assert.deepEqual(broken, []);
});

test("anchors are GitHub's", () => {
  assert.equal(slug("Retention (`serve.retention`)"), "retention-serveretention");
  assert.equal(slug("A service (`hosts.NAME.services[]`)"), "a-service-hostsnameservices");
  assert.equal(slug("Ports: what is observed"), "ports-what-is-observed");
  assert.deepEqual([...anchors("# A\n## A\n```\n# not a heading\n```\n")], ["a", "a-1"]);
});
