import { checked } from './checked.js';
import { type Env, type EnvConfig, readSecret } from './env.js';
import { DATABASE_SERVER_NAME, DatabaseServerSchema } from './file-schema.js';
import { checkPostgresTlsFiles } from './tls.js';

/** The control plane's own server (DATABASE_URL): tenants registered without a server. */
export const DEFAULT_DATABASE_SERVER = 'default';

/** A server of `database_servers`, its URLs read from the environment. */
export interface DatabaseServerConfig {
  name: string;
  /** Any database on the server, whose role creates the tenant databases; null: DATABASE_URL's. */
  url: string | null;
  /**
   * The server reached directly rather than through a transaction-mode pooler (PgBouncer),
   * for migrations and creating and dropping databases; null: `url` (DATABASE_DIRECT_URL's
   * for the default server).
   */
  directUrl?: string | null;
  /** A streaming replica of the server, for reads that tolerate lag; null: none. */
  replicaUrl: string | null;
  /**
   * Replica lag in seconds beyond which the replica's reads go to the server itself; absent:
   * DEFAULT_MAX_REPLICA_LAG_SECONDS.
   */
  maxReplicaLagSeconds?: number;
  /** How many tenants automatic placement (TENANT_PLACEMENT) puts here; null: no limit. */
  maxTenants?: number | null;
}

/** How far a replica may fall behind before its reads go back to the primary. */
export const DEFAULT_MAX_REPLICA_LAG_SECONDS = 10;

const POSTGRES_PROTOCOLS = ['postgres:', 'postgresql:'];

/** The URL in the variable named at `path`, or null after listing why there is none. */
function postgresUrl(
  variable: string | undefined,
  path: string,
  env: Env,
  errors: string[],
): string | null {
  if (variable === undefined) return null;
  const reported = errors.length;
  const value = readSecret(env, variable, errors);
  if (value === undefined) {
    // A variable set twice or an unreadable file was reported by readSecret already.
    if (errors.length === reported) {
      errors.push(`CONFIG_FILE ${path}: ${variable} (or ${variable}_FILE) is not set or empty`);
    }
    return null;
  }
  // Named, never echoed: the URL holds a password.
  if (!URL.canParse(value) || !POSTGRES_PROTOCOLS.includes(new URL(value).protocol)) {
    errors.push(`CONFIG_FILE ${path}: ${variable} must hold a postgres:// or postgresql:// URL`);
    return null;
  }
  checkPostgresTlsFiles(value, `CONFIG_FILE ${path}: ${variable}`, errors);
  return value;
}

function resolveServer(
  name: string,
  raw: unknown,
  env: Env,
  errors: string[],
): DatabaseServerConfig | null {
  const path = `/database_servers/${name}`;
  if (!DATABASE_SERVER_NAME.test(name)) {
    errors.push(`CONFIG_FILE ${path}: server names must match ${DATABASE_SERVER_NAME.source}`);
    return null;
  }
  const entry = checked(DatabaseServerSchema, raw ?? {}, path, errors);
  if (entry === null) return null;
  const isDefault = name === DEFAULT_DATABASE_SERVER;
  if (isDefault && entry.url_env !== undefined) {
    errors.push(
      `CONFIG_FILE ${path}/url_env: not allowed on the default server, which is DATABASE_URL's`,
    );
  }
  if (!isDefault && entry.url_env === undefined) {
    errors.push(
      `CONFIG_FILE ${path}: url_env is required (the variable holding a URL to any database on that server)`,
    );
  }
  if (isDefault && entry.direct_url_env !== undefined) {
    errors.push(
      `CONFIG_FILE ${path}/direct_url_env: not allowed on the default server; set DATABASE_DIRECT_URL`,
    );
  }
  if (entry.max_replica_lag_seconds !== undefined && entry.replica_url_env === undefined) {
    errors.push(
      `CONFIG_FILE ${path}/max_replica_lag_seconds: needs replica_url_env (there is no replica to bound)`,
    );
  }
  return {
    name,
    url: isDefault ? null : postgresUrl(entry.url_env, `${path}/url_env`, env, errors),
    directUrl: isDefault
      ? null
      : postgresUrl(entry.direct_url_env, `${path}/direct_url_env`, env, errors),
    replicaUrl: postgresUrl(entry.replica_url_env, `${path}/replica_url_env`, env, errors),
    maxReplicaLagSeconds: entry.max_replica_lag_seconds ?? DEFAULT_MAX_REPLICA_LAG_SECONDS,
    maxTenants: entry.max_tenants ?? null,
  };
}

/**
 * The config file's `database_servers`, each URL read with readSecret so NAME_FILE works.
 * Every entry is checked, so one bad server does not hide the problems of the others.
 */
export function resolveDatabaseServers(
  raw: Readonly<Record<string, unknown>> | undefined,
  env: Env,
  envConfig: EnvConfig,
  errors: string[],
): DatabaseServerConfig[] {
  if (raw === undefined) return [];
  if (Object.keys(raw).length > 0 && envConfig.databaseUrl === null) {
    errors.push(
      'CONFIG_FILE /database_servers: needs DATABASE_URL; the embedded databases (PGlite) have no servers',
    );
  }
  const servers: DatabaseServerConfig[] = [];
  for (const [name, entry] of Object.entries(raw)) {
    const server = resolveServer(name, entry, env, errors);
    if (server !== null) servers.push(Object.freeze(server));
  }
  return servers;
}
