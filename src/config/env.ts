import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isWellFormedApiKey } from '../domain/key-format.js';
import { isAllowListEntry } from '../utils/hosts.js';
import { type PlacementPolicy, readPlacementPolicy } from './placement.js';
import { isClusterUrl, parseClusterUrl } from './redis-url.js';
import { checkPostgresTlsFiles, readRedisCa, readTlsFiles, type TlsFiles } from './tls.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export interface UpstreamTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}

export interface EnvConfig {
  port: number;
  host: string;
  databaseUrl: string | null;
  /**
   * DATABASE_URL's server reached directly, not through a transaction-mode pooler: for
   * migrations (their lock is a session's) and creating and dropping databases. null: DATABASE_URL.
   */
  databaseDirectUrl: string | null;
  redisUrl: string | null;
  /** The CA (PEM) a `rediss://` server's certificate is checked against; null: the system's. */
  redisTlsCa: string | null;
  /** The gateway's own certificate and key: HTTPS and HTTP/2 on PORT; null: plain HTTP. */
  tls: TlsFiles | null;
  dataDir: string;
  /** Where a deleted tenant's final export is written before its database is dropped. */
  exportDir: string;
  configFile: string;
  masterKey: string | null;
  /**
   * The master key before a rotation: what was sealed under it still opens until
   * `llm-backend secrets rewrap` has re-sealed it under MASTER_KEY. Null: no rotation going on.
   */
  masterKeyPrevious: string | null;
  /** The longest any one Redis call may take before it counts as failed. */
  redisTimeoutMs: number;
  /**
   * Replicas that must hold a usage event before its answer is released (Redis WAIT);
   * 'auto': one on a Redis Cluster that has replicas, none otherwise.
   */
  redisReplicaAcks: number | 'auto';
  /** How long a usage publish waits for those replicas before it goes on without them. */
  redisReplicaAckTimeoutMs: number;
  /** Serve (open) or refuse with 503 (closed) when rate limits cannot be checked. */
  rateLimitFailureMode: 'open' | 'closed';
  /** Completion tokens reserved for a request that sets no max_tokens. */
  rateLimitDefaultCompletionTokens: number;
  /**
   * Which proxies' X-Forwarded-For to believe for the client's address (failure throttle,
   * audit log): none (false), a number of hops, or addresses and CIDR ranges.
   */
  trustProxy: boolean | number | string[];
  /** Failed key checks one client may make per minute before lookups are refused; 0: off. */
  authFailuresPerMinute: number;
  /** The platform admin key a first start registers instead of making and printing one. */
  bootstrapAdminKey: string | null;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  upstreamTimeouts: UpstreamTimeouts;
  shutdownGraceMs: number;
  /** How long a deleted tenant's database is kept before `tenant purge` drops it. */
  tenantDeletionGraceHours: number;
  /** Where tenants created without a server go (see services/tenancy/placement.ts). */
  tenantPlacement: PlacementPolicy;
  /** Most tenant database pools open at once; null: 200 on PostgreSQL, 8 with PGlite. */
  tenantPoolsMax: number | null;
  /** Connections per tenant database pool (PostgreSQL). */
  tenantPoolConnections: number;
  /** Days a stored Responses API response is kept; 0: until deleted. */
  responsesRetentionDays: number;
  /** Longest seconds a stored response's conversation stays in the conversation cache; 0: off. */
  responsesCacheTtlSeconds: number;
  /** The largest file /v1/files accepts. */
  filesMaxBytes: number;
  /** The bytes one tenant's stored files may take together. */
  filesTenantQuotaBytes: number;
  /** Batch API lines one process runs at once (its share of upstream capacity). */
  batchConcurrency: number;
  /** Batch API lines one process starts per second; 0: no pace beyond the concurrency. */
  batchLinesPerSecond: number;
  /** Upstream attempts per batch line on retryable errors (429, 5xx, timeouts). */
  batchLineAttempts: number;
  /** How long a batch line taken by a runner may stay unacknowledged before another takes it. */
  batchClaimIdleMs: number;
  /** How long a batch has to finish: its `24h` completion window. */
  batchCompletionWindowMs: number;
  /** The Redis Stream batch lines are queued on. */
  batchStream: string;
  /** Usage writers this process runs; 0 leaves them to `llm-backend worker` processes. */
  usageWorkers: number;
  /** How long a usage event may stay taken and unwritten before another worker takes it. */
  usageClaimIdleMs: number;
  /** The Redis Stream usage events travel on; deployments sharing one Redis pick their own. */
  usageStream: string;
  /** The longest an answer waits for its usage event to be queued before it goes anyway. */
  usageCommitTimeoutMs: number;
  /** How often a running stream records its usage so far, against a crash of its gateway. */
  usageProgressMs: number;
  /** The Redis Stream request logs and audit entries are shipped through; null: not shipped. */
  logStream: string | null;
  /** Where `llm-backend worker` posts the log stream (newline-delimited JSON); null: nowhere. */
  logSinkUrl: string | null;
  /** Webhook dispatchers this process runs; 0 leaves them to `llm-backend worker` processes. */
  webhookWorkers: number;
  /** One webhook attempt, connection to answer. */
  webhookTimeoutMs: number;
  /** The first webhook retry's longest wait; later ones grow from it. */
  webhookRetryBaseMs: number;
  /** Hostnames, addresses and CIDRs webhooks may reach although they are not public. */
  webhookAllowedHosts: string[];
  /** The platform's own webhook, for operators: every alert and every tenant-less event. */
  operatorWebhook: { url: string; secret: string } | null;
  /** The longest a client may take to send a whole request, headers and body; 0: no limit. */
  requestBodyTimeoutMs: number;
  /** The longest a client may take to send a request's headers; 0: no limit. */
  requestHeadersTimeoutMs: number;
  /** Browser origins allowed to call the API (exact origins, or `*`); empty: CORS off. */
  corsOrigins: string[];
  /** Who may read /metrics, /docs and /openapi.json: anyone, or platform admin keys only. */
  opsAuth: OpsAuth;
  /** A port of their own for /metrics, /docs and /openapi.json (health on both); null: none. */
  opsPort: number | null;
  /** Identical requests in flight share one upstream call (see docs/deduplication.md). */
  dedup: DedupConfig;
  /** How many tenants get a `tenant` label of their own in the metrics; later ones: `other`. */
  metricsTenantLabels: number;
  /** The admin panel at /ui: its built files and its sign-in sessions. */
  adminPanel: AdminPanelConfig;
}

export interface AdminPanelConfig {
  /** The built web app (index.html and assets) served at /ui/. */
  dir: string;
  /** A session unused this long ends. */
  sessionIdleSeconds: number;
  /** A session ends this long after sign-in, however much it is used. */
  sessionMaxAgeSeconds: number;
}

export interface DedupConfig {
  enabled: boolean;
  /** Also share requests whose answer may vary (temperature not 0, n > 1). */
  nondeterministic: boolean;
  /** How long a leader's claim lives without its heartbeat: the takeover delay after a crash. */
  leaseMs: number;
  /** The longest a follower waits for the next part of a live leader's answer. */
  waitMs: number;
}

export type OpsAuth = 'none' | 'platform_key';

export type Env = Readonly<Record<string, string | undefined>>;

/** The config shipped with the package: mock models only, so a first start answers offline. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(
  new URL('../../config/llm-backend.yaml', import.meta.url),
);

/** Where `npm run build` puts the web app: dist/web under the package root. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/web', import.meta.url));

/**
 * Reads a variable that may instead be given as NAME_FILE (a path whose content is the value),
 * the usual way to hand secrets to containers.
 */
export function readSecret(env: Env, name: string, errors: string[]): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    errors.push(`${name} and ${name}_FILE are both set; set only one`);
    return undefined;
  }
  if (file === undefined) return direct === '' ? undefined : direct;
  try {
    const value = readFileSync(file, 'utf8').trim();
    return value === '' ? undefined : value;
  } catch {
    errors.push(`${name}_FILE: cannot read ${file}`);
    return undefined;
  }
}

function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  errors: string[],
) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    errors.push(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
    return fallback;
  }
  return value;
}

/** REDIS_REPLICA_ACKS: 'auto' (the default) or how many replicas, 0 to 16. */
function replicaAcks(raw: string | undefined, errors: string[]): number | 'auto' {
  if (raw === undefined || raw === '' || raw === 'auto') return 'auto';
  const value = Number(raw);
  if (Number.isInteger(value) && value >= 0 && value <= 16) return value;
  errors.push(`REDIS_REPLICA_ACKS must be 'auto' or an integer from 0 to 16, got '${raw}'`);
  return 'auto';
}

function url(value: string | undefined, name: string, protocols: string[], errors: string[]) {
  if (value === undefined) return null;
  try {
    const parsed = new URL(value);
    if (!protocols.includes(parsed.protocol)) {
      errors.push(`${name} must use one of ${protocols.join(', ')}`);
    }
  } catch {
    // The value may hold a password: never echo it.
    errors.push(`${name} is not a valid URL`);
  }
  return value;
}

/** A standalone Redis (`redis://`, `rediss://`) or a cluster (`redis+cluster://...`). */
function redisUrlOf(value: string | undefined, errors: string[]): string | null {
  if (value === undefined || !isClusterUrl(value))
    return url(value, 'REDIS_URL', ['redis:', 'rediss:'], errors);
  try {
    parseClusterUrl(value);
  } catch (error) {
    // The parser's messages never hold the password.
    errors.push(`REDIS_URL: ${(error as Error).message}`);
  }
  return value;
}

const IP_OR_CIDR = /^([0-9.]+|[0-9a-fA-F:]+)(\/\d{1,3})?$/;

function trustProxy(value: string | undefined, errors: string[]): boolean | number | string[] {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => IP_OR_CIDR.test(entry))) return entries;
  errors.push(
    `TRUST_PROXY must be true, false, a number of hops or addresses/CIDRs separated by commas, got '${value}'`,
  );
  return false;
}

function failureMode(value: string | undefined, errors: string[]): 'open' | 'closed' {
  if (value === undefined || value === '' || value === 'open') return 'open';
  if (value === 'closed') return 'closed';
  errors.push(`RATE_LIMIT_FAILURE_MODE must be open or closed, got '${value}'`);
  return 'open';
}

/** Validates the environment once; every problem is collected so the operator fixes all at once. */
export function readEnv(env: Env, errors: string[]): EnvConfig {
  const logLevel = (env.LOG_LEVEL || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    errors.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got '${env.LOG_LEVEL}'`);
  }
  const dataDir = env.DATA_DIR || './data';
  const masterKey = readSecret(env, 'MASTER_KEY', errors) ?? null;
  if (masterKey !== null && masterKey.length < 32) {
    errors.push('MASTER_KEY must be at least 32 characters');
  }
  const masterKeyPrevious = readSecret(env, 'MASTER_KEY_PREVIOUS', errors) ?? null;
  if (masterKeyPrevious !== null && masterKeyPrevious.length < 32) {
    errors.push('MASTER_KEY_PREVIOUS must be at least 32 characters');
  }
  if (masterKeyPrevious !== null && masterKeyPrevious === masterKey) {
    errors.push('MASTER_KEY_PREVIOUS is the same as MASTER_KEY; set it to the key being replaced');
  }
  const bootstrapAdminKey = readSecret(env, 'BOOTSTRAP_ADMIN_KEY', errors) ?? null;
  if (bootstrapAdminKey !== null && !isWellFormedApiKey(bootstrapAdminKey)) {
    // Never echoed: it is a secret, however mistyped.
    errors.push(
      "BOOTSTRAP_ADMIN_KEY is not a well-formed key; make one with 'llm-backend admin-key generate'",
    );
  }
  const databaseUrl = url(
    readSecret(env, 'DATABASE_URL', errors),
    'DATABASE_URL',
    ['postgres:', 'postgresql:'],
    errors,
  );
  checkPostgresTlsFiles(databaseUrl, 'DATABASE_URL', errors);
  const databaseDirectUrl = url(
    readSecret(env, 'DATABASE_DIRECT_URL', errors),
    'DATABASE_DIRECT_URL',
    ['postgres:', 'postgresql:'],
    errors,
  );
  checkPostgresTlsFiles(databaseDirectUrl, 'DATABASE_DIRECT_URL', errors);
  if (databaseDirectUrl !== null && databaseUrl === null) {
    errors.push(
      'DATABASE_DIRECT_URL needs DATABASE_URL: the embedded databases (PGlite) have no pooler',
    );
  }
  const redisUrl = redisUrlOf(readSecret(env, 'REDIS_URL', errors), errors);
  return {
    port: integer(env, 'PORT', 8000, 0, 65535, errors),
    host: env.HOST || '127.0.0.1',
    databaseUrl,
    databaseDirectUrl,
    redisUrl,
    redisTlsCa: readRedisCa(env.REDIS_TLS_CA_FILE, redisUrl, errors),
    tls: readTlsFiles(env.TLS_CERT_FILE, env.TLS_KEY_FILE, errors),
    dataDir,
    exportDir: env.EXPORT_DIR || join(dataDir, 'exports'),
    configFile: env.CONFIG_FILE || DEFAULT_CONFIG_FILE,
    masterKey,
    masterKeyPrevious,
    bootstrapAdminKey,
    authFailuresPerMinute: integer(env, 'AUTH_FAILURES_PER_MINUTE', 30, 0, 1_000_000, errors),
    trustProxy: trustProxy(env.TRUST_PROXY, errors),
    redisTimeoutMs: integer(env, 'REDIS_TIMEOUT_MS', 100, 1, 60_000, errors),
    redisReplicaAcks: replicaAcks(env.REDIS_REPLICA_ACKS, errors),
    redisReplicaAckTimeoutMs: integer(env, 'REDIS_REPLICA_ACK_TIMEOUT_MS', 500, 1, 60_000, errors),
    rateLimitFailureMode: failureMode(env.RATE_LIMIT_FAILURE_MODE, errors),
    rateLimitDefaultCompletionTokens: integer(
      env,
      'RATE_LIMIT_DEFAULT_COMPLETION_TOKENS',
      1024,
      0,
      10_000_000,
      errors,
    ),
    logLevel,
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 10 * 1024 * 1024, 1024, 1024 ** 3, errors),
    upstreamTimeouts: {
      connectMs: integer(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, 1, 3_600_000, errors),
      firstByteMs: integer(env, 'UPSTREAM_FIRST_BYTE_TIMEOUT_MS', 300_000, 1, 3_600_000, errors),
      idleMs: integer(env, 'UPSTREAM_IDLE_TIMEOUT_MS', 60_000, 1, 3_600_000, errors),
    },
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 30_000, 0, 3_600_000, errors),
    tenantDeletionGraceHours: integer(env, 'TENANT_DELETION_GRACE_HOURS', 72, 0, 8760, errors),
    tenantPlacement: readPlacementPolicy(env.TENANT_PLACEMENT, errors),
    tenantPoolsMax:
      env.TENANT_POOLS_MAX === undefined || env.TENANT_POOLS_MAX === ''
        ? null
        : integer(env, 'TENANT_POOLS_MAX', 200, 1, 100_000, errors),
    tenantPoolConnections: integer(env, 'TENANT_POOL_CONNECTIONS', 5, 1, 100, errors),
    responsesRetentionDays: integer(env, 'RESPONSES_RETENTION_DAYS', 30, 0, 3650, errors),
    responsesCacheTtlSeconds: integer(
      env,
      'RESPONSES_CACHE_TTL_SECONDS',
      3600,
      0,
      2_592_000,
      errors,
    ),
    filesMaxBytes: integer(env, 'FILES_MAX_BYTES', 100 * 1024 ** 2, 1024, 1024 ** 3, errors),
    filesTenantQuotaBytes: integer(
      env,
      'FILES_TENANT_QUOTA_BYTES',
      1024 ** 3,
      1024,
      1024 ** 4,
      errors,
    ),
    batchConcurrency: integer(env, 'BATCH_CONCURRENCY', 4, 1, 256, errors),
    batchLinesPerSecond: integer(env, 'BATCH_LINES_PER_SECOND', 10, 0, 100_000, errors),
    batchLineAttempts: integer(env, 'BATCH_LINE_ATTEMPTS', 3, 1, 20, errors),
    batchClaimIdleMs: integer(env, 'BATCH_CLAIM_IDLE_MS', 300_000, 100, 86_400_000, errors),
    batchCompletionWindowMs: integer(
      env,
      'BATCH_COMPLETION_WINDOW_MS',
      86_400_000,
      0,
      86_400_000,
      errors,
    ),
    batchStream: env.BATCH_STREAM || 'llmb:batch-lines',
    usageWorkers: usageWorkers(env, errors),
    usageClaimIdleMs: integer(env, 'USAGE_CLAIM_IDLE_MS', 30_000, 100, 3_600_000, errors),
    usageStream: env.USAGE_STREAM || 'llmb:usage',
    usageCommitTimeoutMs: integer(env, 'USAGE_COMMIT_TIMEOUT_MS', 500, 1, 60_000, errors),
    usageProgressMs: integer(env, 'USAGE_PROGRESS_MS', 5000, 100, 3_600_000, errors),
    ...logShipping(env, errors),
    webhookWorkers: integer(env, 'WEBHOOK_WORKERS', 1, 0, 64, errors),
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 5000, 100, 60_000, errors),
    webhookRetryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 5000, 1, 3_600_000, errors),
    webhookAllowedHosts: allowedHosts(env.WEBHOOK_ALLOWED_HOSTS, errors),
    operatorWebhook: operatorWebhook(env, errors),
    ...requestTimeouts(env, errors),
    corsOrigins: corsOrigins(env.CORS_ORIGINS, errors),
    opsAuth: opsAuth(env.OPS_AUTH, errors),
    opsPort: opsPort(env, errors),
    dedup: dedup(env, errors),
    metricsTenantLabels: integer(env, 'METRICS_TENANT_LABELS', 100, 0, 10_000, errors),
    adminPanel: {
      dir: env.UI_DIR || DEFAULT_UI_DIR,
      sessionIdleSeconds: integer(env, 'SESSION_IDLE_TIMEOUT_SECONDS', 1800, 1, 2_592_000, errors),
      sessionMaxAgeSeconds: integer(env, 'SESSION_MAX_AGE_SECONDS', 43_200, 1, 31_536_000, errors),
    },
  };
}

function onOff(env: Env, name: string, fallback: boolean, errors: string[]): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (value === 'on') return true;
  if (value === 'off') return false;
  errors.push(`${name} must be on or off, got '${value}'`);
  return fallback;
}

function dedup(env: Env, errors: string[]): DedupConfig {
  return {
    enabled: onOff(env, 'DEDUP', true, errors),
    nondeterministic: onOff(env, 'DEDUP_NONDETERMINISTIC', false, errors),
    leaseMs: integer(env, 'DEDUP_LEASE_MS', 3000, 300, 60_000, errors),
    waitMs: integer(env, 'DEDUP_WAIT_MS', 300_000, 1000, 3_600_000, errors),
  };
}

function requestTimeouts(env: Env, errors: string[]) {
  const body = integer(env, 'REQUEST_BODY_TIMEOUT_MS', 30_000, 0, 3_600_000, errors);
  const headers = integer(env, 'REQUEST_HEADERS_TIMEOUT_MS', 10_000, 0, 3_600_000, errors);
  // A headers timeout past the whole request's would never be the one to fire.
  if (body > 0 && headers > body)
    errors.push('REQUEST_HEADERS_TIMEOUT_MS must not be longer than REQUEST_BODY_TIMEOUT_MS');
  return { requestBodyTimeoutMs: body, requestHeadersTimeoutMs: headers };
}

function corsOrigins(value: string | undefined, errors: string[]): string[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.includes('*')) {
    if (entries.length > 1)
      errors.push("CORS_ORIGINS is either '*' or a list of origins, not both");
    return ['*'];
  }
  // An origin is compared byte for byte with the browser's Origin header: no path, no slash.
  const isOrigin = (entry: string) => {
    try {
      const parsed = new URL(entry);
      return ['http:', 'https:'].includes(parsed.protocol) && parsed.origin === entry;
    } catch {
      return false;
    }
  };
  const bad = entries.filter((entry) => !isOrigin(entry));
  if (bad.length > 0)
    errors.push(
      `CORS_ORIGINS must list origins such as https://app.example.com (scheme, host and port only) or '*'; not ${bad.map((entry) => `'${entry}'`).join(', ')}`,
    );
  return entries;
}

function opsAuth(value: string | undefined, errors: string[]): OpsAuth {
  if (value === undefined || value === '' || value === 'none') return 'none';
  if (value === 'platform_key') return 'platform_key';
  errors.push(`OPS_AUTH must be none or platform_key, got '${value}'`);
  return 'none';
}

function opsPort(env: Env, errors: string[]): number | null {
  if (env.OPS_PORT === undefined || env.OPS_PORT === '') return null;
  const port = integer(env, 'OPS_PORT', 0, 0, 65535, errors);
  // 0 picks a free port, for PORT as well: two zeros never collide.
  if (port !== 0 && port === integer(env, 'PORT', 8000, 0, 65535, []))
    errors.push(`OPS_PORT must differ from PORT (${port})`);
  return port;
}

function logShipping(env: Env, errors: string[]) {
  const logStream = env.LOG_STREAM || null;
  const logSinkUrl = url(
    env.LOG_SINK_URL || undefined,
    'LOG_SINK_URL',
    ['http:', 'https:'],
    errors,
  );
  if ((logStream !== null || logSinkUrl !== null) && readSecret(env, 'REDIS_URL', []) === undefined)
    errors.push(
      'LOG_STREAM and LOG_SINK_URL need REDIS_URL: logs are shipped through a Redis Stream',
    );
  if (logSinkUrl !== null && logStream === null)
    errors.push('LOG_SINK_URL needs LOG_STREAM: the sink is fed from that stream');
  return { logStream, logSinkUrl };
}

function operatorWebhook(env: Env, errors: string[]): { url: string; secret: string } | null {
  const target = url(
    env.OPERATOR_WEBHOOK_URL || undefined,
    'OPERATOR_WEBHOOK_URL',
    ['http:', 'https:'],
    errors,
  );
  const secret = readSecret(env, 'OPERATOR_WEBHOOK_SECRET', errors);
  if (target === null && secret === undefined) return null;
  if (target === null || secret === undefined) {
    errors.push(
      'OPERATOR_WEBHOOK_URL and OPERATOR_WEBHOOK_SECRET go together: set both or neither',
    );
    return null;
  }
  // Never echoed: it is a secret, however mistyped.
  if (!/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/.test(secret)) {
    errors.push(
      'OPERATOR_WEBHOOK_SECRET must be a whsec_ secret (whsec_ and at least 24 bytes of base64)',
    );
    return null;
  }
  return { url: target, secret };
}

function allowedHosts(value: string | undefined, errors: string[]): string[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const bad = entries.filter((entry) => !isAllowListEntry(entry));
  if (bad.length > 0)
    errors.push(
      `WEBHOOK_ALLOWED_HOSTS must list hostnames, IP addresses or CIDR ranges separated by commas; not ${bad.map((entry) => `'${entry}'`).join(', ')}`,
    );
  return entries;
}

function usageWorkers(env: Env, errors: string[]): number {
  const count = integer(env, 'USAGE_WORKERS', 1, 0, 64, errors);
  const redis = readSecret(env, 'REDIS_URL', []);
  if (count === 0 && redis === undefined)
    errors.push('USAGE_WORKERS=0 needs REDIS_URL: without Redis, usage waits in this process');
  return count;
}
