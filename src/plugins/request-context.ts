import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../services/inference/usage.js';

/** What a request did upstream, filled in by the inference routes, read by logs and metrics. */
export interface InferenceRecord {
  model: string;
  provider: string;
  stream: boolean;
  usage: Usage | null;
  timeToFirstChunkMs: number | null;
  clientAborted: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    inference: InferenceRecord | null;
    errorCode: string | null;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Keeps a caller's x-request-id when it is safe to echo and log; otherwise mints a
 * time-sortable `req_` id so log lines order by time at a glance.
 */
export function requestIdFor(header: string | string[] | undefined): string {
  if (typeof header === 'string' && REQUEST_ID.test(header)) return header;
  return `req_${Date.now().toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

export function registerRequestContext(app: FastifyInstance): void {
  app.decorateRequest('inference', null);
  app.decorateRequest('errorCode', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => logCompletion(request, reply));
}

function logCompletion(request: FastifyRequest, reply: FastifyReply): void {
  const inference = request.inference;
  const usage = inference?.usage;
  request.log.info(
    {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      latencyMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(inference && {
        model: inference.model,
        provider: inference.provider,
        stream: inference.stream,
        timeToFirstChunkMs: inference.timeToFirstChunkMs,
        clientAborted: inference.clientAborted,
      }),
      ...(usage && {
        tokens: {
          prompt: usage.promptTokens,
          completion: usage.completionTokens,
          cached: usage.cachedTokens,
          total: usage.totalTokens,
          estimated: usage.estimated,
        },
      }),
      ...(request.errorCode && { error: request.errorCode }),
    },
    'request completed',
  );
}
