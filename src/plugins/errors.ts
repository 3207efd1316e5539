import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { isDatabaseGone } from '../storage/pg-errors.js';
import { drainBody } from './body-drain.js';
import { clientGone } from './response-state.js';

type ValidationItem = NonNullable<FastifyError['validation']>[number];

/** `/messages/0/role` -> `messages[0].role`, the form OpenAI uses in `param`. */
function toParam(item: ValidationItem): string | null {
  const segments = item.instancePath.split('/').filter(Boolean);
  const { missingProperty, additionalProperty } = item.params as {
    missingProperty?: unknown;
    additionalProperty?: unknown;
  };
  if (typeof missingProperty === 'string') segments.push(missingProperty);
  if (typeof additionalProperty === 'string') segments.push(additionalProperty);
  if (segments.length === 0) return null;
  return segments.reduce(
    (path, segment) =>
      /^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment,
    '',
  );
}

function validationError(error: FastifyError): GatewayError {
  const items = error.validation ?? [];
  const first = items[0];
  if (first === undefined) return new GatewayError('invalid_request');
  const param = toParam(first);
  const alternatives = items.find(
    (item) => item.keyword === 'anyOf' && item.instancePath === first.instancePath,
  );
  let message: string;
  if (first.keyword === 'required') message = `Missing required parameter: '${param}'.`;
  // OpenAI's wording for a field it does not know.
  else if (first.keyword === 'additionalProperties')
    message = `Unrecognized request argument supplied: ${param}`;
  else if (param === null)
    message =
      error.validationContext === 'body' || error.validationContext === undefined
        ? 'The request body must be a JSON object.'
        : `Invalid ${error.validationContext}.`;
  else if (alternatives) message = `Invalid type or value for '${param}'.`;
  else message = `Invalid value for '${param}': ${first.message ?? 'invalid'}.`;
  return new GatewayError('invalid_request', { message, param });
}

/** Framework errors (parsing, limits, validation) expressed in the registry's terms. */
export function toClientError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return validationError(fastifyError as FastifyError);
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('request_too_large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', {
        message: 'The request body is empty; send a JSON object.',
      });
  }
  // Nothing was written, and a retry finds the database where it is now (after a move).
  if (isDatabaseGone(error))
    return new GatewayError('service_unavailable', {
      headers: { 'retry-after': '1' },
      cause: error,
    });
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new GatewayError('invalid_request', { status });
  }
  return new GatewayError('internal_error', { cause: error });
}

export function sendError(reply: FastifyReply, error: GatewayError): FastifyReply {
  return reply
    .code(error.status)
    .headers(error.headers)
    .type('application/json')
    .send(JSON.stringify(error.toBody()));
}

/** The app's error and not-found handlers, writing OpenAI's error shape. */
export function registerErrorHandling(app: FastifyInstance): void {
  handleErrors(app, sendError);
  app.setNotFoundHandler((request, reply) => {
    const error = new GatewayError('not_found', {
      message: `Unknown request URL: ${request.method} ${request.url.split('?')[0]}.`,
    });
    request.errorCode = error.code;
    return sendError(reply, error);
  });
}

/** Writes an error response in an API's own shape. */
export type ErrorSender = (reply: FastifyReply, error: GatewayError) => FastifyReply;

/**
 * The one place errors become responses, for the app or one scope of it: the same logging
 * and error codes everywhere, the body in the shape of the scope's API (OpenAI's, or
 * Anthropic's for the Messages API). Unknown errors are logged with their stack and reach
 * the client only as a generic 500.
 */
export function handleErrors(app: FastifyInstance, send: ErrorSender): void {
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const clientError = toClientError(error);
    // A client that went away aborts its upstream call; that is its choice, not a fault,
    // and it must not flood the error log (the request line says 499 already). Only the
    // connection tells: the request stream is destroyed once its body has been read.
    if (clientError.status >= 500 && !clientGone(reply.raw))
      request.log.error({ err: error }, 'request failed');
    request.errorCode = clientError.wireCode ?? clientError.code;
    // Fastify refuses an oversized body before reading it; the rest is read first, so the
    // client, still sending, can read the 413 rather than a reset connection.
    if (clientError.code === 'request_too_large') await drainBody(request.raw);
    return send(reply, clientError);
  });
}
