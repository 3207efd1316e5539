import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../composition/services.js';
import {
  deliveryJson,
  type Webhook,
  type WebhookDelivery,
  webhookJson,
} from '../../services/webhooks/webhook-model.js';
import { errors, ListOf, TenantParams } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';
import {
  CreateWebhook,
  DeliveryList,
  DeliveryObject,
  DeliveryParams,
  DeliveryQuery,
  RotateSecret,
  UpdateWebhook,
  WebhookObject,
  WebhookParams,
} from './webhook-schemas.js';

const tags = ['Webhooks'];
const read = { action: 'webhooks:read' as const };
const write = { action: 'webhooks:write' as const };

const json = (webhook: Webhook, secret?: string) => ({
  object: 'webhook' as const,
  ...webhookJson(webhook),
  ...(secret !== undefined && { secret }),
});
const deliveryObject = (delivery: WebhookDelivery) => ({
  object: 'webhook_delivery' as const,
  ...deliveryJson(delivery),
});

const params = (request: FastifyRequest) =>
  request.params as { webhook: string; delivery?: string };

/**
 * /admin/v1/tenants/{tenant}/webhooks: the tenant's webhook endpoints, their secrets (shown
 * at creation and rotation only) and their deliveries.
 */
export async function webhookRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const { endpoints, deliveries } = services.webhooks;

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
      const body = request.body as typeof CreateWebhook.static;
      const { webhook, secret } = await endpoints.create(
        tenantOf(request).id,
        {
          url: body.url,
          description: body.description,
          eventTypes: body.event_types,
          status: body.status,
        },
        actorOf(request),
      );
      return reply.code(201).send(json(webhook, secret));
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
      object: 'list',
      data: (await endpoints.list(tenantOf(request).id)).map((webhook) => json(webhook)),
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
    async (request) => json(await endpoints.get(tenantOf(request).id, params(request).webhook)),
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
      const body = request.body as typeof UpdateWebhook.static;
      const webhook = await endpoints.update(
        tenantOf(request).id,
        params(request).webhook,
        {
          url: body.url,
          description: body.description,
          eventTypes: body.event_types,
          status: body.status,
        },
        actorOf(request),
      );
      return json(webhook);
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
    async (request) =>
      json(await endpoints.delete(tenantOf(request).id, params(request).webhook, actorOf(request))),
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
      const grace = (request.body as typeof RotateSecret.static).grace_seconds ?? 0;
      const { webhook, secret } = await endpoints.rotateSecret(
        tenantOf(request).id,
        params(request).webhook,
        grace,
        actorOf(request),
      );
      return json(webhook, secret);
    },
  );

  app.get(
    '/:webhook/deliveries',
    {
      config: read,
      schema: {
        tags,
        summary: 'List the deliveries of a webhook, newest first, with their attempts.',
        params: WebhookParams,
        querystring: DeliveryQuery,
        response: { 200: DeliveryList, ...errors },
      },
    },
    async (request) => {
      const query = request.query as typeof DeliveryQuery.static;
      const page = await deliveries.list(tenantOf(request).id, params(request).webhook, {
        limit: Number(query.limit ?? '20'),
        after: query.after,
        status: query.status,
      });
      return {
        object: 'list',
        data: page.data.map(deliveryObject),
        first_id: page.data[0]?.id ?? null,
        last_id: page.data.at(-1)?.id ?? null,
        has_more: page.hasMore,
      };
    },
  );

  app.post(
    '/:webhook/deliveries/:delivery/redeliver',
    {
      config: write,
      schema: {
        tags,
        summary: 'Send a delivery again now, with a fresh round of retries.',
        params: DeliveryParams,
        response: { 200: DeliveryObject, ...errors },
      },
    },
    async (request) => {
      const { webhook, delivery } = params(request);
      const redelivered = await deliveries.redeliver(
        tenantOf(request).id,
        webhook,
        delivery as string,
        actorOf(request),
      );
      return deliveryObject(redelivered);
    },
  );

  app.post(
    '/:webhook/test',
    {
      config: write,
      schema: {
        tags,
        summary: 'Send a `webhook.test` event to this webhook (whatever types it asked for).',
        params: WebhookParams,
        response: { 201: DeliveryObject, ...errors },
      },
    },
    async (request, reply) => {
      const delivery = await deliveries.sendTest(tenantOf(request).id, params(request).webhook);
      return reply.code(201).send(deliveryObject(delivery));
    },
  );
}
