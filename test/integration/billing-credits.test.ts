import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { usageEvent } from '../helpers/usage-queues.js';

describe.each(BACKENDS)('credits, credit notes and voiding on %s', (kind) => {
  let services: TestServices;
  let now = new Date('2026-10-20T00:00:00Z');
  const at = (iso: string) => {
    now = new Date(iso);
  };

  beforeAll(async () => {
    services = await servicesOn(kind, { clock: () => now });
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  /** A tenant whose plan bills a flat 100.00 a month (and 10 % tax), from November on. */
  async function flatTenant(slug: string) {
    at('2026-10-20T00:00:00Z');
    const tenant = await services.tenants.create({ slug, name: slug });
    await services.billing.setPlan(slug, {
      currency: 'USD',
      effective_at: '2026-11-01T00:00:00Z',
      base_fee: '100.00',
      tax_percent: '10',
    });
    return tenant;
  }
  const grant = (slug: string, amount: string, expires: string | null, reason: string) =>
    services.billing.grantCredit(slug, { amount, currency: 'USD', reason, expires_at: expires });
  const remaining = async (slug: string) =>
    Object.fromEntries((await services.billing.credits(slug)).map((c) => [c.reason, c.remaining]));

  it('applies credits soonest expiry first, and not once expired', async () => {
    await flatTenant('credits');
    await grant('credits', '3.00', '2026-10-31T00:00:00Z', 'expired before November');
    await grant('credits', '50.00', null, 'never expires');
    await grant('credits', '40.00', '2026-12-31T00:00:00Z', 'expires in December');
    await grant('credits', '10.00', '2026-11-20T00:00:00Z', 'expires in November');
    at('2026-12-01T00:00:00Z');
    const { invoice } = await services.invoices.finalize('credits', '2026-11');
    // 100.00 and 10 % tax: 110.00, paid by 10 + 40 + 50 of the 50.
    expect([invoice.subtotal, invoice.tax, invoice.total]).toEqual([100e6, 10e6, 110e6]);
    expect(invoice.credits.map((credit) => [credit.reason, credit.amount])).toEqual([
      ['expires in November', 10e6],
      ['expires in December', 40e6],
      ['never expires', 50e6],
    ]);
    expect([invoice.creditsApplied, invoice.amountDue]).toEqual([100e6, 10e6]);
    expect(await remaining('credits')).toEqual({
      'expired before November': 3e6,
      'never expires': 0,
      'expires in December': 0,
      'expires in November': 0,
    });
  });

  it('corrects with a credit note that pays the next invoice; voiding is audited and gives credits back', async () => {
    const tenant = await flatTenant('notes');
    at('2026-11-10T00:00:00Z');
    await services.usageRecords.write(tenant.id, [usageEvent(tenant.id, { at: new Date() })]);
    at('2026-12-01T00:00:00Z');
    const november = (await services.invoices.finalize('notes', '2026-11')).invoice;
    const note = await services.invoices.creditNote('notes', november.id, {
      amount: '22.00',
      memo: 'outage on 2026-11-03',
    });
    expect(note).toMatchObject({
      kind: 'credit_note',
      number: expect.stringMatching(/^CN-\d{6}$/),
      refersTo: november.id,
      total: -22e6,
    });
    // The invoice itself is as it was.
    expect(await services.invoices.get('notes', november.id)).toEqual(november);
    await expect(
      services.invoices.creditNote('notes', november.id, { amount: '100.00', memo: 'too much' }),
    ).rejects.toMatchObject({ code: 'invalid_request', param: 'amount' });

    at('2027-01-01T00:00:00Z');
    const december = (await services.invoices.finalize('notes', '2026-12')).invoice;
    expect(december.credits).toEqual([
      {
        creditId: expect.any(String),
        reason: `Credit note ${note.number} for ${november.number}`,
        amount: 22e6,
      },
    ]);
    expect(december.amountDue).toBe(110e6 - 22e6);

    const voided = await services.invoices.void('notes', december.id);
    expect(voided).toMatchObject({ status: 'void', voidedAt: now });
    // The credit it used is there again for the next invoice.
    expect(Object.values(await remaining('notes'))).toEqual([22e6]);
    await expect(services.invoices.markPaid('notes', december.id)).rejects.toMatchObject({
      code: 'invoice_status_conflict',
    });
    const paid = await services.invoices.markPaid('notes', november.id);
    expect(paid).toMatchObject({ status: 'paid', paidAt: now });
    await expect(services.invoices.void('notes', november.id)).rejects.toMatchObject({
      code: 'invoice_status_conflict',
    });
    const audit = await services.audit.list('notes', { action: 'invoice.*' });
    expect(audit.data.map((entry) => [entry.action, entry.targetId])).toEqual([
      ['invoice.pay', november.id],
      ['invoice.void', december.id],
      ['invoice.finalize', december.id],
      ['invoice.credit_note', note.id],
      ['invoice.finalize', november.id],
    ]);
    expect(audit.data[1]).toMatchObject({
      before: { status: 'finalized' },
      after: { status: 'void' },
    });
    // Webhooks hear of each finalized document and of the payment, once each.
    await services.publisher.drain();
    const events = (await services.events.recent(200)).filter(
      (event) => event.tenantId === tenant.id && event.type.startsWith('invoice.'),
    );
    expect(events.map((event) => [event.type, event.data.number]).reverse()).toEqual([
      ['invoice.finalized', november.number],
      ['invoice.finalized', note.number],
      ['invoice.finalized', december.number],
      ['invoice.paid', november.number],
    ]);
    expect(events[0]?.data).toMatchObject({
      invoice_id: november.id,
      kind: 'invoice',
      period: '2026-11',
      currency: 'USD',
      total: '110.00',
      amount_due: '110.00',
    });
  });

  it('never sums usage charged in one currency into an invoice in another', async () => {
    const tenant = await flatTenant('switch');
    at('2026-11-20T00:00:00Z');
    await services.billing.setPlan('switch', {
      currency: 'EUR',
      usd_rate: '0.9',
      effective_at: '2026-12-01T00:00:00Z',
      base_fee: '100.00',
      markup_percent: '10',
    });
    at('2026-12-01T00:05:00Z');
    await services.invoices.finalize('switch', '2026-11');
    // November usage (charged in USD) arrives late, and December usage in EUR.
    const late = usageEvent(tenant.id, { at: new Date('2026-11-30T12:00:00Z') });
    const december = usageEvent(tenant.id, { at: new Date('2026-12-10T12:00:00Z') });
    await services.usageRecords.write(tenant.id, [late, december]);
    at('2027-01-01T00:05:00Z');
    const invoice = (await services.invoices.finalize('switch', '2026-12')).invoice;
    expect(invoice.currency).toBe('EUR');
    expect(invoice.lines.filter((line) => line.kind === 'adjustment')).toEqual([]);
    const rows = await services.tenants
      .database(tenant)
      .selectFrom('usage_records')
      .select(['id', 'invoice_id'])
      .execute();
    expect(Object.fromEntries(rows.map((row) => [row.id, row.invoice_id]))).toEqual({
      [late.id]: null,
      [december.id]: invoice.id,
    });
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    await flatTenant('refusals');
    at('2026-11-05T00:00:00Z');
    const plan = { currency: 'USD', base_fee: '1.00' };
    const refusals: [Record<string, unknown>, string][] = [
      [{ ...plan, rates: { m: { input: '-1' } } }, 'rates.m.input'],
      [{ ...plan, rates: { m: { output: '99999999' } } }, 'rates.m.output'],
      [{ ...plan, rates: { m: { output: 0.5 } } }, 'rates.m.output'],
      [{ ...plan, base_fee: '1.001' }, 'base_fee'],
      [{ ...plan, markup_percent: '-5' }, 'markup_percent'],
      [{ ...plan, markup_percent: '5000' }, 'markup_percent'],
      [{ ...plan, tax_percent: '150' }, 'tax_percent'],
      [{ ...plan, tax_percent: '7.12345' }, 'tax_percent'],
      [{ ...plan, currency: 'XYZ' }, 'currency'],
      [{ ...plan, currency: 'EUR' }, 'usd_rate'],
      [{ ...plan, effective_at: '2026-11-01T00:00:00Z' }, 'effective_at'],
      [{ ...plan, effective_at: 'tomorrow' }, 'effective_at'],
      [
        { ...plan, currency: 'EUR', usd_rate: '0.9', effective_at: '2026-11-20T00:00:00Z' },
        'currency',
      ],
    ];
    const before = await services.billing.plans('refusals');
    for (const [input, param] of refusals)
      await expect(
        services.billing.setPlan('refusals', input as never),
        JSON.stringify(input),
      ).rejects.toMatchObject({ code: 'invalid_request', param });
    expect(await services.billing.plans('refusals')).toEqual(before);

    const credit = { currency: 'USD', reason: 'goodwill' };
    for (const [input, param] of [
      [{ ...credit, amount: '0' }, 'amount'],
      [{ ...credit, amount: '-10' }, 'amount'],
      [{ ...credit, amount: '1.005' }, 'amount'],
      [{ ...credit, amount: '1e9' }, 'amount'],
      [{ ...credit, amount: '10', currency: 'usd' }, 'currency'],
      [{ ...credit, amount: '10', reason: ' ' }, 'reason'],
      [{ ...credit, amount: '10', expires_at: '2026-11-01T00:00:00Z' }, 'expires_at'],
    ] as const)
      await expect(services.billing.grantCredit('refusals', input as never)).rejects.toMatchObject({
        code: 'invalid_request',
        param,
      });
    expect(await services.billing.credits('refusals')).toEqual([]);

    for (const period of ['2026-13', '2026-1', 'november', '2027-01'])
      await expect(services.invoices.finalize('refusals', period), period).rejects.toMatchObject({
        code: 'invalid_request',
        param: 'period',
      });
    // November has begun but not ended; October had no plan.
    await expect(services.invoices.finalize('refusals', '2026-11')).rejects.toMatchObject({
      code: 'period_not_closed',
    });
    at('2026-11-05T00:00:00Z');
    await expect(services.invoices.draft('refusals', '2026-10')).rejects.toMatchObject({
      code: 'price_plan_not_found',
    });
    expect(await services.invoices.list('refusals')).toEqual([]);
    const audit = await services.audit.list('refusals', {});
    expect(audit.data.map((entry) => entry.action)).toEqual(['price_plan.create']);
  });
});
