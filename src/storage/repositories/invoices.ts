import type { Kysely, Selectable } from 'kysely';
import type {
  CreditApplied,
  Invoice,
  InvoiceLine,
  InvoiceStatus,
  LineKind,
} from '../../domain/billing.js';
import type { Currency } from '../../domain/money.js';
import type { InvoiceLinesTable, InvoicesTable, TenantSchema } from '../tenant-schema.js';

/** Credits applied are kept as lines of this kind, apart from the invoice's own lines. */
const CREDIT_LINE = 'credit';

function toLine(row: Selectable<InvoiceLinesTable>): InvoiceLine {
  return {
    kind: row.kind as LineKind,
    description: row.description,
    model: row.model,
    period: row.period,
    quantity: Number(row.quantity),
    unit: row.unit,
    unitPrice: row.unit_price_micros === null ? null : Number(row.unit_price_micros),
    amount: Number(row.amount_micros),
  };
}

function toInvoice(
  row: Selectable<InvoicesTable>,
  lines: Selectable<InvoiceLinesTable>[],
): Invoice {
  const credits: CreditApplied[] = lines
    .filter((line) => line.kind === CREDIT_LINE)
    .map((line) => ({
      creditId: line.credit_id ?? '',
      reason: line.description,
      amount: -Number(line.amount_micros),
    }));
  return {
    id: row.id,
    kind: row.kind,
    number: row.number,
    period: row.period,
    status: row.status,
    currency: row.currency as Currency,
    pricePlanId: row.price_plan_id,
    lines: lines.filter((line) => line.kind !== CREDIT_LINE).map(toLine),
    subtotal: Number(row.subtotal_micros),
    taxPpm: Number(row.tax_ppm),
    tax: Number(row.tax_micros),
    total: Number(row.total_micros),
    credits,
    creditsApplied: Number(row.credits_micros),
    amountDue: Number(row.amount_due_micros),
    refersTo: row.refers_to,
    memo: row.memo,
    finalizedAt: new Date(row.finalized_at),
    paidAt: row.paid_at === null ? null : new Date(row.paid_at),
    voidedAt: row.voided_at === null ? null : new Date(row.voided_at),
  };
}

/** A tenant's finalized invoices and credit notes, with their lines; written once. */
export class InvoiceRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /** Newest first, with the credits each applied but without lines (`get` has them). */
  async list(): Promise<Invoice[]> {
    const rows = await this.db
      .selectFrom('invoices')
      .selectAll()
      .orderBy('finalized_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    const lines = await this.db
      .selectFrom('invoice_lines')
      .selectAll()
      .where('kind', '=', CREDIT_LINE)
      .execute();
    return rows.map((row) =>
      toInvoice(
        row,
        lines.filter((line) => line.invoice_id === row.id),
      ),
    );
  }

  async get(id: string): Promise<Invoice | null> {
    const row = await this.db
      .selectFrom('invoices')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) return null;
    const lines = await this.db
      .selectFrom('invoice_lines')
      .selectAll()
      .where('invoice_id', '=', id)
      .orderBy('position')
      .execute();
    return toInvoice(row, lines);
  }

  /** The period's invoice (not credit note), if finalized. */
  async forPeriod(period: string): Promise<Invoice | null> {
    const row = await this.db
      .selectFrom('invoices')
      .select('id')
      .where('kind', '=', 'invoice')
      .where('period', '=', period)
      .executeTakeFirst();
    return row === undefined ? null : this.get(row.id);
  }

  async periodsInvoiced(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('invoices')
      .select('period')
      .where('kind', '=', 'invoice')
      .execute();
    return new Set(rows.map((row) => row.period));
  }

  async insert(invoice: Invoice): Promise<void> {
    if (invoice.number === null || invoice.finalizedAt === null || invoice.status === 'draft')
      throw new Error('only a finalized invoice is stored');
    await this.db
      .insertInto('invoices')
      .values({
        id: invoice.id,
        kind: invoice.kind,
        number: invoice.number,
        period: invoice.period,
        status: invoice.status,
        currency: invoice.currency,
        price_plan_id: invoice.pricePlanId,
        subtotal_micros: invoice.subtotal,
        tax_ppm: invoice.taxPpm,
        tax_micros: invoice.tax,
        total_micros: invoice.total,
        credits_micros: invoice.creditsApplied,
        amount_due_micros: invoice.amountDue,
        refers_to: invoice.refersTo,
        memo: invoice.memo,
        finalized_at: invoice.finalizedAt,
      })
      .execute();
    const lines = [
      ...invoice.lines.map((line) => ({ ...line, creditId: null as string | null })),
      ...invoice.credits.map((credit) => ({
        kind: CREDIT_LINE,
        description: credit.reason,
        model: null,
        period: null,
        quantity: 1,
        unit: 'each',
        unitPrice: null,
        amount: -credit.amount,
        creditId: credit.creditId,
      })),
    ];
    if (lines.length === 0) return;
    await this.db
      .insertInto('invoice_lines')
      .values(
        lines.map((line, position) => ({
          invoice_id: invoice.id,
          position,
          kind: line.kind,
          description: line.description,
          model: line.model,
          period: line.period,
          quantity: line.quantity,
          unit: line.unit,
          unit_price_micros: line.unitPrice,
          amount_micros: line.amount,
          credit_id: line.creditId,
        })),
      )
      .execute();
  }

  /** Moves a finalized invoice on; returns false when it was not in `from`. */
  async setStatus(id: string, from: InvoiceStatus, to: InvoiceStatus, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('invoices')
      .set({ status: to, ...(to === 'paid' ? { paid_at: at } : { voided_at: at }) })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
