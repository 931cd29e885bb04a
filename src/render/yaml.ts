/**
 * YAML output for the renderers. Rendered files are read by tools that parse YAML 1.1
 * (cloud-init and Ansible use PyYAML; Prometheus uses go-yaml), so strings that YAML 1.1 would
 * read as something else (`yes`, `on`, `0755`, `10:20`, `y`) are quoted. This is js-yaml's
 * `dump` with its default, YAML 1.1-compatible quoting: an order of magnitude faster than the
 * `yaml` package's `stringify` on 5,000 cloud-init seeds, which matters for `keel render`'s
 * 1 s budget (issue #4). The inventory is still *read* with `yaml` where positions are needed.
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
