import { Type } from '@sinclair/typebox';
import type { DeliveryStatus, WebhookStatus } from '../../domain/webhook.js';
import { MAX_EVENT_TYPES } from '../../services/webhooks/event-types.js';
import { CursorListOf } from '../cursor-list.js';
import { NullableTimestamp, TenantParams, Timestamp } from './schemas.js';

/** The schemas of /admin/v1/tenants/{tenant}/webhooks, apart so the routes stay readable. */

const Status = Type.Unsafe<WebhookStatus>({
  type: 'string',
  enum: ['active', 'disabled'],
  description: '`disabled`: no new deliveries, and pending ones end as `failed`.',
});

const DeliveryState = Type.Unsafe<DeliveryStatus>({
  type: 'string',
  enum: ['pending', 'succeeded', 'failed'],
});

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description:
    'Where deliveries are POSTed: http(s), resolving to public addresses only unless the operator allows the host in WEBHOOK_ALLOWED_HOSTS.',
});
const Description = Type.String({ maxLength: 500 });
const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
  minItems: 1,
  maxItems: MAX_EVENT_TYPES,
  description:
    'Exact event types (`quota.exhausted`) or prefixes (`quota.*`: every type under `quota.`).',
});

export const CreateWebhook = Type.Object(
  {
    url: Url,
    description: Type.Optional(Description),
    event_types: EventTypes,
    status: Type.Optional(Status),
  },
  {
    additionalProperties: false,
    examples: [
      {
        url: 'https://hooks.example.com/llm-backend',
        description: 'Quota alerts to the ops channel',
        event_types: ['quota.*', 'api_key.revoked'],
      },
    ],
  },
);

export const UpdateWebhook = Type.Object(
  {
    url: Type.Optional(Url),
    description: Type.Optional(Description),
    event_types: Type.Optional(EventTypes),
    status: Type.Optional(Status),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ status: 'disabled' }],
  },
);

export const RotateSecret = Type.Object(
  {
    grace_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 30 * 86_400,
        description: 'How long deliveries are signed with the old secret too (default 0).',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ grace_seconds: 86400 }] },
);

const webhookExample = {
  object: 'webhook',
  id: 'whk_0mwxj3k2a9f1c2d3e4f5a6b7c8',
  url: 'https://hooks.example.com/llm-backend',
  description: 'Quota alerts to the ops channel',
  event_types: ['quota.*', 'api_key.revoked'],
  status: 'active',
  previous_secret_expires_at: null,
  created_at: '2026-11-26T12:00:00.000Z',
  updated_at: '2026-11-26T12:00:00.000Z',
};

export const WebhookObject = Type.Object(
  {
    object: Type.Literal('webhook'),
    id: Type.String(),
    url: Type.String(),
    description: Type.String(),
    event_types: Type.Array(Type.String()),
    status: Status,
    previous_secret_expires_at: {
      ...NullableTimestamp,
      description:
        'Until when deliveries are also signed with the secret the last rotation replaced.',
    },
    created_at: Timestamp,
    updated_at: Timestamp,
    secret: Type.Optional(
      Type.String({
        description: '`whsec_...`: only in the answers to create and rotate-secret, never again.',
      }),
    ),
  },
  { examples: [{ ...webhookExample, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw...' }] },
);

const AttemptObject = Type.Object({
  id: Type.String(),
  at: Timestamp,
  status_code: Type.Union([Type.Integer(), Type.Null()], {
    description: "The receiver's HTTP status; null when none came.",
  }),
  error: Type.Union([Type.String(), Type.Null()], {
    description: 'Why no answer came: refused address, timeout, connection error.',
  }),
  duration_ms: Type.Integer(),
});

export const DeliveryObject = Type.Object(
  {
    object: Type.Literal('webhook_delivery'),
    id: Type.String(),
    webhook_id: Type.String(),
    event_id: Type.String({ description: 'Sent as `webhook-id`: the same on every attempt.' }),
    event_type: Type.String(),
    status: DeliveryState,
    attempt_count: Type.Integer({
      description: 'Attempts of the current round; a redelivery starts a new one.',
    }),
    next_attempt_at: NullableTimestamp,
    last_attempt_at: NullableTimestamp,
    created_at: Timestamp,
    payload: Type.Record(Type.String(), Type.Unknown(), { description: 'The body sent.' }),
    attempts: Type.Array(AttemptObject, { description: 'Every attempt, oldest first.' }),
  },
  {
    examples: [
      {
        object: 'webhook_delivery',
        id: 'dlv_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        webhook_id: 'whk_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        event_id: 'evt_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        event_type: 'quota.threshold_reached',
        status: 'succeeded',
        attempt_count: 2,
        next_attempt_at: null,
        last_attempt_at: '2026-11-26T12:00:04.000Z',
        created_at: '2026-11-26T12:00:00.000Z',
        payload: {
          type: 'quota.threshold_reached',
          timestamp: '2026-11-26T12:00:00.000Z',
          data: { quota_id: 'quo_0mwxj...', threshold: 80, used: 800, amount: 1000 },
        },
        attempts: [
          {
            id: 'att_0mwxj3k2a9f1c2d3e4f5a6b7c8',
            at: '2026-11-26T12:00:00.100Z',
            status_code: 500,
            error: null,
            duration_ms: 41,
          },
          {
            id: 'att_0mwxj3k2b9f1c2d3e4f5a6b7c8',
            at: '2026-11-26T12:00:04.000Z',
            status_code: 200,
            error: null,
            duration_ms: 38,
          },
        ],
      },
    ],
  },
);

export const DeliveryList = CursorListOf(DeliveryObject);

export const DeliveryQuery = Type.Object(
  {
    // Query strings arrive as text and the gateway never coerces types: a pattern, not a number.
    limit: Type.Optional(
      Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100 (default 20).' }),
    ),
    after: Type.Optional(
      Type.String({ description: 'The `last_id` of the previous page: older deliveries.' }),
    ),
    status: Type.Optional(DeliveryState),
  },
  { additionalProperties: false },
);

export const WebhookParams = Type.Object({ ...TenantParams.properties, webhook: Type.String() });
export const DeliveryParams = Type.Object({
  ...WebhookParams.properties,
  delivery: Type.String(),
});
