import type { Kysely } from 'kysely';
import type { Webhook, WebhookDelivery } from '../../domain/webhook.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { WebhookDeliveryRepository } from '../../storage/repositories/webhook-deliveries.js';
import { type SealedSecrets, WebhookRepository } from '../../storage/repositories/webhooks.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { DueEntry, DueIndex } from './due-index.js';
import { retryDelayMs } from './retry-schedule.js';

/** A delivery this dispatcher holds the lease of, with what it needs to send it. */
export interface ClaimedDelivery {
  entry: DueEntry;
  db: Kysely<TenantSchema>;
  delivery: WebhookDelivery;
  webhook: Webhook;
  /** The webhook's sealed signing secrets. */
  secrets: SealedSecrets;
}

export interface AttemptOutcome {
  at: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

const isGone = (error: unknown) =>
  error instanceof GatewayError && error.code === 'tenant_not_found';

/**
 * The database side of sending: a delivery is claimed by moving its next attempt a lease
 * ahead (so the row itself says it is taken, whatever the due index says), and each attempt
 * is recorded with the delivery's new state in one transaction.
 */
export class DeliveryAttempts {
  constructor(
    private readonly options: {
      tenants: TenantService;
      due: DueIndex;
      retryBaseMs: number;
      /** Told of each attempt's time and outcome (for the metrics). */
      onAttempt?: (seconds: number, outcome: 'delivered' | 'failed') => void;
    },
  ) {}

  /** The delivery, if it is still due and now ours; otherwise the index is put right. */
  async claim(entry: DueEntry, now: Date, leaseMs: number): Promise<ClaimedDelivery | null> {
    const { tenants, due } = this.options;
    let db: Kysely<TenantSchema>;
    try {
      // A tenant being deleted is gone: its deliveries are never sent.
      ({ db } = await tenants.open(entry.tenantId));
    } catch (error) {
      if (!isGone(error)) throw error;
      await due.remove(entry);
      return null;
    }
    const deliveries = new WebhookDeliveryRepository(db);
    const until = new Date(now.getTime() + leaseMs);
    const delivery = await deliveries.lease(entry.deliveryId, now, until);
    if (delivery === null) return this.settle(deliveries, entry);
    const stored = await new WebhookRepository(db).findWithSecrets(delivery.webhookId);
    if (stored !== null && stored.webhook.status === 'active')
      return { entry, db, delivery, ...stored };
    // A disabled endpoint gets nothing: its pending deliveries end, to be redelivered later.
    await deliveries.settle(entry.deliveryId, 'failed', null, now);
    await due.remove(entry);
    return null;
  }

  /** Records an attempt; a failure is retried after the backoff, or ends the delivery. */
  async record(claimed: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { entry, db } = claimed;
    const succeeded =
      outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    this.options.onAttempt?.(outcome.durationMs / 1000, succeeded ? 'delivered' : 'failed');
    const next = await db.transaction().execute(async (trx) => {
      const deliveries = new WebhookDeliveryRepository(trx);
      const attempts = await deliveries.addAttempt(entry.deliveryId, {
        id: newId('att'),
        ...outcome,
      });
      if (attempts === null) return null;
      const delay = succeeded ? null : retryDelayMs(attempts, this.options.retryBaseMs);
      const nextAt = delay === null ? null : new Date(Date.now() + delay);
      const status = succeeded ? 'succeeded' : nextAt === null ? 'failed' : 'pending';
      await deliveries.settle(entry.deliveryId, status, nextAt);
      return nextAt;
    });
    if (next === null) await this.options.due.remove(entry);
    else await this.options.due.schedule([{ ...entry, at: next }]);
  }

  /** Not claimable: pending for later (schedule it then), or over (forget it). */
  private async settle(deliveries: WebhookDeliveryRepository, entry: DueEntry): Promise<null> {
    const state = await deliveries.due(entry.deliveryId);
    if (state?.status === 'pending' && state.nextAttemptAt !== null)
      await this.options.due.schedule([{ ...entry, at: state.nextAttemptAt }]);
    else await this.options.due.remove(entry);
    return null;
  }
}
