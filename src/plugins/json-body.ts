import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The body may be left out (an action whose fields all have defaults, such as a key
     * rotation): an empty body, with or without a JSON content type, stands for `{}`.
     */
    optionalBody?: boolean;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Clients that always send the JSON content type (curl wrappers, SDKs, the docs' own curl
 * lines) send it with no body for actions that take none; that is not a malformed body.
 */
function mayBeEmpty(request: FastifyRequest): boolean {
  const { routeOptions } = request;
  return routeOptions.config.optionalBody === true || routeOptions.schema?.body === undefined;
}

/** Gives a route that declares `optionalBody` the `{}` its schema validates when none came. */
function defaultEmptyBody(route: RouteOptions): void {
  if (route.config?.optionalBody !== true) return;
  const fill = async (request: FastifyRequest) => {
    request.body ??= {};
  };
  const hooks = route.preValidation;
  route.preValidation = hooks === undefined ? fill : [fill, ...[hooks].flat()];
}

/**
 * Parses JSON bodies from raw bytes: the default parser decodes leniently, which would let
 * invalid UTF-8 through as replacement characters and change what reaches the upstream.
 * Must be registered before the routes, for their `optionalBody` to take effect.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.addHook('onRoute', defaultEmptyBody);
  // Only JSON is accepted; anything else (text/plain included) is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0 && mayBeEmpty(request)) {
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
