import { Type } from '@sinclair/typebox';
import { CURRENCY_CODES } from '../../domain/money.js';
import { NullableTimestamp, TenantParams, Timestamp } from './schemas.js';

/** Money on the wire: decimal strings, never JSON numbers, so no client rounds them. */
const Amount = (description: string) =>
  Type.String({ pattern: '^\\d{1,9}(\\.\\d{1,6})?$', maxLength: 20, description });
const SignedAmount = Type.String({ description: 'A decimal string; negative for deductions.' });
const Currency = Type.String({
  maxLength: 3,
  description: `ISO 4217 code: one of ${CURRENCY_CODES.join(', ')}.`,
});

export const Period = Type.String({
  pattern: '^\\d{4}-\\d{2}$',
  description: 'A billing period: a UTC calendar month, `2026-11`.',
});

const Rate = Type.Object(
  {
    input: Type.Optional(Amount('Per million prompt tokens not read from the cache.')),
    cached_input: Type.Optional(Amount('Per million prompt tokens read from the cache.')),
    output: Type.Optional(Amount('Per million completion tokens.')),
  },
  { additionalProperties: false },
);

export const SetPlan = Type.Object(
  {
    currency: Currency,
    effective_at: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'When the version takes effect; now when left out. Never in the past.',
      }),
    ),
    markup_percent: Type.Optional(
      Amount(
        'Added to the provider cost of models off the rate card and of cache hits (0 to 1000).',
      ),
    ),
    usd_rate: Type.Optional(
      Amount("Units of the plan's currency per US dollar of provider cost; required unless USD."),
    ),
    rates: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 200 }), Rate, {
        description: 'The rate card: prices per million tokens, per model.',
      }),
    ),
    base_fee: Type.Optional(Amount('Charged every period, in whole minor units.')),
    included: Type.Optional(Amount('Usage charges each period covers before any is billed.')),
    byok_fee: Type.Optional(Amount("Per request made with the tenant's own provider key.")),
    tax_percent: Type.Optional(Amount('Tax on the subtotal (0 to 100).')),
  },
  {
    additionalProperties: false,
    examples: [
      {
        currency: 'USD',
        markup_percent: '20',
        rates: { 'gpt-4o-mini': { input: '0.20', cached_input: '0.10', output: '0.80' } },
        base_fee: '49.00',
        included: '10',
        byok_fee: '0.001',
        tax_percent: '19',
      },
    ],
  },
);

export const PlanObject = Type.Object({
  object: Type.Literal('price_plan'),
  id: Type.String(),
  effective_at: Timestamp,
  currency: Type.String(),
  markup_percent: Type.String(),
  usd_rate: Type.String(),
  rates: Type.Record(
    Type.String(),
    Type.Object({ input: Type.String(), cached_input: Type.String(), output: Type.String() }),
  ),
  base_fee: Type.String(),
  included: Type.String(),
  byok_fee: Type.String(),
  tax_percent: Type.String(),
  created_at: Timestamp,
});

export const PlanState = Type.Object({
  object: Type.Literal('price_plan_state'),
  current: Type.Union([PlanObject, Type.Null()], { description: 'The version in effect now.' }),
  upcoming: Type.Array(PlanObject, { description: 'Versions that take effect later.' }),
  versions: Type.Array(PlanObject, { description: 'Every version, oldest first.' }),
});

export const GrantCredit = Type.Object(
  {
    amount: Amount('Greater than 0, in whole minor units of the currency.'),
    currency: Currency,
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  },
  {
    additionalProperties: false,
    examples: [
      {
        amount: '100.00',
        currency: 'USD',
        reason: 'welcome credit',
        expires_at: '2027-12-31T00:00:00Z',
      },
    ],
  },
);

export const CreditObject = Type.Object({
  object: Type.Literal('credit'),
  id: Type.String(),
  currency: Type.String(),
  amount: Type.String(),
  remaining: Type.String(),
  reason: Type.String(),
  expires_at: NullableTimestamp,
  created_at: Timestamp,
});

const Line = Type.Object({
  kind: Type.String({
    description:
      '`usage`, `adjustment` (late usage of an earlier period), `base_fee`, `allowance` or `credit_note`.',
  }),
  description: Type.String(),
  model: Type.Union([Type.String(), Type.Null()]),
  period: Type.Union([Type.String(), Type.Null()]),
  quantity: Type.Integer(),
  unit: Type.String({ description: '`tokens`, `requests` or `each`.' }),
  unit_price: Type.Union([Type.String(), Type.Null()], {
    description: 'Per million tokens for `tokens`; null where none applies (cost plus).',
  }),
  amount: SignedAmount,
});

export const InvoiceObject = Type.Object({
  object: Type.Union([Type.Literal('invoice'), Type.Literal('credit_note')]),
  id: Type.String(),
  number: Type.Union([Type.String(), Type.Null()], { description: 'Null on a draft.' }),
  period: Type.String(),
  status: Type.Union([
    Type.Literal('draft'),
    Type.Literal('finalized'),
    Type.Literal('paid'),
    Type.Literal('void'),
  ]),
  currency: Type.String(),
  price_plan_id: Type.Union([Type.String(), Type.Null()]),
  lines: Type.Array(Line),
  subtotal: SignedAmount,
  tax_percent: Type.String(),
  tax: SignedAmount,
  total: SignedAmount,
  credits: Type.Array(
    Type.Object({ credit_id: Type.String(), reason: Type.String(), amount: Type.String() }),
  ),
  credits_applied: Type.String(),
  amount_due: SignedAmount,
  refers_to: Type.Union([Type.String(), Type.Null()]),
  memo: Type.Union([Type.String(), Type.Null()]),
  finalized_at: NullableTimestamp,
  paid_at: NullableTimestamp,
  voided_at: NullableTimestamp,
});

export const InvoiceParams = Type.Object({ ...TenantParams.properties, invoice: Type.String() });

export const FinalizeBody = Type.Object(
  { period: Period },
  { additionalProperties: false, examples: [{ period: '2026-11' }] },
);

export const CreditNoteBody = Type.Object(
  {
    amount: Amount('What is credited, in whole minor units; at most what is left of the invoice.'),
    memo: Type.String({ minLength: 1, maxLength: 500, description: 'Why.' }),
  },
  { additionalProperties: false, examples: [{ amount: '20.00', memo: 'outage on 2026-11-03' }] },
);
