/**
 * The JSON Schema (draft-07) of the Keel inventory format, version 1
 * (`shared/design/inventory.md`). It is both what `keel schema` prints for editors
 * (yaml-language-server shows the `description`s as hover help and flags unknown keys) and the
 * schema `loadInventory` validates with ajv: one source of truth.
 *
 * Every object has `additionalProperties: false`, so unknown keys are rejected. Rules that need
 * more than one value at a time (addresses inside their network, names that must exist,
 * overlaps, host bits) are checked after the schema, by the section modules `load.ts` calls.
 *
 * Alternative forms are written with a type list (`type: ["string", "object"]`) rather than
 * `oneOf`, so a mistake inside the long form yields one error at the offending key.
 */

import { alertsDefinitions, alertsProperties } from "./alerts.schema.js";
import { backupsDefinitions, backupsProperties } from "./backups.schema.js";
import { commonDefinitions } from "./common.schema.js";
import { dnsDefinitions, dnsProperties } from "./dns.schema.js";
import { hostsDefinitions, hostsProperties } from "./hosts.schema.js";
import { hypervisorsDefinitions, hypervisorsProperties } from "./hypervisors.schema.js";
import { imagesDefinitions, imagesProperties } from "./images.schema.js";
import { networksDefinitions, networksProperties } from "./networks.schema.js";
import { serveDefinitions, serveProperties } from "./serve.schema.js";
import { vantagesDefinitions, vantagesProperties } from "./vantages.schema.js";

/** The whole schema: the top-level keys and definitions of every section's fragment (`*.schema.ts`). */
export const inventorySchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Keel inventory (format version 1)",
  description:
    "One YAML file describing a site: networks, hosts, services, who may reach them, vantages, where machines run, and how PostgreSQL is backed up.",
  type: "object",
  additionalProperties: false,
  required: ["keel", "site"],
  properties: {
    keel: { $ref: "#/definitions/version" },
    site: {
      $ref: "#/definitions/name",
      description: "Site name (a DNS label), used in labels and ids.",
    },
    domain: { $ref: "#/definitions/domain" },
    ...dnsProperties,
    ...networksProperties,
    ...hostsProperties,
    ...vantagesProperties,
    ...serveProperties,
    ...alertsProperties,
    ...hypervisorsProperties,
    ...imagesProperties,
    ...backupsProperties,
  },
  definitions: {
    ...commonDefinitions,
    ...networksDefinitions,
    ...hostsDefinitions,
    ...vantagesDefinitions,
    ...dnsDefinitions,
    ...serveDefinitions,
    ...alertsDefinitions,
    ...hypervisorsDefinitions,
    ...imagesDefinitions,
    ...backupsDefinitions,
  },
} as const;
