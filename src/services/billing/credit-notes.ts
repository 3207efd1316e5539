import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { INVOICE, type Invoice } from '../../domain/billing.js';
import type { Tenant } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { InvoiceNumberRepository } from '../../storage/repositories/invoice-numbers.js';
import { InvoiceRepository } from '../../storage/repositories/invoices.js';
import { CreditRepository } from '../../storage/repositories/price-plans.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import type { Actor } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import { creditAmountOf, invalid, reasonOf } from './inputs.js';

export interface CreditNoteInput {
  amount: string;
  memo: string;
}

interface CreditNoteDeps {
  control: Kysely<ControlSchema>;
  changes: ChangeRecorder;
  prefix: string;
  now: Date;
  format: (prefix: string, number: number) => string;
}

/** What is left to correct on an invoice: its total less the credit notes issued on it. */
async function creditable(invoices: InvoiceRepository, invoice: Invoice): Promise<number> {
  const notes = (await invoices.list()).filter(
    (note) => note.kind === 'credit_note' && note.refersTo === invoice.id,
  );
  return invoice.total + notes.reduce((sum, note) => sum + note.total, 0);
}

/**
 * A correction of a finalized invoice: a numbered credit note (negative total) that refers to
 * it, and a credit of the same amount that pays the tenant's next invoices. The invoice itself
 * never changes. The number is taken for the invoice's n-th credit note, so asking again after
 * a failure resumes with the same number.
 */
export async function issueCreditNote(
  deps: CreditNoteDeps,
  tenant: Tenant,
  db: Kysely<TenantSchema>,
  invoiceId: string,
  input: CreditNoteInput,
  actor: Actor,
): Promise<Invoice> {
  const memo = reasonOf(input.memo, 'memo');
  const invoices = new InvoiceRepository(db);
  const invoice = await invoices.get(invoiceId);
  if (invoice === null) throw new GatewayError('invoice_not_found', { param: 'invoice' });
  if (invoice.kind !== 'invoice' || invoice.status === 'void')
    throw new GatewayError('invoice_status_conflict', {
      message: 'Credit notes correct finalized or paid invoices only.',
    });
  const amount = creditAmountOf(input.amount, invoice.currency);
  if (amount > (await creditable(invoices, invoice)))
    throw invalid('amount is more than what is left of the invoice to correct.', 'amount');
  const count = (await invoices.list()).filter((note) => note.refersTo === invoice.id).length;
  const taken = await new InvoiceNumberRepository(deps.control).take(
    'credit_note',
    `${tenant.id}/${invoice.id}/${count + 1}`,
    tenant.id,
    newId('cn'),
  );
  const number = deps.format(deps.prefix, taken.number);
  const { after } = await deps.changes.tenant(db, actor, {
    action: 'invoice.credit_note',
    kind: INVOICE,
    write: async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`invoice:${invoice.id}`}))`.execute(trx);
      const repository = new InvoiceRepository(trx);
      if ((await repository.get(taken.documentId)) !== null)
        throw new GatewayError('invoice_status_conflict', {
          message: 'That credit note was issued already: list the invoices to see it.',
        });
      if (amount > (await creditable(repository, invoice)))
        throw invalid('amount is more than what is left of the invoice to correct.', 'amount');
      const note: Invoice = {
        ...invoice,
        id: taken.documentId,
        kind: 'credit_note',
        number,
        status: 'finalized',
        lines: [
          {
            kind: 'credit_note',
            description: `Correction of ${invoice.number}: ${memo}`,
            model: null,
            period: invoice.period,
            quantity: 1,
            unit: 'each',
            unitPrice: -amount,
            amount: -amount,
          },
        ],
        subtotal: -amount,
        taxPpm: 0,
        tax: 0,
        total: -amount,
        credits: [],
        creditsApplied: 0,
        amountDue: -amount,
        refersTo: invoice.id,
        memo,
        finalizedAt: deps.now,
        paidAt: null,
        voidedAt: null,
      };
      await repository.insert(note);
      await new CreditRepository(trx).insert({
        id: newId('crd'),
        currency: invoice.currency,
        amount,
        remaining: amount,
        reason: `Credit note ${number} for ${invoice.number}`,
        expiresAt: null,
        createdAt: deps.now,
      });
      return { before: null, after: note };
    },
  });
  if (after === null) throw new Error('unreachable: an issued credit note');
  return after;
}
