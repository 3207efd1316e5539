import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/env.js';
import { type AppConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import type {
  AnthropicProviderConfig,
  AzureOpenAIProviderConfig,
  LangChainProviderConfig,
  OpenAICompatibleProviderConfig,
  ProviderConfig,
} from '../../src/providers/types.js';
import { writeConfigFile } from '../helpers/gateway.js';

/** The provider types of the config file, as docs/providers.md lists them. */
const ALL_TYPES = [
  'openai',
  'openai-compatible',
  'vllm',
  'ollama',
  'llamacpp',
  'lmstudio',
  'groq',
  'together',
  'mistral',
  'deepseek',
  'openrouter',
  'azure-openai',
  'anthropic',
  'langchain',
  'mock',
];

/** The base URL each OpenAI-compatible alias defaults to. */
const DEFAULT_BASE_URLS: Record<string, string> = {
  openai: 'https://api.openai.com/v1',
  ollama: 'http://127.0.0.1:11434/v1',
  llamacpp: 'http://127.0.0.1:8080/v1',
  lmstudio: 'http://127.0.0.1:1234/v1',
  groq: 'https://api.groq.com/openai/v1',
  together: 'https://api.together.xyz/v1',
  mistral: 'https://api.mistral.ai/v1',
  deepseek: 'https://api.deepseek.com/v1',
  openrouter: 'https://openrouter.ai/api/v1',
};

const MOCK = { type: 'mock' };

function configWith(file: unknown, env: Env = {}): AppConfig {
  return loadConfig({ CONFIG_FILE: writeConfigFile(file), ...env });
}

/** One provider `p` (with a model on it) and the result of loading it. */
function withProvider(entry: Record<string, unknown>, env: Env = {}): ProviderConfig {
  const config = configWith(
    { providers: { p: entry }, models: [{ name: 'm', provider: 'p' }] },
    env,
  );
  const [only] = config.providers;
  if (only === undefined) throw new Error('no provider');
  return only;
}

function ofType<T extends ProviderConfig['type']>(
  provider: ProviderConfig,
  type: T,
): Extract<ProviderConfig, { type: T }> {
  expect(provider.type).toBe(type);
  return provider as Extract<ProviderConfig, { type: T }>;
}

/** The problems of the ConfigError loading `file` must throw. */
function problemsOf(file: unknown, env: Env = {}): readonly string[] {
  let caught: unknown;
  try {
    configWith(file, env);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return (caught as ConfigError).problems;
}

/** The problems of a file with one provider `p` and a model on it. */
const providerProblems = (entry: Record<string, unknown>, env: Env = {}) =>
  problemsOf({ providers: { p: entry }, models: [{ name: 'm', provider: 'p' }] }, env);

/** The one problem that contains every fragment; fails if there is none. */
function problemWith(problems: readonly string[], ...fragments: string[]): string {
  const found = problems.find((problem) => fragments.every((f) => problem.includes(f)));
  expect(
    found,
    `no problem contains ${JSON.stringify(fragments)} in ${JSON.stringify(problems)}`,
  ).toBeDefined();
  return found as string;
}

describe('providers: OpenAI-compatible aliases', () => {
  it.each(Object.entries(DEFAULT_BASE_URLS))('%s defaults base_url to %s', (type, url) => {
    const provider = ofType(withProvider({ type }), 'openai-compatible');
    expect(provider.baseUrl).toBe(url);
    expect(provider.apiKey).toBeNull();
  });

  it('takes a base_url over the default, without trailing slashes', () => {
    const provider = ofType(
      withProvider({ type: 'ollama', base_url: 'http://gpu-box:11434/v1//' }),
      'openai-compatible',
    );
    expect(provider.baseUrl).toBe('http://gpu-box:11434/v1');
  });

  it.each(['vllm', 'openai-compatible'])('%s requires base_url', (type) => {
    const problems = providerProblems({ type });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/providers/p', 'base_url is required', `'${type}'`);
  });

  it('keeps the shared HTTP fields on an alias', () => {
    const provider: OpenAICompatibleProviderConfig = ofType(
      withProvider(
        {
          type: 'groq',
          api_key_env: 'GROQ_KEY_FOR_TEST',
          headers: { 'x-team': 'a' },
          max_connections: 3,
          timeouts: { first_byte_ms: 1234 },
        },
        { GROQ_KEY_FOR_TEST: 'gsk-test', UPSTREAM_CONNECT_TIMEOUT_MS: '77' },
      ),
      'openai-compatible',
    );
    expect(provider).toMatchObject({
      apiKey: 'gsk-test',
      headers: { 'x-team': 'a' },
      maxConnections: 3,
      timeouts: { connectMs: 77, firstByteMs: 1234 },
    });
  });
});

describe('providers: azure-openai', () => {
  it('requires base_url', () => {
    const problems = providerProblems({ type: 'azure-openai' });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/providers/p', 'base_url is required', "'azure-openai'");
  });

  it('defaults api_version and keeps one that is given', () => {
    const base_url = 'https://my-resource.openai.azure.com/';
    const plain: AzureOpenAIProviderConfig = ofType(
      withProvider({ type: 'azure-openai', base_url }),
      'azure-openai',
    );
    expect(plain.apiVersion).toBe('2024-10-21');
    expect(plain.baseUrl).toBe('https://my-resource.openai.azure.com');
    const pinned = ofType(
      withProvider({ type: 'azure-openai', base_url, api_version: '2025-01-01-preview' }),
      'azure-openai',
    );
    expect(pinned.apiVersion).toBe('2025-01-01-preview');
  });
});

describe('providers: anthropic', () => {
  it('defaults the host, the version header and max tokens', () => {
    const provider: AnthropicProviderConfig = ofType(
      withProvider(
        { type: 'anthropic', api_key_env: 'ANT_KEY_FOR_TEST' },
        { ANT_KEY_FOR_TEST: 'sk-ant' },
      ),
      'anthropic',
    );
    expect(provider).toMatchObject({
      baseUrl: 'https://api.anthropic.com',
      apiKey: 'sk-ant',
      version: '2023-06-01',
      defaultMaxTokens: 4096,
      tenantKeys: false,
      headers: {},
      maxConnections: 256,
    });
  });

  it('keeps the given base_url, version and max tokens, and checks them', () => {
    const provider = ofType(
      withProvider({
        type: 'anthropic',
        base_url: 'http://127.0.0.1:9000/',
        anthropic_version: '2024-01-01',
        default_max_tokens: 1000,
      }),
      'anthropic',
    );
    expect(provider).toMatchObject({
      baseUrl: 'http://127.0.0.1:9000',
      version: '2024-01-01',
      defaultMaxTokens: 1000,
    });
    const zero = providerProblems({ type: 'anthropic', default_max_tokens: 0 });
    problemWith(zero, '/providers/p/default_max_tokens');
    const ftp = providerProblems({ type: 'anthropic', base_url: 'ftp://anthropic.test' });
    problemWith(ftp, '/providers/p/base_url', 'http(s)');
  });

  it('refuses a base_url that already ends in the path the adapter adds', () => {
    problemWith(
      providerProblems({ type: 'anthropic', base_url: 'https://api.anthropic.com/v1/' }),
      '/providers/p/base_url',
      'leave out /v1',
    );
    problemWith(
      providerProblems({ type: 'azure-openai', base_url: 'https://x.openai.azure.com/openai' }),
      '/providers/p/base_url',
      'leave out /openai',
    );
  });

  it('refuses the fields of other types', () => {
    const problems = providerProblems({ type: 'anthropic', api_version: '2024-10-21' });
    problemWith(problems, '/providers/p/api_version');
    const openai = providerProblems({ type: 'openai', anthropic_version: '2023-06-01' });
    problemWith(openai, '/providers/p/anthropic_version');
  });
});

describe('providers: langchain', () => {
  it('needs chat_class, embeddings_class or both', () => {
    const problems = providerProblems({ type: 'langchain', module: '@langchain/anthropic' });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/providers/p', 'chat_class', 'embeddings_class');
  });

  it('needs module', () => {
    const problems = providerProblems({ type: 'langchain', chat_class: 'ChatAnthropic' });
    problemWith(problems, '/providers/p', 'module');
  });

  it('resolves with its defaults', () => {
    const provider: LangChainProviderConfig = ofType(
      withProvider({
        type: 'langchain',
        module: '@langchain/anthropic',
        chat_class: 'ChatAnthropic',
      }),
      'langchain',
    );
    expect(provider).toEqual({
      id: 'p',
      type: 'langchain',
      module: '@langchain/anthropic',
      chatClass: 'ChatAnthropic',
      embeddingsClass: null,
      options: {},
      apiKey: null,
      apiKeyOption: 'apiKey',
      tenantKeys: false,
    });
  });

  it('keeps options, the key and where it goes', () => {
    const provider = ofType(
      withProvider(
        {
          type: 'langchain',
          module: '@langchain/google-genai',
          embeddings_class: 'GoogleGenerativeAIEmbeddings',
          options: { model: 'text-embedding-004', maxRetries: 0 },
          api_key_env: 'GOOGLE_KEY_FOR_TEST',
          api_key_option: 'apiKey',
          tenant_keys: true,
        },
        { GOOGLE_KEY_FOR_TEST: 'g-key' },
      ),
      'langchain',
    );
    expect(provider).toMatchObject({
      chatClass: null,
      embeddingsClass: 'GoogleGenerativeAIEmbeddings',
      options: { model: 'text-embedding-004', maxRetries: 0 },
      apiKey: 'g-key',
      tenantKeys: true,
    });
  });
});

describe('providers: keys and types', () => {
  const base = {
    openai: { type: 'openai' },
    azure: { type: 'azure-openai', base_url: 'https://r.openai.azure.com' },
    claude: { type: 'anthropic' },
    chain: { type: 'langchain', module: 'x', chat_class: 'Y' },
  };

  it('defaults tenant_keys to false on every key-bearing type, and keeps true', () => {
    const plain = configWith({ providers: base, models: [] });
    expect(plain.providers.map((p) => [p.id, 'tenantKeys' in p && p.tenantKeys])).toEqual([
      ['openai', false],
      ['azure', false],
      ['claude', false],
      ['chain', false],
    ]);
    const byok = Object.fromEntries(
      Object.entries(base).map(([id, entry]) => [id, { ...entry, tenant_keys: true }]),
    );
    const own = configWith({ providers: byok, models: [] });
    expect(own.providers.every((p) => 'tenantKeys' in p && p.tenantKeys)).toBe(true);
  });

  it('names the unset api_key_env variable of each type', () => {
    const unset = Object.fromEntries(
      Object.entries(base).map(([id, entry]) => [
        id,
        { ...entry, api_key_env: `${id.toUpperCase()}_UNSET_KEY` },
      ]),
    );
    const problems = problemsOf({ providers: unset, models: [] });
    expect(problems).toHaveLength(4);
    for (const id of Object.keys(base)) {
      problemWith(
        problems,
        `/providers/${id}/api_key_env`,
        `${id.toUpperCase()}_UNSET_KEY`,
        'not set',
      );
    }
  });

  it('refuses api_key_env and tenant_keys on mock', () => {
    const problems = providerProblems({ type: 'mock', api_key_env: 'X', tenant_keys: true });
    problemWith(problems, '/providers/p/api_key_env');
    problemWith(problems, '/providers/p/tenant_keys');
  });

  it('lists every type when the type is unknown', () => {
    const problems = providerProblems({ type: 'bedrock' });
    expect(problems).toHaveLength(1);
    const problem = problemWith(problems, '/providers/p/type', "'bedrock'");
    const listed = problem.slice(problem.indexOf('expected one of') + 'expected one of'.length);
    expect(listed.split(',').map((type) => type.trim().replace(/\)$/, ''))).toEqual(ALL_TYPES);
  });
});

describe('models: deployments', () => {
  const providers = { a: MOCK, b: MOCK };

  it('makes a one-deployment model of provider and model', () => {
    const config = configWith({
      providers,
      models: [{ name: 'm', provider: 'a', model: 'upstream-m', pricing: { input: 2 } }],
    });
    expect(config.models[0]?.deployments).toEqual([
      {
        id: 'a',
        providerId: 'a',
        upstreamModel: 'upstream-m',
        weight: 1,
        priority: 0,
        region: null,
        requestsPerMinute: null,
        tokensPerMinute: null,
        pricing: {
          input: 2,
          output: 0,
          cachedInput: 0,
          batch: { input: 1, output: 0, cachedInput: 0 },
        },
      },
    ]);
  });

  it('reads every deployment field, with the model name and pricing as defaults', () => {
    const config = configWith({
      providers,
      models: [
        {
          name: 'm',
          pricing: { input: 1, output: 2, cached_input: 0.5 },
          deployments: [
            { provider: 'a' },
            {
              id: 'b-eu.1',
              provider: 'b',
              model: 'm-eu',
              weight: 3,
              priority: 2,
              region: 'eu-west',
              requests_per_minute: 60,
              tokens_per_minute: 1000,
              pricing: { input: 4, output: 5, cached_input: 1 },
            },
          ],
          routing: { strategy: 'weighted', retries: 2, fallbacks: ['n'] },
        },
        { name: 'n', provider: 'b' },
      ],
    });
    const [m, n] = config.models;
    expect(m?.deployments).toEqual([
      {
        id: 'a',
        providerId: 'a',
        upstreamModel: 'm',
        weight: 1,
        priority: 0,
        region: null,
        requestsPerMinute: null,
        tokensPerMinute: null,
        pricing: {
          input: 1,
          output: 2,
          cachedInput: 0.5,
          batch: { input: 0.5, output: 1, cachedInput: 0.25 },
        },
      },
      {
        id: 'b-eu.1',
        providerId: 'b',
        upstreamModel: 'm-eu',
        weight: 3,
        priority: 2,
        region: 'eu-west',
        requestsPerMinute: 60,
        tokensPerMinute: 1000,
        pricing: {
          input: 4,
          output: 5,
          cachedInput: 1,
          batch: { input: 2, output: 2.5, cachedInput: 0.5 },
        },
      },
    ]);
    expect(m?.routing).toEqual({
      strategy: 'weighted',
      retries: 2,
      fallbacks: ['n'],
      contextWindowFallbacks: [],
    });
    expect(m?.ownedBy).toBe('a');
    // Without its own routing, a model takes the file's defaults.
    expect(n?.routing).toEqual({
      strategy: 'priority',
      retries: 0,
      fallbacks: [],
      contextWindowFallbacks: [],
    });
  });

  it('takes the model price for each pricing field a deployment leaves out', () => {
    const config = configWith({
      providers,
      models: [
        {
          name: 'm',
          pricing: { input: 1, output: 2, cached_input: 0.5 },
          deployments: [{ provider: 'a', pricing: { input: 3 } }],
        },
      ],
    });
    expect(config.models[0]?.deployments[0]?.pricing).toEqual({
      input: 3,
      output: 2,
      cachedInput: 0.5,
      batch: { input: 1.5, output: 1, cachedInput: 0.25 },
    });
  });

  it('gives models the top-level routing strategy and retries', () => {
    const config = configWith({
      providers,
      routing: { strategy: 'least-busy', retries: 3 },
      models: [{ name: 'm', provider: 'a' }],
    });
    expect(config.models[0]?.routing).toMatchObject({ strategy: 'least-busy', retries: 3 });
    expect(config.routing).toMatchObject({ backoffBaseMs: 250, maxRetryAfterMs: 10_000 });
  });

  it('reports duplicate deployment ids, defaulted from the provider too', () => {
    const problems = problemsOf({
      providers,
      models: [
        { name: 'm', deployments: [{ provider: 'a' }, { provider: 'a', model: 'other' }] },
        {
          name: 'n',
          deployments: [
            { id: 'one', provider: 'a' },
            { id: 'one', provider: 'b' },
          ],
        },
      ],
    });
    expect(problems).toHaveLength(2);
    problemWith(problems, '/models/0/deployments/1/id', "duplicate deployment id 'a'");
    problemWith(problems, '/models/1/deployments/1/id', "duplicate deployment id 'one'");
  });

  it('needs exactly one of provider and deployments', () => {
    const problems = problemsOf({
      providers,
      models: [
        { name: 'both', provider: 'a', deployments: [{ provider: 'b' }] },
        { name: 'neither' },
        { name: 'fine', provider: 'a' },
      ],
    });
    expect(problems).toHaveLength(2);
    problemWith(problems, '/models/0:', 'either provider', 'or deployments');
    problemWith(problems, '/models/1:', 'either provider', 'or deployments');
  });

  it('wants model on each deployment, not beside deployments', () => {
    const problems = problemsOf({
      providers,
      models: [{ name: 'm', model: 'x', deployments: [{ provider: 'a' }] }],
    });
    problemWith(problems, '/models/0/model', 'each deployment');
  });

  it('reports an unknown provider in a deployment at its path', () => {
    const problems = problemsOf({
      providers,
      models: [{ name: 'm', deployments: [{ provider: 'a' }, { provider: 'ghost' }] }],
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/models/0/deployments/1/provider', "unknown provider 'ghost'");
  });

  it('reports fallbacks that are not another model of the file', () => {
    const problems = problemsOf({
      providers,
      models: [
        { name: 'm', provider: 'a', routing: { fallbacks: ['n', 'missing'] } },
        { name: 'n', provider: 'b', routing: { context_window_fallbacks: ['n'] } },
      ],
    });
    expect(problems).toHaveLength(2);
    problemWith(problems, '/models/0/routing/fallbacks', "'missing'");
    problemWith(problems, '/models/1/routing/context_window_fallbacks', "'n'");
  });

  it('refuses an unknown strategy and a bad deployment id', () => {
    const problems = problemsOf({
      providers,
      models: [
        {
          name: 'm',
          deployments: [{ id: 'Has Space', provider: 'a' }],
          routing: { strategy: 'random' },
        },
      ],
    });
    problemWith(problems, '/models/0/routing/strategy');
    problemWith(problems, '/models/0/deployments/0/id');
  });
});

describe('routers', () => {
  const providers = { a: MOCK };
  const models = [
    { name: 'small', provider: 'a' },
    { name: 'large', provider: 'a' },
  ];

  it('defaults to one `auto` router over every chat model', () => {
    const config = configWith({ providers, models });
    expect(config.routers).toEqual([
      { name: 'auto', models: null, maxLatencyMs: null, created: expect.any(Number) },
    ]);
  });

  it('has no default router when a model is named auto, or when routers are listed', () => {
    const named = configWith({ providers, models: [...models, { name: 'auto', provider: 'a' }] });
    expect(named.routers).toEqual([]);
    const none = configWith({ providers, models, routers: [] });
    expect(none.routers).toEqual([]);
    const own = configWith({
      providers,
      models,
      routers: [{ name: 'cheap', models: ['small'], max_latency_ms: 500 }],
    });
    expect(own.routers.map((r) => [r.name, r.models, r.maxLatencyMs])).toEqual([
      ['cheap', ['small'], 500],
    ]);
  });

  it('reports a router naming an unknown model', () => {
    const problems = problemsOf({
      providers,
      models,
      routers: [{ name: 'cheap', models: ['small', 'tiny'] }],
    });
    expect(problems).toHaveLength(1);
    problemWith(problems, '/routers/0/models', "unknown model 'tiny'");
  });

  it('reports a router naming a model that cannot chat', () => {
    const problems = problemsOf({
      providers,
      models: [
        ...models,
        { name: 'vec', provider: 'a', capabilities: { chat: false, embeddings: true } },
      ],
      routers: [{ name: 'cheap', models: ['small', 'vec'] }],
    });
    problemWith(problems, '/routers/0/models', "'vec' is not a chat model");
  });

  it('reports a router whose name is a model’s or another router’s', () => {
    const problems = problemsOf({
      providers,
      models,
      routers: [{ name: 'large' }, { name: 'pick' }, { name: 'pick' }],
    });
    expect(problems).toHaveLength(2);
    problemWith(problems, '/routers/0/name', "'large'");
    problemWith(problems, '/routers/2/name', "'pick'");
  });
});

describe('a bad file', () => {
  it('lists every problem together', () => {
    const problems = problemsOf({
      providers: {
        a: MOCK,
        local: { type: 'vllm' },
        claude: { type: 'anthropic', api_key_env: 'ANT_UNSET_FOR_TEST' },
        azure: { type: 'azure-openai', api_version: '' },
        chain: { type: 'langchain', module: 'x' },
        odd: { type: 'banana' },
      },
      models: [
        { name: 'm', deployments: [{ provider: 'a' }, { provider: 'a' }, { provider: 'ghost' }] },
        { name: 'n', provider: 'a', deployments: [{ provider: 'a' }] },
        { name: 'o', provider: 'a', routing: { fallbacks: ['nowhere'] } },
      ],
      routers: [{ name: 'm' }, { name: 'r', models: ['unknown'] }],
    });
    const expected = [
      ['/providers/local', 'base_url is required'],
      ['/providers/claude/api_key_env', 'ANT_UNSET_FOR_TEST'],
      ['/providers/azure/api_version'],
      ['/providers/chain', 'chat_class'],
      ['/providers/odd/type', 'banana'],
      ['/models/0/deployments/1/id', "'a'"],
      ['/models/0/deployments/2/provider', 'ghost'],
      ['/models/1', 'either provider'],
      ['/models/2/routing/fallbacks', 'nowhere'],
      ['/routers/0/name', "'m'"],
      ['/routers/1/models', 'unknown'],
    ];
    for (const fragments of expected) problemWith(problems, ...fragments);
    expect(problems).toHaveLength(expected.length);
  });
});

describe('providers: responses_api', () => {
  it('is off by default and may be turned on for OpenAI-compatible types and Azure', () => {
    const off = ofType(withProvider({ type: 'openai' }), 'openai-compatible');
    expect(off.responsesApi).toBe(false);
    const openai = ofType(
      withProvider({ type: 'openai', responses_api: true }),
      'openai-compatible',
    );
    expect(openai.responsesApi).toBe(true);
    const azure = ofType(
      withProvider({
        type: 'azure-openai',
        base_url: 'https://r.openai.azure.com',
        responses_api: true,
      }),
      'azure-openai',
    );
    expect(azure.responsesApi).toBe(true);
  });

  it('is refused on types that do not speak it, and must be a boolean', () => {
    problemWith(
      providerProblems({ type: 'anthropic', responses_api: true }),
      '/providers/p/responses_api',
    );
    problemWith(
      providerProblems({ type: 'mock', responses_api: true }),
      '/providers/p/responses_api',
    );
    problemWith(
      providerProblems({ type: 'openai', responses_api: 'yes' }),
      '/providers/p/responses_api',
    );
  });
});
