import { describe, expect, it } from 'vitest';
import type { PricePlan } from '../../src/domain/billing.js';
import {
  divideHalfEven,
  formatMicros,
  formatMinor,
  parseMicros,
  toMinorUnit,
} from '../../src/domain/money.js';
import { chargeOf, planAt } from '../../src/services/billing/charge.js';
import { invoiceCsv } from '../../src/services/billing/exports.js';
import { creditOrder, totalsOf } from '../../src/services/billing/invoice-lines.js';
import { usageEvent } from '../helpers/usage-queues.js';

const plan = (extra: Partial<PricePlan> = {}): PricePlan => ({
  id: 'plv_1',
  effectiveAt: new Date('2026-11-01T00:00:00Z'),
  currency: 'USD',
  markupPpm: 0,
  usdRate: 1_000_000,
  rates: {},
  baseFee: 0,
  included: 0,
  byokFee: 0,
  taxPpm: 0,
  createdAt: new Date('2026-10-01T00:00:00Z'),
  ...extra,
});

describe('money', () => {
  it('rounds half to even, for positive and negative amounts', () => {
    expect([5n, 15n, 25n, 26n, -5n, -15n, -25n].map((n) => divideHalfEven(n, 10n))).toEqual([
      0n,
      2n,
      2n,
      3n,
      0n,
      -2n,
      -2n,
    ]);
    expect(toMinorUnit(12_345_000, 'USD')).toBe(12_340_000);
    expect(toMinorUnit(12_355_000, 'USD')).toBe(12_360_000);
    expect(toMinorUnit(1_500_000, 'JPY')).toBe(2_000_000);
    expect(toMinorUnit(2_500_000, 'JPY')).toBe(2_000_000);
  });

  it('reads and writes decimal strings exactly, never through a float', () => {
    expect(['0.1', '12.5', '0.000001', '999999999.999999'].map(parseMicros)).toEqual([
      100_000, 12_500_000, 1, 999_999_999_999_999,
    ]);
    for (const bad of ['', '1e3', '1000000000', '1.2345678', '.5', '1,5', ' 1', 'NaN'])
      expect(parseMicros(bad)).toBeNull();
    expect(formatMicros(-22_000_000)).toBe('-22.000000');
    expect(formatMinor(16_684_999, 'USD')).toBe('16.68');
    expect(formatMinor(-1_005_000, 'EUR')).toBe('-1.00');
    expect(formatMinor(1_500_000, 'JPY')).toBe('2');
  });
});

describe('a usage record’s charge', () => {
  const record = (extra = {}) =>
    usageEvent('tnt_x', {
      model: 'm',
      usage: {
        promptTokens: 3,
        completionTokens: 1,
        cachedTokens: 1,
        totalTokens: 4,
        estimated: false,
      },
      cost: 0.0000123456,
      ...extra,
    });

  it('charges the rate card per token kind, each part rounded half-even to the micro-unit', () => {
    // 2 input tokens at 0.25 per million = 0.5 micro: half to even, 0; output 1 at 1.5 = 1.5: 2.
    const rated = plan({ rates: { m: { input: 250_000, cachedInput: 0, output: 1_500_000 } } });
    expect(chargeOf(record(), rated)).toEqual({
      planId: 'plv_1',
      basis: 'rate_card',
      input: 0,
      cached: 0,
      output: 2,
      other: 0,
    });
  });

  it('charges cost plus markup in the plan currency, BYOK at its fee, cache hits at their price', () => {
    const eur = plan({ currency: 'EUR', markupPpm: 250_000, usdRate: 900_000 });
    // 0.0000123456 USD * 1.25 * 0.9 EUR/USD = 13.8888 micro-EUR: 14.
    expect(chargeOf(record(), eur)).toMatchObject({ basis: 'cost_plus', other: 14 });
    expect(chargeOf(record({ byok: true, cost: 0 }), plan({ byokFee: 1500 }))).toMatchObject({
      basis: 'byok',
      other: 1500,
    });
    expect(
      chargeOf(record({ cacheHit: true, cost: 0.00001 }), plan({ markupPpm: 100_000 })),
    ).toMatchObject({
      basis: 'cache_hit',
      other: 11,
    });
    expect(chargeOf(record(), null)).toMatchObject({ basis: 'none', planId: null });
  });

  it('uses the version in effect at the record’s time', () => {
    const first = plan({ id: 'a', effectiveAt: new Date('2026-11-01T00:00:00Z') });
    const second = plan({ id: 'b', effectiveAt: new Date('2026-11-16T00:00:00Z') });
    const at = (iso: string) => planAt([second, first], new Date(iso))?.id ?? null;
    expect([
      at('2026-10-31T23:59:59.999Z'),
      at('2026-11-01T00:00:00Z'),
      at('2026-11-15T23:59:59.999Z'),
      at('2026-11-16T00:00:00Z'),
    ]).toEqual([null, 'a', 'a', 'b']);
  });
});

describe('invoice totals', () => {
  const line = (amount: number) => ({
    kind: 'usage' as const,
    description: 'x',
    model: 'm',
    period: '2026-11',
    quantity: 1,
    unit: 'tokens',
    unitPrice: null,
    amount,
  });
  const credit = (
    id: string,
    remaining: number,
    expires: string | null,
    created = '2026-10-01',
  ) => ({
    id,
    currency: 'USD' as const,
    amount: remaining,
    remaining,
    reason: id,
    expiresAt: expires === null ? null : new Date(expires),
    createdAt: new Date(created),
  });

  it('rounds the subtotal once, taxes it, and spends credits soonest expiry first', () => {
    // Three lines of 0.004 each: rounded one by one they would be 0.00; together 0.012 is 0.01.
    const totals = totalsOf(
      [line(4000), line(4000), line(4000)],
      { currency: 'USD', taxPpm: 500_000 },
      [],
      '2026-11',
    );
    expect([totals.subtotal, totals.tax, totals.total]).toEqual([10_000, 0, 10_000]);
    const credits = [
      credit('never', 5e6, null),
      credit('late', 5e6, '2026-12-31'),
      credit('gone', 5e6, '2026-10-31'),
      credit('soon', 1e6, '2026-11-02'),
    ];
    expect(credits.sort(creditOrder).map((c) => c.id)).toEqual(['gone', 'soon', 'late', 'never']);
    const paid = totalsOf([line(8e6)], { currency: 'USD', taxPpm: 0 }, credits, '2026-11');
    expect(paid.credits.map((c) => [c.creditId, c.amount])).toEqual([
      ['soon', 1e6],
      ['late', 5e6],
      ['never', 2e6],
    ]);
    expect(paid.amountDue).toBe(0);
  });

  it('writes CSV that a spreadsheet reads as text, not formulas', () => {
    const csv = invoiceCsv({
      id: 'inv_1',
      kind: 'invoice',
      number: 'INV-000001',
      period: '2026-11',
      status: 'finalized',
      currency: 'USD',
      pricePlanId: null,
      lines: [{ ...line(-1), description: '=HYPERLINK("x"), "quoted"' }],
      subtotal: 0,
      taxPpm: 0,
      tax: 0,
      total: 0,
      credits: [],
      creditsApplied: 0,
      amountDue: 0,
      refersTo: null,
      memo: null,
      finalizedAt: new Date(),
      paidAt: null,
      voidedAt: null,
    });
    expect(csv.split('\r\n')[1]).toBe(
      `INV-000001,2026-11,usage,"'=HYPERLINK(""x""), ""quoted""",m,2026-11,1,tokens,,-0.000001,USD`,
    );
  });
});
