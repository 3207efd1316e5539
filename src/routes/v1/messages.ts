import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../../errors/gateway-error.js';
import { apiKeyOrBearer, requireKey } from '../../plugins/auth.js';
import { handleErrors } from '../../plugins/errors.js';
import { estimatePrompt } from '../../services/inference/estimate.js';
import { anthropicErrorBody } from '../../services/messages/errors.js';
import { toChatRequest } from '../../services/messages/request.js';
import { anthropicFormat } from './answer-format.js';
import type { V1Deps } from './deps.js';
import { inferenceHandler } from './inference-handler.js';
import {
  CountTokensRequest,
  CountTokensResponse,
  MessagesRequest,
  messagesResponses,
} from './messages-schemas.js';
import { routingHints } from './routing-headers.js';

function sendAnthropicError(reply: FastifyReply, error: GatewayError): FastifyReply {
  return reply
    .code(error.status)
    .headers(error.headers)
    .type('application/json')
    .send(JSON.stringify(anthropicErrorBody(error)));
}

/** Either header carries the key (see apiKeyOrBearer). */
const KEY_HEADERS: Record<string, string[]>[] = [{ apiKeyAuth: [] }, { bearerAuth: [] }];

const stopSequences = (body: { stop_sequences?: string[] }) => body.stop_sequences ?? [];

/**
 * Anthropic's Messages API: the request becomes a chat request and runs the chat route's
 * very path (admission, routing, cache, usage), and the answer is written back in
 * Anthropic's format. Errors, those of auth included, come in Anthropic's shape.
 */
export const messagesRoutes: FastifyPluginAsyncTypebox<V1Deps> = async (app, deps) => {
  handleErrors(app, sendAnthropicError);
  // Anthropic's SDKs read the request id from this header; first, so refusals carry it too.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', request.id);
  });
  requireKey(app, deps.authenticator, () => 'inference', apiKeyOrBearer);
  const infer = inferenceHandler(deps);

  app.post(
    '/messages',
    {
      schema: {
        operationId: 'createMessage',
        tags: ['Messages'],
        summary: "Create a message with Anthropic's Messages API, streaming or not.",
        body: MessagesRequest,
        response: messagesResponses,
        security: KEY_HEADERS,
      },
    },
    (request, reply) => {
      const chat = toChatRequest(request.body);
      const format = anthropicFormat(stopSequences(request.body));
      return infer('chat', chat, request, reply, format);
    },
  );

  app.post(
    '/messages/count_tokens',
    {
      schema: {
        operationId: 'countMessageTokens',
        tags: ['Messages'],
        summary: "Count a Messages API request's input tokens, without calling a model.",
        body: CountTokensRequest,
        response: { 200: CountTokensResponse, '4xx': messagesResponses['4xx'] },
        security: KEY_HEADERS,
      },
    },
    async (request) => {
      const chat = toChatRequest(request.body);
      // The model must exist and be the caller's to use, as for /v1/messages.
      await deps.resolver.resolve('chat', chat, {
        allowed: request.principal?.allowedModels ?? null,
        maxLatencyMs: routingHints(request.headers).maxLatencyMs,
      });
      const total = await estimatePrompt('chat', chat);
      return { input_tokens: total };
    },
  );
};
