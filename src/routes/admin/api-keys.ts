import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../composition/services.js';
import { type ApiKey, apiKeyJson } from '../../domain/api-key.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { grantKey, mayChangeKey, maySeeKey } from '../../services/access/key-policy.js';
import type { KeyPrincipal, KeyService } from '../../services/keys/key-service.js';
import {
  AllowedModels,
  errors,
  KeyLifecycle,
  ListOf,
  NullableTimestamp,
  Role,
  RotateKey,
  TenantParams,
} from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const CreateKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Optional({
      ...Role,
      description: "Default `member`; a member's key for itself defaults to its own role.",
    }),
    user_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    allowed_models: Type.Optional({
      ...AllowedModels,
      description:
        "The models the key may use, within its tenant's and its user's (400 otherwise). Default null: theirs; a member's key for itself defaults to the member's own models.",
    }),
    expires_at: Type.Optional(NullableTimestamp),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'ci', role: 'member', allowed_models: ['mock-chat'] }],
  },
);

const ApiKeyObject = Type.Object(
  {
    object: Type.Literal('api_key'),
    id: Type.String(),
    name: Type.String(),
    display_prefix: Type.String({ description: '`llmb_` and 8 characters, to recognise a key.' }),
    role: Role,
    user_id: Type.Union([Type.String(), Type.Null()]),
    allowed_models: {
      ...AllowedModels,
      description:
        "The key's own list. What it may use is the intersection with its tenant's and its user's lists.",
    },
    ...KeyLifecycle,
  },
  {
    examples: [
      {
        object: 'api_key',
        id: 'key_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        name: 'ci',
        display_prefix: 'llmb_AbCd1234',
        role: 'member',
        user_id: null,
        allowed_models: ['mock-chat'],
        expires_at: null,
        revoked_at: null,
        previous_valid_until: null,
        last_used_at: null,
        created_at: '2026-11-26T12:00:00.000Z',
        secret: 'llmb_AbCd1234...',
      },
    ],
  },
);

const KeyParams = Type.Object({ ...TenantParams.properties, key: Type.String() });
const tags = ['API keys'];

/** The key as the API shows it; the secret only in the answers to create and rotate. */
function keyJson(key: ApiKey, secret?: string) {
  return { ...apiKeyJson(key), ...(secret !== undefined && { secret }) };
}

function principalOf(request: FastifyRequest): KeyPrincipal {
  if (request.principal === null) throw new Error('admin route without a resolved key');
  return request.principal;
}

/** The key in the URL, if the caller may act on it; otherwise as if it did not exist. */
async function keyFor(
  request: FastifyRequest,
  keyId: string,
  keys: KeyService,
  allowed: (principal: KeyPrincipal, key: ApiKey) => boolean,
): Promise<ApiKey> {
  const key = await keys.get(tenantOf(request).id, keyId);
  if (!allowed(principalOf(request), key))
    throw new GatewayError('key_not_found', { param: 'key' });
  return key;
}

/**
 * /admin/v1/tenants/{tenant}/api-keys: a tenant's owners and admins manage its keys; members
 * their own (see key-policy.ts).
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { keys }) => {
  app.post(
    '',
    {
      config: { action: 'keys:write_own' },
      schema: {
        tags,
        summary: 'Create a key; its secret is in this response only.',
        params: TenantParams,
        body: CreateKey,
        response: { 201: ApiKeyObject, ...errors },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const tenant = tenantOf(request).id;
      const input = grantKey(principalOf(request), tenant, {
        name: body.name,
        role: body.role,
        userId: body.user_id,
        allowedModels: body.allowed_models,
        expiresAt: body.expires_at ? new Date(body.expires_at) : null,
      });
      const { key, secret } = await keys.create(tenant, input, actorOf(request));
      return reply.code(201).send(keyJson(key, secret));
    },
  );

  app.get(
    '',
    {
      config: { action: 'keys:read' },
      schema: {
        tags,
        summary: 'List keys, never their secrets.',
        params: TenantParams,
        response: { 200: ListOf(ApiKeyObject), ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const visible = (await keys.list(tenantOf(request).id)).filter((key) =>
        maySeeKey(principal, key),
      );
      return { object: 'list' as const, data: visible.map((key) => keyJson(key)) };
    },
  );

  app.get(
    '/:key',
    {
      config: { action: 'keys:read' },
      schema: {
        tags,
        summary: 'Get one key.',
        params: KeyParams,
        response: { 200: ApiKeyObject, ...errors },
      },
    },
    async (request) => keyJson(await keyFor(request, request.params.key, keys, maySeeKey)),
  );

  app.post(
    '/:key/rotate',
    {
      // A bare POST (no body at all) means the defaults, as `curl -X POST` sends it.
      config: { action: 'keys:write_own', optionalBody: true },
      schema: {
        tags,
        summary: 'A new secret; the old one works for grace_seconds more (default 3600).',
        params: KeyParams,
        body: RotateKey,
        response: { 200: ApiKeyObject, ...errors },
      },
    },
    async (request) => {
      const grace = request.body?.grace_seconds ?? 3600;
      const current = await keyFor(request, request.params.key, keys, mayChangeKey);
      const rotated = await keys.rotate(
        tenantOf(request).id,
        current.id,
        grace,
        new Date(),
        actorOf(request),
      );
      return keyJson(rotated.key, rotated.secret);
    },
  );

  app.delete(
    '/:key',
    {
      config: { action: 'keys:write_own' },
      schema: {
        tags,
        summary: 'Revoke a key, at once.',
        params: KeyParams,
        response: { 200: ApiKeyObject, ...errors },
      },
    },
    async (request) => {
      const current = await keyFor(request, request.params.key, keys, mayChangeKey);
      return keyJson(
        await keys.revoke(tenantOf(request).id, current.id, new Date(), actorOf(request)),
      );
    },
  );
};
