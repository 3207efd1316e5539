import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { type PlatformKey, platformKeyJson } from '../../domain/api-key.js';
import { errors, KeyLifecycle, ListOf, NullableTimestamp, RotateKey } from './schemas.js';
import { actorOf } from './tenant-scope.js';

const CreatePlatformKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    expires_at: Type.Optional(NullableTimestamp),
  },
  { additionalProperties: false, examples: [{ name: 'ops-oncall' }] },
);

const PlatformKeyObject = Type.Object(
  {
    object: Type.Literal('platform_api_key'),
    id: Type.String(),
    name: Type.String(),
    display_prefix: Type.String({ description: '`llmb_` and 8 characters, to recognise a key.' }),
    ...KeyLifecycle,
  },
  {
    examples: [
      {
        object: 'platform_api_key',
        id: 'key_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        name: 'ops-oncall',
        display_prefix: 'llmb_AbCd1234',
        expires_at: null,
        revoked_at: null,
        previous_valid_until: null,
        last_used_at: null,
        created_at: '2026-12-06T12:00:00.000Z',
        secret: 'llmb_AbCd1234...',
      },
    ],
  },
);

const KeyParams = Type.Object({ key: Type.String({ minLength: 1 }) });
const tags = ['Platform keys'];

function keyJson(key: PlatformKey, secret?: string) {
  return { ...platformKeyJson(key), ...(secret !== undefined && { secret }) };
}

/**
 * /admin/v1/platform-keys: the platform admin keys, for platform admins only; thin over the
 * PlatformKeyService the `admin-key` CLI uses, audited in the platform log with the calling
 * key (or single sign-on user) as the actor.
 */
export const platformKeyRoutes: FastifyPluginAsyncTypebox<Services> = async (
  app,
  { platformKeys },
) => {
  app.get(
    '',
    {
      config: { action: 'platform_keys:read' },
      schema: {
        tags,
        summary: 'List the platform admin keys, never their secrets.',
        response: { 200: ListOf(PlatformKeyObject), ...errors },
      },
    },
    async () => ({
      object: 'list' as const,
      data: (await platformKeys.list()).map((key) => keyJson(key)),
    }),
  );

  app.post(
    '',
    {
      config: { action: 'platform_keys:write' },
      schema: {
        tags,
        summary: 'Create a platform admin key; its secret is in this response only.',
        body: CreatePlatformKey,
        response: { 201: PlatformKeyObject, ...errors },
      },
    },
    async (request, reply) => {
      const { name, expires_at } = request.body;
      const { key, secret } = await platformKeys.create(
        { name, expiresAt: expires_at ? new Date(expires_at) : null },
        actorOf(request),
      );
      return reply.code(201).send(keyJson(key, secret));
    },
  );

  app.post(
    '/:key/rotate',
    {
      // A bare POST (no body at all) means the defaults, as `curl -X POST` sends it.
      config: { action: 'platform_keys:write', optionalBody: true },
      schema: {
        tags,
        summary: 'A new secret; the old one works for grace_seconds more (default 3600).',
        params: KeyParams,
        body: RotateKey,
        response: { 200: PlatformKeyObject, ...errors },
      },
    },
    async (request) => {
      const grace = request.body?.grace_seconds ?? 3600;
      const rotated = await platformKeys.rotate(
        request.params.key,
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
      config: { action: 'platform_keys:write' },
      schema: {
        tags,
        summary:
          'Revoke a platform admin key, at once, on every instance; the last one that still works is refused (409).',
        params: KeyParams,
        response: { 200: PlatformKeyObject, ...errors },
      },
    },
    async (request) =>
      keyJson(
        await platformKeys.revoke(request.params.key, new Date(), actorOf(request), {
          keepOne: true,
        }),
      ),
  );
};
