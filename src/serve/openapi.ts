/**
 * The OpenAPI 3.1 document of `keel serve`, generated from the route schemas fastify validates
 * and serialises with, so the document cannot drift from the routes.
 *
 * Follows the OpenAPI Specification 3.1.0: path templates `{name}` (fastify's `:name`),
 * `parameters` from the `params` and `querystring` schemas, `requestBody` from `body`,
 * `responses` from `response`, shared schemas under `components/schemas`, and a bearer
 * `securitySchemes` entry applied to every operation but the public ones.
 */
import type { FastifyContextConfig, FastifySchema } from "fastify";

/** One registered route as fastify's `onRoute` hook reports it. */
export interface RouteRecord {
  method: string;
  url: string;
  schema?: FastifySchema | undefined;
  config?: FastifyContextConfig | undefined;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Content type of the 200 answer when it is not JSON (for the OpenAPI document). */
    produces?: string;
  }
  interface FastifySchema {
    /** One line for the OpenAPI document. */
    summary?: string;
    /**
     * Leaves the route out of the document (the convention of @fastify/swagger; @fastify/static
     * declares it on the dashboard's files).
     */
    hide?: boolean;
  }
}

/**
 * Routes the document describes, by what each route declares: every route but the HEAD ones
 * fastify adds beside each GET and those whose schema declares `hide` (the dashboard's files).
 */
export function described(r: RouteRecord): boolean {
  return r.method !== "HEAD" && r.schema?.hide !== true;
}

/** `/api/checks/:id/history` → `/api/checks/{id}/history`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** Rewrites `{ $ref: "NAME#" }` (fastify shared schemas) to `#/components/schemas/NAME`, deeply. */
function refs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(refs);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string" && /^[A-Za-z0-9_]+#$/.test(x))
        out[k] = `#/components/schemas/${x.slice(0, -1)}`;
      else out[k] = refs(x);
    }
    return out;
  }
  return v;
}

const REASONS: Record<string, string> = {
  "200": "OK",
  "400": "Bad request: what is wrong and what is expected",
  "401": "No valid bearer token",
  "403": "The token's role does not allow this",
  "404": "Not found",
};

interface ObjectSchema {
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
}

/**
 * Builds the document.
 * @param routes every route registered (those {@link described} are in the document).
 * @param shared schemas registered with `addSchema`, by name.
 */
export function buildOpenApi(
  routes: readonly RouteRecord[],
  shared: Record<string, Record<string, unknown>>,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes.filter(described)) {
    const s = (r.schema ?? {}) as Record<string, unknown> & FastifySchema;
    const isPublic = r.config?.role === "public";
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ["path", s.params],
      ["query", s.querystring],
    ] as const) {
      const obj = schema as ObjectSchema | undefined;
      for (const [name, p] of Object.entries(obj?.properties ?? {})) {
        const { description, ...rest } = p;
        parameters.push({
          name,
          in: where,
          required: where === "path" || (obj?.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: refs(rest),
        });
      }
    }
    const responses: Record<string, unknown> = {};
    const declared = (s.response ?? {}) as Record<string, unknown>;
    const produces = r.config?.produces;
    if (!declared["200"] && !declared[200]) {
      responses["200"] = {
        description: REASONS["200"],
        content: { [produces ?? "application/json"]: { schema: { type: "string" } } },
      };
    }
    for (const [code, schema] of Object.entries(declared)) {
      responses[code] = {
        description: REASONS[code] ?? code,
        content: { "application/json": { schema: refs(schema) } },
      };
    }
    if (!isPublic) {
      responses["401"] ??= {
        description: REASONS["401"],
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${openApiPath(r.url)
        .replace(/[{}]/g, "")
        .split(/[/._-]/)
        .filter(Boolean)
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join("")}`,
      summary: typeof s.summary === "string" ? s.summary : `${r.method} ${r.url}`,
      ...(parameters.length ? { parameters } : {}),
      ...(s.body
        ? { requestBody: { required: true, content: { "application/json": { schema: refs(s.body) } } } }
        : {}),
      responses,
      security: isPublic ? [] : [{ bearer: [] }],
      ...(r.config?.role === "operator" ? { "x-keel-role": "operator" } : {}),
    };
    const p = openApiPath(r.url);
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Keel serve API",
      version: "1",
      description:
        "The HTTP API of keel serve (docs/serve.md). Every operation but /healthz needs Authorization: Bearer TOKEN; viewers read, operators may also run checks.",
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(shared).map(([k, v]) => [k, refs(v)])),
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
    security: [{ bearer: [] }],
  };
}
