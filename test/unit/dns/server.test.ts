import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveServer } from "../../../src/cli/dns.js";
import { parseInventory } from "../../../src/inventory/load.js";

const inv = parseInventory(
  `keel: 1
site: t
domain: lab.internal
dns: { servers: [ns1] }
networks:
  lan: { cidr: 10.0.0.0/24 }
  mgmt: { cidr: 10.9.0.0/24 }
hosts:
  ns1: { address: { mgmt: 10.9.0.2, lan: 10.0.0.2 } }
  ns2: { address: { lan: 10.0.0.3 } }
vantages:
  here: { local: true, networks: [lan] }
`,
  "keel.yaml",
);

test("--server: default the first of dns.servers as the local vantage reaches it; a host; ADDR[:PORT]", () => {
  assert.deepEqual(resolveServer(inv, undefined, ["ns1"]), { host: "10.0.0.2", port: 53 });
  assert.deepEqual(resolveServer(inv, "ns2", ["ns1"]), { host: "10.0.0.3", port: 53 });
  assert.deepEqual(resolveServer(inv, "127.0.0.1:5353", ["ns1"]), { host: "127.0.0.1", port: 5353 });
  assert.deepEqual(resolveServer(inv, "::1", ["ns1"]), { host: "::1", port: 53 });
  assert.deepEqual(resolveServer(inv, "[::1]:5353", ["ns1"]), { host: "::1", port: 5353 });
  assert.throws(
    () => resolveServer(inv, "ns9", ["ns1"]),
    /^UserError: --server ns9: not a host of keel\.yaml nor an address/,
  );
  assert.throws(() => resolveServer(inv, "127.0.0.1:0", ["ns1"]), /--server 127\.0\.0\.1:0: /);
});
