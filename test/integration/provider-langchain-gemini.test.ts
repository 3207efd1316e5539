import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { LangChainProvider } from '../../src/providers/langchain/provider.js';
import type { CallContext, JsonObject } from '../../src/providers/types.js';
import { FakeUpstream, json, type Script, sse } from '../helpers/fake-upstream.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';
import { callContext, chatRequest } from '../helpers/provider-calls.js';

/**
 * The bridge with the real ChatGoogleGenerativeAI against a fake speaking Gemini's
 * generateContent wire format (`baseUrl` points the Google SDK at it).
 */
const upstream = new FakeUpstream();
let provider: LangChainProvider;

type Part = Record<string, unknown>;

function geminiResponse(parts: Part[], finishReason: string | null, usage?: number[]): JsonObject {
  const [prompt = 0, candidates = 0] = usage ?? [];
  return {
    candidates: [
      { content: { parts, role: 'model' }, index: 0, ...(finishReason && { finishReason }) },
    ],
    ...(usage && {
      usageMetadata: {
        promptTokenCount: prompt,
        candidatesTokenCount: candidates,
        totalTokenCount: prompt + candidates,
      },
    }),
    modelVersion: 'gemini-2.0-flash',
  };
}

const geminiMessage =
  (parts: Part[], finishReason = 'STOP'): Script =>
  (_req, res) =>
    json(res, 200, geminiResponse(parts, finishReason, [8, 3]));

/** Gemini streams cumulative usage on every event, the finish reason on the last. */
const geminiStream =
  (pieces: Part[][]): Script =>
  (_req, res) =>
    sse(
      res,
      pieces.map((parts, index) =>
        geminiResponse(parts, index === pieces.length - 1 ? 'STOP' : null, [8, index + 1]),
      ),
      { noDone: true },
    );

beforeAll(async () => {
  await upstream.start();
  provider = new LangChainProvider({
    id: 'gemini-lc',
    type: 'langchain',
    module: '@langchain/google-genai',
    chatClass: 'ChatGoogleGenerativeAI',
    embeddingsClass: 'GoogleGenerativeAIEmbeddings',
    options: { baseUrl: upstream.url.replace(/\/v1$/, '') },
    apiKey: 'gm-platform',
    apiKeyOption: 'apiKey',
    tenantKeys: true,
  });
});
afterAll(async () => {
  await provider.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

const ctx = (extra: Partial<CallContext> = {}) => callContext('req_gm', extra);

const chat = (extra: JsonObject = {}) => chatRequest('gemini-2.0-flash', extra);

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};

type Choice = { message: JsonObject; delta: JsonObject; finish_reason: string | null };
const choiceOf = (body: JsonObject) => (body.choices as Choice[])[0];

describe('LangChain bridge to ChatGoogleGenerativeAI', () => {
  it('answers a chat completion, with sampling parameters in generationConfig', async () => {
    upstream.next(geminiMessage([{ text: 'Hello!' }]));
    const result = await provider.chatCompletion(
      chat({ max_tokens: 40, temperature: 0.4, stop: 'END' }),
      ctx({ apiKey: 'gm-tenant' }),
    );
    expectOpenAISchema('CreateChatCompletionResponse', result);
    expect(choiceOf(result)).toMatchObject({
      message: { content: 'Hello!' },
      finish_reason: 'stop',
    });
    expect(result.usage).toEqual({ prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 });
    const [sent] = upstream.requests;
    expect(sent?.url).toBe('/v1beta/models/gemini-2.0-flash:generateContent');
    expect(sent?.headers['x-goog-api-key']).toBe('gm-tenant');
    expect(sent?.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      generationConfig: { maxOutputTokens: 40, temperature: 0.4, stopSequences: ['END'] },
    });
  });

  it('streams text and the usage Gemini reports cumulatively', async () => {
    upstream.next(geminiStream([[{ text: 'Hel' }], [{ text: 'lo ' }], [{ text: 'there' }]]));
    const stream = await provider.chatCompletionStream(
      chat({ stream: true, stream_options: { include_usage: true } }),
      ctx(),
    );
    const chunks: JsonObject[] = [];
    for await (const data of stream) chunks.push(JSON.parse(data) as JsonObject);
    for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);
    expect(upstream.requests[0]?.url).toBe(
      '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
    );
    const text = chunks.map((chunk) => choiceOf(chunk)?.delta.content ?? '').join('');
    expect(text).toBe('Hello there');
    expect(chunks.map((chunk) => choiceOf(chunk)?.finish_reason).filter(Boolean)).toEqual(['stop']);
    expect(chunks.at(-1)?.usage).toEqual({
      prompt_tokens: 8,
      completion_tokens: 3,
      total_tokens: 11,
    });
  });

  it('returns function calls as tool calls, and forces a tool with mode ANY', async () => {
    upstream.next(
      geminiMessage([{ functionCall: { name: 'get_weather', args: { city: 'Rome' } } }]),
    );
    const tool = {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
      },
    };
    const result = await provider.chatCompletion(
      chat({ tools: [tool], tool_choice: 'required' }),
      ctx(),
    );
    expectOpenAISchema('CreateChatCompletionResponse', result);
    const choice = choiceOf(result);
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.tool_calls).toEqual([
      {
        id: expect.any(String),
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
      },
    ]);
    expect(upstream.requests[0]?.body).toMatchObject({
      tools: [{ functionDeclarations: [{ name: 'get_weather' }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    });
  });

  it('streams a function call as one tool call delta', async () => {
    upstream.next(
      geminiStream([[{ functionCall: { name: 'get_weather', args: { city: 'Oslo' } } }]]),
    );
    const stream = await provider.chatCompletionStream(
      chat({ stream: true, tools: [weatherTool] }),
      ctx(),
    );
    const chunks: JsonObject[] = [];
    for await (const data of stream) chunks.push(JSON.parse(data) as JsonObject);
    const deltas = chunks.flatMap((chunk) => choiceOf(chunk)?.delta.tool_calls ?? []);
    expect(deltas).toEqual([
      {
        index: 0,
        id: expect.any(String),
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
      },
    ]);
    expect(chunks.map((chunk) => choiceOf(chunk)?.finish_reason).filter(Boolean)).toEqual([
      'tool_calls',
    ]);
  });

  it('answers a tool call by name, as Gemini needs', async () => {
    upstream.next(geminiMessage([{ text: '18C in Rome.' }]));
    await provider.chatCompletion(
      chat({
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_x',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_x', content: '18C' },
        ],
      }),
      ctx(),
    );
    expect(upstream.requests[0]?.body?.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Rome?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Rome' } } }] },
      {
        role: 'user',
        parts: [{ functionResponse: { name: 'get_weather', response: { result: '18C' } } }],
      },
    ]);
  });

  it('answers a blocked reply as content_filter rather than an error', async () => {
    upstream.next((_req, res) =>
      json(res, 200, { candidates: [{ finishReason: 'SAFETY', index: 0 }] }),
    );
    const result = await provider.chatCompletion(chat(), ctx());
    expect(choiceOf(result)).toMatchObject({
      message: { content: '' },
      finish_reason: 'content_filter',
    });
  });

  it("passes a 429 through with the retry delay from Google's RetryInfo", async () => {
    upstream.next((_req, res) =>
      json(res, 429, {
        error: {
          code: 429,
          message: 'Resource has been exhausted (e.g. check quota).',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12s' }],
        },
      }),
    );
    const error = await provider.chatCompletion(chat(), ctx()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure).toMatchObject({
      kind: 'http',
      status: 429,
      body: { error: { message: 'Resource has been exhausted (e.g. check quota).' } },
      retryAfter: '12',
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('embeds with embedDocuments, as floats or base64', async () => {
    upstream.always((_req, res) =>
      json(res, 200, { embeddings: [{ values: [0.5, -1] }, { values: [0.25, 2] }] }),
    );
    try {
      const body = { model: 'text-embedding-004', input: ['a', 'b'] };
      const result = await provider.embeddings(body, ctx());
      expectOpenAISchema('CreateEmbeddingResponse', {
        ...result,
        usage: { prompt_tokens: 0, total_tokens: 0 },
      });
      expect(result.data).toEqual([
        { object: 'embedding', index: 0, embedding: [0.5, -1] },
        { object: 'embedding', index: 1, embedding: [0.25, 2] },
      ]);
      expect(result.usage).toBeUndefined();
      expect(upstream.requests[0]?.url).toBe(
        '/v1beta/models/text-embedding-004:batchEmbedContents',
      );
      const encoded = await provider.embeddings({ ...body, encoding_format: 'base64' }, ctx());
      const [first] = encoded.data as { embedding: string }[];
      const bytes = Buffer.from(first?.embedding ?? '', 'base64');
      const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      expect([...floats]).toEqual([0.5, -1]);
    } finally {
      upstream.always((_req, res) => json(res, 500, { error: { message: 'no script' } }));
    }
  });
});
