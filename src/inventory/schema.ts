/**
 * The JSON Schema (draft-07) of the Keel inventory format, version 1
 * (`shared/design/inventory.md`). It is both what `keel schema` prints for editors
 * (yaml-language-server shows the `description`s as hover help and flags unknown keys) and the
 * schema `loadInventory` validates with ajv: one source of truth.
 *
 * Every object has `additionalProperties: false`, so unknown keys are rejected. Rules that need
 * more than one value at a time (addresses inside their network, names that must exist,
 * overlaps, host bits) are checked after the schema, in `load.ts`.
 *
 * Alternative forms are written with a type list (`type: ["string", "object"]`) rather than
 * `oneOf`, so a mistake inside the long form yields one error at the offending key.
 */

import { CHECK_KINDS } from "./check-kinds.js";
import { DURATION_PATTERN } from "./duration.js";

const NAME_PATTERN = "^[a-z][a-z0-9-]{0,62}$";
/** Service names are DNS labels; `node_exporter` is allowed so a host can redeclare the default service. */
const SERVICE_NAME_PATTERN = "^([a-z][a-z0-9-]{0,62}|node_exporter)$";
/** A relative DNS name: dot-separated lowercase labels (RFC 1035 §2.3.1, digits may lead). */
const DNS_NAME_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$";
const PORT_PATTERN =
  "^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])(/(tcp|udp))?$";

export const inventorySchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Keel inventory (format version 1)",
  description: "One YAML file describing a site: networks, hosts, services, who may reach them, vantages.",
  type: "object",
  additionalProperties: false,
  required: ["keel", "site"],
  properties: {
    keel: { $ref: "#/definitions/version" },
    site: {
      $ref: "#/definitions/name",
      description: "Site name (a DNS label), used in labels and ids.",
    },
    domain: { $ref: "#/definitions/domain" },
    dns: { $ref: "#/definitions/dns" },
    networks: {
      description: "Networks of the site by name: their prefix, gateway, resolvers and address plan.",
      type: "object",
      propertyNames: { $ref: "#/definitions/name" },
      additionalProperties: { $ref: "#/definitions/network" },
    },
    defaults: { $ref: "#/definitions/defaults" },
    hosts: {
      description: "Hosts of the site by name (a DNS label).",
      type: "object",
      propertyNames: { $ref: "#/definitions/name" },
      additionalProperties: { $ref: "#/definitions/host" },
    },
    vantages: {
      description:
        "Places that checks run from, by name. If none is declared, Keel uses `local` with no networks.",
      type: "object",
      propertyNames: { $ref: "#/definitions/name" },
      additionalProperties: { $ref: "#/definitions/vantage" },
    },
    serve: { $ref: "#/definitions/serve" },
    alerts: { $ref: "#/definitions/alerts" },
  },
  definitions: {
    version: {
      description: "Format version of the inventory (required). This Keel reads version 1.",
      const: 1,
    },
    name: {
      description:
        "A DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters.",
      type: "string",
      pattern: NAME_PATTERN,
    },
    domain: {
      description: "DNS zone that host names live in, e.g. lab.internal.",
      type: "string",
      pattern:
        "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$",
    },
    address: {
      description: "An IPv4 or IPv6 address, e.g. 10.20.0.4 or fd00::4.",
      type: "string",
    },
    cidr: {
      description: "An IPv4 or IPv6 prefix with its host bits zero, e.g. 10.20.0.0/24.",
      type: "string",
      pattern: "^[^/]+/[0-9]{1,3}$",
    },
    port: {
      description: "A port: N, N/tcp or N/udp with N from 1 to 65535 (default protocol tcp).",
      type: ["integer", "string"],
      minimum: 1,
      maximum: 65535,
      pattern: PORT_PATTERN,
    },
    portNumber: {
      description: "A TCP or UDP port number from 1 to 65535.",
      type: "integer",
      minimum: 1,
      maximum: 65535,
    },
    allow: {
      description:
        "Who may reach the service: network, host or vantage names, or `any`. Every name must exist. Absent means [any].",
      type: "array",
      items: { $ref: "#/definitions/name" },
    },
    addressForm: {
      description:
        "One address per attached network ({ lan: 10.20.0.2, vpn: 10.99.0.1 }; the first is primary), or one address (shorthand) that falls in exactly one network. For hosts, an address may be `auto` (the next free address of the network outside its named ranges) or `auto@RANGE` (of that named range), recorded in keel.lock.",
      type: ["string", "object"],
      minProperties: 1,
      propertyNames: { $ref: "#/definitions/name" },
      additionalProperties: { $ref: "#/definitions/address" },
    },
    network: {
      description: "A network: its prefix, optional gateway, resolvers and address plan.",
      type: "object",
      additionalProperties: false,
      required: ["cidr"],
      properties: {
        cidr: { $ref: "#/definitions/cidr" },
        gateway: { $ref: "#/definitions/address", description: "Gateway address, inside the network." },
        dns: {
          description: "Resolvers of the network: host names or IP addresses.",
          type: "array",
          items: { type: "string" },
        },
        ranges: {
          description:
            "The address plan: named slices of the network (name → CIDR inside the network, not overlapping each other).",
          type: "object",
          propertyNames: { $ref: "#/definitions/name" },
          additionalProperties: { $ref: "#/definitions/cidr" },
        },
        reserved: {
          description:
            "Addresses or prefixes inside the network that `auto` never allocates, e.g. [10.20.0.250, 10.20.0.240/29].",
          type: "array",
          items: { type: "string" },
        },
        dhcp: {
          description: "DHCP serves one named range of this network: { range: vms, lease: 12h }.",
          type: "object",
          additionalProperties: false,
          required: ["range"],
          properties: {
            range: { $ref: "#/definitions/name", description: "Name of a range of this network." },
            lease: {
              $ref: "#/definitions/duration",
              description: "Lease time, whole seconds, at least 2m (default 12h).",
            },
          },
        },
      },
    },
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
          enum: ["accept-new", "strict"],
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
    vmDefaults: {
      description:
        "Merged under every host's vm: settings (lists replace, not append): users, packages, package_upgrade.",
      type: "object",
      additionalProperties: false,
      properties: {
        users: { $ref: "#/definitions/vmUsers" },
        packages: { $ref: "#/definitions/vmPackages" },
        package_upgrade: { description: "Upgrade packages at first boot (default false).", type: "boolean" },
      },
    },
    vm: {
      description:
        "The host is a VM: it gets a MAC, a DHCP reservation and cloud-init data. Merged over defaults.vm (lists replace).",
      type: "object",
      additionalProperties: false,
      properties: {
        mac: { $ref: "#/definitions/mac" },
        instance: {
          description: "cloud-init instance number; bump it to run cloud-init again (default 1).",
          type: "integer",
          minimum: 1,
        },
        users: { $ref: "#/definitions/vmUsers" },
        packages: { $ref: "#/definitions/vmPackages" },
        package_upgrade: { description: "Upgrade packages at first boot (default false).", type: "boolean" },
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
          enum: ["ssh", "node_exporter", "prometheus", "grafana", "dns", "http"],
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
    vantage: {
      description:
        "A place checks run from: { local: true, networks: [...] } or { local: true, host: H } (this machine), or { via: HOST } (over SSH).",
      type: "object",
      additionalProperties: false,
      properties: {
        local: { description: "Probes run on the machine that runs Keel.", const: true },
        networks: {
          description: "Networks a local vantage sits in (not with host).",
          type: "array",
          items: { $ref: "#/definitions/name" },
        },
        host: {
          $ref: "#/definitions/name",
          description: "A host whose networks a local vantage sits in (not with networks).",
        },
        via: {
          $ref: "#/definitions/name",
          description: "Probes run on this host over SSH; the vantage sits in its networks.",
        },
        address: {
          $ref: "#/definitions/addressForm",
          description:
            "Keel extension: the local vantage's own addresses (same forms as a host's), e.g. to identify it as a WireGuard peer.",
        },
      },
    },
    ttl: {
      description: "A DNS TTL in seconds, 0..2147483647 (RFC 2181 §8).",
      type: "integer",
      minimum: 0,
      maximum: 2147483647,
    },
    dnsName: {
      description:
        "A DNS name relative to domain: dot-separated labels of lowercase letters, digits and '-', e.g. www.",
      type: "string",
      pattern: DNS_NAME_PATTERN,
    },
    dnsRecord: {
      description:
        "An extra resource record of the forward zone: { name, type, value, ttl }; value is the RDATA as in a master file.",
      type: "object",
      additionalProperties: false,
      required: ["name", "type", "value"],
      properties: {
        name: {
          description:
            'Owner name relative to domain: "@" is the apex, "*" and "*.x" are wildcards, e.g. www, _sip._tcp.',
          type: "string",
          minLength: 1,
        },
        type: {
          description: "Record type: A, AAAA, CNAME, MX, TXT, SRV, NS or CAA.",
          enum: ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "CAA"],
        },
        value: {
          description:
            'The RDATA as in a master file ("10 mail" for MX, "10 5 5060 svc-1" for SRV); a target that is not an FQDN (no trailing dot) is a host name.',
          type: "string",
          minLength: 1,
        },
        ttl: { $ref: "#/definitions/ttl", description: "TTL of this record in s (default dns.ttl)." },
      },
    },
    dns: {
      description:
        "Keel extension: the DNS zones keel render writes (forward zone of domain, reverse zones).",
      type: "object",
      additionalProperties: false,
      properties: {
        ttl: {
          $ref: "#/definitions/ttl",
          description: "Default TTL of rendered records in s (default 3600).",
        },
        servers: {
          description: "Hosts that serve the zones (NS records); the first is the SOA primary (MNAME).",
          type: "array",
          items: { $ref: "#/definitions/name" },
        },
        contact: {
          description:
            "SOA RNAME: a name in the zone (hostmaster, the default), an email address (admin@example.org) or an FQDN-like a.b.",
          type: "string",
          minLength: 1,
        },
        records: {
          description: "Extra resource records of the forward zone.",
          type: "array",
          items: { $ref: "#/definitions/dnsRecord" },
        },
      },
    },
    duration: {
      description: "A Prometheus duration: 500ms, 30s, 5m, 1h30m, 7d, 2w, 1y (units largest first).",
      type: "string",
      minLength: 1,
      pattern: DURATION_PATTERN,
    },
    count: {
      description: "A whole number, at least 1.",
      type: "integer",
      minimum: 1,
    },
    checkSchedule: {
      description:
        "How often checks of this kind run and when their state turns hard: { interval: 30s, fail_after: 3, recover_after: 2 }.",
      type: "object",
      additionalProperties: false,
      properties: {
        interval: {
          $ref: "#/definitions/duration",
          description:
            "Time between two runs of one check (at least 1s; default 60s, 30s for reachable, port.open, http).",
        },
        fail_after: {
          $ref: "#/definitions/count",
          description: "Consecutive failures (fail or error) that make the state hard (default 3).",
        },
        recover_after: {
          $ref: "#/definitions/count",
          description: "Consecutive passes that bring a hard-failing check back to ok (default 2).",
        },
      },
    },
    listen: {
      description:
        "HOST:PORT that keel serve listens on, e.g. 127.0.0.1:8484 or [::1]:8484 (port 0: any free port).",
      type: "string",
      minLength: 1,
    },
    sha256: {
      description:
        "Lower- or upper-case hex SHA-256 of the token (64 hex digits), e.g. from `printf %s TOKEN | sha256sum`.",
      type: "string",
      pattern: "^[0-9A-Fa-f]{64}$",
    },
    envRef: {
      description: `A reference to an environment variable holding a secret: \${NAME}.`,
      type: "string",
      pattern: "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$",
    },
    apiToken: {
      description: `An API token of keel serve: { name, role, sha256: HEX } or { name, role, token: \${ENV} } (exactly one of sha256 and token).`,
      type: "object",
      additionalProperties: false,
      required: ["name", "role"],
      properties: {
        name: {
          $ref: "#/definitions/name",
          description: "Who the token belongs to (written to the audit log).",
        },
        role: {
          description: "viewer reads; operator may also trigger runs.",
          enum: ["viewer", "operator"],
        },
        sha256: { $ref: "#/definitions/sha256" },
        token: {
          $ref: "#/definitions/envRef",
          description: `The token itself, as \${ENV}: the name of an environment variable holding it (never a literal).`,
        },
      },
    },
    serve: {
      description:
        "Keel extension: settings of `keel serve` (scheduling, states, flapping, retention, API tokens).",
      type: "object",
      additionalProperties: false,
      properties: {
        listen: { $ref: "#/definitions/listen" },
        checks: {
          description: "Schedule and state thresholds by check kind, or `default` for every kind.",
          type: "object",
          additionalProperties: false,
          properties: Object.fromEntries(
            ["default", ...CHECK_KINDS].map((k) => [
              k,
              {
                $ref: "#/definitions/checkSchedule",
                description:
                  k === "default"
                    ? "Schedule of every kind (each kind's own entry wins)."
                    : `Schedule of ${k} checks.`,
              },
            ]),
          ),
        },
        flapping: {
          description:
            "Flapping: a check is flapping when its result changed between passing and failing `changes` or more times within its last `window` results.",
          type: "object",
          additionalProperties: false,
          properties: {
            window: {
              description: "How many of the latest results to look at (default 20, from 2 to 1000).",
              type: "integer",
              minimum: 2,
              maximum: 1000,
            },
            changes: {
              $ref: "#/definitions/count",
              description:
                "State changes within the window that mean flapping (default 6; less than window).",
            },
          },
        },
        retention: {
          description: "How long check history is kept in the store.",
          type: "object",
          additionalProperties: false,
          properties: {
            raw: {
              $ref: "#/definitions/duration",
              description: "Raw results are kept this long (default 7d).",
            },
            bucket: {
              $ref: "#/definitions/duration",
              description: "Older results are downsampled into buckets this wide (default 1h).",
            },
            max_age: {
              $ref: "#/definitions/duration",
              description: "Nothing is kept longer than this (default 365d; at least raw).",
            },
            per_check: {
              $ref: "#/definitions/count",
              description: "At most this many raw results per check (default 10000); the oldest go first.",
            },
          },
        },
        tokens: {
          description: "API tokens: who may read (viewer) and trigger runs (operator). Names are unique.",
          type: "array",
          items: { $ref: "#/definitions/apiToken" },
        },
      },
    },
    url: {
      description: "An http:// or https:// URL.",
      type: "string",
      pattern: "^[Hh][Tt][Tt][Pp][Ss]?://",
    },
    webhook: {
      description: "A webhook receiving hard state changes as JSON: { name, url, headers }.",
      type: "object",
      additionalProperties: false,
      required: ["name", "url"],
      properties: {
        name: { $ref: "#/definitions/name", description: "Name of the webhook (unique), used in logs." },
        url: { $ref: "#/definitions/url", description: "Where the JSON body is POSTed." },
        headers: {
          description: `Extra request headers; values may contain \${ENV} references, resolved when sending.`,
          type: "object",
          propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
          additionalProperties: { type: "string" },
        },
      },
    },
    alerts: {
      description: "Keel extension: where hard state changes are sent (Alertmanager v2 API, webhooks).",
      type: "object",
      additionalProperties: false,
      properties: {
        alertmanager: {
          description: "Alertmanager base URLs, e.g. http://10.20.0.3:9093 (alerts go to URL/api/v2/alerts).",
          type: "array",
          items: { $ref: "#/definitions/url" },
        },
        webhooks: {
          description: "Generic webhooks (names unique).",
          type: "array",
          items: { $ref: "#/definitions/webhook" },
        },
      },
    },
  },
} as const;
