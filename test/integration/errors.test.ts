import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { FakeUpstream, json, sse, stall, textChunks } from '../helpers/fake-upstream.js';
import {
  completionLog,
  eventually,
  startGateway,
  upstreamConfig,
  useUpstreamGateway,
} from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

// Short timeouts so the timeout paths run quickly; they are per provider in the config.
const { upstream, gateway } = useUpstreamGateway({
  provider: { timeouts: { first_byte_ms: 300, idle_ms: 300 } },
});
const messages = [{ role: 'user' as const, content: 'Hi' }];

function expectOpenAIError(
  error: InstanceType<typeof OpenAI.APIError>,
  status: number,
  code: string | null,
) {
  expect(error.status).toBe(status);
  expect(error.code).toBe(code);
  expect(error.headers?.get('x-request-id')).toBeTruthy();
  expectOpenAISchema('ErrorResponse', { error: error.error });
}

describe('errors surface as the SDK error classes', () => {
  it('unknown model: 404 model_not_found (NotFoundError) and nothing sent upstream', async () => {
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'no-such-model', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expectOpenAIError(error, 404, 'model_not_found');
    expect(error.param).toBe('model');
    expect(upstream.requests).toHaveLength(0);
  });

  it('schema violation: 400 with param (BadRequestError)', async () => {
    const error = await apiError(
      gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages,
        temperature: 'hot' as unknown as number,
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expectOpenAIError(error, 400, 'invalid_request');
    expect(error.param).toBe('temperature');
  });

  it('a model used for the wrong endpoint: 400 unsupported_model_capability', async () => {
    const error = await apiError(
      gateway.client.embeddings.create({ model: 'gpt-test', input: 'x' }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expectOpenAIError(error, 400, 'unsupported_model_capability');
  });

  it('upstream 429 passes through with its retry-after (RateLimitError)', async () => {
    upstream.next((_req, res) =>
      json(
        res,
        429,
        {
          error: {
            message: 'Rate limit reached for requests',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        { 'retry-after': '7' },
      ),
    );
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'gpt-test', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expectOpenAIError(error, 429, 'rate_limit_exceeded');
    expect(error.headers?.get('retry-after')).toBe('7');
    expect(error.message).toContain('Rate limit reached');
  });

  it("upstream 400 (the client's fault) passes through with the upstream's message", async () => {
    upstream.next((_req, res) =>
      json(
        res,
        400,
        {
          error: {
            message: "This model's maximum context length is 8192 tokens.",
            type: 'invalid_request_error',
            param: 'messages',
            code: 'context_length_exceeded',
          },
        },
        { 'retry-after': '5' },
      ),
    );
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'gpt-test', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expectOpenAIError(error, 400, 'context_length_exceeded');
    expect(error.param).toBe('messages');
    // Retrying will not fix the request, so no retry-after reaches the client.
    expect(error.headers?.get('retry-after')).toBeNull();
  });

  it.each([401, 403, 404, 500, 503])(
    'upstream %i becomes 502 upstream_error without the upstream detail',
    async (status) => {
      upstream.next((_req, res) =>
        json(res, status, {
          error: {
            message: 'Incorrect API key provided: sk-up***',
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        }),
      );
      const error = await apiError(
        gateway.client.chat.completions.create({ model: 'gpt-test', messages }),
      );
      expect(error).toBeInstanceOf(OpenAI.InternalServerError);
      expectOpenAIError(error, 502, 'upstream_error');
      expect(error.message).not.toContain('sk-up');
    },
  );

  it('upstream that does not answer in time: 504 upstream_timeout', async () => {
    upstream.next(stall);
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'gpt-test', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expectOpenAIError(error, 504, 'upstream_timeout');
  });

  it('upstream not listening: 502 upstream_unreachable', async () => {
    const down = await new FakeUpstream().start();
    const url = down.url;
    await down.stop();
    const other = await startGateway(upstreamConfig(url));
    try {
      const error = await apiError(
        other.client.chat.completions.create({ model: 'gpt-test', messages }),
      );
      expectOpenAIError(error, 502, 'upstream_unreachable');
    } finally {
      await other.close();
    }
  });

  it('upstream non-JSON body: 502 upstream_error', async () => {
    upstream.next((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>oops</html>');
    });
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'gpt-test', messages }),
    );
    expectOpenAIError(error, 502, 'upstream_error');
  });

  it('413 for a body over the limit and 415 for a non-JSON content type', async () => {
    const tooLarge = await gateway.fetch(`/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'x'.repeat(11 * 1024 * 1024) }],
      }),
    });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'request_too_large' } });
    const wrongType = await gateway.fetch(`/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('an unknown route is a 404 in the same shape', async () => {
    const response = await gateway.fetch(`/v1/nothing-here`);
    expect(response.status).toBe(404);
    expectOpenAISchema('ErrorResponse', await response.json());
  });
});

describe('errors after a stream has started', () => {
  async function collect(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
    let text = '';
    try {
      for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    } catch (error) {
      return { text, error };
    }
    return { text, error: null };
  }

  it('a stalled stream hits the idle timeout and ends with an error event', async () => {
    upstream.next(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const event of textChunks(['partial']).slice(0, 2))
        res.write(`data: ${JSON.stringify(event)}\n\n`);
      await new Promise(() => {});
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      messages,
    });
    const { text, error } = await collect(stream);
    expect(text).toBe('partial');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'upstream_timeout',
      type: 'timeout_error',
    });
  });

  it('a stream cut midway ends with an error event, not a [DONE]', async () => {
    upstream.next((_req, res) =>
      sse(res, textChunks(['one', 'two', 'three']), { cutAfter: 3, gapMs: 5 }),
    );
    const response = await gateway.fetch(`/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', stream: true, messages }),
    });
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events).not.toContain('data: [DONE]');
    const last = JSON.parse((events.at(-1) ?? '').slice('data: '.length));
    expectOpenAISchema('ErrorResponse', last);
    expect(last.error.code).toBe('upstream_error');
  });

  it("an upstream's own in-stream error ends the stream as upstream_error, without its detail", async () => {
    upstream.next((_req, res) =>
      sse(res, [
        ...textChunks(['a']).slice(0, 2),
        {
          error: {
            message: 'overloaded on node gpu-7',
            type: 'server_error',
            param: null,
            code: null,
          },
        },
      ]),
    );
    const { text, error } = await collect(
      await gateway.client.chat.completions.create({ model: 'gpt-test', stream: true, messages }),
    );
    expect(text).toBe('a');
    expect((error as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'upstream_error',
    });
    expect((error as InstanceType<typeof OpenAI.APIError>).message).not.toContain('gpu-7');
  });

  it('an upstream error before the first byte is a plain HTTP error, not a stream', async () => {
    upstream.next((_req, res) =>
      json(
        res,
        429,
        {
          error: {
            message: 'slow down',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        { 'retry-after': '3' },
      ),
    );
    const error = await apiError(
      gateway.client.chat.completions.create({ model: 'gpt-test', stream: true, messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.headers?.get('retry-after')).toBe('3');
  });
});

describe('client disconnect', () => {
  it('aborts the upstream request at once, mid-stream', async () => {
    let _sent = 0;
    upstream.next(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Keeps streaming until the gateway hangs up.
      while (!req.wasAborted()) {
        res.write(`data: ${JSON.stringify(textChunks([' alpha'])[1])}\n\n`);
        _sent++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const controller = new AbortController();
    const { data: stream, response } = await gateway.client.chat.completions
      .create({ model: 'gpt-test', stream: true, messages }, { signal: controller.signal })
      .withResponse();
    const requestId = response.headers.get('x-request-id');
    let received = 0;
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const _part of stream) {
      received++;
      if (received === 2) controller.abort();
    }
    await upstream.requests[0]?.aborted;
    expect(upstream.requests[0]?.wasAborted()).toBe(true);
    expect(received).toBe(2);

    // Still logged and counted, with the tokens delivered so far (the upstream sent no usage).
    const line = await eventually(() => {
      const found = gateway.logs.find(
        (log) => log.msg === 'request completed' && log.requestId === requestId,
      );
      if (!found) throw new Error('no log line for the aborted stream yet');
      return found;
    });
    expect(line).toMatchObject({
      status: 499,
      clientAborted: true,
      stream: true,
      tokens: { estimated: true },
    });
    expect((line.tokens as { completion: number }).completion).toBeGreaterThanOrEqual(2);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(
      /llm_backend_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="499"\} [1-9]/,
    );
  });

  it('aborts a non-streaming upstream request too', async () => {
    upstream.next(stall);
    const controller = new AbortController();
    const call = gateway.client.chat.completions.create(
      { model: 'gpt-test', messages },
      { signal: controller.signal },
    );
    const waitForUpstream = async () => {
      while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await waitForUpstream();
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstream.requests[0]?.aborted;
    expect(upstream.requests[0]?.wasAborted()).toBe(true);
    // The client's choice, not a fault: logged as a 499, never as a failed request.
    const requestId = upstream.requests[0]?.headers['x-request-id'];
    const line = await completionLog(gateway, String(requestId));
    expect(line.status).toBe(499);
    expect(
      gateway.logs.filter((log) => log.requestId === requestId && log.msg === 'request failed'),
    ).toEqual([]);
  });
});
