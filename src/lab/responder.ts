/**
 * The lab's stand-in responder, for services whose kind has no Debian daemon in the twin.
 * Run inside a host's namespace as `node responder.js MODE PORT [ADDRESS] [PATH] [STATUS]`:
 * - `grafana`: HTTP, answers `/api/health` (and PATH) with `{"database":"ok","version":"lab"}`;
 * - `http`: HTTP, answers PATH with STATUS and `ok`, every other path with 404;
 * - `tcp`: accepts TCP connections and closes them after a greeting;
 * - `udp`: echoes UDP datagrams.
 * ADDRESS defaults to `::` (all addresses, both families). Exits on SIGTERM.
 */
import { createSocket } from "node:dgram";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";

const [mode = "tcp", portText = "0", address = "::", path = "/", statusText = "200"] = process.argv.slice(2);
const port = Number(portText);
const host = address === "" ? "::" : address;
const family = host.includes(":") ? "udp6" : "udp4";

function listening(): void {
  process.stdout.write(`responder ${mode} listening on ${host} port ${port}\n`);
}

if (mode === "udp") {
  const sock = createSocket({ type: family, ipv6Only: false });
  sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(port, host, listening);
} else if (mode === "grafana" || mode === "http") {
  const status = Number(statusText);
  createHttpServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://lab");
    if (mode === "grafana" && (url.pathname === "/api/health" || url.pathname === path)) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"database":"ok","version":"lab"}');
    } else if (url.pathname === path) {
      res.writeHead(status, { "content-type": "text/plain" });
      res.end("ok\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  }).listen({ port, host, ipv6Only: false }, listening);
} else {
  createTcpServer((sock) => {
    sock.on("error", () => {});
    sock.end("keel lab\n");
  }).listen({ port, host, ipv6Only: false }, listening);
}

process.on("SIGTERM", () => process.exit(0));
