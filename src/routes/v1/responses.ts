import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { toChatRequest } from '../../services/responses/chat-request.js';
import { toNativeRequest } from '../../services/responses/native.js';
import { inputItems } from '../../services/responses/request.js';
import { responseShell } from '../../services/responses/response.js';
import type { ResponseOwner } from '../../services/responses/store.js';
import { newId } from '../../utils/ids.js';
import { cursorList } from '../cursor-list.js';
import { responsesFormat } from './answer-format.js';
import type { V1Deps } from './deps.js';
import { inferenceHandler } from './inference-handler.js';
import {
  createResponses,
  deleteResponses,
  getResponses,
  InputItemsQuery,
  inputItemsResponses,
  ResponseIdParams,
  ResponsesRequest,
} from './responses-schemas.js';

/** The key a response belongs to; none for a caller without a tenant key, which stores none. */
function ownerOf(request: FastifyRequest): ResponseOwner | null {
  const principal = request.principal;
  return principal?.kind === 'tenant'
    ? { tenantId: principal.tenantId, keyId: principal.keyId }
    : null;
}

/** Only a tenant key's own responses exist for it. */
function requireOwner(request: FastifyRequest, id: string, param: string): ResponseOwner {
  const owner = ownerOf(request);
  if (owner === null)
    throw new GatewayError('response_not_found', {
      message: `Response with id '${id}' not found.`,
      param,
    });
  return owner;
}

const unixNow = () => Math.floor(Date.now() / 1000);

/**
 * OpenAI's Responses API: the request, with the stored conversation it continues, becomes a
 * chat request and runs the chat route's very path (admission, routing, cache, usage); the
 * answer is written back as a `response` and, with `store`, kept in the tenant's database.
 * Registered inside the OpenAI scope: the same keys, the same error shape.
 */
export const responsesRoutes: FastifyPluginAsyncTypebox<V1Deps> = async (app, deps) => {
  const infer = inferenceHandler(deps);
  const tags = ['Responses'];

  app.post(
    '/responses',
    {
      schema: {
        operationId: 'createResponse',
        tags,
        summary: "Create a model response with OpenAI's Responses API, streaming or not.",
        body: ResponsesRequest,
        response: createResponses,
      },
    },
    async (request, reply) => {
      const body = request.body as JsonObject;
      // Bad items are refused before any lookup, and a lookup fails before any model is used.
      const input = inputItems(body.input);
      const previousId = request.body.previous_response_id;
      let history: JsonObject[] = [];
      if (typeof previousId === 'string') {
        const owner = requireOwner(request, previousId, 'previous_response_id');
        const previous = await deps.responses.conversation(owner, previousId);
        history = [...previous.inputItems, ...previous.output];
      }
      const items = [...history, ...input];
      const chat = toChatRequest(body, items);
      const owner = ownerOf(request);
      const store = body.store !== false && owner !== null;
      const shell = responseShell(newId('resp'), { ...body, store }, unixNow());
      const format = responsesFormat({
        shell,
        now: unixNow,
        finished: async (response) => {
          if (!store || owner === null) return;
          try {
            await deps.responses.put(owner, { id: String(shell.id), response, inputItems: items });
          } catch (error) {
            // A stream turns it into response.failed: the cause is only here.
            request.log.error({ err: error }, 'storing a response failed');
            throw error;
          }
        },
      });
      // Deployments whose provider speaks the Responses API get it as such (see native.ts).
      return infer('chat', chat, request, reply, format, toNativeRequest(body, items));
    },
  );

  app.get(
    '/responses/:id',
    {
      schema: {
        operationId: 'getResponse',
        tags,
        summary: 'Retrieve a stored response (one the calling key created).',
        params: ResponseIdParams,
        response: getResponses,
      },
    },
    async (request) => {
      const { id } = request.params;
      const stored = await deps.responses.get(requireOwner(request, id, 'response_id'), id);
      return stored.response as { id: string; object: 'response'; status: string };
    },
  );

  app.delete(
    '/responses/:id',
    {
      schema: {
        operationId: 'deleteResponse',
        tags,
        summary: 'Delete a stored response (one the calling key created).',
        params: ResponseIdParams,
        response: deleteResponses,
      },
    },
    async (request) => {
      const { id } = request.params;
      await deps.responses.delete(requireOwner(request, id, 'response_id'), id);
      return { id, object: 'response' as const, deleted: true as const };
    },
  );

  app.post(
    '/responses/:id/cancel',
    {
      schema: {
        operationId: 'cancelResponse',
        tags,
        summary: 'Cancel a background response: none exist here, so a stored one is refused.',
        params: ResponseIdParams,
        response: getResponses,
      },
    },
    async (request) => {
      const { id } = request.params;
      await deps.responses.get(requireOwner(request, id, 'response_id'), id);
      // Every response here ran in the foreground and is over, as OpenAI answers for those.
      throw new GatewayError('invalid_request', {
        message: 'Only responses created with background set to true can be cancelled.',
        param: 'response_id',
      });
    },
  );

  app.get(
    '/responses/:id/input_items',
    {
      schema: {
        operationId: 'listInputItems',
        tags,
        summary: "List a stored response's input items, earlier turns' items included.",
        params: ResponseIdParams,
        querystring: InputItemsQuery,
        response: inputItemsResponses,
      },
    },
    async (request) => {
      const { id } = request.params;
      const { order = 'desc', after } = request.query;
      const limit = Number(request.query.limit ?? '20');
      const stored = await deps.responses.get(requireOwner(request, id, 'response_id'), id);
      const items = order === 'asc' ? stored.inputItems : [...stored.inputItems].reverse();
      const start = after === undefined ? 0 : items.findIndex((item) => item.id === after) + 1;
      const data = items.slice(start, start + limit);
      return cursorList(data as { id: string; type: string }[], start + limit < items.length);
    },
  );
};
