/**
 * The `serve:` section (checked and normalised by `serve.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { CHECK_KINDS } from "./check-kinds.js";
import { DURATION_PATTERN } from "./duration.js";
import { TOKEN_ROLES } from "./model.js";

/** Top-level keys of this section. */
export const serveProperties = {
  serve: { $ref: "#/definitions/serve" },
} as const;

/** Definitions of this section. */
export const serveDefinitions = {
  duration: {
    description: "A Prometheus duration: 500ms, 30s, 5m, 1h30m, 7d, 2w, 1y (units largest first).",
    type: "string",
    minLength: 1,
    pattern: DURATION_PATTERN,
  },
  count: {
    description: "A whole number, at least 1.",
    type: "integer",
    minimum: 1,
  },
  checkSchedule: {
    description:
      "How often checks of this kind run and when their state turns hard: { interval: 30s, fail_after: 3, recover_after: 2 }.",
    type: "object",
    additionalProperties: false,
    properties: {
      interval: {
        $ref: "#/definitions/duration",
        description:
          "Time between two runs of one check (at least 1s; default 60s, 30s for reachable, port.open, http).",
      },
      fail_after: {
        $ref: "#/definitions/count",
        description: "Consecutive failures (fail or error) that make the state hard (default 3).",
      },
      recover_after: {
        $ref: "#/definitions/count",
        description: "Consecutive passes that bring a hard-failing check back to ok (default 2).",
      },
    },
  },
  listen: {
    description:
      "HOST:PORT that keel serve listens on, e.g. 127.0.0.1:8484 or [::1]:8484 (port 0: any free port).",
    type: "string",
    minLength: 1,
  },
  sha256: {
    description:
      "Lower- or upper-case hex SHA-256 of the token (64 hex digits), e.g. from `printf %s TOKEN | sha256sum`.",
    type: "string",
    pattern: "^[0-9A-Fa-f]{64}$",
  },
  envRef: {
    description: `A reference to an environment variable holding a secret: \${NAME}.`,
    type: "string",
    pattern: "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$",
  },
  apiToken: {
    description: `An API token of keel serve: { name, role, sha256: HEX } or { name, role, token: \${ENV} } (exactly one of sha256 and token).`,
    type: "object",
    additionalProperties: false,
    required: ["name", "role"],
    properties: {
      name: {
        $ref: "#/definitions/name",
        description: "Who the token belongs to (written to the audit log).",
      },
      role: {
        description: "viewer reads; operator may also trigger runs.",
        enum: [...TOKEN_ROLES],
      },
      sha256: { $ref: "#/definitions/sha256" },
      token: {
        $ref: "#/definitions/envRef",
        description: `The token itself, as \${ENV}: the name of an environment variable holding it (never a literal).`,
      },
    },
  },
  serve: {
    description:
      "Keel extension: settings of `keel serve` (scheduling, states, flapping, retention, API tokens).",
    type: "object",
    additionalProperties: false,
    properties: {
      listen: { $ref: "#/definitions/listen" },
      checks: {
        description: "Schedule and state thresholds by check kind, or `default` for every kind.",
        type: "object",
        additionalProperties: false,
        properties: Object.fromEntries(
          ["default", ...CHECK_KINDS].map((k) => [
            k,
            {
              $ref: "#/definitions/checkSchedule",
              description:
                k === "default"
                  ? "Schedule of every kind (each kind's own entry wins)."
                  : `Schedule of ${k} checks.`,
            },
          ]),
        ),
      },
      flapping: {
        description:
          "Flapping: a check is flapping when its result changed between passing and failing `changes` or more times within its last `window` results.",
        type: "object",
        additionalProperties: false,
        properties: {
          window: {
            description: "How many of the latest results to look at (default 20, from 2 to 1000).",
            type: "integer",
            minimum: 2,
            maximum: 1000,
          },
          changes: {
            $ref: "#/definitions/count",
            description: "State changes within the window that mean flapping (default 6; less than window).",
          },
        },
      },
      retention: {
        description: "How long check history is kept in the store.",
        type: "object",
        additionalProperties: false,
        properties: {
          raw: {
            $ref: "#/definitions/duration",
            description: "Raw results are kept this long (default 7d).",
          },
          bucket: {
            $ref: "#/definitions/duration",
            description: "Older results are downsampled into buckets this wide (default 1h).",
          },
          max_age: {
            $ref: "#/definitions/duration",
            description: "Nothing is kept longer than this (default 365d; at least raw).",
          },
          per_check: {
            $ref: "#/definitions/count",
            description: "At most this many raw results per check (default 10000); the oldest go first.",
          },
        },
      },
      tokens: {
        description: "API tokens: who may read (viewer) and trigger runs (operator). Names are unique.",
        type: "array",
        items: { $ref: "#/definitions/apiToken" },
      },
    },
  },
} as const;
