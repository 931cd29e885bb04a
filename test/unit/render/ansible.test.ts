/**
 * The Ansible renderer, judged by `ansible-inventory -i FILE --list`: every host with its
 * connection variables, one group per tag under a valid group name.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ansibleRenderer, groupName } from "../../../src/render/ansible.js";
import { contractExample } from "../../helpers/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "keel-render-ansible-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Listed {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  all: { children: string[] };
  [group: string]: { hosts?: string[]; children?: string[] } | unknown;
}

function list(content: string): Listed {
  const file = join(dir, "inventory.yml");
  writeFileSync(file, content);
  const out = execFileSync("ansible-inventory", ["-i", file, "--list"], {
    encoding: "utf8",
    env: { ...process.env, ANSIBLE_INVENTORY_UNPARSED_FAILED: "true", ANSIBLE_LOCAL_TEMP: dir, HOME: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return JSON.parse(out);
}

test("ansible-inventory --list reads every host, its connection variables and the tag groups", async () => {
  const inv = contractExample();
  inv.hosts[3]!.tags.push("3d-render", "all");
  inv.hosts[2]!.ssh = undefined;
  const [file] = await ansibleRenderer.render(inv, { now: new Date(0), previous: () => undefined });
  assert.equal(file!.path, "ansible/inventory.yml");
  const listed = list(String(file!.content));
  assert.deepEqual(Object.keys(listed._meta.hostvars).sort(), ["gpu", "gw-vpn", "mon", "ns1"]);
  assert.deepEqual(listed._meta.hostvars["gw-vpn"], {
    ansible_host: "10.20.0.2",
    ansible_user: "root",
    ansible_port: 22,
    ansible_ssh_private_key_file: "~/.ssh/id_ed25519",
    keel_site: "lab",
  });
  assert.deepEqual(listed._meta.hostvars.ns1, { ansible_host: "10.20.0.4", keel_site: "lab" });
  const hostsOf = (g: string) => ((listed[g] as { hosts?: string[] }).hosts ?? []).sort();
  assert.deepEqual(hostsOf("monitored"), ["gpu", "gw-vpn", "mon"]);
  assert.deepEqual(hostsOf("vpn_gateway"), ["gw-vpn"]);
  assert.deepEqual(hostsOf("tag_3d_render"), ["gpu"]);
  assert.deepEqual(hostsOf("tag_all"), ["gpu"]);
  assert.deepEqual(hostsOf("ungrouped"), ["ns1"]);
});

test("tag names become valid group names", () => {
  assert.equal(groupName("vpn-gateway"), "vpn_gateway");
  assert.equal(groupName("monitored"), "monitored");
  assert.equal(groupName("9lives"), "tag_9lives");
  assert.equal(groupName("ungrouped"), "tag_ungrouped");
});
