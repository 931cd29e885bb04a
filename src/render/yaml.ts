/**
 * YAML output for the renderers. Rendered files are read by tools that parse YAML 1.1
 * (cloud-init and Ansible use PyYAML; Prometheus uses go-yaml), so strings that YAML 1.1 would
 * read as something else (`yes`, `on`, `0755`, `10:20`, `y`) are quoted. This is js-yaml's
 * `dump` with its default, YAML 1.1-compatible quoting: an order of magnitude faster than the
 * `yaml` package's `stringify` on 5,000 cloud-init seeds, which matters for `keel render`'s
 * 1 s target (bench/README.md, render scenario). The inventory is still *read* with `yaml` where positions are needed.
 */
import { dump } from "js-yaml";

/**
 * One YAML document for `value` (plain data: objects, arrays, strings, numbers, booleans,
 * null), ending in a newline. No line folding, no anchors (repeated objects are written out
 * again), `undefined` members left out.
 * @throws YAMLException for a value YAML cannot represent (a function, a symbol).
 */
export function toYaml(value: unknown): string {
  return dump(value, { lineWidth: -1, noRefs: true });
}

/**
 * One document for `value` (plain data) as indented JSON, ending in a newline. JSON is YAML
 * (YAML 1.2 §1.3), and for plain data whose strings are printable, PyYAML (YAML 1.1, what
 * cloud-init reads its seeds with) reads it as the same document: every string is double-quoted,
 * so nothing is taken for a number, a boolean or a base-60 integer. Used for the small, machine-read
 * cloud-init seeds (`meta-data`, `network-config`), where it is ~20 times cheaper than `toYaml`:
 * 10,000 of them at 5,000 VMs were a fifth of `keel render`'s 1 s target (bench/README.md).
 */
export function toJsonYaml(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
