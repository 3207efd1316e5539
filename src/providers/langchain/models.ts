import type { Embeddings } from '@langchain/core/embeddings';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { LangChainProviderConfig } from '../types.js';
import { InvalidRequest } from './errors.js';
import { InstanceCache } from './instance-cache.js';
import type { ChatModelClass, EmbeddingsClass } from './load-class.js';
import type { Sampling } from './request.js';

const CHAT_INSTANCES = 64;
const EMBEDDING_INSTANCES = 16;

export interface ChatModelChoice {
  model: BaseChatModel;
  /** Call options the class takes per call (what could not go into its constructor). */
  callOptions: Record<string, unknown>;
}

/**
 * Builds and keeps the configured class's instances: one per (upstream model, key, the
 * constructor options a request set). Sampling parameters are constructor options in
 * ChatAnthropic and ChatGoogleGenerativeAI alike, so they cannot be call options.
 */
export class ModelInstances {
  private readonly chats = new InstanceCache<BaseChatModel>(CHAT_INSTANCES);
  private readonly embedders = new InstanceCache<Embeddings>(EMBEDDING_INSTANCES);

  constructor(private readonly config: LangChainProviderConfig) {}

  chat(
    chatClass: ChatModelClass,
    model: string,
    key: string | null,
    sampling: Sampling,
  ): ChatModelChoice {
    const base = this.chats.get(JSON.stringify([model, key]), () =>
      this.build(chatClass, model, key, {}),
    );
    const { overrides, callOptions } = constructorSampling(base, sampling);
    if (Object.keys(overrides).length === 0) return { model: base, callOptions };
    const tuned = this.chats.get(JSON.stringify([model, key, overrides]), () =>
      this.build(chatClass, model, key, overrides),
    );
    return { model: tuned, callOptions };
  }

  embeddings(
    embeddingsClass: EmbeddingsClass,
    model: string,
    key: string | null,
    dimensions: number | undefined,
  ): Embeddings {
    const base = this.embedders.get(JSON.stringify([model, key]), () =>
      this.build(embeddingsClass, model, key, {}),
    );
    if (dimensions === undefined) return base;
    // Gemini calls it outputDimensionality, OpenAI dimensions; others cannot shorten vectors.
    const field = ['outputDimensionality', 'dimensions'].find((name) => name in base);
    if (field === undefined)
      throw new InvalidRequest('dimensions is not supported for this model.', 'dimensions');
    return this.embedders.get(JSON.stringify([model, key, dimensions]), () =>
      this.build(embeddingsClass, model, key, { [field]: dimensions }),
    );
  }

  clear(): void {
    this.chats.clear();
    this.embedders.clear();
  }

  private build<T>(
    cls: new (fields: Record<string, unknown>) => T,
    model: string,
    key: string | null,
    overrides: Record<string, unknown>,
  ): T {
    const { options, apiKeyOption } = this.config;
    return new cls({
      ...options,
      model,
      // The gateway's router retries and fails over itself; LangChain's own retry (6 by
      // default, with backoff) would hide failures and multiply the load.
      maxRetries: options.maxRetries ?? 0,
      ...(key !== null && { [apiKeyOption]: key }),
      ...overrides,
    });
  }
}

/**
 * Which request parameters go into the constructor, under the names this class uses (read
 * from the instance: class fields exist even when unset), and which stay call options.
 */
export function constructorSampling(
  instance: object,
  sampling: Sampling,
): { overrides: Record<string, unknown>; callOptions: Record<string, unknown> } {
  const overrides: Record<string, unknown> = {};
  const callOptions: Record<string, unknown> = {};
  if (sampling.temperature !== undefined) overrides.temperature = sampling.temperature;
  if (sampling.topP !== undefined) overrides.topP = sampling.topP;
  if (sampling.maxTokens !== undefined) {
    overrides['maxOutputTokens' in instance ? 'maxOutputTokens' : 'maxTokens'] = sampling.maxTokens;
  }
  // ChatGoogleGenerativeAI ignores the `stop` call option, and ChatAnthropic refuses it
  // when stopSequences is configured: where the field exists, it is the one honoured.
  if (sampling.stop !== undefined) {
    if ('stopSequences' in instance) overrides.stopSequences = sampling.stop;
    else callOptions.stop = sampling.stop;
  }
  return { overrides, callOptions };
}
