/**
 * The `vantages:` section (checked and normalised by `vantages.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */

/** Top-level keys of this section. */
export const vantagesProperties = {
  vantages: {
    description:
      "Places that checks run from, by name. If none is declared, Keel uses `local` with no networks.",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/vantage" },
  },
} as const;

/** Definitions of this section. */
export const vantagesDefinitions = {
  vantage: {
    description:
      "A place checks run from: { local: true, networks: [...] } or { local: true, host: H } (this machine), or { via: HOST } (over SSH).",
    type: "object",
    additionalProperties: false,
    properties: {
      local: { description: "Probes run on the machine that runs Keel.", const: true },
      networks: {
        description: "Networks a local vantage sits in (not with host).",
        type: "array",
        items: { $ref: "#/definitions/name" },
      },
      host: {
        $ref: "#/definitions/name",
        description: "A host whose networks a local vantage sits in (not with networks).",
      },
      via: {
        $ref: "#/definitions/name",
        description: "Probes run on this host over SSH; the vantage sits in its networks.",
      },
      address: {
        $ref: "#/definitions/addressForm",
        description:
          "Keel extension: the local vantage's own addresses (same forms as a host's), e.g. to identify it as a WireGuard peer.",
      },
    },
  },
} as const;
