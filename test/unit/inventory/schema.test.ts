import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { inventorySchema } from "../../../src/inventory/schema.js";

const contract = parse(readFileSync("test/fixtures/contract-example.yaml", "utf8"));

test("the JSON Schema compiles with ajv (strict) and accepts the contract example", () => {
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(inventorySchema);
  assert.equal(validate(contract), true, JSON.stringify(validate.errors));
});

test("the JSON Schema rejects an unknown key and a bad port in the contract example", () => {
  const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(inventorySchema);
  const bad = structuredClone(contract);
  bad.hosts.gpu.adress = "10.20.0.11";
  bad.hosts.ns1.services[0].port = "70000/udp";
  assert.equal(validate(bad), false);
  assert.deepEqual(
    validate.errors?.map((e) => [e.instancePath, e.keyword]),
    [
      ["/hosts/ns1/services/0/port", "pattern"],
      ["/hosts/gpu", "additionalProperties"],
    ],
  );
});

/** Walks every subschema, calling `visit` with its JSON pointer. */
function walk(node: unknown, path: string, visit: (s: Record<string, unknown>, path: string) => void): void {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return;
  const s = node as Record<string, unknown>;
  visit(s, path);
  for (const [k, v] of Object.entries(s)) {
    if (k === "properties" || k === "definitions")
      for (const [name, sub] of Object.entries(v as object)) walk(sub, `${path}/${k}/${name}`, visit);
    else if (["items", "additionalProperties", "propertyNames", "not"].includes(k))
      walk(v, `${path}/${k}`, visit);
  }
}

test("every object in the schema rejects unknown keys and every key has a description", () => {
  walk(inventorySchema, "#", (s, path) => {
    if (s.properties)
      assert.equal(s.additionalProperties, false, `${path} must set additionalProperties: false`);
    if (s.properties)
      for (const [key, sub] of Object.entries(s.properties as Record<string, Record<string, unknown>>)) {
        const ref = typeof sub.$ref === "string" ? sub.$ref : undefined;
        const target = ref
          ? ref
              .slice(2)
              .split("/")
              .reduce<Record<string, unknown>>((o, p) => o[p] as Record<string, unknown>, inventorySchema)
          : undefined;
        assert.ok(sub.description ?? target?.description, `${path}/properties/${key} has no description`);
      }
  });
});
