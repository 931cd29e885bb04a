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
  vmid: {
    description:
      "Proxmox VE VMID of the machine (a machine on a proxmox hypervisor only): a whole number from 100 to 999999999. Absent: Keel allocates one from the hypervisor's vmid_range and records it in keel.lock.",
    type: "integer",
    minimum: 100,
    maximum: 999999999,
  },
  proxmoxEndpoint: {
    description:
      "A Proxmox VE API endpoint: url https://HOST[:PORT] (port 8006 by default, no path) and the SHA-256 fingerprint of that node's TLS certificate (as pvenode cert info shows it: 32 hex pairs joined by ':'). The pin is the certificate check: verification is never switched off.",
    type: "object",
    additionalProperties: false,
    required: ["url", "fingerprint"],
    properties: {
      url: {
        description: "The node's API, https://HOST[:PORT] (no path).",
        type: "string",
        pattern: "^https://",
      },
      fingerprint: { $ref: "#/definitions/sha256Fingerprint" },
    },
  },
  sha256Fingerprint: {
    description: "A SHA-256 certificate fingerprint: 32 hex pairs joined by ':', e.g. AB:CD:…:EF.",
    type: "string",
    pattern: "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$",
  },
  proxmoxToken: {
    description:
      "Where Keel reads the API token (USER@REALM!TOKENID=SECRET) at run time: { env: VARIABLE } or { file: /ABSOLUTE/PATH }. Never the token itself.",
    type: "object",
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties: {
      env: {
        description: "Name of the environment variable holding the token.",
        type: "string",
        pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
      },
      file: {
        description: "Absolute path of a file holding the token (one line).",
        type: "string",
        pattern: "^/",
      },
    },
  },
  proxmoxId: {
    description:
      "A Proxmox VE node or storage ID: letters, digits, '-', '_' and '.', starting with a letter.",
    type: "string",
    pattern: "^[A-Za-z][A-Za-z0-9._-]*$",
  },
  hypervisor: {
    description:
      "A hypervisor. driver libvirt: connection URI, where volumes are stored (pool or dir, default pool default). driver proxmox: API endpoints with their certificate fingerprints, the token's source, node, storage, iso_storage, clone_limit, templates and vmid_range. Both: the bridge of each inventory network.",
    type: "object",
    additionalProperties: false,
    required: ["driver"],
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
      endpoints: {
        description: "proxmox: the cluster's API endpoints, tried in order (at least one).",
        type: "array",
        minItems: 1,
        items: { $ref: "#/definitions/proxmoxEndpoint" },
      },
      token: { $ref: "#/definitions/proxmoxToken" },
      node: {
        $ref: "#/definitions/proxmoxId",
        description: "proxmox: the node new machines are created on.",
      },
      storage: {
        $ref: "#/definitions/proxmoxId",
        description: "proxmox: the storage holding the machines' disks, e.g. local-lvm.",
      },
      iso_storage: {
        $ref: "#/definitions/proxmoxId",
        description: "proxmox: the storage (content iso) the cidata ISOs are uploaded to (default local).",
      },
      clone_limit: {
        description: "proxmox: clones running at once per target storage (default 1).",
        type: "integer",
        minimum: 1,
        maximum: 16,
      },
      templates: {
        description:
          "proxmox: image name (a key of images:) → VMID of the template machines of that image are cloned from.",
        type: "object",
        propertyNames: { $ref: "#/definitions/name" },
        additionalProperties: { type: "integer", minimum: 100, maximum: 999999999 },
      },
      vmid_range: {
        description: "proxmox: VMIDs Keel allocates from, FROM-TO inclusive (default 1000-9999).",
        type: "string",
        pattern: "^[1-9][0-9]{2,8}-[1-9][0-9]{2,8}$",
      },
      domain_type: {
        description:
          "libvirt domain type of the machines: kvm, or qemu (software emulation) where KVM is present but unusable. Default: kvm when libvirt offers it, else qemu.",
        enum: [...DOMAIN_TYPES],
      },
    },
  },
} as const;
