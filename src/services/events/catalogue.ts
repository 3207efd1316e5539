import { type Static, type TObject, type TProperties, Type } from '@sinclair/typebox';
import { SemanticSettingsSchema } from '../cache/semantic-settings-check.js';

/**
 * Every event type the gateway raises, with when it is raised, who receives it and the
 * schema of its `data`. The events table of docs/webhooks.md and the alert data table of
 * docs/alerts.md are generated from it (catalogue-docs.ts) and kept equal to it by a test; a
 * field's `description` shows there. The publisher refuses (in tests: throws on) data that
 * does not match its type.
 */
export interface EventDefinition {
  /** When the event is raised, as the docs say it. */
  when: string;
  /** `tenant`: the tenant's webhooks (and the operator's); `operator`: the operator webhook only. */
  audience: 'tenant' | 'operator';
  data: TObject;
}

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const quota = {
  quota_id: Type.String(),
  scope: Type.Union([Type.Literal('tenant'), Type.Literal('user'), Type.Literal('key')]),
  subject_id: Nullable(Type.String()),
  metric: Type.Union([Type.Literal('tokens'), Type.Literal('cost')]),
  period: Type.Union([Type.Literal('day'), Type.Literal('month'), Type.Literal('total')]),
  period_start: Nullable(Type.String({ format: 'date-time' })),
  amount: Type.Number(),
};

const apiKey = {
  key_id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  user_id: Nullable(Type.String()),
};

const invoice = {
  invoice_id: Type.String(),
  kind: Type.Union([Type.Literal('invoice'), Type.Literal('credit_note')]),
  number: Type.String(),
  period: Type.String({ description: 'the billing period, `2026-11`' }),
  currency: Type.String(),
  total: Type.String({ description: 'a decimal string in the currency' }),
  amount_due: Type.String({ description: 'the total less the credits applied' }),
};

const window = { window_seconds: Type.Number() };

const alerts = {
  'alert.error_rate': {
    when: "A share of a tenant's requests to one model failed ([alerts.md](alerts.md)).",
    audience: 'tenant',
    data: {
      model: Type.String(),
      requests: Type.Integer(),
      failed: Type.Integer(),
      error_rate: Type.Number(),
      threshold: Type.Number(),
      ...window,
    },
  },
  'alert.unusual_consumption': {
    when: "A tenant's tokens in the window passed a multiple of its usual ([alerts.md](alerts.md)).",
    audience: 'tenant',
    data: {
      tokens: Type.Number(),
      baseline_tokens: Type.Number(),
      factor: Type.Number(),
      ...window,
    },
  },
  'alert.latency_degraded': {
    when: "A model's p95 latency passed a multiple of its usual ([alerts.md](alerts.md)).",
    audience: 'operator',
    data: {
      model: Type.String(),
      p95_ms: Type.Union([Type.Number(), Type.Null()]),
      baseline_p95_ms: Type.Union([Type.Number(), Type.Null()]),
      factor: Type.Number(),
      requests: Type.Integer(),
      ...window,
    },
  },
  'alert.event_loop_lag': {
    when: "The gateway's event loop lagged: the process is overloaded ([alerts.md](alerts.md)).",
    audience: 'operator',
    data: { p99_ms: Type.Number(), threshold_ms: Type.Number() },
  },
} as const satisfies Record<string, { when: string; audience: string; data: TProperties }>;

export type AlertType = keyof typeof alerts;
export type AlertEventType = AlertType | `${AlertType}.resolved`;

/** Each alert, and its `.resolved` twin with the same data. */
function alertEvents() {
  const entries = Object.entries(alerts).flatMap(([type, alert]) => [
    [type, { ...alert, data: Type.Object(alert.data) }],
    [
      `${type}.resolved`,
      { ...alert, when: `The episode of \`${type}\` is over.`, data: Type.Object(alert.data) },
    ],
  ]);
  return Object.fromEntries(entries) as Record<AlertEventType, EventDefinition>;
}

export const EVENT_TYPES = {
  'quota.threshold_reached': {
    when: "What a quota's target used passed one of its thresholds; once per threshold per period ([rate-limits.md](rate-limits.md#how-quotas-are-enforced)).",
    audience: 'tenant',
    data: Type.Object({
      ...quota,
      threshold: Type.Integer({ description: 'percent' }),
      used: Type.Number(),
    }),
  },
  'quota.exhausted': {
    when: 'The first request of a period refused by a quota.',
    audience: 'tenant',
    data: Type.Object(quota),
  },
  'api_key.created': {
    when: 'A key was created (admin API or CLI).',
    audience: 'tenant',
    data: Type.Object(apiKey),
  },
  'api_key.rotated': {
    when: 'A key got a new secret.',
    audience: 'tenant',
    data: Type.Object(apiKey),
  },
  'api_key.revoked': {
    when: 'A key was revoked.',
    audience: 'tenant',
    data: Type.Object(apiKey),
  },
  'cache.settings_updated': {
    when: "The tenant's response cache settings were changed ([caching.md](caching.md)).",
    audience: 'tenant',
    data: Type.Object({
      enabled: Type.Union([Type.Boolean(), Type.Null()]),
      ttl_seconds: Type.Union([Type.Integer(), Type.Null()]),
      max_entry_bytes: Type.Union([Type.Integer(), Type.Null()]),
      budget_bytes: Type.Union([Type.Integer(), Type.Null()]),
      allow_nondeterministic: Type.Union([Type.Boolean(), Type.Null()]),
      semantic: Type.Union([SemanticSettingsSchema, Type.Null()], {
        description:
          "the tenant's semantic cache settings, or null; see [semantic-cache.md](semantic-cache.md)",
      }),
    }),
  },
  'cache.purged': {
    when: "The tenant's response cache was emptied through the admin API.",
    audience: 'tenant',
    data: Type.Object({
      entries: Type.Integer({ description: 'exact cache entries dropped' }),
      semantic_entries: Type.Integer({ description: 'semantic cache entries dropped' }),
    }),
  },
  'invoice.finalized': {
    when: "The tenant's invoice (or credit note) for a period was finalized ([billing.md](billing.md)).",
    audience: 'tenant',
    data: Type.Object(invoice),
  },
  'invoice.paid': {
    when: 'An invoice was marked paid.',
    audience: 'tenant',
    data: Type.Object(invoice),
  },
  ...alertEvents(),
  'webhook.test': {
    when: 'Sent by `POST .../webhooks/{webhook}/test` to that webhook only, whatever it asked for.',
    audience: 'tenant',
    data: Type.Object({ webhook_id: Type.String(), tenant_id: Type.String() }),
  },
} satisfies Record<string, EventDefinition>;

export type EventType = keyof typeof EVENT_TYPES;

export type EventData<T extends EventType> = Static<(typeof EVENT_TYPES)[T]['data']>;

export const isEventType = (type: string): type is EventType => Object.hasOwn(EVENT_TYPES, type);
