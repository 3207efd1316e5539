import { type Kysely, sql } from 'kysely';

/**
 * One row per request that got a response. Partitioned by month, so old months can be
 * detached, archived or dropped whole; partitions are created as events for a month arrive.
 * The event id is made by the gateway (never the client's x-request-id, which clients
 * choose): a redelivered event conflicts with its first write and counts once. A partitioned
 * table's keys must hold the partition column, hence (at, id): an event's time never changes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table usage_records (
      id text not null,
      at timestamptz not null,
      request_id text not null,
      user_id text,
      key_id text not null,
      model text not null,
      provider text not null,
      input_tokens bigint not null,
      output_tokens bigint not null,
      cached_tokens bigint not null,
      estimated boolean not null,
      cost numeric(20, 10) not null,
      latency_ms integer not null,
      time_to_first_token_ms integer,
      status integer not null,
      streamed boolean not null,
      client_disconnected boolean not null,
      primary key (at, id)
    ) partition by range (at)`.execute(db);
}
