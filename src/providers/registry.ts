import { AnthropicProvider } from './anthropic/provider.js';
import { AzureOpenAIProvider } from './azure-openai/provider.js';
import { type LangChainClasses, loadLangChainClasses } from './langchain/load-class.js';
import { LangChainProvider } from './langchain/provider.js';
import { MockProvider } from './mock/provider.js';
import { OpenAICompatibleProvider } from './openai-compatible/provider.js';
import type { Provider, ProviderConfig } from './types.js';

export function buildProvider(config: ProviderConfig, classes?: LangChainClasses): Provider {
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
      return new LangChainProvider(config, classes);
  }
}

/** The providers of the config file, built once at start and closed on shutdown. */
export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();

  constructor(
    configs: readonly ProviderConfig[],
    preloaded: ReadonlyMap<string, LangChainClasses> = new Map(),
  ) {
    for (const config of configs)
      this.providers.set(config.id, buildProvider(config, preloaded.get(config.id)));
  }

  /**
   * Builds every provider after loading the LangChain packages they name: a missing package
   * or class stops the start with its name, instead of failing the first request.
   */
  static async open(configs: readonly ProviderConfig[]): Promise<ProviderRegistry> {
    const preloaded = new Map<string, LangChainClasses>();
    for (const config of configs) {
      if (config.type === 'langchain') preloaded.set(config.id, await loadLangChainClasses(config));
    }
    return new ProviderRegistry(configs, preloaded);
  }

  get(id: string): Provider | undefined {
    return this.providers.get(id);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.providers.values()].map((provider) => provider.close()));
  }
}
