/**
 * `npm run bench:web`: first render of the dashboard on a large site ("first
 * render under 1 s with 5,000 hosts and 50,000 checks"), measured by `bench/first-render.ts`.
 *
 * Runs the built `keel serve` (dist/cli/main.js) on the loopback site of `test/web/site.ts`:
 * BENCH_HOSTS hosts (default 5,000) on 127.1.x.y with 9 TCP services each, answered by a
 * listener of this process, so 10 checks run per host (`reachable` and 9 `port.open`; 50,000
 * for 5,000 hosts) and one is skipped (`listeners`, `ssh: false`). Once every check has a
 * result, the median over BENCH_RUNS cold runs (default 5) is compared with the 1,000 ms
 * target; exit status 1 when it is missed. With BENCH_URL and BENCH_TOKEN set, it measures
 * that running `keel serve` instead. The serve scenario of `npm run bench` makes the same
 * measurement against its own live `keel serve`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { eventually } from "../test/helpers/alertmanager.js";
import { freePort } from "../test/helpers/daemons.js";
import { type ServeProcess, spawnServe } from "../test/helpers/serve.js";
import { bigSiteYaml, TOKENS } from "../test/web/site.js";
import { describeFirstRender, measureFirstRender } from "./first-render.js";

const HOSTS = Number(process.env.BENCH_HOSTS ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const external = process.env.BENCH_URL;
const dir = mkdtempSync(path.join(tmpdir(), "keel-bench-web-"));
const listener = createServer((c) => c.end());
let serve: ServeProcess | undefined;
try {
  let url: string;
  let token: string;
  if (external) {
    url = external;
    token = process.env.BENCH_TOKEN ?? "";
  } else {
    const t0 = performance.now();
    await new Promise<void>((r) => listener.listen({ host: "0.0.0.0", port: 0, backlog: 4096 }, r));
    const file = path.join(dir, "keel.yaml");
    const open = (listener.address() as { port: number }).port;
    writeFileSync(file, bigSiteYaml(HOSTS, open, await freePort(), 9));
    serve = await spawnServe(file, {
      args: ["--db", path.join(dir, "keel.db"), "--audit", path.join(dir, "audit.log")],
    });
    const headers = { authorization: `Bearer ${TOKENS.viewer}` };
    const counts = await eventually(
      "every check has a result",
      async () => {
        const o = (await (await fetch(`${serve!.url}/api/overview`, { headers })).json()) as {
          counts: Record<string, number>;
        };
        return o.counts.unknown === 0 ? o.counts : undefined;
      },
      300_000,
    );
    console.log(
      `keel serve: ${HOSTS} hosts, ${counts.checks} checks (${counts.skip} skipped), every result in after ` +
        `${Math.round(performance.now() - t0)} ms`,
    );
    url = `${serve.url}/`;
    token = TOKENS.viewer;
  }
  const r = await measureFirstRender(url, token, RUNS);
  console.log(describeFirstRender(r));
  process.exitCode = r.met ? 0 : 1;
} finally {
  if (serve) await serve.stop();
  listener.close();
  rmSync(dir, { recursive: true, force: true });
}
