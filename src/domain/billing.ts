import { type EntityKind, iso } from './entity.js';
import { type Currency, formatMicros, formatMinor } from './money.js';

/** What one model costs per million tokens of each kind, in micro-units of the plan's currency. */
export interface ModelRate {
  input: number;
  cachedInput: number;
  output: number;
}

/**
 * One version of a tenant's price plan, effective from `effectiveAt` until the next version.
 * A model on the rate card is charged per token; any other at its provider cost plus the
 * markup. Cache hits are charged at their (cache) price plus the markup; requests made with
 * the tenant's own provider key at `byokFee` each, their tokens being paid to the provider.
 */
export interface PricePlan {
  id: string;
  effectiveAt: Date;
  currency: Currency;
  /** Parts per million of the provider cost added on top: 250000 is 25 %. */
  markupPpm: number;
  /**
   * Provider costs are in US dollars (the price table's currency): one dollar is this many
   * micro-units of the plan's currency (1,000,000 for a USD plan).
   */
  usdRate: number;
  rates: Record<string, ModelRate>;
  baseFee: number;
  /** Usage charges up to this amount each period are covered by the base fee. */
  included: number;
  byokFee: number;
  /** Parts per million of the subtotal: 190000 is 19 %. */
  taxPpm: number;
  createdAt: Date;
}

/** A grant that pays part of future invoices in its currency, until used up or expired. */
export interface Credit {
  id: string;
  currency: Currency;
  amount: number;
  remaining: number;
  reason: string;
  expiresAt: Date | null;
  createdAt: Date;
}

export type InvoiceStatus = 'finalized' | 'paid' | 'void';
export type InvoiceKind = 'invoice' | 'credit_note';

/**
 * What an invoice line is: usage (`usage` for the period, `adjustment` for usage of an
 * earlier period that arrived after its invoice), a fee, or a deduction.
 */
export type LineKind = 'usage' | 'adjustment' | 'base_fee' | 'allowance' | 'credit_note';

export interface InvoiceLine {
  kind: LineKind;
  description: string;
  model: string | null;
  /** The usage's period (`2026-10`) for usage and adjustments; null otherwise. */
  period: string | null;
  quantity: number;
  /** `tokens`, `requests` or `each`. */
  unit: string;
  /** Per million tokens for `tokens`, per unit otherwise; null when none applies (cost plus). */
  unitPrice: number | null;
  amount: number;
}

export interface CreditApplied {
  creditId: string;
  reason: string;
  amount: number;
}

export interface Invoice {
  id: string;
  kind: InvoiceKind;
  /** Null only on a draft, which has no number yet. */
  number: string | null;
  period: string;
  status: InvoiceStatus | 'draft';
  currency: Currency;
  pricePlanId: string | null;
  lines: InvoiceLine[];
  /** The lines' sum, rounded half-even to the currency's minor unit. */
  subtotal: number;
  taxPpm: number;
  tax: number;
  total: number;
  credits: CreditApplied[];
  creditsApplied: number;
  amountDue: number;
  /** For a credit note: the invoice it corrects. */
  refersTo: string | null;
  memo: string | null;
  finalizedAt: Date | null;
  paidAt: Date | null;
  voidedAt: Date | null;
}

const ppmAsPercent = (ppm: number) => formatMicros(ppm * 100).replace(/\.?0+$/, '');

export function pricePlanJson(plan: PricePlan) {
  return {
    object: 'price_plan' as const,
    id: plan.id,
    effective_at: plan.effectiveAt.toISOString(),
    currency: plan.currency,
    markup_percent: ppmAsPercent(plan.markupPpm),
    usd_rate: formatMicros(plan.usdRate).replace(/\.?0+$/, ''),
    rates: Object.fromEntries(
      Object.entries(plan.rates).map(([model, rate]) => [
        model,
        {
          input: formatMicros(rate.input),
          cached_input: formatMicros(rate.cachedInput),
          output: formatMicros(rate.output),
        },
      ]),
    ),
    base_fee: formatMicros(plan.baseFee),
    included: formatMicros(plan.included),
    byok_fee: formatMicros(plan.byokFee),
    tax_percent: ppmAsPercent(plan.taxPpm),
    created_at: plan.createdAt.toISOString(),
  };
}

export function creditJson(credit: Credit) {
  return {
    object: 'credit' as const,
    id: credit.id,
    currency: credit.currency,
    amount: formatMicros(credit.amount),
    remaining: formatMicros(credit.remaining),
    reason: credit.reason,
    expires_at: iso(credit.expiresAt),
    created_at: credit.createdAt.toISOString(),
  };
}

export function invoiceLineJson(line: InvoiceLine) {
  return {
    kind: line.kind,
    description: line.description,
    model: line.model,
    period: line.period,
    quantity: line.quantity,
    unit: line.unit,
    unit_price: line.unitPrice === null ? null : formatMicros(line.unitPrice),
    amount: formatMicros(line.amount),
  };
}

/** Line amounts exact to the micro-unit; totals in the currency's minor unit. */
export function invoiceJson(invoice: Invoice) {
  const money = (micros: number) => formatMinor(micros, invoice.currency);
  return {
    object: invoice.kind,
    id: invoice.id,
    number: invoice.number,
    period: invoice.period,
    status: invoice.status,
    currency: invoice.currency,
    price_plan_id: invoice.pricePlanId,
    lines: invoice.lines.map(invoiceLineJson),
    subtotal: money(invoice.subtotal),
    tax_percent: ppmAsPercent(invoice.taxPpm),
    tax: money(invoice.tax),
    total: money(invoice.total),
    credits: invoice.credits.map((credit) => ({
      credit_id: credit.creditId,
      reason: credit.reason,
      amount: money(credit.amount),
    })),
    credits_applied: money(invoice.creditsApplied),
    amount_due: money(invoice.amountDue),
    refers_to: invoice.refersTo,
    memo: invoice.memo,
    finalized_at: iso(invoice.finalizedAt),
    paid_at: iso(invoice.paidAt),
    voided_at: iso(invoice.voidedAt),
  };
}

export const PRICE_PLAN: EntityKind<PricePlan> = {
  object: 'price_plan',
  id: (plan) => plan.id,
  json: pricePlanJson,
};

export const CREDIT: EntityKind<Credit> = {
  object: 'credit',
  id: (credit) => credit.id,
  json: creditJson,
};

/** The audit log keeps an invoice without its lines: they never change after finalization. */
export const INVOICE: EntityKind<Invoice> = {
  object: 'invoice',
  id: (invoice) => invoice.id,
  json: (invoice) => {
    const { lines: _lines, ...rest } = invoiceJson(invoice);
    return rest;
  },
};
