/**
 * `npm run bench:web`: first render of the dashboard on a large site (issue #3, point 7: "first
 * render under 1 s with 5,000 hosts and 50,000 checks"), measured by `bench/first-render.ts`.
 *
 * Serves dist/web and the API from the fixture server of test/web/ with a generated site of
 * BENCH_HOSTS hosts × 10 checks (default 5,000 → 50,000 checks), or measures a running
 * `keel serve` when BENCH_URL and BENCH_TOKEN are set. The median over BENCH_RUNS cold runs
 * (default 5) is compared with the 1,000 ms target; exit status 1 when it is missed. The serve
 * scenario of `npm run bench` makes the same measurement against the live `keel serve`.
 */
import { bigSite } from "../test/web/data.js";
import { startFixtureServer, TOKENS } from "../test/web/server.js";
import { describeFirstRender, measureFirstRender } from "./first-render.js";

const HOSTS = Number(process.env.BENCH_HOSTS ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const external = process.env.BENCH_URL;
const t0 = performance.now();
const server = external ? null : await startFixtureServer(bigSite(HOSTS));
const url = external ?? server!.url;
const token = external ? (process.env.BENCH_TOKEN ?? "") : TOKENS.viewer;
if (server) {
  const s = server.data;
  console.log(
    `fixture: ${s.hosts.length} hosts, ${s.states.length} checks, generated in ${Math.round(performance.now() - t0)} ms`,
  );
}
try {
  const r = await measureFirstRender(url, token, RUNS);
  console.log(describeFirstRender(r));
  process.exitCode = r.met ? 0 : 1;
} finally {
  await server?.close();
}
