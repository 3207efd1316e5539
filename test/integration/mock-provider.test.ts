import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

/** The bundled default configuration: what `npm start` serves, offline. */
let gateway: TestGateway;

beforeAll(async () => {
  const { readFileSync } = await import('node:fs');
  const { parse } = await import('yaml');
  const bundled = parse(
    readFileSync(new URL('../../config/llm-backend.yaml', import.meta.url), 'utf8'),
  ) as {
    providers: { mock: Record<string, unknown> };
  };
  // Same models, no artificial latency, so the suite stays fast.
  bundled.providers.mock = { ...bundled.providers.mock, latency_ms: 0, tokens_per_second: 0 };
  gateway = await startGateway(bundled);
});
afterAll(() => gateway.close());

const messages = [{ role: 'user' as const, content: 'Tell me about llamas' }];
const reply = 'This is a mock reply from mock-chat. You said: "Tell me about llamas"';

describe('mock provider (default config)', () => {
  it('answers a chat completion deterministically, with usage', async () => {
    const result = await gateway.client.chat.completions.create({ model: 'mock-chat', messages });
    expect(result.choices[0]?.message.content).toBe(reply);
    expect(result.usage).toMatchObject({
      prompt_tokens: 5,
      completion_tokens: 13,
      total_tokens: 18,
    });
    expectOpenAISchema('CreateChatCompletionResponse', result);
  });

  it('streams the same reply token by token, with usage only when asked', async () => {
    for (const includeUsage of [false, true]) {
      const stream = await gateway.client.chat.completions.create({
        model: 'mock-chat',
        messages,
        stream: true,
        ...(includeUsage && { stream_options: { include_usage: true } }),
      });
      let text = '';
      const chunks = [];
      for await (const part of stream) {
        chunks.push(part);
        expectOpenAISchema('CreateChatCompletionStreamResponse', part);
        text += part.choices[0]?.delta.content ?? '';
      }
      expect(text).toBe(reply);
      expect(chunks.length).toBeGreaterThan(10);
      const usageChunks = chunks.filter((part) => part.usage);
      expect(usageChunks).toHaveLength(includeUsage ? 1 : 0);
    }
  });

  it('honours n, max_tokens and a forced tool', async () => {
    const two = await gateway.client.chat.completions.create({
      model: 'mock-chat',
      messages,
      n: 2,
      max_tokens: 3,
    });
    expect(two.choices).toHaveLength(2);
    expect(two.choices.every((choice) => choice.finish_reason === 'length')).toBe(true);
    expect(two.choices[0]?.message.content).toBe('This is a');

    const runner = gateway.client.chat.completions.stream({
      model: 'mock-chat',
      messages,
      tools: [
        {
          type: 'function',
          function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
        },
      ],
      tool_choice: 'required',
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('lookup');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({
      prompt: 'Tell me about llamas',
    });
  });

  it('answers legacy completions', async () => {
    const result = await gateway.client.completions.create({
      model: 'mock-chat',
      prompt: 'Say hi',
    });
    expect(result.choices[0]?.text).toBe('This is a mock reply from mock-chat. You said: "Say hi"');
    expectOpenAISchema('CreateCompletionResponse', result);
  });

  it('embeds deterministically; the SDK decodes its base64 default', async () => {
    const first = await gateway.client.embeddings.create({
      model: 'mock-embedding',
      input: ['a', 'b'],
    });
    const again = await gateway.client.embeddings.create({
      model: 'mock-embedding',
      input: 'a',
      encoding_format: 'float',
    });
    expect(first.data).toHaveLength(2);
    expect(first.data[0]?.embedding).toHaveLength(16);
    expect(first.data[0]?.embedding).not.toEqual(first.data[1]?.embedding);
    // Float32 on the wire for base64, so compare at that precision.
    const floats = again.data[0]?.embedding ?? [];
    for (const [i, value] of floats.entries())
      expect(first.data[0]?.embedding[i]).toBeCloseTo(value, 6);
    const norm = Math.hypot(...floats);
    expect(norm).toBeCloseTo(1, 6);
    expectOpenAISchema('CreateEmbeddingResponse', again);
  });

  it('lists its models', async () => {
    const list = await gateway.client.models.list();
    // And the built-in `auto` router, whose one candidate is mock-chat.
    expect(list.data.map((model) => model.id)).toEqual(['mock-chat', 'mock-embedding', 'auto']);
  });
});
