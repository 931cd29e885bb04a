/**
 * The `defaults:` and `hosts:` sections (checked and normalised by `hosts.ts` and `addresses.ts`).
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { HOST_KEY_CHECKING, SERVICE_KINDS } from "./model.js";

/** Service names are DNS labels; `node_exporter` is allowed so a host can redeclare the default service. */
const SERVICE_NAME_PATTERN = "^([a-z][a-z0-9-]{0,62}|node_exporter)$";

/**
 * The keys of `vm:` and `defaults.vm` that say where and how the machine runs (`VmMachine`):
 * the host is managed by `keel plan` / `keel apply` when the merged `vm:` names a hypervisor.
 */
const MACHINE_PROPERTIES = {
  hypervisor: {
    $ref: "#/definitions/name",
    description:
      "Hypervisor the VM runs on (a key of hypervisors:); naming one makes the machine managed by keel plan / apply.",
  },
  image: {
    $ref: "#/definitions/name",
    description: "Image the root disk is made from (a key of images:); required with hypervisor.",
  },
  vcpus: { $ref: "#/definitions/vmVcpus" },
  memory: { $ref: "#/definitions/vmMemory" },
  disk: { $ref: "#/definitions/vmDisk" },
  autostart: {
    description: "Start the VM when the hypervisor boots (default true).",
    type: "boolean",
  },
  keep_snapshots: {
    description:
      "Keel's snapshots kept per machine (default 3): after apply takes one, the oldest beyond this many are deleted.",
    type: "integer",
    minimum: 1,
    maximum: 100,
  },
} as const;

/** Top-level keys of this section. */
export const hostsProperties = {
  defaults: { $ref: "#/definitions/defaults" },
  hosts: {
    description: "Hosts of the site by name (a DNS label).",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: { $ref: "#/definitions/host" },
  },
} as const;

/** Definitions of this section. */
export const hostsDefinitions = {
  sshSettings: {
    description:
      "SSH settings: login user, port, identity file (absent: SSH agent), who may reach port 22, and (in defaults.ssh only) where and how host keys are pinned.",
    type: "object",
    additionalProperties: false,
    properties: {
      user: { description: "Login user (default root).", type: "string", minLength: 1 },
      port: { $ref: "#/definitions/portNumber", description: "SSH port (default 22)." },
      identity: {
        description:
          "Private key file (~/ and paths relative to the inventory are resolved); absent means the SSH agent or default keys.",
        type: "string",
        minLength: 1,
      },
      allow: { $ref: "#/definitions/allow" },
      known_hosts: {
        description:
          "known_hosts file pinning the hosts' SSH keys, OpenSSH format (~/ and paths relative to the inventory are resolved); default .keel/known_hosts beside the inventory.",
        type: "string",
        minLength: 1,
      },
      host_key_checking: {
        description:
          "accept-new (default): a host with no key in known_hosts is accepted and its key recorded, as ssh -o StrictHostKeyChecking=accept-new; strict: such a host is refused (for CI). A changed key is always refused.",
        type: "string",
        enum: [...HOST_KEY_CHECKING],
      },
    },
  },
  nodeExporterSettings: {
    description: "node_exporter settings: port (default 9100) and who may reach it.",
    type: "object",
    additionalProperties: false,
    properties: {
      port: { $ref: "#/definitions/portNumber", description: "node_exporter port (default 9100)." },
      allow: { $ref: "#/definitions/allow" },
    },
  },
  defaults: {
    description: "Defaults for the ssh service (every host) and node_exporter (hosts tagged monitored).",
    type: "object",
    additionalProperties: false,
    properties: {
      ssh: { $ref: "#/definitions/sshSettings" },
      node_exporter: { $ref: "#/definitions/nodeExporterSettings" },
      vm: { $ref: "#/definitions/vmDefaults" },
    },
  },
  unixUser: {
    description:
      "A login name: a lowercase letter or _, then lowercase letters, digits, _ or -, at most 32 characters (useradd).",
    type: "string",
    pattern: "^[a-z_][a-z0-9_-]{0,31}$",
  },
  sshPublicKey: {
    description:
      "An OpenSSH public key line as in authorized_keys(5), without options: TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAA… ops@lab.",
    type: "string",
    pattern:
      "^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) \\S+( .*)?$",
  },
  package: {
    description: "A package name as the VM's package manager knows it, e.g. qemu-guest-agent.",
    type: "string",
    pattern: "^[A-Za-z0-9][A-Za-z0-9+._:=-]*$",
  },
  mac: {
    description:
      "auto (Keel allocates a locally administered MAC, recorded in keel.lock) or a unicast MAC such as 52:54:00:12:34:56.",
    type: "string",
    pattern: "^(auto|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5})$",
  },
  vmUser: {
    description: "A user cloud-init creates: { name, ssh_authorized_keys: [...], sudo: true }.",
    type: "object",
    additionalProperties: false,
    required: ["name"],
    properties: {
      name: { $ref: "#/definitions/unixUser" },
      ssh_authorized_keys: {
        description: "OpenSSH public keys allowed to log in as this user.",
        type: "array",
        items: { $ref: "#/definitions/sshPublicKey" },
      },
      sudo: { description: "Passwordless sudo (default false).", type: "boolean" },
    },
  },
  vmUsers: {
    description: "Users cloud-init creates on the VM.",
    type: "array",
    items: { $ref: "#/definitions/vmUser" },
  },
  vmPackages: {
    description: "Packages installed at first boot.",
    type: "array",
    items: { $ref: "#/definitions/package" },
  },
  vmVcpus: {
    description: "Virtual CPUs of the VM, from 1 to 255 (default 1).",
    type: "integer",
    minimum: 1,
    maximum: 255,
  },
  vmMemory: {
    description: "Memory of the VM in MiB, at least 128 (default 1024).",
    type: "integer",
    minimum: 128,
  },
  vmDisk: {
    description: "Size of the VM's root disk in GiB, from 1 to 65536 (default 10).",
    type: "integer",
    minimum: 1,
    maximum: 65536,
  },
  vmDefaults: {
    description:
      "Merged under every host's vm: settings (lists replace, not append): users, packages, package_upgrade, and the machine keys (hypervisor, image, vcpus, memory, disk, autostart, keep_snapshots).",
    type: "object",
    additionalProperties: false,
    properties: {
      users: { $ref: "#/definitions/vmUsers" },
      packages: { $ref: "#/definitions/vmPackages" },
      package_upgrade: { description: "Upgrade packages at first boot (default false).", type: "boolean" },
      ...MACHINE_PROPERTIES,
    },
  },
  vm: {
    description:
      "The host is a VM: it gets a MAC, a DHCP reservation and cloud-init data. Merged over defaults.vm (lists replace).",
    type: "object",
    additionalProperties: false,
    properties: {
      mac: { $ref: "#/definitions/mac" },
      vmid: { $ref: "#/definitions/vmid" },
      instance: {
        description: "cloud-init instance number; bump it to run cloud-init again (default 1).",
        type: "integer",
        minimum: 1,
      },
      users: { $ref: "#/definitions/vmUsers" },
      packages: { $ref: "#/definitions/vmPackages" },
      package_upgrade: { description: "Upgrade packages at first boot (default false).", type: "boolean" },
      ...MACHINE_PROPERTIES,
    },
  },
  hostSsh: {
    description: "SSH settings merged over defaults.ssh, or false: no SSH on this host.",
    type: ["object", "boolean"],
    not: { const: true },
    additionalProperties: false,
    properties: {
      user: { $ref: "#/definitions/sshSettings/properties/user" },
      port: { $ref: "#/definitions/sshSettings/properties/port" },
      identity: { $ref: "#/definitions/sshSettings/properties/identity" },
      allow: { $ref: "#/definitions/allow" },
    },
  },
  hostNodeExporter: {
    description:
      "node_exporter settings merged over defaults.node_exporter (adds the service even without tag monitored), or false: none.",
    type: ["object", "boolean"],
    not: { const: true },
    additionalProperties: false,
    properties: {
      port: { $ref: "#/definitions/nodeExporterSettings/properties/port" },
      allow: { $ref: "#/definitions/allow" },
    },
  },
  http: {
    description: "HTTP health probe: a path (http: /healthz) or { path, expect: 200, body: REGEX }.",
    type: ["string", "object"],
    pattern: "^/",
    additionalProperties: false,
    required: ["path"],
    properties: {
      path: { description: "Absolute path of the probe, e.g. /-/healthy.", type: "string", pattern: "^/" },
      expect: {
        description: "Expected HTTP status (default 200).",
        type: "integer",
        minimum: 100,
        maximum: 599,
      },
      body: {
        description: "Regular expression (JavaScript syntax) the response body must match.",
        type: "string",
      },
    },
  },
  service: {
    description: "A service of the host: name, port, kind, HTTP probe and who may reach it.",
    type: "object",
    additionalProperties: false,
    required: ["name", "port"],
    properties: {
      name: {
        description:
          "Service name, unique on the host: a DNS label, or node_exporter to override the default node_exporter service.",
        type: "string",
        pattern: SERVICE_NAME_PATTERN,
      },
      kind: {
        description: "Extra derived checks: ssh, node_exporter, prometheus, grafana, dns or http.",
        enum: [...SERVICE_KINDS],
      },
      port: { $ref: "#/definitions/port" },
      http: { $ref: "#/definitions/http" },
      allow: { $ref: "#/definitions/allow" },
      dns: {
        $ref: "#/definitions/dnsName",
        description:
          "A name in the forward zone (relative to domain, e.g. www) that is a CNAME of this host.",
      },
    },
  },
  host: {
    description: "A host: its addresses, tags, services and what to check on it.",
    type: "object",
    additionalProperties: false,
    required: ["address"],
    properties: {
      address: { $ref: "#/definitions/addressForm" },
      tags: {
        description: "Free-form tags; `monitored` adds the node_exporter service from defaults.",
        type: "array",
        items: { type: "string", minLength: 1 },
      },
      sysctl: {
        description: "sysctl key → expected value (number or string).",
        type: "object",
        additionalProperties: { type: ["string", "number"] },
      },
      wireguard: {
        description: "WireGuard interface expected on the host and its peers.",
        type: "object",
        additionalProperties: false,
        required: ["interface"],
        properties: {
          interface: {
            description: "Interface name, e.g. wg0.",
            type: "string",
            pattern: "^[A-Za-z0-9_.-]{1,15}$",
          },
          port: { $ref: "#/definitions/portNumber", description: "UDP listen port." },
          peers: {
            description: "Names of hosts or vantages expected as peers.",
            type: "array",
            items: { $ref: "#/definitions/name" },
          },
        },
      },
      ssh: { $ref: "#/definitions/hostSsh" },
      node_exporter: { $ref: "#/definitions/hostNodeExporter" },
      services: {
        description: "Services the host exposes (ssh and node_exporter come from defaults).",
        type: "array",
        items: { $ref: "#/definitions/service" },
      },
      listeners: {
        description: "Listening-socket check settings.",
        type: "object",
        additionalProperties: false,
        properties: {
          ignore: {
            description: "Addresses or CIDR prefixes whose listeners never count as unexpected.",
            type: "array",
            items: { type: "string" },
          },
        },
      },
      vm: { $ref: "#/definitions/vm" },
    },
  },
} as const;
