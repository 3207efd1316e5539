import { type Kysely, sql } from 'kysely';

/**
 * Invoice numbers are the platform's, one gapless sequence per series (invoices, credit
 * notes), so they live in the control plane. A number is taken in the same transaction that
 * records which document it is for (`ref`: the tenant and period of an invoice, a credit
 * note's id); it is never given back, and the document's own write in the tenant's database
 * is made (or made again, after a failure) under that number, so none is skipped.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table invoice_counters (
      series text primary key,
      last bigint not null
    )`.execute(db);
  await sql`
    create table invoice_numbers (
      series text not null,
      number bigint not null,
      ref text not null,
      tenant_id text not null,
      document_id text not null,
      created_at timestamptz not null default now(),
      primary key (series, number),
      unique (series, ref)
    )`.execute(db);
}
