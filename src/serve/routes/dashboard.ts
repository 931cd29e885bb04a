/**
 * The dashboard's static files (`dist/web`, through @fastify/static) and the answer to requests
 * no route matches: 404 JSON under the API's paths and for methods other than GET, else the
 * dashboard's `index.html` (client-side routes). Neither holds data, so neither needs a token.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RouteGuard } from "../access.js";

/** Paths of the API, `/metrics` and `/sd` (after decoding, lower-cased, slashes collapsed). */
const API_PATH = /^\/(api|metrics|sd)(\/|$)/;

/**
 * Whether an unmatched request's path names the API however it is spelled: percent-encoded
 * (decoded up to three times), in any case, with repeated slashes. Only chooses what the
 * not-found handler answers (404 JSON rather than the dashboard's `index.html`); access is
 * never decided from it.
 */
function apiLike(url: string): boolean {
  let p = url.split("?")[0] ?? "";
  for (let i = 0; i < 3; i++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(p);
    } catch {
      break;
    }
    if (decoded === p) break;
    p = decoded;
  }
  return API_PATH.test(p.toLowerCase().replace(/\/{2,}/g, "/"));
}

/**
 * Adds to `app` (the root instance: the not-found handler and `reply.sendFile` are the whole
 * server's) one public GET and HEAD route per file of `webRoot` when it holds `index.html`, and
 * the not-found handler. Without a built dashboard, a GET no route matches answers 404 naming
 * the missing `index.html`.
 */
export async function serveDashboard(
  app: FastifyInstance,
  webRoot: string,
  guard: RouteGuard,
): Promise<void> {
  const hasDashboard = existsSync(path.join(webRoot, "index.html"));
  if (hasDashboard) {
    const root = path.resolve(webRoot);
    // reply.sendFile for the SPA fallback below (this registration adds no route)
    await app.register(fastifyStatic, { root, serve: false });
    // one GET and HEAD route per file, in a context that declares them all public (they hold no data)
    await app.register(async (files) => {
      guard.publicContext(files);
      await files.register(fastifyStatic, {
        root,
        wildcard: false,
        index: "index.html",
        decorateReply: false,
      });
    });
  }
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    if (apiLike(req.url) || req.method !== "GET")
      return reply
        .code(404)
        .send({ error: `no route ${req.method} ${req.url.split("?")[0]}; see /api/openapi.json` });
    if (!hasDashboard)
      return reply
        .code(404)
        .send({ error: `the dashboard is not built (no ${path.join(webRoot, "index.html")})` });
    // SPA fallback: client-side routes get index.html
    return reply.type("text/html; charset=utf-8").sendFile("index.html");
  });
}
