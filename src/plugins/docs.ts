import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** OpenAPI generated from the route schemas: JSON at /openapi.json, Swagger UI at /docs. */
export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    // Model names may contain slashes, so the route is a wildcard; the document names it.
    transform: ({ schema, url }) =>
      url === '/v1/models/*'
        ? {
            url: '/v1/models/{model}',
            schema: {
              ...schema,
              params: {
                type: 'object',
                properties: {
                  model: { type: 'string', description: 'The model name; may contain slashes.' },
                },
                required: ['model'],
              },
            },
          }
        : { schema, url },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'llm-backend',
        description:
          "OpenAI-compatible, multi-tenant LLM backend, with OpenAI's Responses API (/v1/responses) on any model; also Anthropic's Messages API (/v1/messages).",
        version,
        license: { name: 'MIT', identifier: 'MIT' },
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          // The Messages API takes the key where Anthropic's SDKs send it, too.
          apiKeyAuth: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
