import { type Kysely, sql } from 'kysely';

/**
 * Billing, in the tenant's own database. Amounts are integer micro-units (bigint), never
 * floats. `price_plans` are versions: a change is a new row from its effective time on, so
 * no past record or invoice moves. Each usage record gets its charge when it is written, from
 * the version effective at its time, split by what it pays for (the invoice's lines sum these
 * parts), and, once invoiced, the invoice that billed it: usage written after its period's
 * invoice goes on the next one. Invoices and their lines are written once, at finalization.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table price_plans (
      id text primary key,
      effective_at timestamptz not null unique,
      currency text not null,
      markup_ppm bigint not null,
      usd_rate_micros bigint not null,
      rates jsonb not null,
      base_fee_micros bigint not null,
      included_micros bigint not null,
      byok_fee_micros bigint not null,
      tax_ppm bigint not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  for (const column of [
    sql`byok boolean not null default false`,
    sql`price_plan_id text`,
    sql`charge_basis text not null default 'none'`,
    sql`charge_input_micros bigint not null default 0`,
    sql`charge_cached_micros bigint not null default 0`,
    sql`charge_output_micros bigint not null default 0`,
    sql`charge_other_micros bigint not null default 0`,
    sql`invoice_id text`,
  ])
    await sql`alter table usage_records add column ${column}`.execute(db);
  await sql`create index usage_records_unbilled on usage_records (at) where invoice_id is null`.execute(
    db,
  );
  await sql`
    create table credits (
      id text primary key,
      currency text not null,
      amount_micros bigint not null check (amount_micros > 0),
      remaining_micros bigint not null check (remaining_micros >= 0),
      reason text not null,
      expires_at timestamptz,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table invoices (
      id text primary key,
      kind text not null check (kind in ('invoice', 'credit_note')),
      number text not null unique,
      period text not null,
      status text not null check (status in ('finalized', 'paid', 'void')),
      currency text not null,
      price_plan_id text,
      subtotal_micros bigint not null,
      tax_ppm bigint not null,
      tax_micros bigint not null,
      total_micros bigint not null,
      credits_micros bigint not null,
      amount_due_micros bigint not null,
      refers_to text references invoices (id),
      memo text,
      finalized_at timestamptz not null,
      paid_at timestamptz,
      voided_at timestamptz
    )`.execute(db);
  await sql`create unique index invoices_one_per_period on invoices (period) where kind = 'invoice'`.execute(
    db,
  );
  await sql`
    create table invoice_lines (
      invoice_id text not null references invoices (id),
      position integer not null,
      kind text not null,
      description text not null,
      model text,
      period text,
      quantity bigint not null,
      unit text not null,
      unit_price_micros bigint,
      amount_micros bigint not null,
      credit_id text,
      primary key (invoice_id, position)
    )`.execute(db);
}
