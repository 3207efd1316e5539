import type { FastifyInstance } from 'fastify';

const METHODS = 'GET, POST, PUT, PATCH, DELETE';
/** What a browser asks to send when it names nothing: the key and the JSON body. */
const DEFAULT_HEADERS = 'authorization, content-type';
/** Chromium caps a cached preflight at 2 hours; longer would be ignored. */
const MAX_AGE_SECONDS = '7200';
/** The response headers a browser client may read: ids, limits and routing. */
const EXPOSED = [
  'x-request-id',
  'retry-after',
  'retry-after-ms',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'x-llm-backend-model',
  'x-llm-backend-deployment',
  'x-llm-backend-attempts',
].join(', ');

/**
 * Browsers on the given origins (exact, or `*` for any) may call the API: their preflights
 * are answered and their responses, errors included, carry the CORS headers. An origin not
 * listed is treated as if CORS were off. Never with credentials: the API takes keys in the
 * Authorization header, not cookies. With no origins, nothing is registered.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const any = origins.includes('*');
  const allowed = new Set(origins);

  app.addHook('onRequest', async (request, reply) => {
    // Caches must not serve one origin's answer to another, allowed or not.
    if (!any) reply.header('vary', 'origin');
    const origin = request.headers.origin;
    if (origin === undefined || !(any || allowed.has(origin))) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    const preflight =
      request.method === 'OPTIONS' &&
      request.headers['access-control-request-method'] !== undefined;
    if (!preflight) {
      reply.header('access-control-expose-headers', EXPOSED);
      return;
    }
    // Any header the page asks for: the origin is trusted, and the SDKs send their own.
    const asked = request.headers['access-control-request-headers'];
    reply
      .code(204)
      .header('access-control-allow-methods', METHODS)
      .header('access-control-allow-headers', asked || DEFAULT_HEADERS)
      .header('access-control-max-age', MAX_AGE_SECONDS)
      .send();
    return reply;
  });
}
