import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invoice } from '../../src/domain/billing.js';
import { toMinorUnit } from '../../src/domain/money.js';
import { InvoiceService } from '../../src/services/billing/invoice-service.js';
import type { UsageEvent } from '../../src/services/usage/usage-records.js';
import { InvoiceNumberRepository } from '../../src/storage/repositories/invoice-numbers.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { usageEvent } from '../helpers/usage-queues.js';

/** A small deterministic generator: the same month of usage on every run. */
function generator(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    // The low bits of such a generator repeat quickly: take the high ones.
    return Math.floor(state / 65536) % n;
  };
}

/** A month of usage: two models (one rated, one cost plus), users, keys, BYOK and cache hits. */
function monthOfUsage(tenantId: string, period: string, count: number, seed: number): UsageEvent[] {
  const next = generator(seed);
  const [year, month] = period.split('-').map(Number) as [number, number];
  return Array.from({ length: count }, () => {
    const at = new Date(Date.UTC(year, month - 1, 1 + next(28), next(24), next(60), next(60)));
    const prompt = 1 + next(5000);
    const kind = next(10);
    return usageEvent(tenantId, {
      at,
      model: next(3) === 0 ? 'model-b' : 'model-a',
      userId: ['usr_1', 'usr_2', null][next(3)] ?? null,
      keyId: ['key_1', 'key_2', 'key_3'][next(3)] ?? 'key_1',
      usage: {
        promptTokens: prompt,
        completionTokens: next(2000),
        cachedTokens: next(2) === 0 ? next(prompt) : 0,
        totalTokens: 0,
        estimated: false,
      },
      cost: kind === 0 ? 0 : (1 + next(100_000)) / 1e7,
      cacheHit: kind === 1,
      byok: kind === 0,
    });
  });
}

describe.each(BACKENDS)('invoices on %s', (kind) => {
  let services: TestServices;
  let now = new Date('2026-10-20T00:00:00Z');
  const at = (iso: string) => {
    now = new Date(iso);
  };

  beforeAll(async () => {
    services = await servicesOn(kind, { clock: () => now });
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  const db = async (slug: string) => services.tenants.database(await services.tenants.get(slug));
  const chargeOfRecords = async (slug: string, invoiceId: string) => {
    const rows = await (await db(slug))
      .selectFrom('usage_records')
      .select([
        'charge_input_micros',
        'charge_cached_micros',
        'charge_output_micros',
        'charge_other_micros',
      ])
      .where('invoice_id', '=', invoiceId)
      .execute();
    return rows.reduce(
      (sum, row) =>
        sum +
        Number(row.charge_input_micros) +
        Number(row.charge_cached_micros) +
        Number(row.charge_output_micros) +
        Number(row.charge_other_micros),
      0,
    );
  };
  const usageOf = (invoice: Invoice) =>
    invoice.lines
      .filter((line) => line.kind === 'usage' || line.kind === 'adjustment')
      .reduce((sum, line) => sum + line.amount, 0);

  it('bills a month to the cent, from the price in effect at each record, once', async () => {
    at('2026-10-20T00:00:00Z');
    const tenant = await services.tenants.create({ slug: 'acme', name: 'Acme' });
    await services.billing.setPlan('acme', {
      currency: 'USD',
      effective_at: '2026-11-01T00:00:00Z',
      markup_percent: '20',
      rates: { 'model-a': { input: '2.50', cached_input: '1.25', output: '10' } },
      base_fee: '49.00',
      included: '5',
      byok_fee: '0.0015',
      tax_percent: '19',
    });
    at('2026-11-15T12:00:00Z');
    // A price change from the middle of the month on: records before it keep the old price.
    await services.billing.setPlan('acme', {
      currency: 'USD',
      effective_at: '2026-11-16T00:00:00Z',
      markup_percent: '25',
      rates: { 'model-a': { input: '3', cached_input: '1.5', output: '12' } },
      base_fee: '49.00',
      included: '5',
      byok_fee: '0.0015',
      tax_percent: '19',
    });
    const events = monthOfUsage(tenant.id, '2026-11', 600, 7);
    // One record whose charge is worked out by hand: 1,000 input, 200 cached, 500 output tokens.
    const known = usageEvent(tenant.id, {
      at: new Date('2026-11-10T10:00:00Z'),
      model: 'model-a',
      usage: {
        promptTokens: 1200,
        completionTokens: 500,
        cachedTokens: 200,
        totalTokens: 1700,
        estimated: false,
      },
    });
    for (let i = 0; i < events.length; i += 100)
      await services.usageRecords.write(tenant.id, events.slice(i, i + 100));
    await services.usageRecords.write(tenant.id, [known]);
    const row = await (await db('acme'))
      .selectFrom('usage_records')
      .selectAll()
      .where('id', '=', known.id)
      .executeTakeFirstOrThrow();
    // 1000 * 2.50 + 200 * 1.25 + 500 * 10, per million tokens, in micro-dollars.
    expect([row.charge_input_micros, row.charge_cached_micros, row.charge_output_micros]).toEqual([
      '2500',
      '250',
      '5000',
    ]);

    at('2026-11-30T23:00:00Z');
    await expect(services.invoices.finalize('acme', '2026-11')).rejects.toMatchObject({
      code: 'period_not_closed',
    });
    at('2026-12-01T00:10:00Z');
    const draft = await services.invoices.draft('acme', '2026-11');
    const { invoice, created } = await services.invoices.finalize('acme', '2026-11');
    expect(created).toBe(true);
    expect(invoice).toMatchObject({
      status: 'finalized',
      number: expect.stringMatching(/^INV-\d{6}$/),
    });
    expect({ ...draft, id: '', number: null, status: 'x', finalizedAt: null }).toEqual({
      ...invoice,
      id: '',
      number: null,
      status: 'x',
      finalizedAt: null,
    });
    // Every record billed, and the lines add up to the records' charges exactly.
    const billed = await chargeOfRecords('acme', invoice.id);
    expect(usageOf(invoice)).toBe(billed);
    expect(billed).toBeGreaterThan(0);
    const allowance = Math.min(5_000_000, billed);
    expect(invoice.subtotal).toBe(toMinorUnit(billed + 49_000_000 - allowance, 'USD'));
    expect(invoice.tax).toBe(toMinorUnit(Math.round(invoice.subtotal * 0.19), 'USD'));
    expect(invoice.total).toBe(invoice.subtotal + invoice.tax);
    expect(invoice.amountDue).toBe(invoice.total);
    const unbilled = await (await db('acme'))
      .selectFrom('usage_records')
      .select('id')
      .where('invoice_id', 'is', null)
      .execute();
    expect(unbilled).toEqual([]);
    // Both price versions show: model-a's input at 2.50 and at 3 per million.
    const inputPrices = invoice.lines
      .filter((line) => line.description === 'model-a input tokens')
      .map((line) => line.unitPrice);
    expect(new Set(inputPrices)).toEqual(new Set([2_500_000, 3_000_000]));
    expect(
      new Set(invoice.lines.map((line) => line.description.split(' ').slice(1).join(' '))),
    ).toEqual(
      new Set([
        'input tokens',
        'cached input tokens',
        'output tokens',
        'at provider cost plus 20%',
        'at provider cost plus 25%',
        "with the tenant's own provider key",
        'answered from the cache',
        'base fee',
        'included in the base fee',
      ]),
    );

    // Finalizing again changes nothing.
    const again = await services.invoices.finalize('acme', '2026-11');
    expect(again.created).toBe(false);
    expect(again.invoice).toEqual(invoice);
    expect(await services.invoices.list('acme')).toHaveLength(1);

    // Usage of November that arrives now lands on December's invoice, as an adjustment.
    const late = monthOfUsage(tenant.id, '2026-11', 20, 99);
    await services.usageRecords.write(tenant.id, late);
    at('2027-01-01T00:05:00Z');
    const december = await services.invoices.finalize('acme', '2026-12');
    const adjustments = december.invoice.lines.filter((line) => line.kind === 'adjustment');
    expect(adjustments.length).toBeGreaterThan(0);
    expect(adjustments.every((line) => line.period === '2026-11')).toBe(true);
    expect(usageOf(december.invoice)).toBe(await chargeOfRecords('acme', december.invoice.id));
    expect(await chargeOfRecords('acme', december.invoice.id)).toBeGreaterThan(0);
  });

  it('finalizes once when two instances race, and numbers without a gap', async () => {
    at('2026-10-20T00:00:00Z');
    const tenants = await Promise.all(
      ['race-1', 'race-2', 'race-3'].map((slug) => services.tenants.create({ slug, name: slug })),
    );
    for (const tenant of tenants) {
      await services.billing.setPlan(tenant.id, {
        currency: 'EUR',
        usd_rate: '0.92',
        effective_at: '2026-11-01T00:00:00Z',
        markup_percent: '10',
      });
      await services.usageRecords.write(tenant.id, monthOfUsage(tenant.id, '2026-11', 50, 3));
    }
    at('2026-12-02T00:00:00Z');
    const control = services.backend.control;
    // A finalization that died after taking its number: the next one resumes with it.
    const taken = await new InvoiceNumberRepository(control).take(
      'invoice',
      `${tenants[2]?.id}/2026-11`,
      tenants[2]?.id ?? '',
      'inv_resumed',
    );
    const other = new InvoiceService({
      tenants: services.tenants,
      control,
      changes: (services.invoices as unknown as { options: { changes: never } }).options.changes,
      publisher: services.publisher,
      queue: services.usageQueue,
      now: () => now,
    });
    const results = await Promise.all(
      tenants.flatMap((tenant) => [
        services.invoices.finalize(tenant.id, '2026-11'),
        other.finalize(tenant.id, '2026-11'),
      ]),
    );
    for (let i = 0; i < tenants.length; i++) {
      const pair = results.slice(2 * i, 2 * i + 2);
      expect(pair.map((result) => result.created).sort()).toEqual([false, true]);
      expect(pair[0]?.invoice.id).toBe(pair[1]?.invoice.id);
      expect(await services.invoices.list(tenants[i]?.id ?? '')).toHaveLength(1);
    }
    expect(results[4]?.invoice.id).toBe('inv_resumed');
    expect(results[4]?.invoice.number).toBe(`INV-${String(taken.number).padStart(6, '0')}`);
    const numbers = (await control.selectFrom('invoice_numbers').select('number').execute())
      .map((row) => Number(row.number))
      .sort((a, b) => a - b);
    expect(numbers).toEqual(numbers.map((_, index) => index + 1));
  });

  it('resumes a finalization whose tenant write failed with the number it took: no gap, no reuse', async () => {
    at('2026-10-20T00:00:00Z');
    const [down, up] = await Promise.all(
      ['down', 'up'].map((slug) => services.tenants.create({ slug, name: slug })),
    );
    for (const tenant of [down, up])
      await services.billing.setPlan(tenant?.id ?? '', {
        currency: 'USD',
        effective_at: '2026-11-01T00:00:00Z',
        base_fee: '1.00',
      });
    // The tenant's database refuses the invoice, as a failing server would, after the number
    // was taken in the control plane.
    const broken = await db('down');
    await sql`create function refuse() returns trigger language plpgsql as
      $$ begin raise exception 'tenant database failing'; end $$`.execute(broken);
    await sql`create trigger refuse before insert on invoices for each row execute function refuse()`.execute(
      broken,
    );
    at('2026-12-02T00:00:00Z');
    await expect(services.invoices.finalize('down', '2026-11')).rejects.toThrow(
      /tenant database failing/,
    );
    expect(await services.invoices.list('down')).toEqual([]);
    const taken = await new InvoiceNumberRepository(services.backend.control).find(
      'invoice',
      `${down?.id}/2026-11`,
    );
    expect(taken).not.toBeNull();
    // Another tenant finalized meanwhile gets the next number, not the one held.
    const other = (await services.invoices.finalize('up', '2026-11')).invoice;
    expect(Number(other.number?.slice(4))).toBe((taken?.number ?? 0) + 1);
    await sql`drop trigger refuse on invoices`.execute(broken);
    const resumed = (await services.invoices.finalize('down', '2026-11')).invoice;
    expect(resumed.number).toBe(`INV-${String(taken?.number).padStart(6, '0')}`);
    expect(resumed.id).toBe(taken?.documentId);
  });
});
