import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';
import { respondsNatively, sseTyped, upstreamEvents } from '../helpers/responses-wire.js';
import { openQueue } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };

/**
 * `/v1/responses` on a provider that speaks the Responses API itself (`responses_api: true`):
 * the upstream gets the whole conversation with `store: false` and answers in its own
 * format, which reaches the client under the gateway's ids, whole or streamed (each event
 * valid against OpenAI's schema); the usage is the upstream's; failover to a chat-only
 * deployment, bad input and a cut stream behave as on the translated path.
 */
describe('the Responses API on a native upstream', { timeout: 60_000 }, () => {
  const native = new FakeUpstream();
  const chat = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;

  beforeAll(async () => {
    await native.start();
    await chat.start();
    const queue = openQueue('memory');
    gateway = await startGateway(
      {
        providers: {
          native: { type: 'openai-compatible', base_url: native.url, responses_api: true },
          chat: { type: 'openai-compatible', base_url: chat.url },
        },
        // Deterministic requests (temperature 0) are cached, as on the translated path.
        cache: { enabled: true },
        models: [
          {
            name: 'gpt-native',
            provider: 'native',
            model: 'native-model',
            capabilities: { chat: true, tools: true },
          },
          {
            name: 'gpt-ha',
            capabilities: { chat: true, tools: true },
            deployments: [
              { provider: 'native', model: 'native-model', priority: 0 },
              { provider: 'chat', model: 'chat-model', priority: 1 },
            ],
          },
        ],
      },
      {},
      { services: { usageQueue: queue } },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 1,
      log: quiet,
    });
  }, 60_000);
  afterAll(async () => {
    // Workers first: they write into the databases the gateway drops when it closes.
    await workers?.stop();
    await gateway?.close();
    await native.stop();
    await chat.stop();
  }, 60_000);
  afterEach(() => {
    native.reset();
    chat.reset();
  });

  const usageRow = (requestId: string | null) =>
    eventually(async () => {
      const db = gateway.services.tenants.database(await gateway.services.tenants.get('test'));
      const rows = await db
        .selectFrom('usage_records')
        .selectAll()
        .where('request_id', '=', String(requestId))
        .execute();
      expect(rows).toHaveLength(1);
      return rows[0];
    }, 10_000);

  it("sends the upstream's own API and passes its response on, under our id", async () => {
    native.next(respondsNatively(['Bonjour.']));
    const { data, request_id } = await gateway.client.responses
      .create({ model: 'gpt-native', instructions: 'Be brief.', input: 'Hi', metadata: { a: 'b' } })
      .withResponse();
    expectOpenAISchema('Response', data);
    expect(data.id).toMatch(/^resp_/);
    expect(data.id).not.toBe('resp_upstream_0001');
    expect(data.output_text).toBe('Bonjour.');
    expect(data.model).toBe('native-model-2025-01-01');
    expect(data).toMatchObject({ store: true, metadata: { a: 'b' }, previous_response_id: null });
    expect(data.usage).toMatchObject({ input_tokens: 11, output_tokens: 5, total_tokens: 16 });
    expect(native.requests[0]?.url).toBe('/v1/responses');
    expect(native.requests[0]?.body).toMatchObject({
      model: 'native-model',
      instructions: 'Be brief.',
      store: false,
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
    });
    expect(native.requests[0]?.body).not.toHaveProperty('stream');
    const row = await usageRow(request_id);
    expect(Number(row?.input_tokens)).toBe(11);
    expect(Number(row?.output_tokens)).toBe(5);
    expect((await gateway.client.responses.retrieve(data.id)).output_text).toBe('Bonjour.');
  });

  it('streams the upstream events, each valid, and continues the conversation we keep', async () => {
    native.next(respondsNatively(['I am ', 'Ann.']));
    native.next(respondsNatively(['You are ', 'Ann.']));
    const first = await gateway.client.responses.create({ model: 'gpt-native', input: 'Hi' });
    const stream = gateway.client.responses.stream({
      model: 'gpt-native',
      input: 'Who are you?',
      previous_response_id: first.id,
    });
    const events: { type: string; sequence_number: number }[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_e, i) => i));
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = events[0] as unknown as { response: { id: string } };
    expect(created.response.id).toBe(final.id);
    expect(final.output_text).toBe('You are Ann.');
    expect(final.previous_response_id).toBe(first.id);
    expect(final.usage).toMatchObject({ input_tokens: 11, output_tokens: 5 });
    // The whole conversation went upstream, which keeps nothing.
    const sent = native.requests[1]?.body;
    expect(sent).toMatchObject({ stream: true, store: false });
    expect(sent).not.toHaveProperty('previous_response_id');
    expect(sent).not.toHaveProperty('stream_options');
    const input = sent?.input as { type: string; role?: string }[];
    expect(input.map((item) => item.role)).toEqual(['user', 'assistant', 'user']);
    const stored = await gateway.client.responses.retrieve(final.id);
    expect(stored.output_text).toBe('You are Ann.');
  });

  it('fails over from a failing native deployment to a chat one, streamed or not', async () => {
    const refuse = (_req: unknown, res: Parameters<typeof json>[0]) =>
      json(res, 500, { error: { message: 'down', type: 'server_error' } });
    native.next(refuse, refuse);
    chat.next((_req, res) => json(res, 200, chatCompletion('From chat.')));
    chat.next((_req, res) => sse(res, textChunks(['Chat ', 'streamed.'], { usage: true })));
    const whole = await gateway.client.responses.create({ model: 'gpt-ha', input: 'Hi' });
    expectOpenAISchema('Response', whole);
    expect(whole.output_text).toBe('From chat.');
    const streamed = await gateway.client.responses
      .stream({ model: 'gpt-ha', input: 'Hi' })
      .finalResponse();
    expect(streamed.output_text).toBe('Chat streamed.');
    expect(native.requests.map((request) => request.url)).toEqual([
      '/v1/responses',
      '/v1/responses',
    ]);
    expect(chat.requests.map((request) => request.url)).toEqual([
      '/v1/chat/completions',
      '/v1/chat/completions',
    ]);
  });

  it('ends a stream the upstream cuts with response.failed and an error event', async () => {
    // Spaced, so the events before the cut leave the socket before it is destroyed.
    native.next((req, res) =>
      sseTyped(res, upstreamEvents(req, ['a', 'b', 'c']), { cutAfter: 7, gapMs: 20 }),
    );
    const stream = gateway.client.responses.stream({ model: 'gpt-native', input: 'Hi' });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    stream.on('event', (event) => events.push(event));
    const error = await stream.finalResponse().then(
      () => null,
      (caught: unknown) => caught,
    );
    // The SDK rejects with the stream's `error` event, after the failed response.
    expect(error).toMatchObject({ type: 'error', code: 'upstream_error' });
    expect(events.map((event) => event.type)).toContain('response.output_text.delta');
    expect(events.map((event) => event.type).slice(-2)).toEqual(['response.failed', 'error']);
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
  });

  it('caches a native answer as the translated path would, whole or streamed', async () => {
    native.next(respondsNatively(['Cached ', 'once.']), respondsNatively(['Streamed ', 'once.']));
    const whole = { model: 'gpt-native', temperature: 0, input: `whole ${Date.now()}` };
    const first = await gateway.client.responses.create(whole).withResponse();
    expect(first.response.headers.get('x-llm-backend-cache')).toBe('miss');
    const again = await gateway.client.responses.create(whole).withResponse();
    expect(again.response.headers.get('x-llm-backend-cache')).toBe('hit');
    expectOpenAISchema('Response', again.data);
    expect(again.data.id).not.toBe(first.data.id);
    expect(again.data.output_text).toBe('Cached once.');
    expect(again.data.usage).toMatchObject({ input_tokens: 11, output_tokens: 5 });
    const streamed = { model: 'gpt-native', temperature: 0, input: `streamed ${Date.now()}` };
    const entries = async () => {
      const stats = await gateway.fetch('/admin/v1/tenants/test/cache/stats');
      return ((await stats.json()) as { entries: number }).entries;
    };
    const before = await entries();
    const live = await gateway.client.responses.stream(streamed).finalResponse();
    expect(live.output_text).toBe('Streamed once.');
    // A stream's answer is stored once it is over, just after its last event.
    await eventually(async () => expect(await entries()).toBe(before + 1), 10_000);
    const hit = await gateway.client.responses.create(streamed).withResponse();
    expect(hit.response.headers.get('x-llm-backend-cache')).toBe('hit');
    expect(hit.data.output_text).toBe('Streamed once.');
    const replayed = await gateway.client.responses.stream(whole).finalResponse();
    expect(replayed.output_text).toBe('Cached once.');
    expect(native.requests).toHaveLength(2);
  });

  it('refuses bad input before any upstream call', async () => {
    const tool = await apiError(
      gateway.client.responses.create({
        model: 'gpt-native',
        input: 'Hi',
        tools: [{ type: 'web_search_preview' }],
      }),
    );
    expect(tool.status).toBe(400);
    const missing = await apiError(
      gateway.client.responses.create({
        model: 'gpt-native',
        input: 'Hi',
        previous_response_id: 'resp_nothing',
      }),
    );
    expect(missing.status).toBe(404);
    expect(native.requests).toHaveLength(0);
  });
});
