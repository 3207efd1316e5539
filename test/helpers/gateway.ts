import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { stringify } from 'yaml';
import { buildApp } from '../../src/app.js';
import type { Services } from '../../src/composition/services.js';
import type { Env } from '../../src/config/env.js';
import { type AppConfig, loadConfig } from '../../src/config/load.js';
import { closeGracefully } from '../../src/server.js';
import type { BackendKind } from './databases.js';
import { FakeUpstream } from './fake-upstream.js';
import { composeForTest, type TestServices, type TestServicesOptions } from './tenant-services.js';

export interface TestGateway {
  app: FastifyInstance;
  url: string;
  /** An SDK client without retries, so each call is one request. */
  client: OpenAI;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  /** The owner key of the test tenant `test`, which `client` uses. */
  apiKey: string;
  /** A platform admin key. */
  adminKey: string;
  /** fetch() on the gateway with the test key, unless `init` sends its own Authorization. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  services: Services;
  close(): Promise<void>;
}

export function writeConfigFile(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-test-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** A config with one OpenAI-compatible provider at `upstreamUrl` and the usual test models. */
export function upstreamConfig(upstreamUrl: string, providerExtra: Record<string, unknown> = {}) {
  return {
    providers: {
      upstream: {
        type: 'openai-compatible',
        base_url: upstreamUrl,
        api_key_env: 'TEST_UPSTREAM_KEY',
        ...providerExtra,
      },
      mock: { type: 'mock' },
    },
    models: [
      {
        name: 'gpt-test',
        provider: 'upstream',
        model: 'upstream-model',
        capabilities: { chat: true, completions: true, tools: true },
      },
      {
        name: 'embed-test',
        provider: 'upstream',
        model: 'upstream-embed',
        capabilities: { chat: false, embeddings: true },
      },
      { name: 'org/model-with-slash', provider: 'mock', capabilities: { chat: true } },
    ],
  };
}

export const TEST_UPSTREAM_KEY = 'sk-upstream-secret-never-logged';

/**
 * A `serve` process over a fresh PostgreSQL control plane with one tenant, `test`, and an
 * owner key for it: the data plane is always called with a real key.
 */
async function provisionTestTenant(
  config: AppConfig,
  logDestination: Writable,
  options: GatewayOptions,
) {
  const compose = (backend?: TestServices['backend']) =>
    composeForTest(options.database ?? 'postgres', {
      ...options.services,
      backend,
      servers: config.databaseServers,
      role: 'serve',
      config,
      logDestination,
    });
  if (options.share !== undefined) {
    // Another instance over the same databases: its own services and caches, the same keys.
    const services = await compose((options.share.services as TestServices).backend);
    return { services, secret: options.share.apiKey, adminKey: options.share.adminKey };
  }
  const services = await compose();
  await services.tenants.create({ slug: 'test', name: 'Test' });
  const { secret } = await services.keys.create('test', { name: 'test', role: 'owner' });
  const admin = await services.platformKeys.create({ name: 'test-admin' });
  return { services, secret, adminKey: admin.secret };
}

export interface GatewayOptions {
  /** How the services are built (the rate limit store, the bus...). */
  services?: TestServicesOptions;
  /** A second instance: the same databases and keys as this gateway. */
  share?: TestGateway;
  /** Where the databases live: PostgreSQL (the default) or the embedded PGlite. */
  database?: BackendKind;
  /** The port to listen on (default: a free one). */
  port?: number;
}

/** Starts the gateway in-process on a free port with the given config file content and env. */
export async function startGateway(
  config: unknown,
  env: Env = {},
  options: GatewayOptions = {},
): Promise<TestGateway> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const appConfig = loadConfig({
    CONFIG_FILE: writeConfigFile(config),
    TEST_UPSTREAM_KEY,
    PORT: '0',
    ...env,
  });
  // The config's servers sit next to the fresh control plane, as `serve` would open them.
  const access = await provisionTestTenant(appConfig, stream, options);
  const app = await buildApp(access.services.root);
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  const client = new OpenAI({ apiKey: access.secret, baseURL: `${url}/v1`, maxRetries: 0 });
  // A short grace period, so a failed test that leaves a stream open cannot hang the suite.
  return {
    app,
    url,
    client,
    logs,
    apiKey: access.secret,
    adminKey: access.adminKey,
    services: access.services,
    fetch: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${access.secret}`);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    // Safe after the app was closed already (the shutdown tests close it themselves):
    // closing the app closes its root, which drops the test's databases.
    close: async () => {
      if (app.server.listening) await closeGracefully(app, 2000);
      else await app.close();
    },
  };
}

/** Waits until `check` passes, for effects that happen after a response (logs, aborts). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** The `request completed` line of a request, once written (it follows the response). */
export function completionLog(gateway: TestGateway, requestId: string | null) {
  return eventually(() => {
    const line = gateway.logs.find(
      (log) => log.requestId === requestId && log.msg === 'request completed',
    );
    if (!line) throw new Error(`no log line for ${requestId}`);
    return line;
  });
}

export interface HarnessOptions {
  /** Extra fields for the upstream provider entry (timeouts, headers...). */
  provider?: Record<string, unknown>;
  env?: Env;
  services?: TestServicesOptions;
}

/**
 * A fake upstream and a gateway in front of it for the tests of one file: started before
 * them, stopped after them, the upstream's script queue and records cleared between tests.
 * The gateway object is filled in once started, so it can be destructured at module level.
 */
export function useUpstreamGateway(options: HarnessOptions = {}): {
  upstream: FakeUpstream;
  gateway: TestGateway;
} {
  const upstream = new FakeUpstream();
  const gateway = {} as TestGateway;
  beforeAll(async () => {
    await upstream.start();
    Object.assign(
      gateway,
      await startGateway(upstreamConfig(upstream.url, options.provider), options.env, {
        services: options.services,
      }),
    );
  });
  afterAll(async () => {
    await gateway.close?.();
    await upstream.stop();
  });
  afterEach(() => upstream.reset());
  return { upstream, gateway };
}
