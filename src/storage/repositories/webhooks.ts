import type { Kysely, Selectable } from 'kysely';
import type { Webhook, WebhookStatus } from '../../domain/webhook.js';
import type { TenantSchema, WebhookEndpointsTable } from '../tenant-schema.js';

/** A webhook's signing secrets as stored: sealed envelopes (see secret-box.ts), never plain. */
export interface SealedSecrets {
  current: string;
  /** The secret a rotation replaced, while it may still sign; null when none. */
  previous: string | null;
}

export interface NewWebhook {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  status: WebhookStatus;
  /** The sealed secret, bound to the id (so it is made before the row). */
  sealed: string;
}

export interface WebhookChanges {
  url?: string;
  description?: string;
  eventTypes?: string[];
  status?: WebhookStatus;
}

const date = (value: Date | string | null) => (value === null ? null : new Date(value));

function toWebhook(row: Selectable<WebhookEndpointsTable>): Webhook {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    status: row.status,
    previousSecretExpiresAt: date(row.previous_secret_expires_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const secretsOf = (row: Selectable<WebhookEndpointsTable>): SealedSecrets => ({
  current: row.secret_sealed,
  previous: row.previous_secret_sealed,
});

/** A tenant's webhook endpoints, in its own database. */
export class WebhookRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<Webhook[]> {
    const rows = await this.db.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute();
    return rows.map(toWebhook);
  }

  /** The endpoints that take deliveries now. */
  async active(): Promise<Webhook[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('status', '=', 'active')
      .orderBy('id')
      .execute();
    return rows.map(toWebhook);
  }

  async count(): Promise<number> {
    const { count } = await this.db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(count);
  }

  async find(id: string): Promise<Webhook | null> {
    return (await this.findWithSecrets(id))?.webhook ?? null;
  }

  /** The webhook and its sealed secrets, to sign with; locked inside a transaction. */
  async findWithSecrets(
    id: string,
    lock = false,
  ): Promise<{ webhook: Webhook; secrets: SealedSecrets } | null> {
    let query = this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row === undefined ? null : { webhook: toWebhook(row), secrets: secretsOf(row) };
  }

  async insert(webhook: NewWebhook): Promise<Webhook> {
    const row = await this.db
      .insertInto('webhook_endpoints')
      .values({
        id: webhook.id,
        url: webhook.url,
        description: webhook.description,
        event_types: webhook.eventTypes,
        secret_sealed: webhook.sealed,
        previous_secret_sealed: null,
        previous_secret_expires_at: null,
        status: webhook.status,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWebhook(row);
  }

  async update(id: string, changes: WebhookChanges, now = new Date()): Promise<Webhook | null> {
    const { eventTypes, ...columns } = changes;
    const row = await this.db
      .updateTable('webhook_endpoints')
      .set({
        ...columns,
        ...(eventTypes !== undefined && { event_types: eventTypes }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toWebhook(row);
  }

  /** Deletes the webhook and, by cascade, its deliveries and their attempts. */
  async delete(id: string): Promise<Webhook | null> {
    const row = await this.db
      .deleteFrom('webhook_endpoints')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toWebhook(row);
  }

  /** A new current secret; `previous` signs as well until `previousExpiresAt` (null: none). */
  async replaceSecrets(
    id: string,
    secrets: SealedSecrets & { previousExpiresAt: Date | null },
    now = new Date(),
  ): Promise<Webhook | null> {
    const row = await this.db
      .updateTable('webhook_endpoints')
      .set({
        secret_sealed: secrets.current,
        previous_secret_sealed: secrets.previous,
        previous_secret_expires_at: secrets.previousExpiresAt,
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toWebhook(row);
  }

  /** Every webhook's sealed secrets, for re-sealing them under a new master key. */
  async allSecrets(): Promise<{ id: string; secrets: SealedSecrets }[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .select(['id', 'secret_sealed', 'previous_secret_sealed'])
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      secrets: { current: row.secret_sealed, previous: row.previous_secret_sealed },
    }));
  }

  /**
   * Swaps the envelopes, only if they are still `from`: a row changed meanwhile was sealed
   * by whatever wrote it, under the current key, and is left alone.
   */
  async reseal(id: string, from: SealedSecrets, to: SealedSecrets): Promise<void> {
    await this.db
      .updateTable('webhook_endpoints')
      .set({ secret_sealed: to.current, previous_secret_sealed: to.previous })
      .where('id', '=', id)
      .where('secret_sealed', '=', from.current)
      .where('previous_secret_sealed', from.previous === null ? 'is' : '=', from.previous)
      .execute();
  }
}
