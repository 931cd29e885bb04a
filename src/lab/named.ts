/**
 * BIND on the lab's DNS servers: each server's directory of zones and named.conf, and the
 * process record that runs `named` in the foreground.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { dnsRenderer } from "../render/dns.js";
import { namedConf } from "./plan.js";
import type { ProcessRecord } from "./state.js";
import { hostDir, type Lab } from "./twin.js";

/** Directory of a DNS server's BIND files: `hosts/<host>/named/` (named.conf, zones). */
export function namedDir(lab: Lab, host: string): string {
  return join(hostDir(lab, host), "named");
}

/** The process record template of BIND on a DNS server (`named -g`: foreground, log to stderr). */
export function namedProcess(
  lab: Lab,
  host: string,
  service: string,
  port: number,
): Omit<ProcessRecord, "pid"> {
  const conf = join(namedDir(lab, host), "named.conf");
  return {
    host,
    service,
    daemon: "named",
    real: true,
    log: join(hostDir(lab, host), `${service}.log`),
    port,
    protocol: "udp",
    exe: "/usr/sbin/named",
    argv: ["/usr/sbin/named", "-g", "-c", conf],
  };
}

/**
 * Writes the zones `keel render` would write (`dnsRenderer`, no previous render: serial
 * `YYYYMMDD00` of today) and named.conf into each DNS server's `named/` directory. Every server
 * gets its own copy, so a fault can change one server's zone only.
 */
export async function prepareNamed(lab: Lab): Promise<void> {
  const servers = lab.plan.hosts.filter((hp) => hp.named);
  if (servers.length === 0) return;
  const files = await dnsRenderer.render(lab.inventory, { now: new Date(), previous: () => undefined });
  for (const hp of servers) {
    const dir = namedDir(lab, hp.host);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, basename(f.path)), f.content);
    writeFileSync(join(dir, "named.conf"), namedConf(dir, hp.named!));
  }
}
