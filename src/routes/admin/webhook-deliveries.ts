import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { type AttemptedDelivery, attemptJson, deliveryJson } from '../../domain/webhook.js';
import { cursorList } from '../cursor-list.js';
import { errors } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';
import {
  DeliveryList,
  DeliveryObject,
  DeliveryParams,
  DeliveryQuery,
  WebhookParams,
} from './webhook-schemas.js';

const tags = ['Webhooks'];

/** A delivery as the API shows it: with every attempt made at it. */
function deliveryAnswer(delivery: AttemptedDelivery) {
  return { ...deliveryJson(delivery), attempts: delivery.attempts.map(attemptJson) };
}

/**
 * /admin/v1/tenants/{tenant}/webhooks/{webhook}/...: a webhook's deliveries, listed with their
 * attempts, sent again, or made by a test event.
 */
export const webhookDeliveryRoutes: FastifyPluginAsyncTypebox<Services> = async (
  app,
  { webhooks },
) => {
  const { deliveries } = webhooks;

  app.get(
    '/deliveries',
    {
      config: { action: 'webhooks:read' },
      schema: {
        tags,
        summary: 'List the deliveries of a webhook, newest first, with their attempts.',
        params: WebhookParams,
        querystring: DeliveryQuery,
        response: { 200: DeliveryList, ...errors },
      },
    },
    async (request) => {
      const { limit = '20', after, status } = request.query;
      const query = { limit: Number(limit), after, status };
      const page = await deliveries.list(tenantOf(request).id, request.params.webhook, query);
      return cursorList(page.data.map(deliveryAnswer), page.hasMore);
    },
  );

  app.post(
    '/deliveries/:delivery/redeliver',
    {
      config: { action: 'webhooks:write' },
      schema: {
        tags,
        summary: 'Send a delivery again now, with a fresh round of retries.',
        params: DeliveryParams,
        response: { 200: DeliveryObject, ...errors },
      },
    },
    async (request) => {
      const { webhook, delivery } = request.params;
      const tenant = tenantOf(request).id;
      return deliveryAnswer(
        await deliveries.redeliver(tenant, webhook, delivery, actorOf(request)),
      );
    },
  );

  app.post(
    '/test',
    {
      config: { action: 'webhooks:write' },
      schema: {
        tags,
        summary: 'Send a `webhook.test` event to this webhook (whatever types it asked for).',
        params: WebhookParams,
        response: { 201: DeliveryObject, ...errors },
      },
    },
    async (request, reply) => {
      const delivery = await deliveries.sendTest(tenantOf(request).id, request.params.webhook);
      return reply.code(201).send(deliveryAnswer(delivery));
    },
  );
};
