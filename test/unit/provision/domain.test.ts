/**
 * The domain XML Keel writes for a machine and what it reads back: the record in Keel's
 * metadata namespace, the managed fields in libvirt's units, and a record that is not Keel's
 * (another namespace, a damaged spec) is not taken for one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { domainXml } from "../../../src/provision/libvirt/define.js";
import {
  KEEL_NS,
  machineVolumes,
  parseDomain,
  parseSnapshot,
} from "../../../src/provision/libvirt/domain.js";
import type { MachineSpec } from "../../../src/provision/spec.js";

const SPEC: MachineSpec = {
  hypervisor: "vega",
  image: "debian-12",
  imageDigest: `sha256:${"ab".repeat(32)}`,
  vcpus: 2,
  memoryMiB: 1536,
  diskGiB: 20,
  autostart: true,
  mac: "02:6b:65:00:00:01",
  bridge: "br0",
  instance: 1,
  seed: "cd".repeat(32),
};

test("what domainXml writes parses back to the same record and fields", () => {
  const xml = domainXml({
    site: "lab",
    host: "web-1",
    inventory: "ee".repeat(32),
    spec: SPEC,
    volumes: machineVolumes("default", "web-1", SPEC.seed),
    type: "qemu",
    uuid: "c2100627-d93e-426c-ad70-280359ac1891",
  });
  const d = parseDomain(xml);
  assert.equal(d.name, "web-1");
  assert.equal(d.uuid, "c2100627-d93e-426c-ad70-280359ac1891");
  assert.deepEqual(d.keel, { site: "lab", host: "web-1", inventory: "ee".repeat(32), spec: SPEC });
  assert.deepEqual(d.actual, { memoryMiB: 1536, vcpus: 2, mac: "02:6b:65:00:00:01", bridge: "br0" });
  assert.deepEqual(d.root, { pool: "default", volume: "web-1.qcow2", format: "qcow2" });
  assert.match(xml, /<source pool="default" volume="web-1-cidata-cdcdcdcdcdcd\.iso"\/>/);
});

test("libvirt's own form (KiB, attributes in single quotes, placement) reads in MiB", () => {
  const d = parseDomain(`<domain type='kvm'>
  <name>db-1</name>
  <uuid>u-1</uuid>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>4</vcpu>
  <devices>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/x.iso'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/db-1.img'/></disk>
    <interface type='network'><mac address='52:54:00:AA:BB:CC'/><source network='default'/></interface>
  </devices>
</domain>`);
  assert.deepEqual(d.actual, { memoryMiB: 2048, vcpus: 4, mac: "52:54:00:aa:bb:cc" });
  assert.deepEqual(d.root, { file: "/var/lib/libvirt/images/db-1.img", format: "raw" });
  assert.equal(d.keel, undefined);
});

test("metadata in another namespace, or a record without a whole spec, is not Keel's", () => {
  const other = parseDomain(
    `<domain><name>a</name><metadata><x:machine xmlns:x="urn:other" site="lab" host="a" inventory="0">${JSON.stringify(SPEC)}</x:machine></metadata></domain>`,
  );
  assert.equal(other.keel, undefined);
  const damaged = parseDomain(
    `<domain><name>a</name><metadata><keel:machine xmlns:keel="${KEEL_NS}" site="lab" host="a" inventory="0">{"vcpus":2}</keel:machine></metadata></domain>`,
  );
  assert.equal(damaged.keel, undefined);
  assert.throws(
    () => parseDomain("<network><name>default</name></network>"),
    /not a libvirt domain definition/,
  );
});

test("a snapshot's creation time and description", () => {
  assert.deepEqual(
    parseSnapshot(
      "<domainsnapshot><name>keel-1</name><description>keel: before changing web-1 &amp; more</description><creationTime>1765016100</creationTime></domainsnapshot>",
    ),
    { createdAt: "2025-12-06T10:15:00.000Z", description: "keel: before changing web-1 & more" },
  );
});
