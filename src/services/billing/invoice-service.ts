import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { INVOICE, type Invoice, invoiceJson, type PricePlan } from '../../domain/billing.js';
import type { Tenant } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { InvoiceNumberRepository } from '../../storage/repositories/invoice-numbers.js';
import { InvoiceRepository } from '../../storage/repositories/invoices.js';
import { CreditRepository, PricePlanRepository } from '../../storage/repositories/price-plans.js';
import { UsageRecordRepository } from '../../storage/repositories/usage-records.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { EventPublisher } from '../events/publisher.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { UsageQueue } from '../usage/queue.js';
import { planAt } from './charge.js';
import { type CreditNoteInput, issueCreditNote } from './credit-notes.js';
import { invalid } from './inputs.js';
import { feeLines, totalsOf, usageLines } from './invoice-lines.js';
import { isPeriod, periodBounds } from './periods.js';

export interface InvoiceServiceOptions {
  tenants: TenantService;
  /** The control plane: where invoice numbers are taken. */
  control: Kysely<ControlSchema>;
  changes: ChangeRecorder;
  publisher: EventPublisher;
  /** Finalization waits until nothing queued before the period's end is left. */
  queue: Pick<UsageQueue, 'oldest'>;
  /** `INV-` and `CN-` by default. */
  prefixes?: { invoice: string; creditNote: string };
  now?: () => Date;
}

export const formatNumber = (prefix: string, number: number) =>
  `${prefix}${String(number).padStart(6, '0')}`;

/**
 * The plan versions in `currency`: an invoice bills only usage charged in its own currency, so
 * late usage charged before a currency change is never summed into the new currency.
 */
const inCurrency = (plans: readonly PricePlan[], currency: string | null) =>
  plans.filter((plan) => plan.currency === currency).map((plan) => plan.id);

const closed = (message: string) =>
  new GatewayError('period_not_closed', { message, param: 'period' });

/** What a finalization did: `created` is false when the invoice was there already. */
interface Finalized {
  before: null;
  after: Invoice | null;
  invoice: Invoice;
  created: boolean;
}

/**
 * A tenant's invoices: drafts computed on demand from the usage not billed yet, finalized
 * once per period (numbered in the control plane, written in the tenant's database), then
 * paid or void; corrections are credit notes. See docs/billing.md.
 */
export class InvoiceService {
  constructor(private readonly options: InvoiceServiceOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** The period, checked: well formed and not in the future. */
  checkPeriod(period: string): { start: Date; end: Date } {
    if (!isPeriod(period))
      throw invalid('period must be a month written as YYYY-MM, such as 2026-11.', 'period');
    const bounds = periodBounds(period);
    if (bounds.start > this.now())
      throw invalid('period is in the future: there is nothing to bill yet.', 'period');
    return bounds;
  }

  async list(tenantRef: string): Promise<Invoice[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new InvoiceRepository(db).list();
  }

  async get(tenantRef: string, id: string): Promise<Invoice> {
    const { db } = await this.options.tenants.open(tenantRef);
    const invoice = await new InvoiceRepository(db).get(id);
    if (invoice === null) throw new GatewayError('invoice_not_found', { param: 'invoice' });
    return invoice;
  }

  /** What the period's invoice would be if it were finalized now. */
  async draft(tenantRef: string, period: string): Promise<Invoice> {
    this.checkPeriod(period);
    const { db } = await this.options.tenants.open(tenantRef);
    const finalized = await new InvoiceRepository(db).forPeriod(period);
    if (finalized !== null)
      throw new GatewayError('invoice_status_conflict', {
        message: `The period ${period} is finalized already, as ${finalized.number} (${finalized.id}).`,
        param: 'period',
      });
    const { groups: _groups, ...draft } = await this.compute(db, period, false);
    return draft;
  }

  /**
   * The invoice for the usage not billed yet from before the period's end: usage lines per
   * model, plan version and token kind (earlier periods' late usage as adjustments), the
   * period's base fee and allowance, tax and the credits that pay it.
   */
  private async compute(
    db: Kysely<TenantSchema>,
    period: string,
    forUpdate: boolean,
    billedBy?: string,
  ) {
    const { end } = periodBounds(period);
    const plans = await new PricePlanRepository(db).list();
    // The version in effect at the period's last instant sets its fees, tax and currency.
    const plan = planAt(plans, new Date(end.getTime() - 1));
    if (plan === null) throw new GatewayError('price_plan_not_found', { param: 'period' });
    const groups = await new UsageRecordRepository(db).groups(
      billedBy === undefined
        ? { end, planIds: inCurrency(plans, plan.currency) }
        : { invoiceId: billedBy },
    );
    const lines = usageLines(groups, plans, period);
    const usage = lines.reduce((sum, line) => sum + line.amount, 0);
    lines.push(...feeLines(plan, usage));
    const credits = new CreditRepository(db);
    const grants = forUpdate ? await credits.listForUpdate() : await credits.list();
    const totals = totalsOf(lines, plan, grants, period);
    const draft: Invoice = {
      id: '',
      kind: 'invoice',
      number: null,
      period,
      status: 'draft',
      currency: plan.currency,
      pricePlanId: plan.id,
      lines,
      taxPpm: plan.taxPpm,
      ...totals,
      refersTo: null,
      memo: null,
      finalizedAt: null,
      paidAt: null,
      voidedAt: null,
    };
    return Object.assign(draft, { groups });
  }

  /** Refuses while an earlier period with billable usage has no invoice yet. */
  private async checkEarlierClosed(
    db: Kysely<TenantSchema>,
    period: string,
    groups: { period: string; basis: string }[],
  ) {
    const invoiced = await new InvoiceRepository(db).periodsInvoiced();
    const open = groups.find(
      (group) => group.period < period && group.basis !== 'none' && !invoiced.has(group.period),
    );
    if (open !== undefined)
      throw closed(`The period ${open.period} has usage and no invoice: finalize it first.`);
  }

  /**
   * Finalizes the period's invoice, once: a second call (or a second instance) gets the same
   * invoice with `created: false`. A number taken for it before a failure is used again.
   */
  async finalize(
    tenantRef: string,
    period: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ invoice: Invoice; created: boolean }> {
    const { end } = this.checkPeriod(period);
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const existing = await new InvoiceRepository(db).forPeriod(period);
    if (existing !== null) return { invoice: existing, created: false };
    if (end > this.now()) throw closed(`The period ${period} has not ended yet.`);
    const oldest = await this.options.queue.oldest();
    if (oldest !== null && oldest < end)
      throw closed(
        `Usage queued at ${oldest.toISOString()} is not written yet: try again shortly.`,
      );
    // Fails early, before a number is taken, when there is nothing to invoice with.
    await this.checkEarlierClosed(db, period, (await this.compute(db, period, false)).groups);
    const taken = await new InvoiceNumberRepository(this.options.control).take(
      'invoice',
      `${tenant.id}/${period}`,
      tenant.id,
      newId('inv'),
    );
    const number = formatNumber(this.options.prefixes?.invoice ?? 'INV-', taken.number);
    const result = await this.options.changes.tenant<Invoice, Finalized>(db, actor, {
      action: 'invoice.finalize',
      kind: INVOICE,
      write: async (trx) => {
        // One finalization per tenant and period at a time; the second finds the first's.
        await sql`select pg_advisory_xact_lock(hashtext(${`invoice:${period}`}))`.execute(trx);
        const invoices = new InvoiceRepository(trx);
        const found = await invoices.get(taken.documentId);
        if (found !== null) return { before: null, after: null, invoice: found, created: false };
        // Marked first, then summed from the marks: a record the worker commits meanwhile is
        // either in both or in neither (then on the next invoice), never billed without a line.
        const plans = await new PricePlanRepository(trx).list();
        const currency = planAt(plans, new Date(end.getTime() - 1))?.currency ?? null;
        await new UsageRecordRepository(trx).markBilled(
          end,
          taken.documentId,
          inCurrency(plans, currency),
        );
        const { groups: _groups, ...draft } = await this.compute(
          trx,
          period,
          true,
          taken.documentId,
        );
        const invoice: Invoice = {
          ...draft,
          id: taken.documentId,
          number,
          status: 'finalized',
          finalizedAt: this.now(),
        };
        await invoices.insert(invoice);
        const credits = new CreditRepository(trx);
        for (const applied of invoice.credits)
          await credits.adjust(applied.creditId, -applied.amount);
        return { before: null, after: invoice, invoice, created: true };
      },
      announce: (done) => {
        if (done.created) this.announce('invoice.finalized', tenant, done.invoice);
      },
    });
    return { invoice: result.invoice, created: result.created };
  }

  private announce(type: 'invoice.finalized' | 'invoice.paid', tenant: Tenant, invoice: Invoice) {
    const json = invoiceJson(invoice);
    this.options.publisher.publish(type, tenant.id, {
      invoice_id: invoice.id,
      kind: invoice.kind,
      number: invoice.number ?? '',
      period: invoice.period,
      currency: invoice.currency,
      total: json.total,
      amount_due: json.amount_due,
    });
  }

  /** Corrects a finalized invoice: see credit-notes.ts. */
  async creditNote(
    tenantRef: string,
    invoiceId: string,
    input: CreditNoteInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Invoice> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const note = await issueCreditNote(
      {
        control: this.options.control,
        changes: this.options.changes,
        prefix: this.options.prefixes?.creditNote ?? 'CN-',
        now: this.now(),
        format: formatNumber,
      },
      tenant,
      db,
      invoiceId,
      input,
      actor,
    );
    this.announce('invoice.finalized', tenant, note);
    return note;
  }

  async markPaid(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Invoice> {
    return this.move(tenantRef, id, 'paid', actor);
  }

  /** Voids a finalized, unpaid invoice; the credits it used are given back. */
  async void(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Invoice> {
    return this.move(tenantRef, id, 'void', actor);
  }

  private async move(tenantRef: string, id: string, to: 'paid' | 'void', actor: Actor) {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { after } = await this.options.changes.tenant(db, actor, {
      action: to === 'paid' ? 'invoice.pay' : 'invoice.void',
      kind: INVOICE,
      write: async (trx) => {
        const invoices = new InvoiceRepository(trx);
        const before = await invoices.get(id);
        if (before === null) throw new GatewayError('invoice_not_found', { param: 'invoice' });
        if (
          before.kind !== 'invoice' ||
          !(await invoices.setStatus(id, 'finalized', to, this.now()))
        )
          throw new GatewayError('invoice_status_conflict', {
            message: `Only a finalized invoice can be marked ${to}; this ${before.kind.replace('_', ' ')} is ${before.status}.`,
          });
        if (to === 'void') {
          const credits = new CreditRepository(trx);
          for (const applied of before.credits)
            await credits.adjust(applied.creditId, applied.amount);
        }
        return { before, after: await invoices.get(id) };
      },
      announce: (changed) => {
        if (to === 'paid' && changed.after !== null)
          this.announce('invoice.paid', tenant, changed.after);
      },
    });
    if (after === null) throw new Error('unreachable: a moved invoice');
    return after;
  }
}
