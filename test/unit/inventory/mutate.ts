/**
 * Seeded random mutations of an inventory, for the fuzz tests: structural ones on the parsed
 * document (delete a key, wrong type, bad address, out-of-range port, unknown or misspelt key)
 * and textual ones on the YAML (random bytes, cut text, duplicated lines → duplicate keys).
 */
import fc from "fast-check";
import { parse, stringify } from "yaml";

/** One mutation: which operation, and random numbers that pick where and what. */
export interface Mutation {
  op: number;
  picks: number[];
  text: string;
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.nat(15),
  picks: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  text: fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 8 })),
});

export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

const BAD_VALUES: unknown[] = [
  "10.20.0.300",
  "10.20.0.1/24",
  "fd00::zz",
  "300.1.1.1",
  "10.99.0.0",
  "10.20.0.255",
  0,
  65536,
  "70000/udp",
  "80/sctp",
  -1,
  1.5,
  true,
  false,
  null,
  "",
  "Bad_Name",
  [],
  {},
  ["nowhere"],
  { x: 1 },
  "any",
];

type Path = (string | number)[];

function paths(node: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) paths(v, [...prefix, i], out);
  } else if (node !== null && typeof node === "object")
    for (const [k, v] of Object.entries(node)) paths(v, [...prefix, k], out);
  return out;
}

function parentOf(root: unknown, path: Path): Record<string | number, unknown> | undefined {
  let cur = root;
  for (const s of path.slice(0, -1)) cur = (cur as Record<string | number, unknown>)[s];
  return cur !== null && typeof cur === "object" ? (cur as Record<string | number, unknown>) : undefined;
}

function structural(root: unknown, m: Mutation): void {
  const all = paths(root).filter((p) => p.length > 0);
  if (all.length === 0) return;
  const [a = 0, b = 0] = m.picks;
  const path = all[a % all.length]!;
  const parent = parentOf(root, path);
  if (!parent) return;
  const key = path[path.length - 1]!;
  switch (m.op % 6) {
    case 0:
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
      break;
    case 1:
    case 2:
      parent[key] = structuredClone(BAD_VALUES[b % BAD_VALUES.length]);
      break;
    case 3:
      if (!Array.isArray(parent)) parent[`${String(key)}x`] = parent[key];
      break;
    case 4:
      if (!Array.isArray(parent) && typeof key === "string" && key.length > 1) {
        parent[key.slice(0, -1)] = parent[key];
        delete parent[key];
      }
      break;
    default:
      parent[key] = m.text;
  }
}

const parsedCache = new Map<string, unknown>();

function textual(text: string, m: Mutation): string {
  const [a = 0, b = 0, c = 0] = m.picks;
  const lines = text.split("\n");
  switch (m.op % 5) {
    case 0: {
      const at = a % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 1: {
      const at = a % (text.length + 1);
      return text.slice(0, at) + text.slice(at + (b % 40));
    }
    case 2: {
      const i = a % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join("\n");
    }
    case 3: {
      const i = a % lines.length;
      const j = b % lines.length;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
    default: {
      const i = a % lines.length;
      lines[i] = " ".repeat(c % 5) + lines[i]!.trimStart();
      return lines.join("\n");
    }
  }
}

/**
 * Applies `mutations`: ops 0–9 are structural (applied to the parsed document, which is then
 * written back as YAML once), ops 10–15 textual (applied afterwards, in order).
 */
export function mutate(text: string, mutations: Mutation[]): string {
  let out = text;
  const structuralOps = mutations.filter((m) => m.op < 10);
  if (structuralOps.length > 0) {
    if (!parsedCache.has(text)) parsedCache.set(text, parse(text, { logLevel: "silent" }));
    const root = structuredClone(parsedCache.get(text));
    for (const m of structuralOps) structural(root, m);
    out = stringify(root);
  }
  for (const m of mutations) if (m.op >= 10) out = textual(out, m);
  return out;
}
