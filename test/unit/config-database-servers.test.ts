import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { writeConfigFile } from '../helpers/gateway.js';

const scratch = mkdtempSync(join(tmpdir(), 'llm-backend-config-servers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const BASE = { providers: { mock: { type: 'mock' } }, models: [] };
const CONTROL = 'postgres://gateway:control-pass@db-0.internal:5432/llm_backend';
const EU1 = 'postgres://gateway:eu1-pass@db-eu1.internal:5432/postgres';
const EU1_REPLICA = 'postgresql://reader:replica-pass@db-eu1-ro.internal:5432/postgres';

const load = (servers: unknown, env: Env = {}) =>
  loadConfig({
    CONFIG_FILE: writeConfigFile({ ...BASE, database_servers: servers }),
    DATABASE_URL: CONTROL,
    ...env,
  });

function problemsOf(servers: unknown, env: Env = {}): readonly string[] {
  try {
    load(servers, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: database_servers', () => {
  it('is empty without the block', () => {
    expect(loadConfig({ CONFIG_FILE: writeConfigFile(BASE) }).databaseServers).toEqual([]);
  });

  it('resolves each server from its variables, NAME_FILE included', () => {
    const replicaFile = join(scratch, 'eu1-replica-url');
    writeFileSync(replicaFile, `${EU1_REPLICA}\n`);
    const config = load(
      {
        default: { replica_url_env: 'DATABASE_REPLICA_URL' },
        'eu-1': { url_env: 'EU1_DATABASE_URL', replica_url_env: 'EU1_REPLICA_URL' },
        'us-2': { url_env: 'US2_DATABASE_URL' },
      },
      {
        DATABASE_REPLICA_URL: `${CONTROL}?application_name=replica`,
        EU1_DATABASE_URL: EU1,
        EU1_REPLICA_URL_FILE: replicaFile,
        US2_DATABASE_URL: 'postgresql://db-us2.internal/postgres',
      },
    );
    expect(config.databaseServers).toEqual([
      {
        name: 'default',
        url: null,
        replicaUrl: `${CONTROL}?application_name=replica`,
        directUrl: null,
        maxReplicaLagSeconds: 10,
        maxTenants: null,
      },
      {
        name: 'eu-1',
        url: EU1,
        replicaUrl: EU1_REPLICA,
        directUrl: null,
        maxReplicaLagSeconds: 10,
        maxTenants: null,
      },
      {
        name: 'us-2',
        url: 'postgresql://db-us2.internal/postgres',
        replicaUrl: null,
        directUrl: null,
        maxReplicaLagSeconds: 10,
        maxTenants: null,
      },
    ]);
    expect(Object.isFrozen(config.databaseServers)).toBe(true);
  });

  it('lists every problem at once, naming variables and never echoing a URL', () => {
    const problems = problemsOf(
      {
        default: { url_env: 'CONTROL_AGAIN', replica_url_env: 'MISSING_REPLICA' },
        'eu-1': { url_env: 'EU1_DATABASE_URL', replica_url_env: 'EU1_REPLICA_URL' },
        'no-url': { replica_url_env: 'EU1_DATABASE_URL' },
        Bad_Name: { url_env: 'EU1_DATABASE_URL' },
        pasted: { url: EU1 },
      },
      {
        CONTROL_AGAIN: CONTROL,
        EU1_DATABASE_URL: 'mysql://gateway:eu1-pass@db-eu1.internal/app',
        EU1_REPLICA_URL: 'not a url with replica-pass',
      },
    );
    const expected = [
      'CONFIG_FILE /database_servers/default/url_env: not allowed on the default server',
      'CONFIG_FILE /database_servers/default/replica_url_env: MISSING_REPLICA (or MISSING_REPLICA_FILE) is not set or empty',
      'CONFIG_FILE /database_servers/eu-1/url_env: EU1_DATABASE_URL must hold a postgres:// or postgresql:// URL',
      'CONFIG_FILE /database_servers/eu-1/replica_url_env: EU1_REPLICA_URL must hold a postgres:// or postgresql:// URL',
      'CONFIG_FILE /database_servers/no-url: url_env is required',
      'CONFIG_FILE /database_servers/Bad_Name: server names must match',
      'CONFIG_FILE /database_servers/pasted/url:',
    ];
    for (const fragment of expected) {
      expect(
        problems.some((problem) => problem.startsWith(fragment)),
        `${fragment} in ${JSON.stringify(problems)}`,
      ).toBe(true);
    }
    const text = problems.join('\n');
    for (const secret of ['control-pass', 'eu1-pass', 'replica-pass', 'db-eu1', 'mysql:']) {
      expect(text).not.toContain(secret);
    }
  });

  it('refuses servers with the embedded databases (no DATABASE_URL)', () => {
    const problems = problemsOf(
      { 'eu-1': { url_env: 'EU1_DATABASE_URL' } },
      { DATABASE_URL: '', EU1_DATABASE_URL: EU1 },
    );
    expect(problems).toEqual([
      'CONFIG_FILE /database_servers: needs DATABASE_URL; the embedded databases (PGlite) have no servers',
    ]);
  });

  it('reports a variable set twice, and an unreadable file, once each', () => {
    const problems = problemsOf(
      {
        'eu-1': { url_env: 'EU1_DATABASE_URL' },
        'eu-2': { url_env: 'EU2_DATABASE_URL' },
      },
      {
        EU1_DATABASE_URL: EU1,
        EU1_DATABASE_URL_FILE: join(scratch, 'eu1'),
        EU2_DATABASE_URL_FILE: join(scratch, 'missing'),
      },
    );
    expect(problems).toEqual([
      'EU1_DATABASE_URL and EU1_DATABASE_URL_FILE are both set; set only one',
      `EU2_DATABASE_URL_FILE: cannot read ${join(scratch, 'missing')}`,
    ]);
  });
});

describe('loadConfig: database_servers over TLS', () => {
  it('names a server URL whose sslrootcert cannot be read, never the URL', () => {
    const missing = join(scratch, 'no-such-ca.pem');
    const problems = problemsOf(
      { 'eu-1': { url_env: 'EU1_DATABASE_URL' } },
      { EU1_DATABASE_URL: `${EU1}?sslmode=verify-full&sslrootcert=${missing}` },
    );
    const problem = problems.find((text) => text.includes('sslrootcert'));
    expect(problem).toContain('EU1_DATABASE_URL');
    expect(problem).toContain(missing);
    expect(problem).not.toContain('eu1-pass');
    const ca = join(scratch, 'ca.pem');
    writeFileSync(ca, 'a CA file; only its being readable is checked here\n');
    const url = `${EU1}?sslmode=verify-full&sslrootcert=${ca}`;
    const config = load({ 'eu-1': { url_env: 'EU1_DATABASE_URL' } }, { EU1_DATABASE_URL: url });
    expect(config.databaseServers).toEqual([
      {
        name: 'eu-1',
        url,
        replicaUrl: null,
        directUrl: null,
        maxReplicaLagSeconds: 10,
        maxTenants: null,
      },
    ]);
  });
});

describe('max_tenants and TENANT_PLACEMENT', () => {
  it('reads a capacity per server, the default server included', () => {
    const config = load(
      { default: { max_tenants: 0 }, 'eu-1': { url_env: 'EU1_DATABASE_URL', max_tenants: 500 } },
      { EU1_DATABASE_URL: EU1, TENANT_PLACEMENT: 'most-room' },
    );
    expect(config.databaseServers.map(({ name, maxTenants }) => ({ name, maxTenants }))).toEqual([
      { name: 'default', maxTenants: 0 },
      { name: 'eu-1', maxTenants: 500 },
    ]);
    expect(config.env.tenantPlacement).toBe('most-room');
    expect(load({}, {}).env.tenantPlacement).toBe('default');
  });

  it('refuses a capacity that is not a whole number of at least 0, and an unknown policy', () => {
    for (const bad of [-1, 1.5, 'many']) {
      const problems = problemsOf(
        { 'eu-1': { url_env: 'EU1_DATABASE_URL', max_tenants: bad } },
        {
          EU1_DATABASE_URL: EU1,
        },
      );
      expect(problems.join('\n'), String(bad)).toContain('/database_servers/eu-1/max_tenants');
    }
    const problems = problemsOf({}, { TENANT_PLACEMENT: 'round-robin' });
    expect(problems).toContain(
      "TENANT_PLACEMENT must be one of default, most-room, got 'round-robin'",
    );
  });
});
