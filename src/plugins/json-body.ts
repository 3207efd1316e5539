import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses JSON bodies from raw bytes: the default parser decodes leniently, which would let
 * invalid UTF-8 through as replacement characters and change what reaches the upstream.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  // Only JSON is accepted; anything else (text/plain included) is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    // A DELETE carries no body; clients that always send the JSON content type (curl
    // wrappers, SDKs) must not be refused for the empty one.
    if (bytes.length === 0 && request.method === 'DELETE') {
      done(null, undefined);
      return;
    }
    if (bytes.length === 0) {
      done(
        new GatewayError('invalid_json', {
          message: 'The request body is empty; send a JSON object.',
        }),
      );
      return;
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      done(new GatewayError('invalid_encoding'));
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new GatewayError('invalid_json'));
    }
  });
}
