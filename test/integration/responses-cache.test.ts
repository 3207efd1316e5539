import { describe, expect, it } from 'vitest';
import { freshQuestion, useCacheGateway } from '../helpers/cache-gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';

/**
 * The Responses API on the chat path's response cache and Idempotency-Key: a stored chat
 * answer comes back as a response of its own (a new id, stored, continuable), whole or
 * streamed, whichever shape stored it.
 */
describe.each(STORE_KINDS)('the Responses API and the response cache on the %s store', (kind) => {
  const { upstream, gateway } = useCacheGateway(kind);
  // Temperature 0 makes a request cacheable.
  const params = (input: string) => ({ model: 'gpt-test', temperature: 0, input });

  it('answers a repeated request from the cache as a new stored response, whole and streamed', async () => {
    const question = freshQuestion();
    const first = await gateway.client.responses.create(params(question)).withResponse();
    expect(first.response.headers.get('x-llm-backend-cache')).toBe('miss');
    const second = await gateway.client.responses.create(params(question)).withResponse();
    expect(second.response.headers.get('x-llm-backend-cache')).toBe('hit');
    expect(second.data.id).not.toBe(first.data.id);
    expect(second.data.output_text).toBe(first.data.output_text);
    expect(second.data.usage).toEqual(first.data.usage);
    const final = await gateway.client.responses.stream(params(question)).finalResponse();
    expect(final.output_text).toBe(first.data.output_text);
    // A hit is a response like any other: kept, and retrievable by its own id.
    const stored = await gateway.client.responses.retrieve(second.data.id);
    expect(stored.output_text).toBe(first.data.output_text);
    expect(upstream.requests).toHaveLength(1);
  });

  it('replays the first answer for a repeated Idempotency-Key', async () => {
    const body = params(freshQuestion());
    const headers = { 'idempotency-key': `responses-${kind}-${Date.now()}` };
    const first = await gateway.client.responses.create(body, { headers });
    const again = await gateway.client.responses.create(body, { headers }).withResponse();
    expect(again.response.headers.get('x-llm-backend-idempotent-replay')).toBe('true');
    expect(again.data.output_text).toBe(first.output_text);
    expect(upstream.requests).toHaveLength(1);
  });
});
