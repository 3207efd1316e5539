import { describe, expect, it } from 'vitest';
import {
  LangChainLoadError,
  loadLangChainClasses,
} from '../../src/providers/langchain/load-class.js';
import { constructorSampling, ModelInstances } from '../../src/providers/langchain/models.js';
import type { LangChainProviderConfig } from '../../src/providers/types.js';

const config = (overrides: Partial<LangChainProviderConfig>): LangChainProviderConfig => ({
  id: 'lc',
  type: 'langchain',
  module: '@langchain/anthropic',
  chatClass: 'ChatAnthropic',
  embeddingsClass: null,
  options: {},
  apiKey: null,
  apiKeyOption: 'apiKey',
  tenantKeys: false,
  ...overrides,
});

describe('loadLangChainClasses', () => {
  it('loads the classes a package exports', async () => {
    const classes = await loadLangChainClasses(
      config({
        module: '@langchain/google-genai',
        chatClass: 'ChatGoogleGenerativeAI',
        embeddingsClass: 'GoogleGenerativeAIEmbeddings',
      }),
    );
    expect(classes.chat?.name).toBe('ChatGoogleGenerativeAI');
    expect(classes.embeddings?.name).toBe('GoogleGenerativeAIEmbeddings');
  });

  it('names the package or the class that cannot be used', async () => {
    await expect(
      loadLangChainClasses(config({ module: '@langchain/aws-not-here' })),
    ).rejects.toThrow(/cannot load module "@langchain\/aws-not-here".*npm install/);
    await expect(loadLangChainClasses(config({ chatClass: 'ChatAnthropik' }))).rejects.toThrow(
      LangChainLoadError,
    );
    await expect(loadLangChainClasses(config({ chatClass: 'ChatAnthropik' }))).rejects.toThrow(
      /no chat model class "ChatAnthropik"/,
    );
    // An export that is not an embeddings class is refused too.
    await expect(
      loadLangChainClasses(config({ embeddingsClass: 'ChatAnthropic' })),
    ).rejects.toThrow(/no embeddings class "ChatAnthropic"/);
  });
});

describe('model instances', () => {
  it('are built once per model and key, with sampling under the names each class uses', async () => {
    const anthropic = await loadLangChainClasses(config({}));
    const google = await loadLangChainClasses(
      config({ module: '@langchain/google-genai', chatClass: 'ChatGoogleGenerativeAI' }),
    );
    if (anthropic.chat === null || google.chat === null) throw new Error('expected classes');
    const instances = new ModelInstances(config({ options: { topK: 5 } }));
    const sampling = { temperature: 0.5, maxTokens: 100, stop: ['END'] };
    const first = instances.chat(anthropic.chat, 'claude-a', 'key-1', sampling);
    expect(instances.chat(anthropic.chat, 'claude-a', 'key-1', sampling).model).toBe(first.model);
    expect(instances.chat(anthropic.chat, 'claude-a', 'key-2', sampling).model).not.toBe(
      first.model,
    );
    expect(instances.chat(anthropic.chat, 'claude-a', 'key-1', {}).model).not.toBe(first.model);
    expect(first.model).toMatchObject({
      model: 'claude-a',
      apiKey: 'key-1',
      temperature: 0.5,
      maxTokens: 100,
      stopSequences: ['END'],
      topK: 5,
    });
    // The gateway's router retries; LangChain's caller must not.
    expect((first.model.caller as unknown as { maxRetries: number }).maxRetries).toBe(0);
    expect(first.callOptions).toEqual({});
    const gemini = instances.chat(google.chat, 'gemini-x', 'key-1', sampling);
    expect(gemini.model).toMatchObject({ maxOutputTokens: 100, stopSequences: ['END'] });
  });

  it('leave stop as a call option when the class has no stopSequences field', () => {
    expect(constructorSampling({}, { maxTokens: 5, stop: ['x'], topP: 0.5 })).toEqual({
      overrides: { maxTokens: 5, topP: 0.5 },
      callOptions: { stop: ['x'] },
    });
  });
});
