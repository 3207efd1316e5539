import { type EntityKind, iso } from './entity.js';

/** `disabled`: no new deliveries, and pending ones end as `failed`. */
export type WebhookStatus = 'active' | 'disabled';
export const WEBHOOK_STATUSES: readonly WebhookStatus[] = ['active', 'disabled'];

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed'];

/** A tenant's webhook endpoint. Never its signing secrets: they are not part of the object. */
export interface Webhook {
  id: string;
  url: string;
  description: string;
  /** Exact event types, or `prefix.*` patterns; never empty. */
  eventTypes: string[];
  status: WebhookStatus;
  /** Until when the secret a rotation replaced is still signed with; null when none. */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function webhookJson(webhook: Webhook) {
  return {
    object: 'webhook' as const,
    id: webhook.id,
    url: webhook.url,
    description: webhook.description,
    event_types: webhook.eventTypes,
    status: webhook.status,
    previous_secret_expires_at: iso(webhook.previousSecretExpiresAt),
    created_at: webhook.createdAt.toISOString(),
    updated_at: webhook.updatedAt.toISOString(),
  };
}

export const WEBHOOK: EntityKind<Webhook> = {
  object: 'webhook',
  id: (webhook) => webhook.id,
  json: webhookJson,
};

/** The body every receiver gets, as Standard Webhooks lays it out. */
export type DeliveryPayload = {
  type: string;
  /** When the event happened, ISO 8601. */
  timestamp: string;
  data: Record<string, unknown>;
};

/** One event on its way to one endpoint; its attempts are objects of their own. */
export interface WebhookDelivery {
  id: string;
  webhookId: string;
  /** Sent as `webhook-id`: the same on every attempt and redelivery. */
  eventId: string;
  eventType: string;
  payload: DeliveryPayload;
  status: DeliveryStatus;
  /** Attempts of the current round (a redelivery starts a new one). */
  attemptCount: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  createdAt: Date;
}

export function deliveryJson(delivery: WebhookDelivery) {
  return {
    object: 'webhook_delivery' as const,
    id: delivery.id,
    webhook_id: delivery.webhookId,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempt_count: delivery.attemptCount,
    next_attempt_at: iso(delivery.nextAttemptAt),
    last_attempt_at: iso(delivery.lastAttemptAt),
    created_at: delivery.createdAt.toISOString(),
    payload: delivery.payload,
  };
}

export const WEBHOOK_DELIVERY: EntityKind<WebhookDelivery> = {
  object: 'webhook_delivery',
  id: (delivery) => delivery.id,
  json: deliveryJson,
};

/** One try at sending a delivery: the receiver's answer, or why none came. */
export interface WebhookAttempt {
  id: string;
  at: Date;
  /** The receiver's HTTP status; null when none came (refused, timed out, unreachable). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * No `object`: an attempt is only ever shown inside its delivery's `attempts`, never on its
 * own or in the audit log.
 */
export function attemptJson(attempt: WebhookAttempt) {
  return {
    id: attempt.id,
    at: attempt.at.toISOString(),
    status_code: attempt.statusCode,
    error: attempt.error,
    duration_ms: attempt.durationMs,
  };
}

/** A delivery with every attempt made at it, oldest first: what the API lists. */
export type AttemptedDelivery = WebhookDelivery & { attempts: WebhookAttempt[] };
