import type { FastifyInstance } from 'fastify';

/**
 * Headers no API response needs to go without: browsers must not sniff a JSON error into
 * HTML, frame a page of ours, or leak our URLs in a Referer. Set as the request arrives, so
 * error answers and streams carry them too.
 */
const ALWAYS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/**
 * Only over HTTPS (directly, or as a trusted proxy's X-Forwarded-Proto says): sent over plain
 * HTTP it is ignored, and a local setup must stay reachable without TLS. No includeSubDomains:
 * the gateway does not speak for the rest of its domain.
 */
const HSTS = 'max-age=31536000';

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(ALWAYS);
    // request.protocol believes X-Forwarded-Proto only from TRUST_PROXY's proxies.
    if (request.protocol === 'https') reply.header('strict-transport-security', HSTS);
    done();
  });
}
