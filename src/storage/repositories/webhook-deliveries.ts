import { type Kysely, type Selectable, sql } from 'kysely';
import type {
  AttemptedDelivery,
  DeliveryPayload,
  DeliveryStatus,
  WebhookAttempt,
  WebhookDelivery,
} from '../../domain/webhook.js';
import type {
  TenantSchema,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
} from '../tenant-schema.js';

export interface NewDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  payload: DeliveryPayload;
  nextAttemptAt: Date;
}

export interface DeliveryPageQuery {
  limit: number;
  /** The id of the last delivery of the previous page: this page holds older ones. */
  after?: string;
  status?: DeliveryStatus;
}

/** When a delivery is next due; null once it succeeded or failed. */
export interface DueDelivery {
  id: string;
  nextAttemptAt: Date | null;
}

const date = (value: Date | string | null) => (value === null ? null : new Date(value));

function toDelivery(row: Selectable<WebhookDeliveriesTable>): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    // Only ever written from a DeliveryPayload (see NewDelivery).
    payload: row.payload as unknown as DeliveryPayload,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt: date(row.next_attempt_at),
    lastAttemptAt: date(row.last_attempt_at),
    createdAt: new Date(row.created_at),
  };
}

function toAttempt(row: Selectable<WebhookAttemptsTable>): WebhookAttempt {
  return {
    id: row.id,
    at: new Date(row.at),
    statusCode: row.status_code,
    error: row.error,
    durationMs: row.duration_ms,
  };
}

const values = (delivery: NewDelivery) => ({
  id: delivery.id,
  endpoint_id: delivery.webhookId,
  event_id: delivery.eventId,
  event_type: delivery.eventType,
  payload: JSON.stringify(delivery.payload),
  next_attempt_at: delivery.nextAttemptAt,
});

/** A tenant's webhook deliveries and their attempts, in its own database. */
export class WebhookDeliveryRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async insert(delivery: NewDelivery): Promise<WebhookDelivery> {
    const row = await this.db
      .insertInto('webhook_deliveries')
      .values(values(delivery))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toDelivery(row);
  }

  /** Skips each endpoint that already has a delivery of the event: an event makes one each. */
  async insertOnce(deliveries: NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(deliveries.map(values))
      .onConflict((conflict) => conflict.columns(['endpoint_id', 'event_id']).doNothing())
      .execute();
  }

  /** The pending deliveries of one event to these endpoints. */
  async pendingOf(eventId: string, webhookIds: string[]): Promise<DueDelivery[]> {
    if (webhookIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'next_attempt_at'])
      .where('event_id', '=', eventId)
      .where('endpoint_id', 'in', webhookIds)
      .where('status', '=', 'pending')
      .execute();
    return rows.map((row) => ({ id: row.id, nextAttemptAt: date(row.next_attempt_at) }));
  }

  /** Every pending delivery of the tenant. */
  async pending(): Promise<DueDelivery[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'next_attempt_at'])
      .where('status', '=', 'pending')
      .execute();
    return rows.map((row) => ({ id: row.id, nextAttemptAt: date(row.next_attempt_at) }));
  }

  /** One page of a webhook's deliveries, newest first. */
  async page(
    webhookId: string,
    query: DeliveryPageQuery,
  ): Promise<{ data: WebhookDelivery[]; hasMore: boolean }> {
    let select = this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('endpoint_id', '=', webhookId)
      .orderBy('id', 'desc')
      .limit(query.limit + 1);
    if (query.after !== undefined) select = select.where('id', '<', query.after);
    if (query.status !== undefined) select = select.where('status', '=', query.status);
    const rows = await select.execute();
    return { data: rows.slice(0, query.limit).map(toDelivery), hasMore: rows.length > query.limit };
  }

  /** The delivery, if it belongs to that webhook. */
  async find(webhookId: string, id: string): Promise<WebhookDelivery | null> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', id)
      .where('endpoint_id', '=', webhookId)
      .executeTakeFirst();
    return row === undefined ? null : toDelivery(row);
  }

  async due(id: string): Promise<(DueDelivery & { status: DeliveryStatus }) | null> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'status', 'next_attempt_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) return null;
    return { id: row.id, status: row.status, nextAttemptAt: date(row.next_attempt_at) };
  }

  /** Pending again from `now`, with a fresh round of attempts (those made stay listed). */
  async restart(id: string, now: Date): Promise<WebhookDelivery | null> {
    const row = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempt_count: 0, next_attempt_at: now, updated_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toDelivery(row);
  }

  /**
   * Takes a due delivery by moving its next attempt to `until`, so the row itself says it is
   * taken; null when it is not pending and due (someone else took it, or it is over).
   */
  async lease(id: string, now: Date, until: Date): Promise<WebhookDelivery | null> {
    const row = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: until, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toDelivery(row);
  }

  /** Ends the delivery: `succeeded`, `failed`, or `pending` until `nextAttemptAt`. */
  async settle(
    id: string,
    status: DeliveryStatus,
    nextAttemptAt: Date | null,
    now = new Date(),
  ): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ status, next_attempt_at: nextAttemptAt, updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Adds the attempt and counts it; the round's attempts so far, null when the delivery is
   * gone. Counted in SQL, so a redelivery that reset the round meanwhile is not undone.
   */
  async addAttempt(deliveryId: string, attempt: WebhookAttempt): Promise<number | null> {
    await this.db
      .insertInto('webhook_attempts')
      .values({
        id: attempt.id,
        delivery_id: deliveryId,
        at: attempt.at,
        status_code: attempt.statusCode,
        error: attempt.error,
        duration_ms: Math.round(attempt.durationMs),
      })
      .execute();
    const row = await this.db
      .updateTable('webhook_deliveries')
      .set({ attempt_count: sql`attempt_count + 1`, last_attempt_at: attempt.at })
      .where('id', '=', deliveryId)
      .returning(['attempt_count'])
      .executeTakeFirst();
    return row?.attempt_count ?? null;
  }

  /** The delivery's attempts, oldest first. */
  async attemptsOf(deliveryId: string): Promise<WebhookAttempt[]> {
    const rows = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('delivery_id', '=', deliveryId)
      .orderBy('id')
      .execute();
    return rows.map(toAttempt);
  }

  /** The deliveries, each with its attempts, oldest first. */
  async withAttempts(deliveries: WebhookDelivery[]): Promise<AttemptedDelivery[]> {
    if (deliveries.length === 0) return [];
    const rows = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where(
        'delivery_id',
        'in',
        deliveries.map((delivery) => delivery.id),
      )
      .orderBy('id')
      .execute();
    return deliveries.map((delivery) => ({
      ...delivery,
      attempts: rows.filter((row) => row.delivery_id === delivery.id).map(toAttempt),
    }));
  }
}
