import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../../src/config/env.js';
import { type AppConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import { parseClusterUrl } from '../../src/config/redis-url.js';
import type { ProviderConfig } from '../../src/providers/types.js';
import { issueCertificate, makeTestCa } from '../helpers/certificates.js';
import { writeConfigFile } from '../helpers/gateway.js';

const scratch = mkdtempSync(join(tmpdir(), 'llm-backend-config-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let fileCount = 0;
/** Writes raw text (not necessarily valid YAML) to a fresh file and returns its path. */
function writeText(text: string): string {
  fileCount += 1;
  const path = join(scratch, `file-${fileCount}.txt`);
  writeFileSync(path, text);
  return path;
}

/** Runs loadConfig and returns the problems of the ConfigError it must throw. */
function problemsOf(env: Env): readonly string[] {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const problems = (caught as ConfigError).problems;
  expect(problems.length).toBeGreaterThan(0);
  return problems;
}

/** The one problem that contains every fragment; fails if there is none. */
function problemWith(problems: readonly string[], ...fragments: string[]): string {
  const found = problems.find((problem) => fragments.every((f) => problem.includes(f)));
  expect(
    found,
    `no problem contains ${JSON.stringify(fragments)} in ${JSON.stringify(problems)}`,
  ).toBeDefined();
  return found as string;
}

/** A mock provider entry with every field spelled out. */
const MOCK = { type: 'mock', latency_ms: 0, tokens_per_second: 0, embedding_dimensions: 16 };

function configWith(file: unknown, env: Env = {}): AppConfig {
  return loadConfig({ CONFIG_FILE: writeConfigFile(file), ...env });
}

function provider(config: AppConfig, id: string): ProviderConfig {
  const found = config.providers.find((p) => p.id === id);
  if (found === undefined) throw new Error(`no provider '${id}'`);
  return found;
}

function openaiProvider(config: AppConfig, id: string) {
  const found = provider(config, id);
  if (found.type !== 'openai-compatible') throw new Error(`provider '${id}' is ${found.type}`);
  return found;
}

describe('loadConfig: bundled default', () => {
  it('loads the shipped mock config with the documented env defaults', () => {
    const config = loadConfig({});
    expect(config.providers.map((p) => [p.id, p.type])).toEqual([['mock', 'mock']]);
    expect(config.models.map((m) => m.name)).toEqual(['mock-chat', 'mock-embedding']);
    expect(config.models.every((m) => m.deployments[0]?.providerId === 'mock')).toBe(true);
    expect(config.env.port).toBe(8000);
    expect(config.env.host).toBe('127.0.0.1');
    expect(config.env.logLevel).toBe('info');
    expect(config.env.masterKey).toBeNull();
    expect(config.env.databaseUrl).toBeNull();
    expect(config.env.configFile).toMatch(/config[\\/]llm-backend\.yaml$/);
  });

  it('returns a frozen result', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.env)).toBe(true);
    expect(Object.isFrozen(config.providers)).toBe(true);
    expect(Object.isFrozen(config.models)).toBe(true);
    expect(() => {
      (config as { env: unknown }).env = null;
    }).toThrow(TypeError);
  });
});

describe('loadConfig: stdout', () => {
  const switches = { LOG_STREAM: 'llmb:logs', LOG_TOKENS: '1' };
  afterEach(() => {
    vi.restoreAllMocks();
    for (const name of Object.keys(switches)) delete process.env[name];
  });

  // The yaml package prints its parse tree when these are set in process.env; stdout must
  // hold JSON log lines only.
  it('prints nothing while parsing with the yaml debug switches set, and keeps them', () => {
    Object.assign(process.env, switches);
    const printed: unknown[] = [];
    const capture = (...args: unknown[]) => {
      printed.push(args);
    };
    vi.spyOn(console, 'log').mockImplementation(capture);
    vi.spyOn(console, 'dir').mockImplementation(capture);
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(chunk);
      return true;
    });
    const config = loadConfig({ ...switches, REDIS_URL: 'redis://127.0.0.1:6379' });
    vi.restoreAllMocks();
    expect(printed).toEqual([]);
    expect(config.env.logStream).toBe('llmb:logs');
    expect(config.models.length).toBeGreaterThan(0);
    expect(process.env.LOG_STREAM).toBe('llmb:logs');
    expect(process.env.LOG_TOKENS).toBe('1');
  });
});

describe('loadConfig: environment problems', () => {
  it('lists every problem in one throw', () => {
    const problems = problemsOf({
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      UPSTREAM_IDLE_TIMEOUT_MS: '-1',
      DATABASE_URL: 'mysql://x',
      MASTER_KEY: 'short',
    });
    expect(problems.length).toBeGreaterThanOrEqual(5);
    problemWith(problems, 'PORT', 'abc');
    problemWith(problems, 'LOG_LEVEL', 'loud');
    problemWith(problems, 'UPSTREAM_IDLE_TIMEOUT_MS', '-1');
    problemWith(problems, 'DATABASE_URL');
    problemWith(problems, 'MASTER_KEY');
  });

  it('reads how many Redis replicas a usage publish waits for', () => {
    const problems = problemsOf({
      REDIS_REPLICA_ACKS: 'some',
      REDIS_REPLICA_ACK_TIMEOUT_MS: '0',
    });
    problemWith(problems, 'REDIS_REPLICA_ACKS', "'auto' or an integer", 'some');
    problemWith(problems, 'REDIS_REPLICA_ACK_TIMEOUT_MS', '0');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).redisReplicaAcks).toBe('auto');
    expect(env({ REDIS_REPLICA_ACKS: 'auto' }).redisReplicaAcks).toBe('auto');
    expect(env({ REDIS_REPLICA_ACKS: '0' }).redisReplicaAcks).toBe(0);
    expect(env({ REDIS_REPLICA_ACKS: '2' }).redisReplicaAcks).toBe(2);
    expect(env({}).redisReplicaAckTimeoutMs).toBe(500);
  });

  it('checks the rate limit, Redis and proxy settings', () => {
    const problems = problemsOf({
      RATE_LIMIT_FAILURE_MODE: 'maybe',
      REDIS_TIMEOUT_MS: '0',
      TRUST_PROXY: 'the load balancer',
      AUTH_FAILURES_PER_MINUTE: '-3',
    });
    problemWith(problems, 'RATE_LIMIT_FAILURE_MODE', 'maybe');
    problemWith(problems, 'REDIS_TIMEOUT_MS', '0');
    problemWith(problems, 'TRUST_PROXY');
    problemWith(problems, 'AUTH_FAILURES_PER_MINUTE', '-3');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).rateLimitFailureMode).toBe('open');
    expect(env({ RATE_LIMIT_FAILURE_MODE: 'closed' }).rateLimitFailureMode).toBe('closed');
    expect(env({}).trustProxy).toBe(false);
    expect(env({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(env({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(env({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
    ]);
  });

  it('checks the usage commit and progress settings', () => {
    const problems = problemsOf({ USAGE_COMMIT_TIMEOUT_MS: 'soon', USAGE_PROGRESS_MS: '50' });
    problemWith(problems, 'USAGE_COMMIT_TIMEOUT_MS', 'soon');
    problemWith(problems, 'USAGE_PROGRESS_MS', '50');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).usageCommitTimeoutMs).toBe(500);
    expect(env({}).usageProgressMs).toBe(5000);
    expect(env({ USAGE_PROGRESS_MS: '200' }).usageProgressMs).toBe(200);
  });

  it('checks the deduplication settings', () => {
    const problems = problemsOf({
      DEDUP: 'yes',
      DEDUP_NONDETERMINISTIC: '1',
      DEDUP_LEASE_MS: '10',
      DEDUP_WAIT_MS: 'long',
    });
    problemWith(problems, 'DEDUP', 'yes');
    problemWith(problems, 'DEDUP_NONDETERMINISTIC', '1');
    problemWith(problems, 'DEDUP_LEASE_MS', '10');
    problemWith(problems, 'DEDUP_WAIT_MS', 'long');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).dedup).toEqual({
      enabled: true,
      nondeterministic: false,
      leaseMs: 3000,
      waitMs: 300_000,
    });
    expect(env({ DEDUP: 'off', DEDUP_NONDETERMINISTIC: 'on' }).dedup).toMatchObject({
      enabled: false,
      nondeterministic: true,
    });
  });

  it('checks the request timeouts', () => {
    const problems = problemsOf({ REQUEST_BODY_TIMEOUT_MS: '-1', REQUEST_HEADERS_TIMEOUT_MS: 'x' });
    problemWith(problems, 'REQUEST_BODY_TIMEOUT_MS', '-1');
    problemWith(problems, 'REQUEST_HEADERS_TIMEOUT_MS', 'x');
    problemWith(
      problemsOf({ REQUEST_BODY_TIMEOUT_MS: '5000', REQUEST_HEADERS_TIMEOUT_MS: '6000' }),
      'REQUEST_HEADERS_TIMEOUT_MS',
      'REQUEST_BODY_TIMEOUT_MS',
    );
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({})).toMatchObject({
      requestBodyTimeoutMs: 30_000,
      requestHeadersTimeoutMs: 10_000,
    });
    expect(env({ REQUEST_BODY_TIMEOUT_MS: '0' })).toMatchObject({ requestBodyTimeoutMs: 0 });
  });

  it('checks CORS_ORIGINS', () => {
    const problems = problemsOf({ CORS_ORIGINS: 'https://ok.test, app.test, https://a.test/path' });
    problemWith(problems, 'CORS_ORIGINS', "'app.test'", "'https://a.test/path'");
    problemWith(problemsOf({ CORS_ORIGINS: '*, https://ok.test' }), 'CORS_ORIGINS', '*');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).corsOrigins).toEqual([]);
    expect(env({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(env({ CORS_ORIGINS: 'https://a.test, http://localhost:5173' }).corsOrigins).toEqual([
      'https://a.test',
      'http://localhost:5173',
    ]);
  });

  it('checks OPS_AUTH', () => {
    problemWith(problemsOf({ OPS_AUTH: 'admin' }), 'OPS_AUTH', "'admin'");
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).opsAuth).toBe('none');
    expect(env({ OPS_AUTH: 'platform_key' }).opsAuth).toBe('platform_key');
  });

  it('checks OPS_PORT', () => {
    problemWith(problemsOf({ OPS_PORT: '70000' }), 'OPS_PORT', '70000');
    problemWith(problemsOf({ PORT: '9000', OPS_PORT: '9000' }), 'OPS_PORT', 'PORT');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).opsPort).toBeNull();
    expect(env({ OPS_PORT: '9090' }).opsPort).toBe(9090);
    expect(env({ PORT: '0', OPS_PORT: '0' }).opsPort).toBe(0);
  });

  it('checks METRICS_TENANT_LABELS', () => {
    problemWith(problemsOf({ METRICS_TENANT_LABELS: '-1' }), 'METRICS_TENANT_LABELS', '-1');
    problemWith(problemsOf({ METRICS_TENANT_LABELS: 'many' }), 'METRICS_TENANT_LABELS', 'many');
    problemWith(problemsOf({ METRICS_TENANT_LABELS: '10001' }), 'METRICS_TENANT_LABELS', '10001');
    const env = (vars: Record<string, string>) => loadConfig(vars).env;
    expect(env({}).metricsTenantLabels).toBe(100);
    expect(env({ METRICS_TENANT_LABELS: '0' }).metricsTenantLabels).toBe(0);
    expect(env({ METRICS_TENANT_LABELS: '250' }).metricsTenantLabels).toBe(250);
  });

  it('puts every problem in the error message too', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: '70000', SHUTDOWN_GRACE_MS: '1.5' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('PORT');
    expect(message).toContain('SHUTDOWN_GRACE_MS');
  });

  it('never echoes a secret URL value', () => {
    const password = 'hunter2-S3cret-Pa55';
    const cases: Env[] = [
      { DATABASE_URL: `mysql://admin:${password}@db.internal:3306/app` },
      { DATABASE_URL: `postgres://admin:${password}@[not-a-host` },
      { REDIS_URL: `http://default:${password}@cache.internal:6379` },
    ];
    for (const env of cases) {
      const problems = problemsOf(env);
      problemWith(problems, Object.keys(env)[0] as string);
      for (const problem of problems) expect(problem).not.toContain(password);
    }
  });

  it('takes a Redis Cluster URL, and refuses one it cannot read without echoing its password', () => {
    const url = 'redis+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001,cache-2:7002/';
    expect(loadConfig({ REDIS_URL: url }).env.redisUrl).toBe(url);
    expect(parseClusterUrl(url)).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
        { host: 'cache-2', port: 7002 },
      ],
      username: 'app',
      password: 's@cret',
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://10.0.0.1:7000').tls).toBe(true);
    const password = 'hunter2-S3cret-Pa55';
    const bad = [
      `redis+cluster://:${password}@10.0.0.1`,
      `redis+cluster://:${password}@10.0.0.1:7000/3`,
      `redis+cluster://:${password}@10.0.0.1:7000,,10.0.0.2:7000`,
      `redis+cluster://:${password}@10.0.0.1:99999`,
      'redis+cluster://',
    ];
    for (const value of bad) {
      const problems = problemsOf({ REDIS_URL: value });
      problemWith(problems, 'REDIS_URL');
      for (const problem of problems) expect(problem).not.toContain(password);
    }
  });

  it('never echoes a short MASTER_KEY', () => {
    const problems = problemsOf({ MASTER_KEY: 'tiny-secret-key' });
    problemWith(problems, 'MASTER_KEY');
    for (const problem of problems) expect(problem).not.toContain('tiny-secret-key');
  });
});

describe('loadConfig: *_FILE secrets', () => {
  const key = 'k'.repeat(40);

  it('reads MASTER_KEY_FILE and trims the content', () => {
    const path = writeText(`  ${key}\n\n`);
    expect(loadConfig({ MASTER_KEY_FILE: path }).env.masterKey).toBe(key);
  });

  it('reads MASTER_KEY directly', () => {
    expect(loadConfig({ MASTER_KEY: key }).env.masterKey).toBe(key);
  });

  it('rejects MASTER_KEY and MASTER_KEY_FILE set together', () => {
    const problems = problemsOf({ MASTER_KEY: key, MASTER_KEY_FILE: writeText(key) });
    problemWith(problems, 'MASTER_KEY', 'MASTER_KEY_FILE');
  });

  it('reports a MASTER_KEY_FILE that cannot be read', () => {
    const missing = join(scratch, 'no-such-key-file');
    const problems = problemsOf({ MASTER_KEY_FILE: missing });
    problemWith(problems, 'MASTER_KEY_FILE', missing);
  });

  it('reads DATABASE_URL_FILE and validates its content', () => {
    const url = 'postgres://app:pw@db:5432/app';
    expect(loadConfig({ DATABASE_URL_FILE: writeText(`${url}\n`) }).env.databaseUrl).toBe(url);
    const problems = problemsOf({ DATABASE_URL_FILE: writeText('mysql://app:pw@db/app') });
    problemWith(problems, 'DATABASE_URL');
  });
});

describe('loadConfig: config file problems', () => {
  it('reports an unreadable path', () => {
    const missing = join(scratch, 'missing.yaml');
    const problems = problemsOf({ CONFIG_FILE: missing });
    problemWith(problems, 'CONFIG_FILE', missing);
  });

  it('reports a directory given as the config file', () => {
    const problems = problemsOf({ CONFIG_FILE: scratch });
    problemWith(problems, 'CONFIG_FILE', scratch);
  });

  it('reports invalid YAML', () => {
    const path = writeText('providers: [\n  mock: : :\n');
    const problems = problemsOf({ CONFIG_FILE: path });
    problemWith(problems, 'CONFIG_FILE', path, 'YAML');
  });

  it('reports where the YAML is invalid without quoting the line, which may hold a secret', () => {
    const path = writeText(
      'providers:\n  cloud:\n    headers: { authorization: "Bearer sk-inline-secret\n',
    );
    const problems = problemsOf({ CONFIG_FILE: path });
    problemWith(problems, 'YAML', 'line');
    expect(problems.join('\n')).not.toContain('sk-inline-secret');
  });

  it('reports an empty file as missing providers and models', () => {
    const problems = problemsOf({ CONFIG_FILE: writeText('') });
    problemWith(problems, 'providers');
    problemWith(problems, 'models');
  });

  it('reports an unknown provider type at its path', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { mock: MOCK, weird: { type: 'banana' } },
        models: [{ name: 'm', provider: 'mock' }],
      }),
    });
    problemWith(problems, '/providers/weird');
    expect(problems.some((p) => p.includes('/providers/mock'))).toBe(false);
  });

  it('lists several schema problems at once', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { mock: MOCK },
        models: [{ name: 'has space', provider: 'mock' }, { provider: 'mock' }],
        extra: true,
      }),
    });
    problemWith(problems, '/models/0/name');
    problemWith(problems, '/models/1/name');
    problemWith(problems, '/extra');
  });

  it('lists several provider and model problems at once', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: {
          weird: { type: 'banana' },
          slow: { ...MOCK, latency_ms: -5 },
          local: { type: 'openai-compatible', base_url: 'http://x.test/v1', surprise: 1 },
          ok: MOCK,
        },
        models: [
          { name: 'a', provider: 'ok' },
          { name: 'b', provider: 'ghost' },
        ],
      }),
    });
    problemWith(problems, '/providers/weird', 'banana');
    problemWith(problems, '/providers/slow/latency_ms');
    problemWith(problems, '/providers/local/surprise');
    problemWith(problems, '/models/1/provider', 'ghost');
    expect(problems.some((p) => p.includes('/providers/ok'))).toBe(false);
  });

  it('rejects a provider id that does not match the id pattern', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { 'Bad Id': MOCK },
        models: [{ name: 'm', provider: 'Bad Id' }],
      }),
    });
    problemWith(problems, '/providers/Bad Id');
  });

  it('reports a model that refers to an unknown provider', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { mock: MOCK },
        models: [
          { name: 'ok', provider: 'mock' },
          { name: 'lost', provider: 'nowhere' },
        ],
      }),
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/models/1/provider', 'nowhere');
  });

  it('reports duplicate model names', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { mock: MOCK },
        models: [
          { name: 'twin', provider: 'mock' },
          { name: 'other', provider: 'mock' },
          { name: 'twin', provider: 'mock' },
        ],
      }),
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/models/2/name', 'twin');
  });

  it('requires base_url for openai-compatible', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { local: { type: 'openai-compatible' } },
        models: [{ name: 'm', provider: 'local' }],
      }),
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/providers/local', 'base_url');
  });

  it('rejects a base_url that is not http(s)', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { local: { type: 'openai-compatible', base_url: 'ftp://models.local/v1' } },
        models: [{ name: 'm', provider: 'local' }],
      }),
    });
    problemWith(problems, '/providers/local/base_url');
  });

  it('reports an api_key_env whose variable is unset', () => {
    const problems = problemsOf({
      CONFIG_FILE: writeConfigFile({
        providers: { cloud: { type: 'openai', api_key_env: 'CLOUD_KEY_FOR_TEST' } },
        models: [{ name: 'm', provider: 'cloud' }],
      }),
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, 'cloud', 'CLOUD_KEY_FOR_TEST');
  });

  it('reports an api key given twice once, and an empty key file as not set', () => {
    const file = writeConfigFile({
      providers: { cloud: { type: 'openai', api_key_env: 'CLOUD_KEY_FOR_TEST' } },
      models: [{ name: 'm', provider: 'cloud' }],
    });
    const twice = problemsOf({
      CONFIG_FILE: file,
      CLOUD_KEY_FOR_TEST: 'sk-a',
      CLOUD_KEY_FOR_TEST_FILE: writeText('sk-b'),
    });
    expect(twice).toHaveLength(1);
    problemWith(twice, 'CLOUD_KEY_FOR_TEST and CLOUD_KEY_FOR_TEST_FILE are both set');
    const empty = problemsOf({ CONFIG_FILE: file, CLOUD_KEY_FOR_TEST_FILE: writeText('  \n') });
    expect(empty).toHaveLength(1);
    problemWith(empty, '/providers/cloud/api_key_env', 'not set or empty');
  });

  it('lists several semantic problems at once, with env problems', () => {
    const problems = problemsOf({
      PORT: 'nope',
      CONFIG_FILE: writeConfigFile({
        providers: {
          mock: MOCK,
          local: { type: 'openai-compatible' },
          cloud: { type: 'openai', api_key_env: 'UNSET_KEY_FOR_TEST' },
        },
        models: [
          { name: 'a', provider: 'mock' },
          { name: 'b', provider: 'ghost' },
          { name: 'a', provider: 'cloud' },
        ],
      }),
    });
    problemWith(problems, 'PORT');
    problemWith(problems, '/providers/local', 'base_url');
    problemWith(problems, 'cloud', 'UNSET_KEY_FOR_TEST');
    problemWith(problems, '/models/1/provider', 'ghost');
    problemWith(problems, '/models/2/name', "'a'");
    expect(problems).toHaveLength(5);
  });

  it('never echoes the api key file content or other secrets in problems', () => {
    const secret = 'sk-file-secret-value-1234567890';
    const problems = problemsOf({
      CLOUD_KEY: 'sk-direct-secret-value-0987654321',
      CLOUD_KEY_FILE: writeText(secret),
      CONFIG_FILE: writeConfigFile({
        providers: { cloud: { type: 'openai', api_key_env: 'CLOUD_KEY' } },
        models: [{ name: 'm', provider: 'cloud' }],
      }),
    });
    problemWith(problems, 'CLOUD_KEY', 'CLOUD_KEY_FILE');
    for (const problem of problems) {
      expect(problem).not.toContain(secret);
      expect(problem).not.toContain('sk-direct-secret-value-0987654321');
    }
  });
});

describe('loadConfig: resolution', () => {
  it('defaults the openai base_url and strips trailing slashes', () => {
    const config = configWith({
      providers: {
        cloud: { type: 'openai' },
        local: { type: 'openai-compatible', base_url: 'http://127.0.0.1:9999/v1//' },
      },
      models: [
        { name: 'a', provider: 'cloud' },
        { name: 'b', provider: 'local' },
      ],
    });
    expect(openaiProvider(config, 'cloud').baseUrl).toBe('https://api.openai.com/v1');
    expect(openaiProvider(config, 'local').baseUrl).toBe('http://127.0.0.1:9999/v1');
    expect(openaiProvider(config, 'cloud').apiKey).toBeNull();
  });

  it('reads the api key from the variable named by api_key_env, or from NAME_FILE', () => {
    const file = {
      providers: { cloud: { type: 'openai', api_key_env: 'CLOUD_KEY' } },
      models: [{ name: 'a', provider: 'cloud' }],
    };
    const direct = configWith(file, { CLOUD_KEY: 'sk-direct' });
    expect(openaiProvider(direct, 'cloud').apiKey).toBe('sk-direct');
    const fromFile = configWith(file, { CLOUD_KEY_FILE: writeText('sk-from-file\n') });
    expect(openaiProvider(fromFile, 'cloud').apiKey).toBe('sk-from-file');
  });

  it('uses the env timeouts by default and per-provider timeouts over them', () => {
    const config = configWith(
      {
        providers: {
          plain: { type: 'openai-compatible', base_url: 'http://a.test/v1' },
          tuned: {
            type: 'openai-compatible',
            base_url: 'http://b.test/v1',
            timeouts: { connect_ms: 111, idle_ms: 333 },
          },
        },
        models: [
          { name: 'a', provider: 'plain' },
          { name: 'b', provider: 'tuned' },
        ],
      },
      {
        UPSTREAM_CONNECT_TIMEOUT_MS: '1000',
        UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '2000',
        UPSTREAM_IDLE_TIMEOUT_MS: '3000',
      },
    );
    expect(openaiProvider(config, 'plain').timeouts).toEqual({
      connectMs: 1000,
      firstByteMs: 2000,
      idleMs: 3000,
    });
    expect(openaiProvider(config, 'tuned').timeouts).toEqual({
      connectMs: 111,
      firstByteMs: 2000,
      idleMs: 333,
    });
  });

  it('keeps headers and max_connections, with defaults', () => {
    const config = configWith({
      providers: {
        plain: { type: 'openai-compatible', base_url: 'http://a.test/v1' },
        custom: {
          type: 'openai-compatible',
          base_url: 'http://b.test/v1',
          headers: { 'x-org': 'acme' },
          max_connections: 8,
        },
      },
      models: [{ name: 'a', provider: 'plain' }],
    });
    expect(openaiProvider(config, 'plain').headers).toEqual({});
    expect(openaiProvider(config, 'plain').maxConnections).toBe(256);
    expect(openaiProvider(config, 'custom').headers).toEqual({ 'x-org': 'acme' });
    expect(openaiProvider(config, 'custom').maxConnections).toBe(8);
  });

  it('maps mock provider settings', () => {
    const config = configWith({
      providers: {
        mock: { type: 'mock', latency_ms: 5, tokens_per_second: 20, embedding_dimensions: 8 },
      },
      models: [{ name: 'a', provider: 'mock' }],
    });
    expect(provider(config, 'mock')).toEqual({
      id: 'mock',
      type: 'mock',
      latencyMs: 5,
      tokensPerSecond: 20,
      embeddingDimensions: 8,
    });
  });

  it('fills in the documented mock defaults for a bare { type: mock }', () => {
    const config = configWith({
      providers: { mock: { type: 'mock' } },
      models: [{ name: 'a', provider: 'mock' }],
    });
    expect(provider(config, 'mock')).toEqual({
      id: 'mock',
      type: 'mock',
      latencyMs: 0,
      tokensPerSecond: 0,
      embeddingDimensions: 16,
    });
  });

  it('sends the model name upstream unless `model` is set', () => {
    const config = configWith({
      providers: { mock: MOCK },
      models: [
        { name: 'plain', provider: 'mock' },
        { name: 'alias', provider: 'mock', model: 'real-upstream-name' },
      ],
    });
    expect(config.models.map((m) => [m.name, m.deployments[0]?.upstreamModel])).toEqual([
      ['plain', 'plain'],
      ['alias', 'real-upstream-name'],
    ]);
  });

  it('defaults capabilities, pricing, owned_by and created', () => {
    const config = configWith({
      providers: { mock: MOCK },
      models: [
        { name: 'bare', provider: 'mock' },
        {
          name: 'full',
          provider: 'mock',
          owned_by: 'acme',
          created: 1_700_000_000,
          capabilities: { embeddings: true, context_window: 4096 },
          pricing: { input: 1.5, output: 2 },
        },
      ],
    });
    const [bare, full] = config.models;
    expect(bare?.capabilities).toEqual({
      chat: true,
      completions: false,
      embeddings: false,
      tools: false,
      vision: false,
      jsonMode: false,
      contextWindow: null,
    });
    expect(bare?.pricing).toEqual({
      input: 0,
      output: 0,
      cachedInput: 0,
      batch: { input: 0, output: 0, cachedInput: 0 },
    });
    expect(bare?.ownedBy).toBe('mock');
    expect(Number.isInteger(bare?.created)).toBe(true);
    expect(full?.capabilities).toEqual({
      chat: true,
      completions: false,
      embeddings: true,
      tools: false,
      vision: false,
      jsonMode: false,
      contextWindow: 4096,
    });
    expect(full?.pricing).toEqual({
      input: 1.5,
      output: 2,
      cachedInput: 0,
      batch: { input: 0.75, output: 1, cachedInput: 0 },
    });
    expect(full?.ownedBy).toBe('acme');
    expect(full?.created).toBe(1_700_000_000);
  });

  it('reads PORT, HOST, LOG_LEVEL and SHUTDOWN_GRACE_MS from the env', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '0.0.0.0',
      LOG_LEVEL: 'debug',
      SHUTDOWN_GRACE_MS: '0',
    });
    expect(config.env.port).toBe(0);
    expect(config.env.host).toBe('0.0.0.0');
    expect(config.env.logLevel).toBe('debug');
    expect(config.env.shutdownGraceMs).toBe(0);
  });
});

describe('loadConfig: TLS settings', () => {
  const ca = makeTestCa();
  const cert = issueCertificate(ca, 'config');
  const other = issueCertificate(ca, 'other');

  it('takes a certificate and its key, and none by default', () => {
    expect(loadConfig({}).env.tls).toBeNull();
    const env = loadConfig({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile }).env;
    expect(env.tls).toEqual({ certFile: cert.certFile, keyFile: cert.keyFile });
  });

  it('wants both files, readable, and a key that is the certificate’s', () => {
    problemWith(
      problemsOf({ TLS_CERT_FILE: cert.certFile }),
      'TLS_CERT_FILE and TLS_KEY_FILE go together',
    );
    problemWith(
      problemsOf({ TLS_KEY_FILE: cert.keyFile }),
      'TLS_CERT_FILE and TLS_KEY_FILE go together',
    );
    const missing = join(scratch, 'missing.key');
    problemWith(
      problemsOf({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: missing }),
      `TLS_KEY_FILE: cannot read ${missing}`,
    );
    const mismatch = problemWith(
      problemsOf({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: other.keyFile }),
      'not a usable certificate and private key',
    );
    expect(mismatch).not.toContain('PRIVATE KEY');
    problemWith(
      problemsOf({ TLS_CERT_FILE: writeText('not pem'), TLS_KEY_FILE: cert.keyFile }),
      'not a usable certificate and private key',
    );
  });

  it('takes a Redis CA file for rediss:// only, and checks it holds a certificate', () => {
    const env = loadConfig({
      REDIS_URL: 'rediss://127.0.0.1:6380',
      REDIS_TLS_CA_FILE: ca.certFile,
    }).env;
    expect(env.redisTlsCa).toBe(ca.pem);
    expect(loadConfig({ REDIS_URL: 'rediss://127.0.0.1:6380' }).env.redisTlsCa).toBeNull();
    problemWith(
      problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: ca.certFile }),
      'REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL',
    );
    const cluster = {
      REDIS_URL: 'rediss+cluster://127.0.0.1:7000',
      REDIS_TLS_CA_FILE: ca.certFile,
    };
    expect(loadConfig(cluster).env.redisTlsCa).toBe(ca.pem);
    problemWith(problemsOf({ REDIS_TLS_CA_FILE: ca.certFile }), 'REDIS_TLS_CA_FILE needs');
    problemWith(
      problemsOf({ REDIS_URL: 'rediss://127.0.0.1:6380', REDIS_TLS_CA_FILE: writeText('x') }),
      'REDIS_TLS_CA_FILE:',
      'holds no PEM certificate',
    );
  });

  it('names an unreadable sslrootcert of DATABASE_URL without echoing the URL', () => {
    const missing = join(scratch, 'no-ca.pem');
    const url = `postgres://app:s3cret@db.example:5432/llmb?sslmode=verify-full&sslrootcert=${missing}`;
    const problem = problemWith(problemsOf({ DATABASE_URL: url }), 'DATABASE_URL', 'sslrootcert');
    expect(problem).toContain(missing);
    expect(problem).not.toContain('s3cret');
    const readable = url.replace(missing, ca.certFile);
    expect(loadConfig({ DATABASE_URL: readable }).env.databaseUrl).toBe(readable);
  });
});
