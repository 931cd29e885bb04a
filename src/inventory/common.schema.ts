/**
 * The definitions every section shares: format version, names, domain, addresses, prefixes, ports, `allow` lists and address forms.
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
const NAME_PATTERN = "^[a-z][a-z0-9-]{0,62}$";
const PORT_PATTERN =
  "^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])(/(tcp|udp))?$";

/** Definitions of this section. */
export const commonDefinitions = {
  version: {
    description: "Format version of the inventory (required). This Keel reads version 1.",
    const: 1,
  },
  name: {
    description:
      "A DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters.",
    type: "string",
    pattern: NAME_PATTERN,
  },
  domain: {
    description: "DNS zone that host names live in, e.g. lab.internal.",
    type: "string",
    pattern:
      "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$",
  },
  address: {
    description: "An IPv4 or IPv6 address, e.g. 10.20.0.4 or fd00::4.",
    type: "string",
  },
  cidr: {
    description: "An IPv4 or IPv6 prefix with its host bits zero, e.g. 10.20.0.0/24.",
    type: "string",
    pattern: "^[^/]+/[0-9]{1,3}$",
  },
  port: {
    description: "A port: N, N/tcp or N/udp with N from 1 to 65535 (default protocol tcp).",
    type: ["integer", "string"],
    minimum: 1,
    maximum: 65535,
    pattern: PORT_PATTERN,
  },
  portNumber: {
    description: "A TCP or UDP port number from 1 to 65535.",
    type: "integer",
    minimum: 1,
    maximum: 65535,
  },
  allow: {
    description:
      "Who may reach the service: network, host or vantage names, or `any`. Every name must exist. Absent means [any].",
    type: "array",
    items: { $ref: "#/definitions/name" },
  },
  addressForm: {
    description:
      "One address per attached network ({ lan: 10.20.0.2, vpn: 10.99.0.1 }; the first is primary), or one address (shorthand) that falls in exactly one network. For hosts, an address may be `auto` (the next free address of the network outside its named ranges) or `auto@RANGE` (of that named range), recorded in keel.lock.",
    type: ["string", "object"],
    minProperties: 1,
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/address" },
  },
} as const;
