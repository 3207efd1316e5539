import type { Kysely, Selectable } from 'kysely';
import { type CacheSettings, semanticPatchJson } from '../../domain/cache-settings.js';
import { parseSemanticCacheSettings } from '../../domain/semantic-cache-settings.js';
import type { CacheSettingsTable, TenantSchema } from '../tenant-schema.js';

function toSettings(row: Selectable<CacheSettingsTable>): CacheSettings {
  return {
    enabled: row.enabled,
    ttlSeconds: row.ttl_seconds,
    maxEntryBytes: row.max_entry_bytes,
    budgetBytes: row.budget_bytes === null ? null : Number(row.budget_bytes),
    allowNondeterministic: row.allow_nondeterministic,
    semantic: semanticOf(row.semantic),
    updatedAt: new Date(row.updated_at),
  };
}

/** Checked when written; a stored value that no longer reads (a field removed) is none. */
function semanticOf(raw: unknown): CacheSettings['semantic'] {
  if (raw === null || raw === undefined) return null;
  const parsed = parseSemanticCacheSettings(typeof raw === 'string' ? JSON.parse(raw) : raw);
  return parsed.ok ? parsed.value : null;
}

/** A tenant's response cache settings: one row, in its own database. */
export class CacheSettingsRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async get(): Promise<CacheSettings | null> {
    const row = await this.db.selectFrom('cache_settings').selectAll().executeTakeFirst();
    return row === undefined ? null : toSettings(row);
  }

  async put(settings: Omit<CacheSettings, 'updatedAt'>, now = new Date()): Promise<CacheSettings> {
    const values = {
      enabled: settings.enabled,
      ttl_seconds: settings.ttlSeconds,
      max_entry_bytes: settings.maxEntryBytes,
      budget_bytes: settings.budgetBytes,
      allow_nondeterministic: settings.allowNondeterministic,
      semantic:
        settings.semantic === null ? null : JSON.stringify(semanticPatchJson(settings.semantic)),
      updated_at: now,
    };
    const row = await this.db
      .insertInto('cache_settings')
      .values(values)
      .onConflict((conflict) => conflict.column('id').doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toSettings(row);
  }
}
