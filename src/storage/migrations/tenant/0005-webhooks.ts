import { type Kysely, sql } from 'kysely';

/**
 * Webhooks: the tenant's endpoints, one delivery per endpoint and event (so an event seen
 * twice is delivered once), and every attempt made. The delivery rows are the truth for
 * retries: a due index in Redis or memory is rebuilt from them whenever it may have been
 * lost. Secrets are stored sealed (AES-256-GCM), never in plaintext.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      id text primary key,
      url text not null,
      description text not null default '',
      event_types text[] not null check (cardinality(event_types) > 0),
      secret_sealed text not null,
      previous_secret_sealed text,
      previous_secret_expires_at timestamptz,
      status text not null default 'active' check (status in ('active', 'disabled')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table webhook_deliveries (
      id text primary key,
      endpoint_id text not null references webhook_endpoints (id) on delete cascade,
      event_id text not null,
      event_type text not null,
      payload jsonb not null,
      status text not null default 'pending'
        check (status in ('pending', 'succeeded', 'failed')),
      attempt_count integer not null default 0,
      next_attempt_at timestamptz,
      last_attempt_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (endpoint_id, event_id),
      check ((status = 'pending') = (next_attempt_at is not null))
    )`.execute(db);
  await sql`
    create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
      where status = 'pending'`.execute(db);
  await sql`
    create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, id)`.execute(db);
  await sql`
    create table webhook_attempts (
      id text primary key,
      delivery_id text not null references webhook_deliveries (id) on delete cascade,
      at timestamptz not null,
      status_code integer,
      error text,
      duration_ms integer not null
    )`.execute(db);
  await sql`
    create index webhook_attempts_delivery on webhook_attempts (delivery_id, id)`.execute(db);
}
