import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { freshQuestion, useCacheGateway } from '../helpers/cache-gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';

/**
 * The Messages API on the chat path's response cache and Idempotency-Key: a stored chat
 * answer comes back in Anthropic's format, whole or streamed, whichever shape stored it.
 */
describe.each(STORE_KINDS)('the Messages API and the response cache on the %s store', (kind) => {
  const { upstream, gateway } = useCacheGateway(kind);
  const client = () =>
    new Anthropic({ baseURL: gateway.url, apiKey: gateway.apiKey, maxRetries: 0 });
  // Temperature 0 makes a request cacheable; the SDK's types no longer list the field.
  const params = (content: string) =>
    ({
      model: 'gpt-test',
      max_tokens: 32,
      temperature: 0,
      messages: [{ role: 'user', content }],
    }) as Anthropic.MessageCreateParamsNonStreaming;

  it('answers a repeated request from the cache, whole and then streamed, as a message', async () => {
    const question = freshQuestion();
    const first = await client().messages.create(params(question)).withResponse();
    expect(first.response.headers.get('x-llm-backend-cache')).toBe('miss');
    const second = await client().messages.create(params(question)).withResponse();
    expect(second.response.headers.get('x-llm-backend-cache')).toBe('hit');
    expect(second.data).toEqual(first.data);
    expect(second.data.content).toEqual([{ type: 'text', text: 'answer 1' }]);

    const stream = client().messages.stream(params(question));
    const final = await stream.finalMessage();
    expect(final.content).toEqual(first.data.content);
    expect(final.usage).toMatchObject({
      input_tokens: first.data.usage.input_tokens,
      output_tokens: first.data.usage.output_tokens,
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('replays the first answer for a repeated Idempotency-Key', async () => {
    const body = params(freshQuestion());
    const headers = { 'idempotency-key': `messages-${kind}-${Date.now()}` };
    const first = await client().messages.create(body, { headers });
    const again = await client().messages.create(body, { headers }).withResponse();
    expect(again.response.headers.get('x-llm-backend-idempotent-replay')).toBe('true');
    expect(again.data).toEqual(first);
    expect(upstream.requests).toHaveLength(1);
  });
});
