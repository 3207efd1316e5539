import { AnthropicProvider } from './anthropic/provider.js';
import { AzureOpenAIProvider } from './azure-openai/provider.js';
import { MockProvider } from './mock/provider.js';
import { OpenAICompatibleProvider } from './openai-compatible/provider.js';
import type { LangChainProviderConfig, Provider, ProviderConfig } from './types.js';

/** The ids of the providers tenants may bring their own key for (`tenant_keys: true`). */
export function tenantKeyProviders(configs: readonly ProviderConfig[]): ReadonlySet<string> {
  return new Set(configs.filter((c) => 'tenantKeys' in c && c.tenantKeys).map((c) => c.id));
}

/** Builds a LangChain provider; only exists once the configured packages were loaded. */
type LangChainBuilder = (config: LangChainProviderConfig) => Provider;

function buildProvider(config: ProviderConfig, langChain: LangChainBuilder | null): Provider {
  switch (config.type) {
    case 'mock':
      return new MockProvider(config);
    case 'openai-compatible':
      return new OpenAICompatibleProvider(config);
    case 'azure-openai':
      return new AzureOpenAIProvider(config);
    case 'anthropic':
      return new AnthropicProvider(config);
    case 'langchain':
      if (langChain === null) throw new Error(`provider ${config.id}: LangChain is not loaded`);
      return langChain(config);
  }
}

/** The providers of the config file, built once at start and closed on shutdown. */
export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();

  private constructor(configs: readonly ProviderConfig[], langChain: LangChainBuilder | null) {
    for (const config of configs) this.providers.set(config.id, buildProvider(config, langChain));
  }

  /**
   * Builds every provider. LangChain is imported only when a provider uses it (it weighs
   * tens of megabytes), and its packages load before anything is served: a missing package
   * or class stops the start with its name instead of failing the first request.
   */
  static async open(configs: readonly ProviderConfig[]): Promise<ProviderRegistry> {
    const langChainConfigs = configs.filter((config) => config.type === 'langchain');
    if (langChainConfigs.length === 0) return new ProviderRegistry(configs, null);
    const [{ LangChainProvider }, { loadLangChainClasses }] = await Promise.all([
      import('./langchain/provider.js'),
      import('./langchain/load-class.js'),
    ]);
    const classes = new Map<string, Awaited<ReturnType<typeof loadLangChainClasses>>>();
    for (const config of langChainConfigs)
      classes.set(config.id, await loadLangChainClasses(config));
    return new ProviderRegistry(
      configs,
      (config) => new LangChainProvider(config, classes.get(config.id)),
    );
  }

  get(id: string): Provider | undefined {
    return this.providers.get(id);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.providers.values()].map((provider) => provider.close()));
  }
}
