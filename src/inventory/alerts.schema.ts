/**
 * The `alerts:` section (checked and normalised by `alerts.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */

/** Top-level keys of this section. */
export const alertsProperties = {
  alerts: { $ref: "#/definitions/alerts" },
} as const;

/** Definitions of this section. */
export const alertsDefinitions = {
  url: {
    description: "An http:// or https:// URL.",
    type: "string",
    pattern: "^[Hh][Tt][Tt][Pp][Ss]?://",
  },
  webhook: {
    description: "A webhook receiving hard state changes as JSON: { name, url, headers }.",
    type: "object",
    additionalProperties: false,
    required: ["name", "url"],
    properties: {
      name: { $ref: "#/definitions/name", description: "Name of the webhook (unique), used in logs." },
      url: { $ref: "#/definitions/url", description: "Where the JSON body is POSTed." },
      headers: {
        description: `Extra request headers; values may contain \${ENV} references, resolved when sending.`,
        type: "object",
        propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
        additionalProperties: { type: "string" },
      },
    },
  },
  alerts: {
    description: "Keel extension: where hard state changes are sent (Alertmanager v2 API, webhooks).",
    type: "object",
    additionalProperties: false,
    properties: {
      alertmanager: {
        description: "Alertmanager base URLs, e.g. http://10.20.0.3:9093 (alerts go to URL/api/v2/alerts).",
        type: "array",
        items: { $ref: "#/definitions/url" },
      },
      webhooks: {
        description: "Generic webhooks (names unique).",
        type: "array",
        items: { $ref: "#/definitions/webhook" },
      },
    },
  },
} as const;
