import type { Kysely } from 'kysely';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { KeyRing, RewrapResult } from './key-ring.js';

/** The purpose webhook secrets are sealed under (see webhooks/webhooks.ts). */
export const WEBHOOK_SECRETS_PURPOSE = 'webhook-secrets';

/**
 * Re-seals a tenant's webhook signing secrets (current and, during a secret rotation,
 * previous) that are still under the previous master key. These are sealed directly, without
 * a data key, so the secret itself is re-encrypted; each row's id stays its context. A row
 * changed meanwhile is left alone: whatever wrote it sealed it under the current key.
 */
export async function rewrapWebhookSecrets(
  db: Kysely<TenantSchema>,
  ring: KeyRing,
): Promise<RewrapResult> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select(['id', 'secret_sealed', 'previous_secret_sealed'])
    .orderBy('id')
    .execute();
  const result: RewrapResult = { rewrapped: 0, current: 0, failed: [] };
  for (const row of rows) {
    try {
      const secret = ring.reseal(row.secret_sealed, row.id);
      const previous =
        row.previous_secret_sealed === null
          ? null
          : ring.reseal(row.previous_secret_sealed, row.id);
      if (secret === null && previous === null) {
        result.current += 1;
        continue;
      }
      let update = db
        .updateTable('webhook_endpoints')
        .set({
          secret_sealed: secret ?? row.secret_sealed,
          ...(previous !== null && { previous_secret_sealed: previous }),
        })
        .where('id', '=', row.id)
        .where('secret_sealed', '=', row.secret_sealed);
      if (row.previous_secret_sealed !== null)
        update = update.where('previous_secret_sealed', '=', row.previous_secret_sealed);
      await update.execute();
      result.rewrapped += 1;
    } catch (error) {
      result.failed.push({ id: row.id, error: (error as Error).message });
    }
  }
  return result;
}
