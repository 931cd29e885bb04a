/**
 * The tests' cross-check of the OpenAPI document: which routes are in the API's URL space
 * (`/healthz`, `/api`, `/metrics`, `/sd`), HEAD aside, judged from the path text alone. The
 * server never decides anything by URL text (`described` in src/serve/openapi.ts reads the
 * routes' declarations); the tests check that every route this names is described.
 */
export function documented(r: { method: string; url: string }): boolean {
  return r.method !== "HEAD" && (r.url === "/healthz" || /^\/(api|metrics|sd)(\/|$)/.test(r.url));
}
