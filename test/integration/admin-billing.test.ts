import { describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { usageEvent } from '../helpers/usage-queues.js';

let now = new Date('2026-10-20T00:00:00Z');
const { gateway } = useUpstreamGateway({ services: { clock: () => now } });

interface InvoiceJson {
  id: string;
  number: string | null;
  status: string;
  total: string;
  amount_due: string;
  lines: { kind: string; description: string; amount: string }[];
}

const call = (path: string, key: string, init: { method?: string; body?: unknown } = {}) =>
  gateway.fetch(`/admin/v1${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
const keyOf = async (role: 'member' | 'viewer' | 'billing' | 'admin') =>
  (await gateway.services.keys.create('test', { name: role, role })).secret;

describe('/admin/v1/tenants/{tenant}/plan, /credits and /invoices', () => {
  it('lets the platform set prices and close the month, and billing keys read the invoice', async () => {
    const admin = gateway.adminKey;
    const member = await keyOf('member');
    const viewer = await keyOf('viewer');
    const billing = await keyOf('billing');
    const tenantAdmin = await keyOf('admin');
    const plan = {
      currency: 'USD',
      effective_at: '2026-11-01T00:00:00Z',
      rates: { 'gpt-test': { input: '2', cached_input: '1', output: '8' } },
      base_fee: '10.00',
      tax_percent: '20',
    };
    // The tenant's own managers do not set what the tenant pays.
    for (const key of [gateway.apiKey, tenantAdmin, billing])
      expect((await call('/tenants/test/plan', key, { method: 'POST', body: plan })).status).toBe(
        403,
      );
    const created = await call('/tenants/test/plan', admin, { method: 'POST', body: plan });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      object: 'price_plan',
      currency: 'USD',
      rates: { 'gpt-test': { input: '2.000000', cached_input: '1.000000', output: '8.000000' } },
      base_fee: '10.000000',
      tax_percent: '20',
    });
    const credit = await call('/tenants/test/credits', admin, {
      method: 'POST',
      body: {
        amount: '2.00',
        currency: 'USD',
        reason: 'welcome',
        expires_at: '2027-06-30T00:00:00Z',
      },
    });
    expect(credit.status).toBe(201);

    const tenant = await gateway.services.tenants.get('test');
    now = new Date('2026-11-10T00:00:00Z');
    // 1,000,000 input (100,000 of them cached) and 250,000 output tokens: 1.80 + 0.10 + 2.00.
    await gateway.services.usageRecords.write(tenant.id, [
      usageEvent(tenant.id, {
        at: now,
        usage: {
          promptTokens: 1_000_000,
          completionTokens: 250_000,
          cachedTokens: 100_000,
          totalTokens: 0,
          estimated: false,
        },
      }),
    ]);
    const draft = await call('/tenants/test/invoices/draft?period=2026-11', billing);
    expect(draft.status).toBe(200);
    expect(await draft.json()).toMatchObject({ status: 'draft', number: null, total: '16.68' });
    expect(
      (
        await call('/tenants/test/invoices/finalize', admin, {
          method: 'POST',
          body: { period: '2026-11' },
        })
      ).status,
    ).toBe(409);

    now = new Date('2026-12-01T00:01:00Z');
    const finalized = await call('/tenants/test/invoices/finalize', admin, {
      method: 'POST',
      body: { period: '2026-11' },
    });
    expect(finalized.status).toBe(201);
    const invoice = (await finalized.json()) as InvoiceJson;
    // (3.90 + 10.00) * 1.2 = 16.68, less the 2.00 credit.
    expect(invoice).toMatchObject({ status: 'finalized', total: '16.68', amount_due: '14.68' });
    expect(invoice.lines.map((line) => [line.description, line.amount])).toEqual([
      ['gpt-test input tokens', '1.800000'],
      ['gpt-test cached input tokens', '0.100000'],
      ['gpt-test output tokens', '2.000000'],
      ['Monthly base fee', '10.000000'],
    ]);
    const again = await call('/tenants/test/invoices/finalize', admin, {
      method: 'POST',
      body: { period: '2026-11' },
    });
    expect([again.status, ((await again.json()) as InvoiceJson).id]).toEqual([200, invoice.id]);

    // Members and viewers see no invoices; billing keys and owners do.
    for (const key of [member, viewer]) {
      expect((await call('/tenants/test/invoices', key)).status).toBe(403);
      expect((await call(`/tenants/test/invoices/${invoice.id}`, key)).status).toBe(403);
      expect((await call('/tenants/test/plan', key)).status).toBe(403);
    }
    for (const key of [billing, gateway.apiKey]) {
      const listed = (await (await call('/tenants/test/invoices', key)).json()) as {
        data: InvoiceJson[];
      };
      expect(listed.data.map((item) => item.number)).toEqual([invoice.number]);
    }
    const html = await call(`/tenants/test/invoices/${invoice.id}/html`, billing);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    expect(page).toContain(`Invoice ${invoice.number}`);
    expect(page).toContain('16.68');
    // Token prices are per million tokens, and the page says so.
    expect(page).toMatch(/<td class="n">\d+\.\d+ \/ 1M tokens<\/td>/);
    const csv = await call(`/tenants/test/invoices/${invoice.id}/csv`, billing);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trim().split('\r\n');
    expect(rows[0]).toBe(
      'number,period,kind,description,model,usage_period,quantity,unit,unit_price,amount,currency',
    );
    expect(rows.slice(1).map((row) => row.split(',').at(-2))).toEqual([
      '1.800000',
      '0.100000',
      '2.000000',
      '10.000000',
      '-2.00',
    ]);

    // Billing keys read; only the platform marks paid, voids and corrects.
    for (const path of ['pay', 'void'])
      expect(
        (await call(`/tenants/test/invoices/${invoice.id}/${path}`, billing, { method: 'POST' }))
          .status,
      ).toBe(403);
    const note = await call(`/tenants/test/invoices/${invoice.id}/credit-notes`, admin, {
      method: 'POST',
      body: { amount: '1.68', memo: 'goodwill' },
    });
    expect(note.status).toBe(201);
    expect(await note.json()).toMatchObject({
      object: 'credit_note',
      total: '-1.68',
      refers_to: invoice.id,
    });
    const paid = await call(`/tenants/test/invoices/${invoice.id}/pay`, admin, { method: 'POST' });
    expect(await paid.json()).toMatchObject({ status: 'paid', paid_at: now.toISOString() });

    const report = await call('/billing/report?period=2026-11', admin);
    expect(report.status).toBe(200);
    expect(((await report.json()) as { data: unknown[] }).data).toContainEqual(
      expect.objectContaining({
        slug: 'test',
        charge: '3.900000',
        invoice_number: invoice.number,
        invoice_status: 'paid',
      }),
    );
    expect((await call('/billing/report?period=2026-11', gateway.apiKey)).status).toBe(403);
  });

  it('refuses bad input with OpenAI-style errors and changes nothing', async () => {
    const admin = gateway.adminKey;
    now = new Date('2026-12-05T00:00:00Z');
    const before = await (await call('/tenants/test/plan', admin)).text();
    for (const [body, param] of [
      [{ currency: 'USD', rates: { m: { input: '-1' } } }, 'rates'],
      [{ currency: 'ZZZ' }, 'currency'],
      [{ currency: 'USD', tax_percent: '101' }, 'tax_percent'],
      [{ currency: 'USD', base_fee: 12 }, 'base_fee'],
    ] as const) {
      const response = await call('/tenants/test/plan', admin, { method: 'POST', body });
      const error = ((await response.json()) as { error: { type: string; param: string | null } })
        .error;
      expect([response.status, error.type], JSON.stringify(body)).toEqual([
        400,
        'invalid_request_error',
      ]);
      expect(error.param ?? '').toContain(param);
    }
    expect(await (await call('/tenants/test/plan', admin)).text()).toBe(before);
    for (const period of ['2027-01', '2026-00', 'soon']) {
      const response = await call('/tenants/test/invoices/finalize', admin, {
        method: 'POST',
        body: { period },
      });
      expect(response.status, period).toBe(400);
    }
    const missing = await call('/tenants/test/invoices/inv_missing', admin);
    expect([
      missing.status,
      ((await missing.json()) as { error: { code: string } }).error.code,
    ]).toEqual([404, 'invoice_not_found']);
  });
});
