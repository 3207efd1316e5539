import type { Kysely } from 'kysely';
import {
  type AttemptedDelivery,
  type DeliveryPayload,
  WEBHOOK_DELIVERY,
  type WebhookDelivery,
} from '../../domain/webhook.js';
import { GatewayError } from '../../errors/gateway-error.js';
import {
  type DeliveryPageQuery,
  type DueDelivery,
  WebhookDeliveryRepository,
} from '../../storage/repositories/webhook-deliveries.js';
import { WebhookRepository } from '../../storage/repositories/webhooks.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { EventData, EventType } from '../events/catalogue.js';
import type { PlatformEvent } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { DueIndex } from './due-index.js';
import { matchesEventType } from './event-types.js';
import { foundWebhook } from './webhook-service.js';

export type DeliveryQuery = DeliveryPageQuery;

export interface DeliveryPage {
  data: AttemptedDelivery[];
  hasMore: boolean;
}

export interface DeliveryServiceOptions {
  tenants: TenantService;
  due: DueIndex;
  /** Writes and audits each redelivery. */
  changes: ChangeRecorder;
}

/** The event `POST .../webhooks/{webhook}/test` sends, as the catalogue defines it. */
const TEST_EVENT = 'webhook.test' satisfies EventType;

/** The body every receiver gets, as Standard Webhooks lays it out. */
export function payloadOf(event: Pick<PlatformEvent, 'type' | 'at' | 'data'>): DeliveryPayload {
  return { type: event.type, timestamp: event.at.toISOString(), data: event.data };
}

const foundDelivery = (delivery: WebhookDelivery | null): WebhookDelivery => {
  if (delivery === null) throw new GatewayError('delivery_not_found', { param: 'delivery' });
  return delivery;
};

/** The webhook, if it takes deliveries: a disabled one is refused a redelivery or a test. */
async function activeWebhook(db: Kysely<TenantSchema>, webhookId: string): Promise<void> {
  const webhook = foundWebhook(await new WebhookRepository(db).find(webhookId));
  if (webhook.status !== 'active')
    throw new GatewayError('invalid_request', {
      message: 'The webhook is disabled; set its status to active first.',
      param: 'webhook',
    });
}

/**
 * A tenant's webhook deliveries: made from events (one per matching endpoint, idempotently),
 * listed with their attempts, and sent again on request. Each new or reset delivery goes into
 * the due index, so a dispatcher picks it up at once.
 */
export class DeliveryService {
  constructor(private readonly options: DeliveryServiceOptions) {}

  /**
   * One delivery per active endpoint of the event's tenant that asked for its type. An event
   * fanned out twice (its feed handed it out again) makes no second delivery; the pending
   * ones are scheduled again, which is harmless. Returns how many endpoints matched.
   */
  async fanOut(event: PlatformEvent & { tenantId: string }, now = new Date()): Promise<number> {
    const { tenant, db } = await this.options.tenants.open(event.tenantId);
    const webhooks = (await new WebhookRepository(db).active()).filter((webhook) =>
      matchesEventType(webhook.eventTypes, event.type),
    );
    if (webhooks.length === 0) return 0;
    const deliveries = new WebhookDeliveryRepository(db);
    const payload = payloadOf(event);
    await deliveries.insertOnce(
      webhooks.map((webhook) => ({
        id: newId('dlv'),
        webhookId: webhook.id,
        eventId: event.id,
        eventType: event.type,
        payload,
        nextAttemptAt: now,
      })),
    );
    const ids = webhooks.map((webhook) => webhook.id);
    await this.schedule(tenant.id, await deliveries.pendingOf(event.id, ids));
    return webhooks.length;
  }

  async list(tenantRef: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const { db } = await this.options.tenants.open(tenantRef);
    foundWebhook(await new WebhookRepository(db).find(webhookId));
    const deliveries = new WebhookDeliveryRepository(db);
    const page = await deliveries.page(webhookId, query);
    return { data: await deliveries.withAttempts(page.data), hasMore: page.hasMore };
  }

  /** Sends a delivery again from now, with a fresh round of attempts; audited. */
  async redeliver(
    tenantRef: string,
    webhookId: string,
    deliveryId: string,
    actor: Actor = SYSTEM_ACTOR,
    now = new Date(),
  ): Promise<AttemptedDelivery> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'webhook.redelivered',
      kind: WEBHOOK_DELIVERY,
      write: async (trx) => {
        await activeWebhook(trx, webhookId);
        const deliveries = new WebhookDeliveryRepository(trx);
        const before = foundDelivery(await deliveries.find(webhookId, deliveryId));
        return { before, after: foundDelivery(await deliveries.restart(deliveryId, now)) };
      },
    });
    await this.schedule(tenant.id, [after]);
    return { ...after, attempts: await new WebhookDeliveryRepository(db).attemptsOf(after.id) };
  }

  /** A `webhook.test` event for this endpoint alone, whatever types it asked for. */
  async sendTest(
    tenantRef: string,
    webhookId: string,
    now = new Date(),
  ): Promise<AttemptedDelivery> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    await activeWebhook(db, webhookId);
    const data: EventData<typeof TEST_EVENT> = { webhook_id: webhookId, tenant_id: tenant.id };
    const event = { id: newId('evt'), type: TEST_EVENT, at: now, data };
    const delivery = await new WebhookDeliveryRepository(db).insert({
      id: newId('dlv'),
      webhookId,
      eventId: event.id,
      eventType: event.type,
      payload: payloadOf(event),
      nextAttemptAt: now,
    });
    await this.schedule(tenant.id, [delivery]);
    return { ...delivery, attempts: [] };
  }

  /** Every pending delivery of a tenant, to rebuild the due index from the rows. */
  async reschedulePending(tenantRef: string): Promise<number> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const pending = await new WebhookDeliveryRepository(db).pending();
    await this.schedule(tenant.id, pending);
    return pending.length;
  }

  private async schedule(tenantId: string, deliveries: DueDelivery[]): Promise<void> {
    await this.options.due.schedule(
      deliveries.flatMap(({ id, nextAttemptAt }) =>
        nextAttemptAt === null ? [] : [{ tenantId, deliveryId: id, at: nextAttemptAt }],
      ),
    );
  }
}
