/**
 * The `backups:` section (checked and normalised by `backups.ts`): pgBackRest stanzas and WAL-G
 * backups, their schedule, recovery-point objectives and restore rehearsal.
 * A fragment of the inventory's JSON Schema, assembled by `schema.ts` (references name
 * definitions of any fragment, as `#/definitions/NAME`).
 */
import { PGBACKREST_BACKUP_TYPES, POSTGRES_ROLES, WALG_BACKUP_TYPES } from "./model.js";

/** What a stanza name may look like (see the `stanza` definition). */
export const STANZA_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/** Top-level keys of this section. */
export const backupsProperties = {
  backups: { $ref: "#/definitions/backups" },
} as const;

/** `{ full: …, diff: … }`: one optional duration per backup type of `types`. */
function schedule(types: readonly string[], tool: string) {
  return {
    description: `How often each type of ${tool} backup is expected, as a duration per type: ${types.join(", ")} (at least one).`,
    type: "object",
    additionalProperties: false,
    minProperties: 1,
    properties: Object.fromEntries(
      types.map((t) => [
        t,
        {
          $ref: "#/definitions/duration",
          description: `A ${t} backup is expected at least this often (above zero${t === types[0] ? "" : "; shorter than the types above it"}).`,
        },
      ]),
    ),
  } as const;
}

/** The keys pgBackRest stanzas and WAL-G backups share: grace, objectives, rehearsal. */
const shared = {
  grace: {
    $ref: "#/definitions/duration",
    description:
      "Slack added to each scheduled interval before a backup of that type counts as late (default 1h; 0 for none).",
  },
  objectives: { $ref: "#/definitions/backupObjectives" },
  rehearsal: { $ref: "#/definitions/backupRehearsal" },
} as const;

/** Definitions of this section. */
export const backupsDefinitions = {
  stanza: {
    description:
      "A pgBackRest stanza name: letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters.",
    type: "string",
    pattern: STANZA_PATTERN,
  },
  absolutePath: {
    description: "An absolute path (starting with '/') on the host, e.g. /var/lib/postgresql/16/main.",
    type: "string",
    pattern: "^/",
  },
  postgresRole: {
    description: `The server's role in the cluster: ${POSTGRES_ROLES.join(", ")}.`,
    enum: [...POSTGRES_ROLES],
  },
  pgbackrestSchedule: schedule(PGBACKREST_BACKUP_TYPES, "pgBackRest"),
  walgSchedule: schedule(WALG_BACKUP_TYPES, "WAL-G"),
  backupObjectives: {
    description:
      "Recovery-point objectives: the newest good backup and the newest archived WAL segment are never older than these.",
    type: "object",
    additionalProperties: false,
    required: ["backup", "wal"],
    properties: {
      backup: {
        $ref: "#/definitions/duration",
        description:
          "The newest good backup (any type) is no older than this (above zero; at least the shortest scheduled interval).",
      },
      wal: {
        $ref: "#/definitions/duration",
        description:
          "The newest WAL segment in the archive is no older than this (above zero; at most objectives.backup).",
      },
    },
  },
  backupRehearsal: {
    description:
      "A restore rehearsal: the newest backup restored into a scratch directory of a restore host, started, and queried.",
    type: "object",
    additionalProperties: false,
    required: ["host", "dir"],
    properties: {
      host: {
        $ref: "#/definitions/name",
        description:
          "The host restored onto (a declared host, reached over SSH; not one of the PostgreSQL hosts it protects).",
      },
      dir: {
        $ref: "#/definitions/absolutePath",
        description:
          "Scratch directory on the restore host; emptied before each rehearsal. Not /, and not a declared data directory (or inside or around one) of that host.",
      },
      interval: {
        $ref: "#/definitions/duration",
        description: "Time between two rehearsals by keel serve (default 7d; at least 1h).",
      },
      queries: {
        description: "Sanity queries (SQL) run on the restored server; each must succeed.",
        type: "array",
        items: { $ref: "#/definitions/sqlQuery" },
      },
    },
  },
  sqlQuery: {
    description: "One SQL statement, e.g. select count(*) from pg_class.",
    type: "string",
    minLength: 1,
  },
  commandPrefix: {
    description:
      "Words put before each wal-g command to give it its environment, e.g. envdir /run/etc/wal-e.d/env (one line).",
    type: "string",
    minLength: 1,
  },
  pgbackrestPostgres: {
    description: "A PostgreSQL server of the stanza (pgN-host, pgN-path, pgN-port, N its place in the list).",
    type: "object",
    additionalProperties: false,
    required: ["host", "data"],
    properties: {
      host: { $ref: "#/definitions/name", description: "The host the server runs on (a declared host)." },
      data: {
        $ref: "#/definitions/absolutePath",
        description: "Its data directory (pgN-path), e.g. /var/lib/postgresql/16/main.",
      },
      port: { $ref: "#/definitions/portNumber", description: "Its port (pgN-port; default 5432)." },
      role: {
        $ref: "#/definitions/postgresRole",
        description:
          "primary or standby; default primary when the stanza has one server, standby otherwise. Exactly one primary per stanza.",
      },
    },
  },
  pgbackrestPostgresList: {
    description:
      "The stanza's PostgreSQL servers, primary and standbys (pg1, pg2, … in this order); at least one.",
    type: "array",
    minItems: 1,
    items: { $ref: "#/definitions/pgbackrestPostgres" },
  },
  pgbackrestStanza: {
    description:
      "A pgBackRest stanza: its repository host, its PostgreSQL servers, the user commands run as, the schedule, the objectives and the rehearsal.",
    type: "object",
    additionalProperties: false,
    required: ["repository", "postgres", "schedule", "objectives"],
    properties: {
      repository: {
        $ref: "#/definitions/name",
        description:
          "The repository host (repo1-host), a declared host; the primary's own name when the repository is on it.",
      },
      user: {
        $ref: "#/definitions/unixUser",
        description:
          "pgbackrest commands run as `sudo -u USER` (e.g. pgbackrest or postgres); default: as the SSH user.",
      },
      postgres: { $ref: "#/definitions/pgbackrestPostgresList" },
      schedule: { $ref: "#/definitions/pgbackrestSchedule" },
      ...shared,
      check_interval: {
        $ref: "#/definitions/duration",
        description:
          "Time between two runs of `pgbackrest check`, which forces a WAL switch (default 6h; at least 1m).",
      },
    },
  },
  walgBackup: {
    description:
      "A WAL-G backup of one PostgreSQL server: its host, data directory and port, the user and environment wal-g runs with, the schedule, the objectives and the rehearsal.",
    type: "object",
    additionalProperties: false,
    required: ["host", "data", "schedule", "objectives"],
    properties: {
      host: {
        $ref: "#/definitions/name",
        description:
          "The host of the PostgreSQL server that wal-g backs up and archives from (a declared host).",
      },
      data: {
        $ref: "#/definitions/absolutePath",
        description: "The server's data directory (PGDATA), e.g. /var/lib/postgresql/16/main.",
      },
      port: { $ref: "#/definitions/portNumber", description: "The server's port (default 5432)." },
      user: {
        $ref: "#/definitions/unixUser",
        description: "wal-g commands run as `sudo -u USER` (usually postgres); default: as the SSH user.",
      },
      env: { $ref: "#/definitions/commandPrefix" },
      schedule: { $ref: "#/definitions/walgSchedule" },
      ...shared,
    },
  },
  backups: {
    description:
      "Keel extension: the site's PostgreSQL backups (pgBackRest stanzas and WAL-G), whose freshness Keel checks and whose restores it rehearses.",
    type: "object",
    additionalProperties: false,
    properties: {
      pgbackrest: {
        description: "pgBackRest stanzas by stanza name.",
        type: "object",
        propertyNames: { $ref: "#/definitions/stanza" },
        additionalProperties: { $ref: "#/definitions/pgbackrestStanza" },
      },
      walg: {
        description: "WAL-G backups by name (a DNS label).",
        type: "object",
        propertyNames: { $ref: "#/definitions/name" },
        additionalProperties: { $ref: "#/definitions/walgBackup" },
      },
    },
  },
} as const;
