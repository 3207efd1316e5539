import type { Kysely } from 'kysely';
import { type SealedSecrets, WebhookRepository } from '../../storage/repositories/webhooks.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { KeyRing, RewrapResult } from './key-ring.js';

/** The purpose webhook secrets are sealed under (see webhooks/webhooks.ts). */
export const WEBHOOK_SECRETS_PURPOSE = 'webhook-secrets';

/** The secrets under the current key, or null when they already are. */
function resealed(ring: KeyRing, id: string, secrets: SealedSecrets): SealedSecrets | null {
  const current = ring.reseal(secrets.current, id);
  const previous = secrets.previous === null ? null : ring.reseal(secrets.previous, id);
  if (current === null && previous === null) return null;
  return { current: current ?? secrets.current, previous: previous ?? secrets.previous };
}

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
  const webhooks = new WebhookRepository(db);
  const result: RewrapResult = { rewrapped: 0, current: 0, failed: [] };
  for (const { id, secrets } of await webhooks.allSecrets()) {
    try {
      const next = resealed(ring, id, secrets);
      if (next === null) {
        result.current += 1;
        continue;
      }
      await webhooks.reseal(id, secrets, next);
      result.rewrapped += 1;
    } catch (error) {
      result.failed.push({ id, error: (error as Error).message });
    }
  }
  return result;
}
