import type { Kysely } from 'kysely';
import { MAX_ENTRY_BYTES, MAX_TTL_SECONDS } from '../../config/cache.js';
import {
  CACHE_SETTINGS,
  type CacheSettings,
  NO_CACHE_SETTINGS,
  semanticPatchJson,
} from '../../domain/cache-settings.js';
import type { EntityKind } from '../../domain/entity.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { CacheSettingsRepository } from '../../storage/repositories/cache-settings.js';
import {
  SemanticCacheRepository,
  type SemanticCacheStats,
} from '../../storage/repositories/semantic-cache.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { withDeadline } from '../../utils/deadline.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { EventPublisher } from '../events/publisher.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkSemanticSettings } from './semantic-settings-check.js';
import type { CacheStats, ResponseStore } from './store.js';

/** `semantic` in its wire form (`{ enabled, threshold, ... }`), checked here; absent: null. */
export type CacheSettingsInput = Omit<CacheSettings, 'updatedAt' | 'semantic'> & {
  semantic?: unknown;
};

/** The most one tenant's cache may hold: 1 TiB, far beyond any Redis, within a bigint. */
export const MAX_BUDGET_BYTES = 1024 ** 4;

export interface CacheSettingsServiceOptions {
  tenants: TenantService;
  changes: ChangeRecorder;
  publisher: Pick<EventPublisher, 'publish'>;
  store: ResponseStore;
  /** The budget of a tenant that sets none. */
  defaultBudgetBytes: number;
  /** The models, to check the semantic cache's embedding model when it is set. */
  catalog: Pick<ModelCatalog, 'resolve'>;
}

/** What a purge dropped, as its audit entry keeps it. */
interface Purged {
  entries: number;
  bytes: number;
  /** Semantic cache entries dropped from the tenant's database. */
  semanticEntries: number;
}

/** The semantic cache's entries, in the tenant's database; none where pgvector is missing. */
async function semanticStats(db: Kysely<TenantSchema>): Promise<SemanticCacheStats> {
  const repository = new SemanticCacheRepository(db);
  return (await repository.prepare()) ? repository.stats() : { entries: 0, bytes: 0 };
}

async function purgeSemantic(db: Kysely<TenantSchema>): Promise<number> {
  const repository = new SemanticCacheRepository(db);
  return (await repository.prepare()) ? repository.purgeAll() : 0;
}

const PURGE: EntityKind<Purged> = {
  object: 'cache',
  id: () => 'cache',
  json: (purged) => ({
    object: 'cache',
    entries: purged.entries,
    bytes: purged.bytes,
    semantic_entries: purged.semanticEntries,
  }),
};

/** How long an admin call waits for the store before it says so. */
const STORE_DEADLINE_MS = 5000;

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

function checkedWhole(value: number | null, param: string, max: number): number | null {
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw invalid(`${param} must be a whole number from 1 to ${max}, or null.`, param);
  return value;
}

/** Inputs also come without HTTP's schema (the CLI, tests): checked here, once. */
function checked(
  input: CacheSettingsInput,
  catalog: Pick<ModelCatalog, 'resolve'>,
): Omit<CacheSettings, 'updatedAt'> {
  for (const param of ['enabled', 'allowNondeterministic'] as const) {
    const value = input[param];
    if (value !== null && typeof value !== 'boolean')
      throw invalid(`${param} must be true, false or null.`, param);
  }
  return {
    enabled: input.enabled,
    ttlSeconds: checkedWhole(input.ttlSeconds, 'ttl_seconds', MAX_TTL_SECONDS),
    maxEntryBytes: checkedWhole(input.maxEntryBytes, 'max_entry_bytes', MAX_ENTRY_BYTES),
    budgetBytes: checkedWhole(input.budgetBytes, 'budget_bytes', MAX_BUDGET_BYTES),
    allowNondeterministic: input.allowNondeterministic,
    semantic:
      input.semantic === undefined || input.semantic === null
        ? null
        : checkSemanticSettings(catalog, input.semantic),
  };
}

/** The store did not answer: an admin is told, nothing is half done on our side. */
async function fromStore<T>(work: Promise<T>): Promise<T> {
  try {
    return await withDeadline(work, STORE_DEADLINE_MS);
  } catch (error) {
    throw new GatewayError('service_unavailable', {
      message: 'The response cache store is not answering right now; retry shortly.',
      cause: error,
    });
  }
}

/**
 * Each tenant's response cache settings (in its own database, changed and audited through
 * the ChangeRecorder, every instance's copy dropped at once) and its cache's contents.
 */
export class CacheSettingsService {
  constructor(private readonly options: CacheSettingsServiceOptions) {}

  async get(tenantRef: string): Promise<CacheSettings> {
    const { db } = await this.options.tenants.open(tenantRef);
    return (await new CacheSettingsRepository(db).get()) ?? NO_CACHE_SETTINGS;
  }

  /** Replaces every setting: a field given as null follows the model's and the platform's. */
  async set(
    tenantRef: string,
    input: CacheSettingsInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<CacheSettings> {
    const values = checked(input, this.options.catalog);
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'cache_settings.update',
      kind: CACHE_SETTINGS,
      write: async (trx) => {
        const settings = new CacheSettingsRepository(trx);
        const before = await settings.get();
        return { before, after: await settings.put(values) };
      },
      invalidate: () => ({ tenantId: tenant.id }),
      announce: () =>
        this.options.publisher.publish('cache.settings_updated', tenant.id, {
          enabled: values.enabled,
          ttl_seconds: values.ttlSeconds,
          max_entry_bytes: values.maxEntryBytes,
          budget_bytes: values.budgetBytes,
          allow_nondeterministic: values.allowNondeterministic,
          semantic: values.semantic === null ? null : semanticPatchJson(values.semantic),
        }),
    });
    return after ?? NO_CACHE_SETTINGS;
  }

  /** What the tenant's cache holds, and the budget it is held to. */
  async stats(
    tenantRef: string,
  ): Promise<CacheStats & { budgetBytes: number; semantic: SemanticCacheStats }> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const settings = await this.get(tenant.id);
    const stats = await fromStore(this.options.store.stats(tenant.id));
    return {
      ...stats,
      budgetBytes: settings.budgetBytes ?? this.options.defaultBudgetBytes,
      semantic: await semanticStats(db),
    };
  }

  /** Empties the tenant's cache, audited; returns what it held. */
  async purge(tenantRef: string, actor: Actor = SYSTEM_ACTOR): Promise<Purged> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { store } = this.options;
    const held = await fromStore(store.stats(tenant.id));
    const { before } = await this.options.changes.tenant(db, actor, {
      action: 'cache.purge',
      kind: PURGE,
      // The transaction's own handle: the embedded database has one connection.
      write: async (trx) => {
        const entries = await fromStore(store.purge(tenant.id));
        const semanticEntries = await purgeSemantic(trx);
        return { before: { entries, bytes: held.bytes, semanticEntries }, after: null };
      },
      announce: ({ before }) =>
        this.options.publisher.publish('cache.purged', tenant.id, {
          entries: before?.entries ?? 0,
          semantic_entries: before?.semanticEntries ?? 0,
        }),
    });
    return before ?? { entries: 0, bytes: 0, semanticEntries: 0 };
  }
}
