import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type {
  DeliveryStatus,
  TenantSchema,
  WebhookDeliveriesTable,
} from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { PlatformEvent } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { DueIndex } from './due-index.js';
import {
  deliveryJson,
  matchesEventType,
  toAttempt,
  toDelivery,
  type WebhookDelivery,
} from './webhook-model.js';
import { findRow } from './webhook-service.js';

export interface DeliveryPage {
  data: WebhookDelivery[];
  hasMore: boolean;
}

export interface DeliveryQuery {
  limit: number;
  /** The id of the last delivery of the previous page: this page holds older ones. */
  after?: string;
  status?: DeliveryStatus;
}

/** The body every receiver gets, as Standard Webhooks lays it out. */
export function payloadOf(event: Pick<PlatformEvent, 'type' | 'at' | 'data'>) {
  return { type: event.type, timestamp: event.at.toISOString(), data: event.data };
}

/**
 * A tenant's webhook deliveries: made from events (one per matching endpoint, idempotently),
 * listed with their attempts, and sent again on request. Each new or reset delivery goes into
 * the due index, so a dispatcher picks it up at once.
 */
export class DeliveryService {
  constructor(private readonly options: { tenants: TenantService; due: DueIndex }) {}

  private async database(tenantRef: string) {
    const tenant = await this.options.tenants.get(tenantRef);
    return { tenant, db: this.options.tenants.database(tenant) };
  }

  /**
   * One delivery per active endpoint of the event's tenant that asked for its type. An event
   * fanned out twice (its feed handed it out again) makes no second delivery; the pending
   * ones are scheduled again, which is harmless. Returns how many endpoints matched.
   */
  async fanOut(event: PlatformEvent & { tenantId: string }, now = new Date()): Promise<number> {
    const { tenant, db } = await this.database(event.tenantId);
    const endpoints = (
      await db
        .selectFrom('webhook_endpoints')
        .select(['id', 'event_types'])
        .where('status', '=', 'active')
        .execute()
    ).filter((endpoint) => matchesEventType(endpoint.event_types, event.type));
    if (endpoints.length === 0) return 0;
    const payload = JSON.stringify(payloadOf(event));
    await db
      .insertInto('webhook_deliveries')
      .values(
        endpoints.map((endpoint) => ({
          id: newId('dlv'),
          endpoint_id: endpoint.id,
          event_id: event.id,
          event_type: event.type,
          payload,
          next_attempt_at: now,
        })),
      )
      .onConflict((conflict) => conflict.columns(['endpoint_id', 'event_id']).doNothing())
      .execute();
    const pending = await db
      .selectFrom('webhook_deliveries')
      .select(['id', 'next_attempt_at'])
      .where('event_id', '=', event.id)
      .where(
        'endpoint_id',
        'in',
        endpoints.map((endpoint) => endpoint.id),
      )
      .where('status', '=', 'pending')
      .execute();
    await this.schedule(tenant.id, pending);
    return endpoints.length;
  }

  async list(tenantRef: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const { db } = await this.database(tenantRef);
    await findRow(db, webhookId);
    let select = db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('endpoint_id', '=', webhookId)
      .orderBy('id', 'desc')
      .limit(query.limit + 1);
    if (query.after !== undefined) select = select.where('id', '<', query.after);
    if (query.status !== undefined) select = select.where('status', '=', query.status);
    const rows = await select.execute();
    const page = rows.slice(0, query.limit);
    return { data: await withAttempts(db, page), hasMore: rows.length > query.limit };
  }

  /** Sends a delivery again from now, with a fresh round of attempts; audited. */
  async redeliver(
    tenantRef: string,
    webhookId: string,
    deliveryId: string,
    actor: Actor = SYSTEM_ACTOR,
    now = new Date(),
  ): Promise<WebhookDelivery> {
    const { tenant, db } = await this.database(tenantRef);
    await this.activeEndpoint(db, webhookId);
    const before = await findDelivery(db, webhookId, deliveryId);
    const row = await db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempt_count: 0, next_attempt_at: now, updated_at: now })
      .where('id', '=', deliveryId)
      .returningAll()
      .executeTakeFirstOrThrow();
    const [after] = await withAttempts(db, [row]);
    const summary = (delivery: WebhookDelivery) => {
      const { payload: _payload, attempts: _attempts, ...rest } = deliveryJson(delivery);
      return rest;
    };
    await appendAudit(db as Kysely<unknown>, 'audit_log', actor, {
      action: 'webhook.redelivered',
      targetType: 'webhook_delivery',
      targetId: deliveryId,
      before: summary(toDelivery(before)),
      after: summary(after as WebhookDelivery),
    });
    await this.schedule(tenant.id, [row]);
    return after as WebhookDelivery;
  }

  /** A `webhook.test` event for this endpoint alone, whatever types it asked for. */
  async sendTest(tenantRef: string, webhookId: string, now = new Date()): Promise<WebhookDelivery> {
    const { tenant, db } = await this.database(tenantRef);
    await this.activeEndpoint(db, webhookId);
    const event = {
      id: newId('evt'),
      type: 'webhook.test',
      at: now,
      data: { webhook_id: webhookId, tenant_id: tenant.id },
    };
    const row = await db
      .insertInto('webhook_deliveries')
      .values({
        id: newId('dlv'),
        endpoint_id: webhookId,
        event_id: event.id,
        event_type: event.type,
        payload: JSON.stringify(payloadOf(event)),
        next_attempt_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.schedule(tenant.id, [row]);
    return toDelivery(row);
  }

  /** Every pending delivery of a tenant, to rebuild the due index from the rows. */
  async reschedulePending(tenantRef: string): Promise<number> {
    const { tenant, db } = await this.database(tenantRef);
    const rows = await db
      .selectFrom('webhook_deliveries')
      .select(['id', 'next_attempt_at'])
      .where('status', '=', 'pending')
      .execute();
    await this.schedule(tenant.id, rows);
    return rows.length;
  }

  private async activeEndpoint(db: Kysely<TenantSchema>, webhookId: string) {
    const endpoint = await findRow(db, webhookId);
    if (endpoint.status !== 'active')
      throw new GatewayError('invalid_request', {
        message: 'The webhook is disabled; set its status to active first.',
        param: 'webhook',
      });
  }

  private async schedule(
    tenantId: string,
    rows: Pick<Selectable<WebhookDeliveriesTable>, 'id' | 'next_attempt_at'>[],
  ) {
    await this.options.due.schedule(
      rows.flatMap((row) =>
        row.next_attempt_at === null
          ? []
          : [{ tenantId, deliveryId: row.id, at: new Date(row.next_attempt_at) }],
      ),
    );
  }
}

async function findDelivery(db: Kysely<TenantSchema>, webhookId: string, deliveryId: string) {
  const row = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', deliveryId)
    .where('endpoint_id', '=', webhookId)
    .executeTakeFirst();
  if (row === undefined) throw new GatewayError('delivery_not_found', { param: 'delivery' });
  return row;
}

async function withAttempts(
  db: Kysely<TenantSchema>,
  rows: Selectable<WebhookDeliveriesTable>[],
): Promise<WebhookDelivery[]> {
  if (rows.length === 0) return [];
  const attempts = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where(
      'delivery_id',
      'in',
      rows.map((row) => row.id),
    )
    .orderBy('id')
    .execute();
  return rows.map((row) =>
    toDelivery(row, attempts.filter((attempt) => attempt.delivery_id === row.id).map(toAttempt)),
  );
}
