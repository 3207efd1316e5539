import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBillingCommand } from '../../src/cli/billing-commands.js';
import { UsageError } from '../../src/cli/program.js';
import { PeriodCloser } from '../../src/services/billing/period-closer.js';
import { MemoryUsageQueue } from '../../src/services/usage/memory-queue.js';
import { UsageWorker } from '../../src/services/usage/usage-worker.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { usageEvent } from '../helpers/usage-queues.js';

describe.each(BACKENDS)(
  'llm-backend billing close, and the worker at period close, on %s',
  (kind) => {
    let services: TestServices;
    let now = new Date('2026-10-20T00:00:00Z');
    const lines: string[] = [];
    const out = { line: (text: string) => lines.push(text) };
    const operator = { type: 'cli' as const, id: 'ops-bob' };
    const billing = async (...args: string[]) => {
      lines.length = 0;
      const ok = await runBillingCommand(args, services, out, operator);
      return { ok, lines: [...lines] };
    };

    beforeAll(async () => {
      // The queue keeps the test's time too, so what is queued 'before' a period's end is.
      const usageQueue = new MemoryUsageQueue({ claimIdleMs: 60_000, clock: () => now.getTime() });
      services = await servicesOn(kind, { clock: () => now, usageQueue });
      for (const slug of ['alpha', 'beta', 'gamma']) {
        const tenant = await services.tenants.create({ slug, name: slug });
        await services.usageRecords.write(tenant.id, [
          usageEvent(tenant.id, { at: new Date('2026-11-03T00:00:00Z') }),
        ]);
        // gamma has no price plan: nothing to invoice.
        if (slug !== 'gamma')
          await services.billing.setPlan(slug, {
            currency: 'USD',
            effective_at: '2026-11-01T00:00:00Z',
            base_fee: '5.00',
          });
      }
    }, 90_000);
    afterAll(() => services?.close(), 60_000);

    it('finalizes every tenant with a plan, once, audited as the operator', async () => {
      now = new Date('2026-12-01T06:00:00Z');
      const first = await billing('close', '--period', '2026-11');
      expect(first.ok).toBe(true);
      expect(first.lines).toEqual([
        expect.stringMatching(/^alpha {2}INV-\d{6} {2}created$/),
        expect.stringMatching(/^beta {2}INV-\d{6} {2}created$/),
        'gamma  skipped: no price plan',
      ]);
      const again = await billing('close', '--period', '2026-11');
      expect(again.lines.slice(0, 2)).toEqual(
        first.lines.slice(0, 2).map((line) => line.replace('created', 'existing')),
      );
      const audit = await services.audit.list('alpha', { action: 'invoice.finalize' });
      expect(audit.data.map((entry) => [entry.actorType, entry.actorId])).toEqual([
        ['cli', 'ops-bob'],
      ]);
    });

    it('closes the period that ended, as the worker does, once its queued usage is written', async () => {
      const alpha = await services.tenants.get('alpha');
      now = new Date('2026-12-31T23:59:00Z');
      await services.usageQueue.publish([usageEvent(alpha.id, { at: now })]);
      now = new Date('2027-01-01T00:10:00Z');
      await expect(services.invoices.finalize('alpha', '2026-12')).rejects.toMatchObject({
        code: 'period_not_closed',
        message: expect.stringMatching(
          /^Usage queued at 2026-12-31T23:59:00.000Z is not written yet/,
        ),
      });
      await new UsageWorker({
        queue: services.usageQueue,
        records: services.usageRecords,
        consumer: 'billing-test',
        log: { warn: () => {}, error: () => {} },
      }).drain();
      const closer = new PeriodCloser({
        tenants: services.tenants,
        invoices: services.invoices,
        log: { info: () => {}, warn: () => {} },
        intervalMs: 60_000,
        now: () => now,
      });
      const outcomes = await closer.tick();
      expect(outcomes.map((outcome) => [outcome.tenant, outcome.outcome])).toEqual([
        ['alpha', 'created'],
        ['beta', 'created'],
        ['gamma', 'skipped'],
      ]);
      const december = (await services.invoices.list('alpha'))[0];
      expect(december).toMatchObject({ period: '2026-12', total: 5_000_000 });
      const billed = await services.tenants
        .database(alpha)
        .selectFrom('usage_records')
        .select('id')
        .where('invoice_id', '=', december?.id ?? '')
        .execute();
      expect(billed).toHaveLength(1);
    });

    it('refuses a bad or missing period', async () => {
      await expect(billing('close')).rejects.toBeInstanceOf(UsageError);
      await expect(billing('close', '--period', '2026-13')).rejects.toMatchObject({
        code: 'invalid_request',
        param: 'period',
      });
      await expect(billing('close', '--period', '2030-01')).rejects.toMatchObject({
        code: 'invalid_request',
      });
      // Not ended yet: every tenant with a plan fails, and the command says so (exit 1).
      const open = await billing('close', '--period', '2027-01');
      expect(open.ok).toBe(false);
      expect(open.lines[0]).toMatch(/^alpha {2}failed: The period 2027-01 has not ended yet\.$/);
    });
  },
);
