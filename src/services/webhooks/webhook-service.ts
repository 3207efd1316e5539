import { WEBHOOK, type Webhook, type WebhookStatus } from '../../domain/webhook.js';
import { GatewayError } from '../../errors/gateway-error.js';
import {
  type SealedSecrets,
  type WebhookChanges,
  WebhookRepository,
} from '../../storage/repositories/webhooks.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkEventTypes } from './event-types.js';
import type { SecretBox } from './secret-box.js';
import { newWebhookSecret } from './signing.js';
import type { UrlGuard } from './url-guard.js';

export type { Webhook };

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
  /** Writes and audits each change. */
  changes: ChangeRecorder;
}

const notFound = () => new GatewayError('webhook_not_found', { param: 'webhook' });

export function foundWebhook<T>(value: T | null): T {
  if (value === null) throw notFound();
  return value;
}

/**
 * A tenant's webhook endpoints, in its own database. The signing secret is returned once, at
 * creation and at each rotation, and stored sealed; every change is audited.
 */
export class WebhookService {
  constructor(private readonly options: WebhookServiceOptions) {}

  async create(
    tenantRef: string,
    input: CreateWebhookInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ webhook: Webhook; secret: string }> {
    const { db } = await this.options.tenants.open(tenantRef);
    const eventTypes = checkEventTypes(input.eventTypes);
    const url = await this.checkedUrl(input.url);
    const id = newId('whk');
    const secret = newWebhookSecret();
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'webhook.created',
      kind: WEBHOOK,
      write: async (trx) => {
        const webhooks = new WebhookRepository(trx);
        if ((await webhooks.count()) >= MAX_WEBHOOKS_PER_TENANT)
          throw new GatewayError('invalid_request', {
            message: `A tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhooks.`,
            param: 'url',
          });
        const webhook = await webhooks.insert({
          id,
          url,
          description: input.description ?? '',
          eventTypes,
          status: input.status ?? 'active',
          sealed: this.options.box.seal(secret, id),
        });
        return { before: null, after: webhook };
      },
    });
    return { webhook: after, secret };
  }

  async list(tenantRef: string): Promise<Webhook[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new WebhookRepository(db).list();
  }

  async get(tenantRef: string, id: string): Promise<Webhook> {
    const { db } = await this.options.tenants.open(tenantRef);
    return foundWebhook(await new WebhookRepository(db).find(id));
  }

  async update(
    tenantRef: string,
    id: string,
    input: UpdateWebhookInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook> {
    const { db } = await this.options.tenants.open(tenantRef);
    // Another tenant's id answers 404 before anything about the input is said.
    foundWebhook(await new WebhookRepository(db).find(id));
    const changes: WebhookChanges = {};
    if (input.url !== undefined) changes.url = await this.checkedUrl(input.url);
    if (input.eventTypes !== undefined) changes.eventTypes = checkEventTypes(input.eventTypes);
    if (input.description !== undefined) changes.description = input.description;
    if (input.status !== undefined) changes.status = input.status;
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'webhook.updated',
      kind: WEBHOOK,
      write: async (trx) => {
        const webhooks = new WebhookRepository(trx);
        const before = foundWebhook(await webhooks.find(id));
        return { before, after: foundWebhook(await webhooks.update(id, changes)) };
      },
    });
    return after;
  }

  /** Deletes the webhook and, with it, its deliveries and their attempts. */
  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Webhook> {
    const { db } = await this.options.tenants.open(tenantRef);
    const { before } = await this.options.changes.tenant(db, actor, {
      action: 'webhook.deleted',
      kind: WEBHOOK,
      write: async (trx) => ({
        before: foundWebhook(await new WebhookRepository(trx).delete(id)),
        after: null,
      }),
    });
    return before;
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
    const { db } = await this.options.tenants.open(tenantRef);
    const secret = newWebhookSecret();
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'webhook.secret_rotated',
      kind: WEBHOOK,
      write: async (trx) => {
        const webhooks = new WebhookRepository(trx);
        const current = foundWebhook(await webhooks.findWithSecrets(id, true));
        const grace = graceSeconds > 0;
        const rotated = await webhooks.replaceSecrets(
          id,
          {
            current: this.options.box.seal(secret, id),
            previous: grace ? current.secrets.current : null,
            previousExpiresAt: grace ? new Date(now.getTime() + graceSeconds * 1000) : null,
          },
          now,
        );
        return { before: current.webhook, after: foundWebhook(rotated) };
      },
    });
    return { webhook: after, secret };
  }

  /** The secrets a delivery is signed with now: the current one, and one in its grace. */
  signingSecrets(webhook: Webhook, sealed: SealedSecrets, now = new Date()): string[] {
    const secrets = [this.options.box.open(sealed.current, webhook.id)];
    const until = webhook.previousSecretExpiresAt;
    if (sealed.previous !== null && until !== null && until > now)
      secrets.push(this.options.box.open(sealed.previous, webhook.id));
    return secrets;
  }

  private async checkedUrl(url: string): Promise<string> {
    return (await this.options.guard.check(url)).toString();
  }
}
