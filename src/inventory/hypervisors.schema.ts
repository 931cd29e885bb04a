/**
 * The `hypervisors:` section (checked and normalised by `hypervisors.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { DOMAIN_TYPES, HYPERVISOR_DRIVERS } from "./model.js";

/** Top-level keys of this section. */
export const hypervisorsProperties = {
  hypervisors: {
    description:
      "Keel extension: hypervisors that machines are created on, by name (a DNS label); a host's vm.hypervisor names one.",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/hypervisor" },
  },
} as const;

/** Definitions of this section. */
export const hypervisorsDefinitions = {
  hypervisorDriver: {
    description: `How Keel talks to the hypervisor: ${HYPERVISOR_DRIVERS.join(", ")}.`,
    enum: [...HYPERVISOR_DRIVERS],
  },
  libvirtUri: {
    description:
      "libvirt connection URI of the QEMU driver: qemu, qemu+ssh, qemu+tcp, qemu+tls, qemu+unix, qemu+libssh2 or qemu+libssh, with path /system or /session, e.g. qemu:///system or qemu+ssh://root@vega/system (query parameters such as ?keyfile=… allowed; no password).",
    type: "string",
    minLength: 1,
  },
  storagePool: {
    description: "Name of an existing libvirt storage pool (any name without '/'), e.g. default.",
    type: "string",
    pattern: "^[^/]+$",
  },
  hypervisorDir: {
    description:
      "Absolute directory on the hypervisor for the volumes; Keel defines a dir pool on it when no pool has that path.",
    type: "string",
    pattern: "^/",
  },
  bridge: {
    description:
      "A Linux bridge on the hypervisor (an interface name: 1 to 15 bytes, no '/', ':' or whitespace, not . or ..), e.g. br0.",
    type: "string",
    minLength: 1,
  },
  hypervisor: {
    description:
      "A hypervisor: driver, connection URI, where volumes are stored (pool or dir, default pool default) and the bridge of each inventory network.",
    type: "object",
    additionalProperties: false,
    required: ["driver", "uri"],
    properties: {
      driver: { $ref: "#/definitions/hypervisorDriver" },
      uri: { $ref: "#/definitions/libvirtUri" },
      pool: {
        $ref: "#/definitions/storagePool",
        description: "libvirt storage pool holding the volumes (default default). Not together with dir.",
      },
      dir: {
        $ref: "#/definitions/hypervisorDir",
        description: "Absolute directory on the hypervisor holding the volumes. Not together with pool.",
      },
      networks: {
        description:
          "Inventory network name → the bridge on the hypervisor that network is on, e.g. { lan: br0 }.",
        type: "object",
        propertyNames: { $ref: "#/definitions/name" },
        additionalProperties: { $ref: "#/definitions/bridge" },
      },
      domain_type: {
        description:
          "libvirt domain type of the machines: kvm, or qemu (software emulation) where KVM is present but unusable. Default: kvm when libvirt offers it, else qemu.",
        enum: [...DOMAIN_TYPES],
      },
    },
  },
} as const;
