import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { type ApiKey, apiKeyJson } from '../../services/keys/key-service.js';
import type { Services } from '../../services/services.js';
import { ErrorResponse } from '../v1/schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Role = Type.Unsafe<'owner' | 'admin' | 'member' | 'viewer' | 'billing'>({
  type: 'string',
  enum: ['owner', 'admin', 'member', 'viewer', 'billing'],
});

const CreateKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Optional(Role),
    user_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    allowed_models: Type.Optional(
      Type.Union([Type.Array(Type.String(), { minItems: 1 }), Type.Null()]),
    ),
    expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  },
  { additionalProperties: false },
);
type CreateKeyBody = typeof CreateKey.static;

const Rotate = Type.Object(
  { grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })) },
  { additionalProperties: false },
);

const TenantParams = Type.Object({ tenant: Type.String() });
const KeyParams = Type.Object({ tenant: Type.String(), key: Type.String() });
const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse };
const tags = ['API keys'];

function keyJson(key: ApiKey, secret?: string) {
  return { object: 'api_key', ...apiKeyJson(key), ...(secret !== undefined && { secret }) };
}

const keyId = (request: FastifyRequest) => (request.params as { key: string }).key;

/** Members see only their own keys: the one they call with, and those of their user. */
function visibleTo(request: FastifyRequest) {
  const principal = request.principal;
  return (key: ApiKey) =>
    principal?.role !== 'member' ||
    key.id === principal.keyId ||
    (key.userId !== null && key.userId === principal.userId);
}

/** /admin/v1/tenants/{tenant}/api-keys: a tenant's owners and admins manage its keys. */
export async function apiKeyRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.post(
    '/',
    {
      config: { action: 'keys:write' },
      schema: {
        tags,
        summary: 'Create a key; its secret is in this response only.',
        params: TenantParams,
        body: CreateKey,
        response: errors,
      },
    },
    async (request, reply) => {
      const body = request.body as CreateKeyBody;
      const input = {
        name: body.name,
        role: body.role ?? 'member',
        userId: body.user_id ?? null,
        allowedModels: body.allowed_models ?? null,
        expiresAt: body.expires_at ? new Date(body.expires_at) : null,
      };
      const { key, secret } = await services.keys.create(
        tenantOf(request).id,
        input,
        actorOf(request),
      );
      return reply.code(201).send(keyJson(key, secret));
    },
  );

  app.get(
    '/',
    {
      config: { action: 'keys:read' },
      schema: {
        tags,
        summary: 'List keys, never their secrets.',
        params: TenantParams,
        response: errors,
      },
    },
    async (request) => {
      const keys = (await services.keys.list(tenantOf(request).id)).filter(visibleTo(request));
      return { object: 'list', data: keys.map((key) => keyJson(key)) };
    },
  );

  app.get(
    '/:key',
    {
      config: { action: 'keys:read' },
      schema: { tags, summary: 'Get one key.', params: KeyParams, response: errors },
    },
    async (request) => {
      const key = await services.keys.get(tenantOf(request).id, keyId(request));
      if (!visibleTo(request)(key)) throw new GatewayError('key_not_found', { param: 'key' });
      return keyJson(key);
    },
  );

  app.post(
    '/:key/rotate',
    {
      config: { action: 'keys:write' },
      schema: {
        tags,
        summary: 'A new secret; the old one works for grace_seconds more (default 3600).',
        params: KeyParams,
        body: Type.Optional(Rotate),
        response: errors,
      },
    },
    async (request) => {
      const grace = (request.body as { grace_seconds?: number } | undefined)?.grace_seconds ?? 3600;
      const { key, secret } = await services.keys.rotate(
        tenantOf(request).id,
        keyId(request),
        grace,
        new Date(),
        actorOf(request),
      );
      return keyJson(key, secret);
    },
  );

  app.delete(
    '/:key',
    {
      config: { action: 'keys:write' },
      schema: { tags, summary: 'Revoke a key, at once.', params: KeyParams, response: errors },
    },
    async (request) =>
      keyJson(
        await services.keys.revoke(
          tenantOf(request).id,
          keyId(request),
          new Date(),
          actorOf(request),
        ),
      ),
  );
}
