/**
 * JSON Schemas of the `keel serve` API's data (JSON Schema 2020-12 subset that both Ajv (route
 * validation, fast-json-stringify serialisation) and OpenAPI 3.1 understand). Shared schemas are
 * registered on fastify with `addSchema` and referenced as `{ $ref: "NAME#" }`; the OpenAPI
 * document turns those into `#/components/schemas/NAME`.
 *
 * Beware: fast-json-stringify drops properties a response schema does not declare, so every
 * field the API promises is listed here (objects of free form say `additionalProperties: true`).
 */
import { MACHINE_ACTIONS, POWER_STATES } from "../provision/provider.js";
import { CHECK_KINDS } from "../verify/types.js";

const str = { type: "string" } as const;
const int = { type: "integer" } as const;
const strList = { type: "array", items: str } as const;
const nullable = (t: string) => ({ type: [t, "null"] });

/** A `$ref` to a shared schema. */
export const ref = (name: string) => ({ $ref: `${name}#` });

const position = {
  type: "object",
  properties: { file: str, line: int, col: int },
  required: ["file", "line", "col"],
};

const statusCounts = {
  type: "object",
  properties: { pass: int, fail: int, error: int, skip: int, unknown: int },
  required: ["pass", "fail", "error", "skip", "unknown"],
};

/** `SeenBackup` of `backups.ts`: one backup in the repository, or null. */
const seenBackup = {
  type: ["object", "null"],
  properties: {
    label: str,
    type: str,
    finished: { type: "string", description: "ISO 8601" },
    ageSec: { type: "number", description: "seconds since it finished" },
  },
  required: ["label", "type", "finished", "ageSec"],
};
const nullNum = nullable("number");
const nullStr = nullable("string");
const objective = {
  type: "object",
  properties: {
    objectiveSec: { type: "number" },
    met: { type: ["boolean", "null"], description: "null: not yet observed" },
    reason: str,
  },
  required: ["objectiveSec", "met", "reason"],
};

/** Shared schemas by name (the `$id` is the name). */
export const SHARED_SCHEMAS: Record<string, Record<string, unknown>> = {
  Error: {
    type: "object",
    description: "What is wrong and what is expected",
    properties: { error: str },
    required: ["error"],
  },
  Problem: {
    type: "object",
    description: "A problem of the inventory, located in its file when it comes from one",
    properties: { pos: position, message: str },
    required: ["message"],
  },
  CheckKind: { type: "string", enum: [...CHECK_KINDS] },
  CheckStatus: { type: "string", enum: ["pass", "fail", "error", "skip"] },
  HardState: { type: "string", enum: ["ok", "soft", "hard", "unknown", "skipped"] },
  CheckState: {
    type: "object",
    description: "The latest state of one check (src/serve/types.ts)",
    properties: {
      id: str,
      kind: ref("CheckKind"),
      host: str,
      service: str,
      vantage: str,
      status: { type: ["string", "null"], enum: ["pass", "fail", "error", "skip", null] },
      message: str,
      observed: { type: "object", additionalProperties: true },
      durationMs: { type: "number", description: "latest result's duration in ms" },
      state: ref("HardState"),
      consecutive: int,
      since: nullable("string"),
      lastRunAt: nullable("string"),
      nextRunAt: nullable("string"),
      flapping: { type: "boolean" },
      suppressedBy: str,
    },
    required: ["id", "kind", "host", "status", "message", "durationMs", "state", "consecutive", "flapping"],
  },
  CheckResult: {
    type: "object",
    description: "One result, as in the report of keel verify --json",
    properties: {
      id: str,
      kind: ref("CheckKind"),
      host: str,
      service: str,
      vantage: str,
      status: ref("CheckStatus"),
      message: str,
      observed: { type: "object", additionalProperties: true },
      durationMs: { type: "number" },
    },
    required: ["id", "kind", "host", "status", "message", "durationMs"],
  },
  StatusCounts: statusCounts,
  HostSummary: {
    type: "object",
    properties: {
      name: str,
      addresses: { type: "array", items: ref("Address") },
      tags: strList,
      counts: ref("StatusCounts"),
      worst: ref("HardState"),
    },
    required: ["name", "addresses", "tags", "counts", "worst"],
  },
  Address: {
    type: "object",
    properties: { network: str, address: str },
    required: ["network", "address"],
  },
  Service: {
    type: "object",
    properties: {
      name: str,
      kind: str,
      port: int,
      protocol: { type: "string", enum: ["tcp", "udp"] },
      allow: strList,
      http: {
        type: "object",
        properties: { path: str, expect: int, body: str },
        required: ["path", "expect"],
      },
      fromDefaults: { type: "boolean" },
    },
    required: ["name", "port", "protocol", "allow", "fromDefaults"],
  },
  Host: {
    type: "object",
    description: "A host of the inventory, without secrets (no SSH identity)",
    properties: {
      name: str,
      addresses: { type: "array", items: ref("Address") },
      tags: strList,
      services: { type: "array", items: ref("Service") },
      sysctl: { type: "object", additionalProperties: str },
      wireguard: {
        type: "object",
        properties: { interface: str, port: int, peers: strList },
        required: ["interface", "peers"],
      },
      ssh: {
        type: "object",
        properties: { user: str, port: int, allow: strList },
        required: ["user", "port", "allow"],
      },
    },
    required: ["name", "addresses", "tags", "services"],
  },
  Network: {
    type: "object",
    properties: {
      name: str,
      cidr: str,
      family: { type: "integer", enum: [4, 6] },
      gateway: str,
      dns: strList,
      ranges: {
        type: "array",
        items: { type: "object", properties: { name: str, cidr: str }, required: ["name", "cidr"] },
      },
    },
    required: ["name", "cidr", "family", "dns", "ranges"],
  },
  Vantage: {
    type: "object",
    properties: {
      name: str,
      type: { type: "string", enum: ["local", "via"] },
      via: str,
      host: str,
      networks: strList,
      addresses: { type: "array", items: ref("Address") },
      implicit: { type: "boolean" },
    },
    required: ["name", "type", "networks", "addresses", "implicit"],
  },
  PostureCell: {
    type: "object",
    properties: {
      service: str,
      vantage: str,
      expected: { type: ["string", "null"], enum: ["open", "closed", null] },
      observed: nullable("string"),
      checkId: nullable("string"),
      ok: nullable("boolean"),
    },
    required: ["service", "vantage", "expected", "observed", "checkId", "ok"],
  },
  Posture: {
    type: "object",
    description: "The host's service × vantage matrix, from its port.open/port.closed checks",
    properties: {
      services: strList,
      vantages: strList,
      cells: { type: "array", items: ref("PostureCell") },
    },
    required: ["services", "vantages", "cells"],
  },
  HistoryPoint: {
    type: "object",
    description:
      "A span of consecutive results of one check with the same status and message (src/store/types.ts)",
    properties: {
      at: { type: "string", description: "first result, ISO 8601" },
      until: { type: "string", description: "last result, ISO 8601" },
      status: { type: "string", enum: ["pass", "fail", "error"] },
      message: str,
      count: int,
      durationMs: { type: "number", description: "mean duration, ms" },
      minMs: { type: "number" },
      maxMs: { type: "number" },
      runId: { type: ["integer", "null"] },
    },
    required: ["at", "until", "status", "message", "count", "durationMs"],
  },
  HistoryBucket: {
    type: "object",
    description: "Every result of one check in [start, end), counted by status",
    properties: {
      start: { type: "string", description: "ISO 8601, inclusive" },
      end: { type: "string", description: "ISO 8601, exclusive" },
      pass: int,
      fail: int,
      error: int,
      minMs: { type: "number" },
      avgMs: { type: "number" },
      maxMs: { type: "number" },
    },
    required: ["start", "end", "pass", "fail", "error"],
  },
  StateChange: {
    type: "object",
    description: "A change of a check's status between two consecutive stored results",
    properties: {
      checkId: str,
      at: { type: "string", description: "ISO 8601" },
      runId: { type: ["integer", "null"] },
      from: { type: ["string", "null"], enum: ["pass", "fail", "error", null] },
      to: { type: "string", enum: ["pass", "fail", "error"] },
      message: str,
    },
    required: ["at", "from", "to", "message"],
  },
  Run: {
    type: "object",
    description: "A stored run: one keel verify report or one POST /api/runs",
    properties: {
      id: int,
      startedAt: { type: "string", description: "ISO 8601" },
      durationMs: { type: "number" },
      inventory: str,
      summary: {
        type: "object",
        properties: { pass: int, fail: int, error: int, skip: int },
        required: ["pass", "fail", "error", "skip"],
      },
    },
    required: ["id", "startedAt", "durationMs", "summary"],
  },
  Backup: {
    type: "object",
    description:
      "One backup of the inventory with what its checks observed (src/serve/backups.ts); null facts are not yet observed",
    properties: {
      tool: { type: "string", enum: ["pgbackrest", "walg"] },
      name: str,
      hosts: {
        type: "object",
        properties: { primary: str, repository: nullStr, postgres: strList, rehearsal: nullStr },
        required: ["primary", "repository", "postgres", "rehearsal"],
      },
      backups: {
        type: "object",
        properties: {
          observedAt: nullStr,
          count: nullable("integer"),
          newest: seenBackup,
          types: {
            type: "array",
            items: {
              type: "object",
              properties: { type: str, scheduleSec: nullNum, newest: seenBackup },
              required: ["type", "scheduleSec", "newest"],
            },
          },
          running: {
            type: ["object", "null"],
            description: "a backup running when the check looked (pgBackRest's stanza lock held)",
            properties: { forSec: nullNum },
            required: ["forSec"],
          },
        },
        required: ["observedAt", "count", "newest", "types", "running"],
      },
      wal: {
        type: "object",
        properties: {
          host: str,
          observedAt: nullStr,
          lastArchivedWal: nullStr,
          lastArchived: nullStr,
          lagSec: nullNum,
          lastFailedWal: nullStr,
          lastFailed: nullStr,
          failing: nullable("boolean"),
          ready: nullable("integer"),
          oldestReady: nullStr,
          oldestReadyAgeSec: nullNum,
          walBytes: nullNum,
          freeBytes: nullNum,
          filesystemBytes: nullNum,
        },
        required: [
          "host",
          "observedAt",
          "lastArchivedWal",
          "lastArchived",
          "lagSec",
          "lastFailedWal",
          "lastFailed",
          "failing",
          "ready",
          "oldestReady",
          "oldestReadyAgeSec",
          "walBytes",
          "freeBytes",
          "filesystemBytes",
        ],
      },
      rehearsal: {
        type: ["object", "null"],
        properties: {
          host: str,
          intervalSec: { type: "number" },
          at: nullStr,
          status: { type: ["string", "null"], enum: ["pass", "fail", "error", "skip", null] },
          message: nullStr,
          set: nullStr,
          pointInTime: nullStr,
          durationSec: nullNum,
          step: nullStr,
          overdue: nullable("boolean"),
        },
        required: [
          "host",
          "intervalSec",
          "at",
          "status",
          "message",
          "set",
          "pointInTime",
          "durationSec",
          "step",
          "overdue",
        ],
      },
      objectives: {
        type: "object",
        properties: { backup: objective, wal: objective },
        required: ["backup", "wal"],
      },
      checks: {
        type: "array",
        items: {
          type: "object",
          properties: {
            id: str,
            kind: ref("CheckKind"),
            host: str,
            status: { type: ["string", "null"], enum: ["pass", "fail", "error", "skip", null] },
            state: ref("HardState"),
            message: str,
            lastRunAt: nullStr,
            served: { type: "boolean", description: "false: the served inventory derives no such check" },
          },
          required: ["id", "kind", "host", "status", "state", "message", "lastRunAt", "served"],
        },
      },
    },
    required: ["tool", "name", "hosts", "backups", "wal", "rehearsal", "objectives", "checks"],
  },
  MachineStatus: {
    type: "object",
    description:
      "A machine as its hypervisor reports it now (power absent: no domain; unknown: the hypervisor could not be read, see error)",
    properties: {
      host: str,
      hypervisor: str,
      power: { type: "string", enum: [...POWER_STATES, "absent", "unknown"] },
      managedByKeel: { type: "boolean" },
      actual: {
        type: "object",
        description: "Managed fields as the hypervisor holds them",
        properties: {
          vcpus: int,
          memoryMiB: int,
          diskGiB: int,
          mac: str,
          bridge: str,
          autostart: { type: "boolean" },
        },
      },
      snapshots: {
        type: "array",
        description: "Oldest first",
        items: {
          type: "object",
          properties: { name: str, createdAt: { type: "string", description: "ISO 8601" }, description: str },
          required: ["name", "createdAt", "description"],
        },
      },
      error: str,
      vmid: { type: "integer", description: "Proxmox VE: the machine's VMID" },
      node: { type: "string", description: "Proxmox VE: the node it runs on" },
    },
    required: ["host", "hypervisor", "power", "managedByKeel", "snapshots"],
  },
  MachineActionState: {
    type: "object",
    description: "A machine action asked through the API: running, then done or failed",
    properties: {
      id: str,
      host: str,
      action: { type: "string", enum: [...MACHINE_ACTIONS] },
      snapshot: str,
      who: { type: "string", description: "the token's name" },
      target: { type: "string", description: "migrate: the node asked for" },
      state: { type: "string", enum: ["running", "done", "failed"] },
      message: str,
      progress: {
        type: "string",
        description: "migrate: the migration task's status as last read (Proxmox VE task status)",
      },
      startedAt: { type: "string", description: "ISO 8601" },
      finishedAt: { type: "string", description: "ISO 8601" },
    },
    required: ["id", "host", "action", "who", "state", "message", "startedAt"],
  },
  ClusterNode: {
    type: "object",
    description:
      "A node of a Proxmox VE cluster as GET /nodes lists it; its figures are null when the cluster has none (an offline node)",
    properties: {
      name: str,
      online: { type: "boolean" },
      status: { type: "string", description: "Proxmox VE's word: online, offline or unknown" },
      cpu: { type: ["number", "null"], description: "CPU load, 0 to 1 of all its CPUs" },
      cpus: nullable("integer"),
      memoryUsed: { type: ["integer", "null"], description: "bytes" },
      memoryTotal: { type: ["integer", "null"], description: "bytes" },
      uptimeSec: nullable("integer"),
    },
    required: ["name", "online", "status", "cpu", "cpus", "memoryUsed", "memoryTotal", "uptimeSec"],
  },
  ClusterMachine: {
    type: "object",
    description: "A QEMU machine of a Proxmox VE cluster (GET /cluster/resources?type=vm)",
    properties: {
      vmid: int,
      name: str,
      node: str,
      power: { type: "string", enum: [...POWER_STATES] },
      template: { type: "boolean", description: "a template: machines are cloned from it, it never runs" },
      managed: {
        type: ["string", "null"],
        description: "the Keel host whose record for this site its notes carry; null: unmanaged",
      },
      console: {
        type: "string",
        description: "the node's own noVNC console page for it (the Proxmox VE web interface; log in there)",
      },
    },
    required: ["vmid", "name", "node", "power", "template", "managed", "console"],
  },
  Cluster: {
    type: "object",
    description:
      "A Proxmox VE hypervisor of the inventory as its API reports it now; error (and nothing else made up) when it could not be read",
    properties: {
      name: { type: "string", description: "the hypervisor's name in the inventory" },
      endpoint: { type: ["string", "null"], description: "the endpoint that answered" },
      cluster: {
        type: ["string", "null"],
        description: "the cluster's name; null for a node without a cluster",
      },
      quorate: {
        type: ["boolean", "null"],
        description: "from GET /cluster/status; null when it has no cluster entry (a single node)",
      },
      nodes: { type: "array", items: ref("ClusterNode") },
      machines: { type: "array", items: ref("ClusterMachine"), description: "by VMID" },
      error: str,
    },
    required: ["name", "endpoint", "cluster", "quorate", "nodes", "machines"],
  },
};

/** Paging parameters shared by list routes: `offset` ≥ 0, `limit` 1–1000 (default 100). */
export const paging = {
  offset: { type: "integer", minimum: 0, default: 0 },
  limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
} as const;

/** Error responses by status code. */
export const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, ref("Error")])) as Record<number, ReturnType<typeof ref>>;
