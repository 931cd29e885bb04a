/**
 * The `networks:` section (checked and normalised by `networks.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */

/** Top-level keys of this section. */
export const networksProperties = {
  networks: {
    description: "Networks of the site by name: their prefix, gateway, resolvers and address plan.",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/network" },
  },
} as const;

/** Definitions of this section. */
export const networksDefinitions = {
  network: {
    description: "A network: its prefix, optional gateway, resolvers and address plan.",
    type: "object",
    additionalProperties: false,
    required: ["cidr"],
    properties: {
      cidr: { $ref: "#/definitions/cidr" },
      gateway: { $ref: "#/definitions/address", description: "Gateway address, inside the network." },
      dns: {
        description: "Resolvers of the network: host names or IP addresses.",
        type: "array",
        items: { type: "string" },
      },
      ranges: {
        description:
          "The address plan: named slices of the network (name → CIDR inside the network, not overlapping each other).",
        type: "object",
        propertyNames: { $ref: "#/definitions/name" },
        additionalProperties: { $ref: "#/definitions/cidr" },
      },
      reserved: {
        description:
          "Addresses or prefixes inside the network that `auto` never allocates, e.g. [10.20.0.250, 10.20.0.240/29].",
        type: "array",
        items: { type: "string" },
      },
      dhcp: {
        description: "DHCP serves one named range of this network: { range: vms, lease: 12h }.",
        type: "object",
        additionalProperties: false,
        required: ["range"],
        properties: {
          range: { $ref: "#/definitions/name", description: "Name of a range of this network." },
          lease: {
            $ref: "#/definitions/duration",
            description: "Lease time, whole seconds, at least 2m (default 12h).",
          },
        },
      },
    },
  },
} as const;
