/**
 * The inventory's lists of values (service kinds, DNS record types, token roles, host key
 * checking modes, hypervisor drivers, image formats, PostgreSQL roles) are declared once, in `src/inventory/model.ts`, and the schema's enums are
 * spread from them. The two copies that are prose cannot be derived: the reference table of
 * docs/inventory.md and the schema's `description` hover text. These tests fail when either
 * differs from the list.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { SUPPORTED_VERSIONS } from "../../../src/inventory/load.js";
import {
  DNS_RECORD_TYPES,
  HOST_KEY_CHECKING,
  HYPERVISOR_DRIVERS,
  IMAGE_FORMATS,
  POSTGRES_ROLES,
  SERVICE_KINDS,
  TOKEN_ROLES,
} from "../../../src/inventory/model.js";
import { inventorySchema } from "../../../src/inventory/schema.js";

const DOC = readFileSync(path.resolve(import.meta.dirname, "../../../docs/inventory.md"), "utf8");

/** The backquoted values of the Type column of the one reference row whose Key is `key`. */
function documentedValues(key: string): string[] {
  const rows = DOC.split("\n").filter((l) => l.startsWith(`| \`${key}\` |`));
  assert.equal(rows.length, 1, `docs/inventory.md should have one row for \`${key}\`, has ${rows.length}`);
  const type = rows[0]!.split("|")[2]!;
  return [...type.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The words of a schema description that are values of `list`, in the order written. */
function describedValues(description: string, list: readonly string[]): string[] {
  return description.split(/[\s,.:;]+/).filter((w) => list.includes(w));
}

const defs = inventorySchema.definitions;

const LISTS = [
  {
    name: "SERVICE_KINDS",
    list: SERVICE_KINDS,
    key: "kind",
    schema: defs.service.properties.kind,
  },
  {
    name: "DNS_RECORD_TYPES",
    list: DNS_RECORD_TYPES,
    key: "type",
    schema: defs.dnsRecord.properties.type,
  },
  {
    name: "TOKEN_ROLES",
    list: TOKEN_ROLES,
    key: "tokens[].role",
    schema: defs.apiToken.properties.role,
  },
  {
    name: "HOST_KEY_CHECKING",
    list: HOST_KEY_CHECKING,
    key: "ssh.host_key_checking",
    schema: defs.sshSettings.properties.host_key_checking,
  },
  {
    name: "HYPERVISOR_DRIVERS",
    list: HYPERVISOR_DRIVERS,
    key: "driver",
    schema: defs.hypervisorDriver,
  },
  {
    name: "IMAGE_FORMATS",
    list: IMAGE_FORMATS,
    key: "format",
    schema: defs.imageFormat,
  },
  {
    name: "POSTGRES_ROLES",
    list: POSTGRES_ROLES,
    key: "role",
    schema: defs.postgresRole,
  },
] as const;

for (const { name, list, key, schema } of LISTS) {
  test(`${name}: the schema's enum, docs/inventory.md's \`${key}\` row and the hover text list the same values`, () => {
    assert.deepEqual(schema.enum, [...list], "the schema's enum");
    assert.deepEqual(documentedValues(key), [...list], `docs/inventory.md, the \`${key}\` row`);
    const described = describedValues(schema.description, list);
    assert.deepEqual(new Set(described), new Set(list), `the description of ${key} in the schema`);
  });
}

test("SUPPORTED_VERSIONS: the schema's `keel:` accepts exactly the versions the loader names in its message", () => {
  assert.deepEqual([inventorySchema.definitions.version.const], [...SUPPORTED_VERSIONS]);
});
