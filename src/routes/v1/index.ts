import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requireKey } from '../../plugins/auth.js';
import { readOnly } from '../../plugins/session-auth.js';
import { batchesRoutes } from './batches.js';
import type { V1Deps } from './deps.js';
import { filesRoutes } from './files.js';
import { inferenceHandler } from './inference-handler.js';
import { messagesRoutes } from './messages.js';
import { responsesRoutes } from './responses.js';
import {
  ChatCompletionRequest,
  CompletionRequest,
  EmbeddingRequest,
  ErrorResponse,
  inferenceResponses,
  ModelList,
  ModelObject,
} from './schemas.js';

/**
 * The data plane: OpenAI's API and Anthropic's Messages API, each in a scope of its own
 * (their keys come in different headers, their errors in different shapes). Every route
 * needs a tenant API key.
 */
export const v1Routes: FastifyPluginAsyncTypebox<V1Deps> = async (app, options) => {
  // The scopes inherit this one's prefix: given again, it would be added twice.
  const { prefix: _prefix, ...deps } = options as V1Deps & { prefix?: string };
  await app.register(openAIRoutes, deps);
  await app.register(messagesRoutes, deps);
};

const openAIRoutes: FastifyPluginAsyncTypebox<V1Deps> = async (app, deps) => {
  requireKey(
    app,
    deps.authenticator,
    (method) => (method === 'GET' ? 'models:read' : 'inference'),
    undefined,
    deps.sessions && readOnly(deps.sessions, ['/v1/models']),
  );
  const infer = inferenceHandler(deps);
  await app.register(responsesRoutes, deps);
  await app.register(filesRoutes, deps);
  await app.register(batchesRoutes, deps);

  app.post(
    '/chat/completions',
    {
      schema: {
        operationId: 'createChatCompletion',
        tags: ['Chat'],
        summary: 'Create a chat completion, streaming or not.',
        body: ChatCompletionRequest,
        response: inferenceResponses,
      },
    },
    (request, reply) => infer('chat', request.body, request, reply),
  );

  app.post(
    '/completions',
    {
      schema: {
        operationId: 'createCompletion',
        tags: ['Completions'],
        summary: 'Create a (legacy) text completion, streaming or not.',
        body: CompletionRequest,
        response: inferenceResponses,
      },
    },
    (request, reply) => infer('completions', request.body, request, reply),
  );

  app.post(
    '/embeddings',
    {
      schema: {
        operationId: 'createEmbedding',
        tags: ['Embeddings'],
        summary: 'Create embedding vectors for the input.',
        body: EmbeddingRequest,
        response: inferenceResponses,
      },
    },
    (request, reply) => infer('embeddings', request.body, request, reply),
  );

  app.get(
    '/models',
    {
      schema: {
        operationId: 'listModels',
        tags: ['Models'],
        summary: 'List the models clients can use.',
        response: { 200: ModelList, '4xx': ErrorResponse },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: deps.catalog.list(request.principal?.allowedModels ?? null),
    }),
  );

  // A wildcard, because model names such as `meta-llama/Llama-3.1-8B` contain slashes.
  app.get<{ Params: { '*': string } }>(
    '/models/*',
    {
      schema: {
        operationId: 'retrieveModel',
        tags: ['Models'],
        summary: 'Retrieve one model by name.',
        response: { 200: ModelObject, '4xx': ErrorResponse },
      },
    },
    async (request) =>
      deps.catalog.get(request.params['*'], request.principal?.allowedModels ?? null),
  );
};
