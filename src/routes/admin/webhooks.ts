import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { type Webhook, webhookJson } from '../../domain/webhook.js';
import { errors, ListOf, TenantParams } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';
import { webhookDeliveryRoutes } from './webhook-deliveries.js';
import {
  CreateWebhook,
  RotateSecret,
  UpdateWebhook,
  WebhookObject,
  WebhookParams,
} from './webhook-schemas.js';

const tags = ['Webhooks'];
const read = { action: 'webhooks:read' as const };
const write = { action: 'webhooks:write' as const };

/** The webhook as the API shows it; the secret only in the answers to create and rotate. */
function webhookAnswer(webhook: Webhook, secret?: string) {
  return { ...webhookJson(webhook), ...(secret !== undefined && { secret }) };
}

/**
 * /admin/v1/tenants/{tenant}/webhooks: the tenant's webhook endpoints and their secrets
 * (shown at creation and rotation only); their deliveries are in webhook-deliveries.ts.
 */
export const webhookRoutes: FastifyPluginAsyncTypebox<Services> = async (app, services) => {
  const { endpoints } = services.webhooks;

  app.post(
    '',
    {
      config: write,
      schema: {
        tags,
        summary: 'Create a webhook; its signing secret is in this response only.',
        params: TenantParams,
        body: CreateWebhook,
        response: { 201: WebhookObject, ...errors },
      },
    },
    async (request, reply) => {
      const { event_types: eventTypes, ...body } = request.body;
      const tenant = tenantOf(request).id;
      const input = { ...body, eventTypes };
      const { webhook, secret } = await endpoints.create(tenant, input, actorOf(request));
      return reply.code(201).send(webhookAnswer(webhook, secret));
    },
  );

  app.get(
    '',
    {
      config: read,
      schema: {
        tags,
        summary: 'List the webhooks, never their secrets.',
        params: TenantParams,
        response: { 200: ListOf(WebhookObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await endpoints.list(tenantOf(request).id)).map((webhook) => webhookAnswer(webhook)),
    }),
  );

  app.get(
    '/:webhook',
    {
      config: read,
      schema: {
        tags,
        summary: 'Get one webhook.',
        params: WebhookParams,
        response: { 200: WebhookObject, ...errors },
      },
    },
    async (request) =>
      webhookAnswer(await endpoints.get(tenantOf(request).id, request.params.webhook)),
  );

  app.patch(
    '/:webhook',
    {
      config: write,
      schema: {
        tags,
        summary: 'Change the URL, description, event types or status.',
        params: WebhookParams,
        body: UpdateWebhook,
        response: { 200: WebhookObject, ...errors },
      },
    },
    async (request) => {
      const { event_types: eventTypes, ...body } = request.body;
      const input = { ...body, eventTypes };
      const { webhook } = request.params;
      return webhookAnswer(
        await endpoints.update(tenantOf(request).id, webhook, input, actorOf(request)),
      );
    },
  );

  app.delete(
    '/:webhook',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete a webhook, with its deliveries.',
        params: WebhookParams,
        response: { 200: WebhookObject, ...errors },
      },
    },
    async (request) => {
      const { webhook } = request.params;
      return webhookAnswer(await endpoints.delete(tenantOf(request).id, webhook, actorOf(request)));
    },
  );

  app.post(
    '/:webhook/rotate-secret',
    {
      // A bare POST (no body at all) means the defaults, as `curl -X POST` sends it.
      config: { ...write, optionalBody: true },
      schema: {
        tags,
        summary: 'A new signing secret, in this response only.',
        description:
          'With grace_seconds, deliveries carry a signature with the old secret as well until then.',
        params: WebhookParams,
        body: RotateSecret,
        response: { 200: WebhookObject, ...errors },
      },
    },
    async (request) => {
      const grace = request.body.grace_seconds ?? 0;
      const tenant = tenantOf(request).id;
      const { webhook, secret } = await endpoints.rotateSecret(
        tenant,
        request.params.webhook,
        grace,
        actorOf(request),
      );
      return webhookAnswer(webhook, secret);
    },
  );

  await app.register(webhookDeliveryRoutes, { ...services, prefix: '/:webhook' });
};
