/**
 * The pieces of `GET /api/clusters` that need no cluster (`src/serve/clusters.ts`): the console
 * link is the Proxmox VE web interface's own URL with every value URL-encoded, opened on the
 * endpoint whose host name is the machine's node when the inventory has one. The route against
 * a cluster: test/integration/serve-proxmox.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProxmoxHypervisor } from "../../../src/inventory/model.js";
import { consoleUrl, nodeEndpoint } from "../../../src/serve/clusters.js";

test("the console link is the web interface's noVNC URL, its values URL-encoded", () => {
  assert.equal(
    consoleUrl("https://vega.lab:8006", 120, "grafana", "rigel"),
    "https://vega.lab:8006/?console=kvm&novnc=1&vmid=120&vmname=grafana&node=rigel&resize=off&cmd=",
  );
  const odd = new URL(consoleUrl("https://vega.lab:8006", 7, "a b&c=d", "n/1"));
  assert.equal(odd.searchParams.get("vmname"), "a b&c=d");
  assert.equal(odd.searchParams.get("node"), "n/1");
  assert.deepEqual(
    [...odd.searchParams.keys()],
    ["console", "novnc", "vmid", "vmname", "node", "resize", "cmd"],
  );
});

test("the console opens on the node's own endpoint when the inventory lists one, else on the one that answered", () => {
  const h = {
    endpoints: [
      { url: "https://vega.lab:8006", fingerprint: "x" },
      { url: "https://Rigel.lab:8006/", fingerprint: "y" },
    ],
  } as unknown as ProxmoxHypervisor;
  assert.equal(nodeEndpoint(h, "rigel", "https://vega.lab:8006"), "https://rigel.lab:8006");
  assert.equal(nodeEndpoint(h, "vega", "https://rigel.lab:8006"), "https://vega.lab:8006");
  assert.equal(nodeEndpoint(h, "altair", "https://vega.lab:8006"), "https://vega.lab:8006");
});
