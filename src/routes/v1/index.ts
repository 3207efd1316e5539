import type { FastifyInstance } from 'fastify';
import { requireKey } from '../../plugins/auth.js';
import type { V1Deps } from './deps.js';
import { inferenceHandler } from './inference-handler.js';
import {
  ChatCompletionRequest,
  CompletionRequest,
  EmbeddingRequest,
  ErrorResponse,
  inferenceResponses,
  ModelList,
  ModelObject,
} from './schemas.js';

/** The OpenAI-compatible data plane: every route needs a tenant API key. */
export async function v1Routes(app: FastifyInstance, deps: V1Deps): Promise<void> {
  requireKey(app, deps.authenticator, (method) => (method === 'GET' ? 'models:read' : 'inference'));

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
    inferenceHandler(deps, 'chat'),
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
    inferenceHandler(deps, 'completions'),
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
    inferenceHandler(deps, 'embeddings'),
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
      object: 'list',
      data: deps.catalog.list(request.principal?.allowedModels ?? null),
    }),
  );

  // A wildcard, because model names such as `meta-llama/Llama-3.1-8B` contain slashes.
  app.get(
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
      deps.catalog.get(
        (request.params as { '*': string })['*'],
        request.principal?.allowedModels ?? null,
      ),
  );
}
