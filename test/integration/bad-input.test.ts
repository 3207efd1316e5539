import { describe, expect, it } from 'vitest';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

const { upstream, gateway } = useUpstreamGateway({ env: { BODY_LIMIT_BYTES: String(64 * 1024) } });
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

const hi = [{ role: 'user', content: 'Hi' }];
const utf8 = (text: string) => Buffer.from(text, 'utf8');

interface Case {
  name: string;
  path?: string;
  body: Buffer | string;
  contentType?: string | null;
  status: number;
  code: string;
  param?: string | null;
}

/** Each bad body must get a 4xx in OpenAI's shape, and nothing may reach the upstream. */
const cases: Case[] = [
  { name: 'null', body: 'null', status: 400, code: 'invalid_request', param: null },
  { name: 'a JSON string', body: '"hello"', status: 400, code: 'invalid_request', param: null },
  { name: 'a JSON array', body: '[1,2]', status: 400, code: 'invalid_request', param: null },
  { name: 'a number', body: '42', status: 400, code: 'invalid_request', param: null },
  { name: 'malformed JSON', body: '{"model": "gpt-test", ', status: 400, code: 'invalid_json' },
  { name: 'trailing garbage', body: '{"model":"gpt-test"} x', status: 400, code: 'invalid_json' },
  { name: 'an empty body', body: '', status: 400, code: 'invalid_json' },
  {
    name: 'invalid UTF-8',
    body: Buffer.concat([
      utf8('{"model":"gpt-test","messages":[{"role":"user","content":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      utf8('"}]}'),
    ]),
    status: 400,
    code: 'invalid_encoding',
  },
  {
    name: 'missing messages',
    body: JSON.stringify({ model: 'gpt-test' }),
    status: 400,
    code: 'invalid_request',
    param: 'messages',
  },
  {
    name: 'missing model',
    body: JSON.stringify({ messages: hi }),
    status: 400,
    code: 'invalid_request',
    param: 'model',
  },
  {
    name: 'model is a number',
    body: JSON.stringify({ model: 7, messages: hi }),
    status: 400,
    code: 'invalid_request',
    param: 'model',
  },
  {
    name: 'model is empty',
    body: JSON.stringify({ model: '', messages: hi }),
    status: 400,
    code: 'invalid_request',
    param: 'model',
  },
  {
    name: 'messages is a string',
    body: JSON.stringify({ model: 'gpt-test', messages: 'hi' }),
    status: 400,
    code: 'invalid_request',
    param: 'messages',
  },
  {
    name: 'messages is empty',
    body: JSON.stringify({ model: 'gpt-test', messages: [] }),
    status: 400,
    code: 'invalid_request',
    param: 'messages',
  },
  {
    name: 'a message without role',
    body: JSON.stringify({ model: 'gpt-test', messages: [{ content: 'x' }] }),
    status: 400,
    code: 'invalid_request',
    param: 'messages[0].role',
  },
  {
    name: 'an unknown role',
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'wizard', content: 'x' }] }),
    status: 400,
    code: 'invalid_request',
    param: 'messages[0].role',
  },
  {
    name: 'content is a number',
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 5 }] }),
    status: 400,
    code: 'invalid_request',
    param: 'messages[0].content',
  },
  {
    name: 'stream is a string',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, stream: 'yes' }),
    status: 400,
    code: 'invalid_request',
    param: 'stream',
  },
  {
    name: 'n is zero',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, n: 0 }),
    status: 400,
    code: 'invalid_request',
    param: 'n',
  },
  {
    name: 'n is a float',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, n: 1.5 }),
    status: 400,
    code: 'invalid_request',
    param: 'n',
  },
  {
    name: 'temperature out of range',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, temperature: 3 }),
    status: 400,
    code: 'invalid_request',
    param: 'temperature',
  },
  {
    name: 'max_tokens negative',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, max_tokens: -1 }),
    status: 400,
    code: 'invalid_request',
    param: 'max_tokens',
  },
  {
    name: 'stream_options.include_usage a string',
    body: JSON.stringify({
      model: 'gpt-test',
      messages: hi,
      stream: true,
      stream_options: { include_usage: 'y' },
    }),
    status: 400,
    code: 'invalid_request',
    param: 'stream_options.include_usage',
  },
  {
    name: 'tools is an object',
    body: JSON.stringify({ model: 'gpt-test', messages: hi, tools: {} }),
    status: 400,
    code: 'invalid_request',
    param: 'tools',
  },
  {
    name: 'a body over the limit',
    body: JSON.stringify({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }],
    }),
    status: 413,
    code: 'request_too_large',
  },
  {
    name: 'form data',
    body: 'model=gpt-test',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'no content type',
    body: JSON.stringify({ model: 'gpt-test', messages: hi }),
    contentType: null,
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'an unknown model',
    body: JSON.stringify({ model: 'nope', messages: hi }),
    status: 404,
    code: 'model_not_found',
    param: 'model',
  },
  {
    name: 'embeddings without input',
    path: '/v1/embeddings',
    body: JSON.stringify({ model: 'embed-test' }),
    status: 400,
    code: 'invalid_request',
    param: 'input',
  },
  {
    name: 'embeddings with an empty input list',
    path: '/v1/embeddings',
    body: JSON.stringify({ model: 'embed-test', input: [] }),
    status: 400,
    code: 'invalid_request',
    param: 'input',
  },
  {
    name: 'embeddings with a bad encoding_format',
    path: '/v1/embeddings',
    body: JSON.stringify({ model: 'embed-test', input: 'x', encoding_format: 'hex' }),
    status: 400,
    code: 'invalid_request',
    param: 'encoding_format',
  },
  {
    name: 'completions with prompt an object',
    path: '/v1/completions',
    body: JSON.stringify({ model: 'gpt-test', prompt: { a: 1 } }),
    status: 400,
    code: 'invalid_request',
    param: 'prompt',
  },
];

describe('bad input gets a 4xx in OpenAI shape and changes nothing', () => {
  it.each(cases)('$name -> $status $code', async (testCase) => {
    const before = upstream.requests.length;
    const headers: Record<string, string> = {};
    if (testCase.contentType !== null)
      headers['content-type'] = testCase.contentType ?? 'application/json';
    const response = await gateway.fetch(testCase.path ?? '/v1/chat/completions', {
      method: 'POST',
      headers,
      body: testCase.body,
    });
    const body = (await response.json()) as {
      error: { code: string; param: string | null; message: string };
    };
    expect(response.status).toBe(testCase.status);
    expectOpenAISchema('ErrorResponse', body);
    expect(body.error.code).toBe(testCase.code);
    if (testCase.param !== undefined) expect(body.error.param).toBe(testCase.param);
    expect(body.error.message).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(upstream.requests.length).toBe(before);
  });

  it('names an unknown field of an admin body, and an unknown query parameter', async () => {
    const limit = await gateway.fetch('/admin/v1/tenants/test/limits', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'tenant', requests_per_minute: 5, typo_field: 1 }),
    });
    expect(limit.status).toBe(400);
    expect(((await limit.json()) as { error: unknown }).error).toMatchObject({
      code: 'invalid_request',
      param: 'typo_field',
      message: 'Unrecognized request argument supplied: typo_field',
    });
    const audit = await gateway.fetch('/admin/v1/tenants/test/audit-logs?limt=5');
    expect(audit.status).toBe(400);
    expect(((await audit.json()) as { error: unknown }).error).toMatchObject({ param: 'limt' });
    expect(await gateway.services.limitRules.list('test')).toEqual([]);
  });

  it('keeps serving good requests after all the bad ones', async () => {
    const result = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'still there?' }],
    });
    expect(result.choices[0]?.message.content).toBe('ok');
  });
});
