import { type Kysely, type Selectable, sql } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type {
  TenantSchema,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { DueEntry, DueIndex } from './due-index.js';
import { retryDelayMs } from './retry-schedule.js';

/** A delivery this dispatcher holds the lease of, with what it needs to send it. */
export interface ClaimedDelivery {
  entry: DueEntry;
  db: Kysely<TenantSchema>;
  delivery: Selectable<WebhookDeliveriesTable>;
  endpoint: Selectable<WebhookEndpointsTable>;
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
    private readonly options: { tenants: TenantService; due: DueIndex; retryBaseMs: number },
  ) {}

  /** The delivery, if it is still due and now ours; otherwise the index is put right. */
  async claim(entry: DueEntry, now: Date, leaseMs: number): Promise<ClaimedDelivery | null> {
    const { tenants, due } = this.options;
    let db: Kysely<TenantSchema>;
    try {
      const tenant = await tenants.get(entry.tenantId);
      if (tenant.status === 'deleting') throw new GatewayError('tenant_not_found');
      db = tenants.database(tenant);
    } catch (error) {
      if (!isGone(error)) throw error;
      await due.remove(entry);
      return null;
    }
    const delivery = await db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: new Date(now.getTime() + leaseMs), updated_at: now })
      .where('id', '=', entry.deliveryId)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .returningAll()
      .executeTakeFirst();
    if (delivery === undefined) return this.settle(db, entry);
    const endpoint = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', delivery.endpoint_id)
      .executeTakeFirst();
    if (endpoint !== undefined && endpoint.status === 'active')
      return { entry, db, delivery, endpoint };
    // A disabled endpoint gets nothing: its pending deliveries end, to be redelivered later.
    await db
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', next_attempt_at: null, updated_at: now })
      .where('id', '=', entry.deliveryId)
      .execute();
    await due.remove(entry);
    return null;
  }

  /** Records an attempt; a failure is retried after the backoff, or ends the delivery. */
  async record(claimed: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { entry, db } = claimed;
    const succeeded =
      outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const next = await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values({
          id: newId('att'),
          delivery_id: entry.deliveryId,
          at: outcome.at,
          status_code: outcome.statusCode,
          error: outcome.error,
          duration_ms: Math.round(outcome.durationMs),
        })
        .execute();
      // Counted in SQL: a redelivery that reset the round meanwhile is not undone.
      const row = await trx
        .updateTable('webhook_deliveries')
        .set({ attempt_count: sql`attempt_count + 1`, last_attempt_at: outcome.at })
        .where('id', '=', entry.deliveryId)
        .returning(['attempt_count'])
        .executeTakeFirst();
      if (row === undefined) return null;
      const delay = succeeded ? null : retryDelayMs(row.attempt_count, this.options.retryBaseMs);
      const nextAt = delay === null ? null : new Date(Date.now() + delay);
      await trx
        .updateTable('webhook_deliveries')
        .set({
          status: succeeded ? 'succeeded' : nextAt === null ? 'failed' : 'pending',
          next_attempt_at: nextAt,
          updated_at: new Date(),
        })
        .where('id', '=', entry.deliveryId)
        .execute();
      return nextAt;
    });
    if (next === null) await this.options.due.remove(entry);
    else await this.options.due.schedule([{ ...entry, at: next }]);
  }

  /** Not claimable: pending for later (schedule it then), or over (forget it). */
  private async settle(db: Kysely<TenantSchema>, entry: DueEntry): Promise<null> {
    const row = await db
      .selectFrom('webhook_deliveries')
      .select(['status', 'next_attempt_at'])
      .where('id', '=', entry.deliveryId)
      .executeTakeFirst();
    if (row?.status === 'pending' && row.next_attempt_at !== null)
      await this.options.due.schedule([{ ...entry, at: new Date(row.next_attempt_at) }]);
    else await this.options.due.remove(entry);
    return null;
  }
}
