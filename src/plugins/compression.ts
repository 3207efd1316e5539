import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply } from 'fastify';

export type Encoding = 'br' | 'gzip';

/**
 * Below this, compressing costs more (CPU, and a header or two) than the bytes it saves;
 * typical answers (a chat completion, a single admin object) stay under it.
 */
export const COMPRESSION_MIN_BYTES = 1024;

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** Fast settings: a list is compressed while its client waits, not archived. */
const compress: Record<Encoding, (body: Buffer) => Promise<Buffer>> = {
  br: (body) =>
    brotli(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 4,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
  gzip: (body) => gzipped(body, { level: 6 }),
};

/**
 * The encoding `Accept-Encoding` prefers among the two offered: the highest weight wins, br
 * before gzip on a tie; `*` stands for either one not named; q=0 refuses. Null: none
 * acceptable (or a header that cannot be read), so the answer goes as it is.
 */
export function chooseEncoding(header: string | undefined): Encoding | null {
  if (header === undefined || header === '') return null;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    if (name === '') continue;
    const q = params.find((param) => param.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (!Number.isFinite(weight) || weight < 0 || weight > 1) continue;
    weights.set(name, weight);
  }
  const weightOf = (encoding: Encoding) => weights.get(encoding) ?? weights.get('*') ?? 0;
  const best = (['br', 'gzip'] as const).reduce((a, b) => (weightOf(b) > weightOf(a) ? b : a));
  return weightOf(best) > 0 ? best : null;
}

function addVary(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  const current = typeof vary === 'string' ? vary : Array.isArray(vary) ? vary.join(', ') : '';
  if (
    current.split(',').some((name) => ['accept-encoding', '*'].includes(name.trim().toLowerCase()))
  )
    return;
  reply.header('vary', current === '' ? 'Accept-Encoding' : `${current}, Accept-Encoding`);
}

/**
 * Compresses whole answers (admin lists, large JSON, the OpenAPI document) with gzip or br,
 * as the client accepts. Streams are never compressed: an SSE event must reach the client
 * the moment it is written, and a compressor would hold it back until its buffer fills.
 * Compressing in one piece after the body is complete keeps it off the streaming path.
 */
export function registerCompression(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    if (request.method === 'HEAD' || reply.statusCode === 204 || reply.statusCode === 304)
      return payload;
    if (reply.hasHeader('content-encoding')) return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/event-stream')) return payload;
    // Whether it is compressed depends on the request's Accept-Encoding: caches must know.
    addVary(reply);
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length < COMPRESSION_MIN_BYTES) return payload;
    const encoding = chooseEncoding(request.headers['accept-encoding']);
    if (encoding === null) return payload;
    const compressed = await compress[encoding](body);
    reply.header('content-encoding', encoding);
    // Fastify sets the length of what is returned here, unless a route had set its own.
    reply.removeHeader('content-length');
    return compressed;
  });
}
