import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { providerKeyJson } from '../../domain/provider-key.js';
import { API_KEY_MAX } from '../../services/credentials/provider-keys.js';
import { errors, ListOf, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Actor = Type.Union([Type.String(), Type.Null()], {
  description:
    'Who did it, as the audit log names actors: `key:key_...`, `platform_key:...`, `cli:alice`.',
});

const ProviderKeyObject = Type.Object(
  {
    object: Type.Literal('provider_key'),
    provider: Type.String({ description: "The provider's id in the config file." }),
    hint: Type.String({
      description:
        "The key's last 4 characters, to tell keys apart; empty for keys under 12 characters.",
    }),
    created_at: Timestamp,
    created_by: Actor,
    updated_at: Timestamp,
    updated_by: Actor,
  },
  {
    description: "A tenant's own key for a provider. The key itself is never shown again.",
    examples: [
      {
        object: 'provider_key',
        provider: 'openai',
        hint: 'x7Qa',
        created_at: '2026-11-26T12:00:00.000Z',
        created_by: 'key:key_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        updated_at: '2026-11-26T12:00:00.000Z',
        updated_by: 'key:key_0mwxj3k2a9f1c2d3e4f5a6b7c8',
      },
    ],
  },
);

const SetProviderKey = Type.Object(
  {
    api_key: Type.String({
      minLength: 1,
      maxLength: API_KEY_MAX,
      pattern: '^[\\x21-\\x7e]+$',
      description:
        "The tenant's key for the provider: printable ASCII, no spaces. Stored sealed, never shown again.",
    }),
  },
  { additionalProperties: false, examples: [{ api_key: 'sk-...' }] },
);

const ProviderParams = Type.Object({
  ...TenantParams.properties,
  provider: Type.String({ description: "The provider's id in the config file." }),
});
const tags = ['Provider keys'];

/**
 * /admin/v1/tenants/{tenant}/provider-keys: the tenant's own keys for providers that allow
 * them (`tenant_keys: true`), used instead of the platform's. Written, never read back.
 */
export const providerKeyRoutes: FastifyPluginAsyncTypebox<Services> = async (
  app,
  { providerKeys },
) => {
  app.get(
    '',
    {
      config: { action: 'provider_keys:read' },
      schema: {
        tags,
        summary: "List the tenant's provider keys: provider, hint and times, never the keys.",
        params: TenantParams,
        response: { 200: ListOf(ProviderKeyObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await providerKeys.list(tenantOf(request).id)).map(providerKeyJson),
    }),
  );

  app.put(
    '/:provider',
    {
      config: { action: 'provider_keys:write' },
      schema: {
        tags,
        summary: "Set the tenant's key for a provider, replacing any.",
        description:
          'Creates (201) or replaces (200) the key. The provider must allow tenant keys (`tenant_keys: true` in the config file): an unknown provider is 404 `provider_not_found`, one that does not allow them 400 `invalid_request`. The key is in no answer, log or audit entry.',
        params: ProviderParams,
        body: SetProviderKey,
        response: { 200: ProviderKeyObject, 201: ProviderKeyObject, ...errors },
      },
    },
    async (request, reply) => {
      const { key, created } = await providerKeys.set(
        tenantOf(request).id,
        request.params.provider,
        request.body.api_key,
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(providerKeyJson(key));
    },
  );

  app.delete(
    '/:provider',
    {
      config: { action: 'provider_keys:write' },
      schema: {
        tags,
        summary: "Remove the tenant's key for a provider: the platform's key is used again.",
        params: ProviderParams,
        response: { 200: ProviderKeyObject, ...errors },
      },
    },
    async (request) => {
      const tenant = tenantOf(request).id;
      const key = await providerKeys.delete(tenant, request.params.provider, actorOf(request));
      return providerKeyJson(key);
    },
  );
};
