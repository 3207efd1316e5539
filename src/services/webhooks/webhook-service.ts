import type { Kysely, Selectable, Updateable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type {
  TenantSchema,
  WebhookEndpointsTable,
  WebhookStatus,
} from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, auditChange, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { SecretBox } from './secret-box.js';
import { newWebhookSecret } from './signing.js';
import type { UrlGuard } from './url-guard.js';
import {
  EVENT_TYPE_PATTERN,
  MAX_EVENT_TYPES,
  toWebhook,
  type Webhook,
  webhookJson,
} from './webhook-model.js';

/** More would make one event a flood of calls; a tenant needs a handful. */
export const MAX_WEBHOOKS_PER_TENANT = 50;

export interface CreateWebhookInput {
  url: string;
  description?: string;
  eventTypes: string[];
  status?: WebhookStatus;
}

export type UpdateWebhookInput = Partial<CreateWebhookInput>;

export interface WebhookServiceOptions {
  tenants: TenantService;
  /** Seals secrets at rest under a key derived from the master key. */
  box: SecretBox;
  /** Refuses URLs that would reach private addresses. */
  guard: UrlGuard;
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

function checkEventTypes(types: readonly string[]): string[] {
  if (types.length === 0 || types.length > MAX_EVENT_TYPES)
    throw invalid(`Give 1 to ${MAX_EVENT_TYPES} event types.`, 'event_types');
  for (const type of types)
    if (type.length > 100 || !EVENT_TYPE_PATTERN.test(type))
      throw invalid(
        `'${type}' is not an event type: use one like 'quota.exhausted', or 'quota.*' for every type under 'quota.'.`,
        'event_types',
      );
  return [...new Set(types)];
}

/**
 * A tenant's webhook endpoints, in its own database. The signing secret is returned once, at
 * creation and at each rotation, and stored sealed; every change is audited.
 */
export class WebhookService {
  constructor(private readonly options: WebhookServiceOptions) {}

  private async database(tenantRef: string) {
    const tenant = await this.options.tenants.get(tenantRef);
    return { tenant, db: this.options.tenants.database(tenant) };
  }

  async create(
    tenantRef: string,
    input: CreateWebhookInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ webhook: Webhook; secret: string }> {
    const { db } = await this.database(tenantRef);
    const eventTypes = checkEventTypes(input.eventTypes);
    const url = (await this.options.guard.check(input.url)).toString();
    const { count } = await db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    if (Number(count) >= MAX_WEBHOOKS_PER_TENANT)
      throw invalid(`A tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhooks.`, 'url');
    const id = newId('whk');
    const secret = newWebhookSecret();
    const row = await db
      .insertInto('webhook_endpoints')
      .values({
        id,
        url,
        description: input.description ?? '',
        event_types: eventTypes,
        secret_sealed: this.options.box.seal(secret, id),
        previous_secret_sealed: null,
        previous_secret_expires_at: null,
        status: input.status ?? 'active',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const webhook = toWebhook(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'webhook.created',
      targetType: 'webhook',
      before: null,
      after: webhook,
      json: webhookJson,
    });
    return { webhook, secret };
  }

  async list(tenantRef: string): Promise<Webhook[]> {
    const { db } = await this.database(tenantRef);
    const rows = await db.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute();
    return rows.map(toWebhook);
  }

  async get(tenantRef: string, id: string): Promise<Webhook> {
    const { db } = await this.database(tenantRef);
    return toWebhook(await findRow(db, id));
  }

  async update(
    tenantRef: string,
    id: string,
    input: UpdateWebhookInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook> {
    const { db } = await this.database(tenantRef);
    const before = toWebhook(await findRow(db, id));
    const changes: Updateable<WebhookEndpointsTable> = { updated_at: new Date() };
    if (input.url !== undefined)
      changes.url = (await this.options.guard.check(input.url)).toString();
    if (input.eventTypes !== undefined) changes.event_types = checkEventTypes(input.eventTypes);
    if (input.description !== undefined) changes.description = input.description;
    if (input.status !== undefined) changes.status = input.status;
    const row = await db
      .updateTable('webhook_endpoints')
      .set(changes)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const webhook = toWebhook(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'webhook.updated',
      targetType: 'webhook',
      before: before,
      after: webhook,
      json: webhookJson,
    });
    return webhook;
  }

  /** Deletes the webhook and, with it, its deliveries and their attempts. */
  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Webhook> {
    const { db } = await this.database(tenantRef);
    const row = await db
      .deleteFrom('webhook_endpoints')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('webhook_not_found', { param: 'webhook' });
    const webhook = toWebhook(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'webhook.deleted',
      targetType: 'webhook',
      before: webhook,
      after: null,
      json: webhookJson,
    });
    return webhook;
  }

  /**
   * A new secret. With `graceSeconds`, deliveries are signed with the old one as well until
   * then, so receivers can switch without dropping any; the one replaced before stops now.
   */
  async rotateSecret(
    tenantRef: string,
    id: string,
    graceSeconds: number,
    actor: Actor = SYSTEM_ACTOR,
    now = new Date(),
  ): Promise<{ webhook: Webhook; secret: string }> {
    const { db } = await this.database(tenantRef);
    const current = await findRow(db, id);
    const secret = newWebhookSecret();
    const row = await db
      .updateTable('webhook_endpoints')
      .set({
        secret_sealed: this.options.box.seal(secret, id),
        previous_secret_sealed: graceSeconds > 0 ? current.secret_sealed : null,
        previous_secret_expires_at:
          graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : null,
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const webhook = toWebhook(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'webhook.secret_rotated',
      targetType: 'webhook',
      before: toWebhook(current),
      after: webhook,
      json: webhookJson,
    });
    return { webhook, secret };
  }

  /** The secrets a delivery is signed with now: the current one, and one in its grace. */
  signingSecrets(row: Selectable<WebhookEndpointsTable>, now = new Date()): string[] {
    const secrets = [this.options.box.open(row.secret_sealed, row.id)];
    const until = row.previous_secret_expires_at;
    if (row.previous_secret_sealed !== null && until !== null && new Date(until) > now)
      secrets.push(this.options.box.open(row.previous_secret_sealed, row.id));
    return secrets;
  }
}

export async function findRow(
  db: Kysely<TenantSchema>,
  id: string,
): Promise<Selectable<WebhookEndpointsTable>> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (row === undefined) throw new GatewayError('webhook_not_found', { param: 'webhook' });
  return row;
}
