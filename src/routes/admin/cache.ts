import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { MAX_ENTRY_BYTES, MAX_TTL_SECONDS } from '../../config/cache.js';
import { cacheSettingsJson } from '../../domain/cache-settings.js';
import { MAX_BUDGET_BYTES } from '../../services/cache/cache-settings.js';
import { SemanticSettingsSchema } from '../../services/cache/semantic-settings-check.js';
import { errors, NullableTimestamp, TenantParams } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const orNull = <T extends ReturnType<typeof Type.Integer> | ReturnType<typeof Type.Boolean>>(
  schema: T,
  description: string,
) => Type.Union([schema, Type.Null()], { description });

const settingsFields = {
  enabled: orNull(
    Type.Boolean(),
    "Cache this tenant's answers; null: as each model's configuration says.",
  ),
  ttl_seconds: orNull(
    Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS }),
    "An entry's lifetime in seconds, within each model's `max_ttl_seconds`; null: the model's.",
  ),
  max_entry_bytes: orNull(
    Type.Integer({ minimum: 1, maximum: MAX_ENTRY_BYTES }),
    'Answers larger than this many bytes (JSON) are not stored; null: the model’s setting.',
  ),
  budget_bytes: orNull(
    Type.Integer({ minimum: 1, maximum: MAX_BUDGET_BYTES }),
    "Bytes of entries the tenant's cache may hold; the oldest go first. Null: the platform's default.",
  ),
  allow_nondeterministic: orNull(
    Type.Boolean(),
    'Also cache requests that may answer differently each time (temperature above 0 or absent, n > 1); null: the model’s setting.',
  ),
};

const semanticDescription =
  "The semantic cache's settings for this tenant, over each model's: any of `enabled`, `threshold`, `embedding_model`, `ttl_seconds`, `max_entries` (see docs/semantic-cache.md). Enabling it names an `embedding_model`. Null: the models' settings.";

const PutSettings = Type.Partial(
  Type.Object({
    ...settingsFields,
    // Checked by the service, whose messages name the field (`semantic.threshold`).
    semantic: Type.Unknown({ description: semanticDescription }),
  }),
  {
    additionalProperties: false,
    description: 'Every setting at once: a field left out is null (the default applies).',
    examples: [
      {
        enabled: true,
        ttl_seconds: 600,
        budget_bytes: 52_428_800,
        semantic: { enabled: true, threshold: 0.95, embedding_model: 'text-embedding-3-small' },
      },
    ],
  },
);

const SettingsObject = Type.Object(
  {
    object: Type.Literal('cache_settings'),
    ...settingsFields,
    semantic: Type.Union([SemanticSettingsSchema, Type.Null()], {
      description: semanticDescription,
    }),
    updated_at: NullableTimestamp,
  },
  {
    examples: [
      {
        object: 'cache_settings',
        enabled: true,
        ttl_seconds: 600,
        max_entry_bytes: null,
        budget_bytes: 52_428_800,
        allow_nondeterministic: null,
        semantic: { enabled: true, threshold: 0.95, embedding_model: 'text-embedding-3-small' },
        updated_at: '2026-12-01T12:00:00.000Z',
      },
    ],
  },
);

const StatsObject = Type.Object({
  object: Type.Literal('cache_stats'),
  entries: Type.Integer({ description: 'Entries stored and not expired.' }),
  bytes: Type.Integer({ description: 'Bytes they hold, as the budget counts them.' }),
  budget_bytes: Type.Integer({ description: 'The most the cache may hold.' }),
  hits: Type.Integer({ description: 'Lookups answered from the cache since the last purge.' }),
  misses: Type.Integer({ description: 'Lookups that found nothing since the last purge.' }),
  semantic_entries: Type.Integer({
    description: "Semantic cache entries in the tenant's database (0 without pgvector).",
  }),
  semantic_bytes: Type.Integer({ description: 'Bytes of answers they hold.' }),
});

const PurgedObject = Type.Object({
  object: Type.Literal('cache_purge'),
  entries: Type.Integer({ description: 'Entries dropped.' }),
  bytes: Type.Integer({ description: 'Bytes they held.' }),
  semantic_entries: Type.Integer({ description: 'Semantic cache entries dropped.' }),
});

const tags = ['Response cache'];

/** /admin/v1/tenants/{tenant}/cache: the tenant's response cache settings, stats and purge. */
export const cacheRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { cacheSettings }) => {
  app.get(
    '',
    {
      config: { action: 'limits:read' },
      schema: {
        tags,
        summary: "The tenant's response cache settings.",
        params: TenantParams,
        response: { 200: SettingsObject, ...errors },
      },
    },
    async (request) => cacheSettingsJson(await cacheSettings.get(tenantOf(request).id)),
  );

  app.put(
    '',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: "Replace the tenant's response cache settings.",
        description:
          'Fields left out or null follow the defaults: the model’s `cache` in the config file, then the file’s `cache` section. Audited; raises `cache.settings_updated`.',
        params: TenantParams,
        body: PutSettings,
        response: { 200: SettingsObject, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      const settings = await cacheSettings.set(
        tenantOf(request).id,
        {
          enabled: body.enabled ?? null,
          ttlSeconds: body.ttl_seconds ?? null,
          maxEntryBytes: body.max_entry_bytes ?? null,
          budgetBytes: body.budget_bytes ?? null,
          allowNondeterministic: body.allow_nondeterministic ?? null,
          semantic: body.semantic ?? null,
        },
        actorOf(request),
      );
      return cacheSettingsJson(settings);
    },
  );

  app.get(
    '/stats',
    {
      config: { action: 'limits:read' },
      schema: {
        tags,
        summary: "What the tenant's response cache holds.",
        params: TenantParams,
        response: { 200: StatsObject, ...errors },
      },
    },
    async (request) => {
      const stats = await cacheSettings.stats(tenantOf(request).id);
      return {
        object: 'cache_stats' as const,
        entries: stats.entries,
        bytes: stats.bytes,
        budget_bytes: stats.budgetBytes,
        hits: stats.hits,
        misses: stats.misses,
        semantic_entries: stats.semantic.entries,
        semantic_bytes: stats.semantic.bytes,
      };
    },
  );

  app.delete(
    '',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: "Empty the tenant's response cache.",
        description: 'Audited (`cache.purge`); raises `cache.purged`. The settings stay.',
        params: TenantParams,
        response: { 200: PurgedObject, ...errors },
      },
    },
    async (request) => {
      const purged = await cacheSettings.purge(tenantOf(request).id, actorOf(request));
      const { entries, bytes, semanticEntries } = purged;
      return {
        object: 'cache_purge' as const,
        entries,
        bytes,
        semantic_entries: semanticEntries,
      };
    },
  );
};
