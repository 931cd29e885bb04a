/**
 * The `dns:` section (checked and normalised by `dns.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { DNS_RECORD_TYPES } from "./model.js";

/** A relative DNS name: dot-separated lowercase labels (RFC 1035 §2.3.1, digits may lead). */
const DNS_NAME_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$";

/** Top-level keys of this section. */
export const dnsProperties = {
  dns: { $ref: "#/definitions/dns" },
} as const;

/** Definitions of this section. */
export const dnsDefinitions = {
  ttl: {
    description: "A DNS TTL in seconds, 0..2147483647 (RFC 2181 §8).",
    type: "integer",
    minimum: 0,
    maximum: 2147483647,
  },
  dnsName: {
    description:
      "A DNS name relative to domain: dot-separated labels of lowercase letters, digits and '-', e.g. www.",
    type: "string",
    pattern: DNS_NAME_PATTERN,
  },
  dnsRecord: {
    description:
      "An extra resource record of the forward zone: { name, type, value, ttl }; value is the RDATA as in a master file.",
    type: "object",
    additionalProperties: false,
    required: ["name", "type", "value"],
    properties: {
      name: {
        description:
          'Owner name relative to domain: "@" is the apex, "*" and "*.x" are wildcards, e.g. www, _sip._tcp.',
        type: "string",
        minLength: 1,
      },
      type: {
        description: "Record type: A, AAAA, CNAME, MX, TXT, SRV, NS or CAA.",
        enum: [...DNS_RECORD_TYPES],
      },
      value: {
        description:
          'The RDATA as in a master file ("10 mail" for MX, "10 5 5060 svc-1" for SRV); a target that is not an FQDN (no trailing dot) is a host name.',
        type: "string",
        minLength: 1,
      },
      ttl: { $ref: "#/definitions/ttl", description: "TTL of this record in s (default dns.ttl)." },
    },
  },
  dns: {
    description: "Keel extension: the DNS zones keel render writes (forward zone of domain, reverse zones).",
    type: "object",
    additionalProperties: false,
    properties: {
      ttl: {
        $ref: "#/definitions/ttl",
        description: "Default TTL of rendered records in s (default 3600).",
      },
      servers: {
        description: "Hosts that serve the zones (NS records); the first is the SOA primary (MNAME).",
        type: "array",
        items: { $ref: "#/definitions/name" },
      },
      contact: {
        description:
          "SOA RNAME: a name in the zone (hostmaster, the default), an email address (admin@example.org) or an FQDN-like a.b.",
        type: "string",
        minLength: 1,
      },
      records: {
        description: "Extra resource records of the forward zone.",
        type: "array",
        items: { $ref: "#/definitions/dnsRecord" },
      },
    },
  },
} as const;
