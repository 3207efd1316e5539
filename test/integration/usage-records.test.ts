import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UsageEvent, UsageRecords } from '../../src/services/usage/usage-records.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { usageEvent } from '../helpers/usage-queues.js';

function event(tenantId: string, at: string, extra: Partial<UsageEvent> = {}): UsageEvent {
  return usageEvent(tenantId, {
    at: new Date(at),
    requestId: 'req_same-for-all',
    keyId: 'key_x',
    cost: 0.0000123456,
    latencyMs: 12.4,
    ...extra,
  });
}

describe.each(BACKENDS)('usage records on %s', (kind) => {
  let services: TestServices;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    services = await servicesOn(kind);
    acme = (await services.tenants.create({ slug: 'acme', name: 'Acme' })).id;
    globex = (await services.tenants.create({ slug: 'globex', name: 'Globex' })).id;
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  const rows = async (slug: string) =>
    services.tenants
      .database(await services.tenants.get(slug))
      .selectFrom('usage_records')
      .selectAll()
      .orderBy('at')
      .execute();

  it('writes a batch across months into monthly partitions, exactly', async () => {
    const batch = [
      event(acme, '2026-10-31T23:59:59.999Z'),
      event(acme, '2026-11-01T00:00:00.000Z', { streamed: true, timeToFirstTokenMs: 80.6 }),
    ];
    expect(await new UsageRecords(services.tenants).write(acme, batch)).toBe(2);
    const stored = await rows('acme');
    expect(stored.map((row) => [row.id, row.input_tokens, row.cached_tokens, row.cost])).toEqual(
      batch.map((e) => [e.id, '9', '2', '0.0000123456']),
    );
    expect(stored[1]).toMatchObject({ streamed: true, time_to_first_token_ms: 81, latency_ms: 12 });
    const db = services.tenants.database(await services.tenants.get('acme'));
    const { rows: partitions } = await sql<{ relname: string }>`
      select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where c.relkind = 'r' order by c.relname`.execute(db);
    expect(partitions.map((p) => p.relname)).toEqual([
      'usage_records_2026_10',
      'usage_records_2026_11',
    ]);
    expect(await rows('globex')).toEqual([]);
  });

  it('counts a redelivered event once, whoever writes it, though clients reuse request ids', async () => {
    const batch = [event(globex, '2026-11-02T10:00:00Z'), event(globex, '2026-11-02T10:00:01Z')];
    const [first, second] = [
      new UsageRecords(services.tenants),
      new UsageRecords(services.tenants),
    ];
    const written = await Promise.all([first.write(globex, batch), second.write(globex, batch)]);
    expect(written.sort()).toEqual([0, 2]);
    expect(await first.write(globex, batch)).toBe(0);
    expect(await first.write(globex, [...batch, event(globex, '2026-11-02T10:00:02Z')])).toBe(1);
    const stored = await rows('globex');
    expect(stored).toHaveLength(3);
    // Three requests with one x-request-id are three records: the event id decides.
    expect(new Set(stored.map((row) => row.request_id))).toEqual(new Set(['req_same-for-all']));
  });
});
