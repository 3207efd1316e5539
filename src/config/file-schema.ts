import { type Static, Type } from '@sinclair/typebox';

/**
 * A PostgreSQL server tenant databases may live on. Only the names of the variables holding
 * its URLs are here: the URLs carry passwords, so they stay in the environment (or NAME_FILE).
 */
const DatabaseServer = Type.Object(
  {
    /** A URL to any database on the server; its role creates and drops tenant databases. */
    url_env: Type.Optional(Type.String({ minLength: 1 })),
    /** The same server reached directly, past a transaction-mode pooler: migrations, DDL. */
    direct_url_env: Type.Optional(Type.String({ minLength: 1 })),
    /** A URL to a streaming replica of the server, for reads that tolerate lag. */
    replica_url_env: Type.Optional(Type.String({ minLength: 1 })),
    /** How many tenants automatic placement puts on the server; absent: no limit. */
    max_tenants: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Replica lag (seconds) beyond which the replica's reads go to the server instead. */
    max_replica_lag_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
  },
  { additionalProperties: false },
);

/**
 * The file's outline only. Each provider and each model is then checked on its own (see
 * load.ts), so one bad entry does not hide the problems of the others.
 */
export const ConfigFileSchema = Type.Object(
  {
    providers: Type.Record(
      Type.String(),
      Type.Object({ type: Type.String() }, { additionalProperties: true }),
    ),
    models: Type.Array(Type.Unknown()),
    database_servers: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    alerts: Type.Optional(Type.Unknown()),
    routing: Type.Optional(Type.Unknown()),
    routers: Type.Optional(Type.Unknown()),
    cache: Type.Optional(Type.Unknown()),
    oidc: Type.Optional(Type.Unknown()),
  },
  // Unknown top-level keys are reported by load.ts without stopping the other checks.
  { additionalProperties: true },
);

export const TOP_LEVEL_KEYS = [
  'providers',
  'models',
  'database_servers',
  'alerts',
  'routing',
  'routers',
  'cache',
  'oidc',
];

export const DATABASE_SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export { DatabaseServer as DatabaseServerSchema };

export type ConfigFile = Static<typeof ConfigFileSchema>;
