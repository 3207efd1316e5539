import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPRESSION_MIN_BYTES } from '../../src/plugins/compression.js';
import { json, sse, textChunks } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { upstream, gateway } = useUpstreamGateway();

/** undici's request(): it sends no Accept-Encoding of its own and decodes nothing. */
async function get(path: string, headers: Record<string, string>) {
  const response = await request(`${gateway.url}${path}`, {
    headers: { authorization: `Bearer ${gateway.adminKey}`, ...headers },
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  return { status: response.statusCode, headers: response.headers, body };
}

const KEYS = '/admin/v1/tenants/test/api-keys';

describe('response compression', () => {
  let plain: Buffer;
  beforeAll(async () => {
    for (let i = 0; i < 30; i++)
      await gateway.services.keys.create('test', { name: `compression-key-${i}`, role: 'member' });
    plain = (await get(KEYS, {})).body;
  });

  it('sends a large admin list as it is when the client asks for no encoding', async () => {
    const answer = await get(KEYS, {});
    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.length).toBeGreaterThan(COMPRESSION_MIN_BYTES);
    const list = JSON.parse(plain.toString()) as { data: { name: string }[] };
    expect(list.data.filter((key) => key.name.startsWith('compression-key-'))).toHaveLength(30);
  });

  it('gzips it for Accept-Encoding: gzip, the same JSON once decoded', async () => {
    const answer = await get(KEYS, { 'accept-encoding': 'gzip' });
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers.vary).toMatch(/accept-encoding/i);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(answer.body.length).toBeLessThan(plain.length);
    expect(gunzipSync(answer.body).toString()).toBe(plain.toString());
  });

  it('prefers br when both are accepted, and follows the weights', async () => {
    const both = await get(KEYS, { 'accept-encoding': 'gzip, deflate, br' });
    expect(both.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(both.body).toString()).toBe(plain.toString());
    const weighted = await get(KEYS, { 'accept-encoding': 'br;q=0.5, gzip;q=0.9' });
    expect(weighted.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(weighted.body).toString()).toBe(plain.toString());
  });

  it('leaves it alone for identity, refused encodings and an unreadable header', async () => {
    for (const accept of ['identity', 'gzip;q=0, br;q=0', 'deflate', 'gzip;q=abc', ';;,']) {
      const answer = await get(KEYS, { 'accept-encoding': accept });
      expect(answer.status, accept).toBe(200);
      expect(answer.headers['content-encoding'], accept).toBeUndefined();
      expect(answer.body.toString(), accept).toBe(plain.toString());
    }
  });

  it('leaves small answers alone', async () => {
    const answer = await get('/admin/v1/tenants/test', { 'accept-encoding': 'gzip, br' });
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBeLessThan(COMPRESSION_MIN_BYTES);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(answer.body.toString()).slug).toBe('test');
  });

  it('never compresses a stream, however it is asked', async () => {
    const pieces = Array.from({ length: 200 }, (_, i) => `piece ${i} `);
    upstream.next((_req, res) => sse(res, textChunks(pieces)));
    const response = await request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${gateway.apiKey}`,
        'content-type': 'application/json',
        'accept-encoding': 'br, gzip',
      },
      body: JSON.stringify({
        model: 'gpt-test',
        stream: true,
        messages: [{ role: 'user', content: 'long' }],
      }),
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['content-encoding']).toBeUndefined();
    const text = await response.body.text();
    expect(text.length).toBeGreaterThan(COMPRESSION_MIN_BYTES);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('answers the openai SDK with a compressed large body it decodes itself', async () => {
    const embedding = Array.from({ length: 1536 }, (_, i) => i / 1536);
    upstream.next((_req, res) =>
      json(res, 200, {
        object: 'list',
        model: 'upstream-embed',
        data: [{ object: 'embedding', index: 0, embedding }],
        usage: { prompt_tokens: 2, total_tokens: 2 },
      }),
    );
    const { data, response } = await gateway.client.embeddings
      .create({ model: 'embed-test', input: 'hello', encoding_format: 'float' })
      .withResponse();
    // fetch offers gzip (and br) on its own, and decodes what comes back.
    expect(['gzip', 'br']).toContain(response.headers.get('content-encoding'));
    expect(data.data[0]?.embedding).toEqual(embedding);
  });
});
