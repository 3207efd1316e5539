import { MockProvider } from './mock/provider.js';
import { OpenAICompatibleProvider } from './openai-compatible/provider.js';
import type { Provider, ProviderConfig } from './types.js';

export function buildProvider(config: ProviderConfig): Provider {
  switch (config.type) {
    case 'mock':
      return new MockProvider(config);
    case 'openai-compatible':
      return new OpenAICompatibleProvider(config);
  }
}

/** The providers of the config file, built once at start and closed on shutdown. */
export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();

  constructor(configs: readonly ProviderConfig[]) {
    for (const config of configs) this.providers.set(config.id, buildProvider(config));
  }

  get(id: string): Provider | undefined {
    return this.providers.get(id);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.providers.values()].map((provider) => provider.close()));
  }
}
