import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonObject } from '../../providers/types.js';
import type { InferenceService } from '../../services/inference/inference-service.js';
import type { Capability } from '../../services/inference/model-catalog.js';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Proxies such as nginx would otherwise hold chunks back.
  'x-accel-buffering': 'no',
};

/** Aborts upstream work as soon as the client's connection closes before the response ended. */
function signalForClient(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function inferenceHandler(inference: InferenceService, capability: Capability) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body as JsonObject;
    const ctx = { signal: signalForClient(reply), requestId: request.id };
    if (capability !== 'embeddings' && body.stream === true) {
      const allowed = request.principal?.allowedModels ?? null;
      const stream = await inference.stream(capability, body, ctx, allowed);
      const record = {
        model: stream.model.name,
        provider: stream.model.providerId,
        stream: true,
        usage: null,
        timeToFirstChunkMs: null,
      };
      request.inference = record;
      request.settled = stream.outcome.then((outcome) => {
        Object.assign(record, {
          usage: outcome.usage,
          timeToFirstChunkMs: outcome.timeToFirstChunkMs,
        });
        if (outcome.error) request.errorCode = outcome.error.wireCode ?? outcome.error.code;
      });
      // highWaterMark 1: pull one chunk from upstream only once the previous one was written.
      return reply.headers(SSE_HEADERS).send(Readable.from(stream.events, { highWaterMark: 1 }));
    }
    const result = await inference.complete(
      capability,
      body,
      ctx,
      request.principal?.allowedModels ?? null,
    );
    request.inference = {
      model: result.model.name,
      provider: result.model.providerId,
      stream: false,
      usage: result.usage,
      timeToFirstChunkMs: null,
    };
    // Sent as a string: the upstream's object reaches the client exactly, unknown fields too.
    return reply.type('application/json').send(JSON.stringify(result.body));
  };
}
