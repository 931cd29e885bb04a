/**
 * Vite build of the dashboard: `web/` → `dist/web`, served by `keel serve`. Relative asset
 * paths and hash routing, so the dashboard works under any path without server-side routing.
 *
 * The components are written against React's API and run on Preact: package.json installs
 * `react` and `react-dom` as npm aliases of `@preact/compat` (Preact's documented way), so the
 * bundle is a fifth of React's size, which a loaded small machine parses and runs in a fraction
 * of the time (the dashboard's first render is judged in the serve bench).
 */
import path from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  plugins: [react()],
  build: {
    outDir: path.resolve(import.meta.dirname, "../dist/web"),
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // `npx vite --config web/vite.config.ts` proxies the API to a running keel serve.
    proxy: { "/api": process.env.KEEL_API ?? "http://127.0.0.1:8484" },
  },
});
