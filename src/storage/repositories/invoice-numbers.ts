import type { Kysely } from 'kysely';
import type { ControlSchema } from '../control-schema.js';

export type InvoiceSeries = 'invoice' | 'credit_note';

/** A number taken for a document: the same one however often it is asked for. */
export interface NumberTaken {
  number: number;
  documentId: string;
  tenantId: string;
}

/** Two callers met on one document; the loser's transaction is rolled back and looks again. */
class TakenMeanwhile extends Error {}

/**
 * The platform's gapless invoice numbers, in the control plane. A number is taken in one
 * transaction with the record of what it is for, so it is never taken without its document
 * being known, and never taken twice for one document: asking again (a retry after the
 * tenant's database failed, a second instance) returns the first answer.
 */
export class InvoiceNumberRepository {
  constructor(private readonly db: Kysely<ControlSchema>) {}

  async find(series: InvoiceSeries, ref: string): Promise<NumberTaken | null> {
    const row = await this.db
      .selectFrom('invoice_numbers')
      .select(['number', 'document_id', 'tenant_id'])
      .where('series', '=', series)
      .where('ref', '=', ref)
      .executeTakeFirst();
    return row === undefined
      ? null
      : { number: Number(row.number), documentId: row.document_id, tenantId: row.tenant_id };
  }

  /** The number of the document `ref` (`documentId` if it is new). */
  async take(
    series: InvoiceSeries,
    ref: string,
    tenantId: string,
    documentId: string,
  ): Promise<NumberTaken> {
    for (;;) {
      const found = await this.find(series, ref);
      if (found !== null) return found;
      try {
        return await this.db.transaction().execute(async (trx) => {
          // The counter's row lock orders every taker of the series: the next one waits here.
          const counter = await trx
            .insertInto('invoice_counters')
            .values({ series, last: 1 })
            .onConflict((conflict) =>
              conflict.column('series').doUpdateSet((eb) => ({
                last: eb('invoice_counters.last', '+', 1),
              })),
            )
            .returning('last')
            .executeTakeFirstOrThrow();
          const number = Number(counter.last);
          const inserted = await trx
            .insertInto('invoice_numbers')
            .values({ series, number, ref, tenant_id: tenantId, document_id: documentId })
            .onConflict((conflict) => conflict.columns(['series', 'ref']).doNothing())
            .returning('number')
            .executeTakeFirst();
          // Someone took a number for this document first: undo the count, use theirs.
          if (inserted === undefined) throw new TakenMeanwhile();
          return { number, documentId, tenantId };
        });
      } catch (error) {
        if (!(error instanceof TakenMeanwhile)) throw error;
      }
    }
  }

  /** The numbers taken for a tenant's documents, for finalizations to resume. */
  async ofTenant(tenantId: string): Promise<{ series: InvoiceSeries; ref: string }[]> {
    const rows = await this.db
      .selectFrom('invoice_numbers')
      .select(['series', 'ref'])
      .where('tenant_id', '=', tenantId)
      .execute();
    return rows.map((row) => ({ series: row.series as InvoiceSeries, ref: row.ref }));
  }
}
