import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { type SecondPostgres, startSecondPostgres } from '../helpers/second-postgres.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { usageEvent } from '../helpers/usage-queues.js';

/**
 * Moving a tenant with a large usage table while its usage keeps being written and deleted:
 * the rows changed while it was copied are caught up before the pause, so the pause copies
 * only the last moments' rows and drops the last moments' deletions by key, not the table (it
 * used to copy every table that changed, whole, and then every table that lost a row).
 */
const ROWS = 100_000;

describe('moving a tenant with a large usage table', () => {
  const upstream = new FakeUpstream();
  let second: SecondPostgres;
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    second = await startSecondPostgres();
    gateway = await startGateway(
      {
        ...upstreamConfig(upstream.url),
        database_servers: { 'eu-1': { url_env: 'EU1_DATABASE_URL' } },
      },
      { DATABASE_URL: TEST_DATABASE_URL, EU1_DATABASE_URL: second.url },
    );
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await second?.stop();
    await upstream.stop();
  }, 120_000);

  it('pauses for the rows written in the last moments only, and every row arrives', async () => {
    const slug = `big-${randomBytes(3).toString('hex')}`;
    const tenant = await gateway.services.tenants.create({ slug, name: slug });
    const records = gateway.services.usageRecords;
    await records.write(tenant.id, [usageEvent(tenant.id)]);
    const db = gateway.services.tenants.database(tenant);
    // A large current month: copies of the one record under new ids.
    const { rows: columns } = await sql<{ name: string }>`
      select column_name::text as name from information_schema.columns
      where table_schema = 'public' and table_name = 'usage_records' order by ordinal_position`.execute(
      db,
    );
    const names = columns.map((c) => c.name);
    const values = names.map((name) =>
      name === 'id' ? `'evt_bulk_' || g` : name === 'request_id' ? `'req_bulk_' || g` : name,
    );
    await sql
      .raw(`insert into usage_records (${names.join(', ')})
        select ${values.join(', ')} from (select * from usage_records limit 1) one,
        generate_series(1, ${ROWS}) g`)
      .execute(db);

    // Usage keeps being written through the move, as the workers write it.
    let writing = true;
    let written = 1;
    const writer = (async () => {
      while (writing) {
        try {
          await records.write(tenant.id, [usageEvent(tenant.id)]);
          written += 1;
        } catch {
          // The pause and the switch hold writes back; the next one finds the new server.
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    // And rows keep being deleted, as stored responses are when they expire: a deletion leaves
    // no transaction id, and the pause finds it by key instead of copying the table again.
    let deleted = 0;
    const deleter = (async () => {
      for (let next = 1; writing; next++) {
        try {
          const current = await gateway.services.tenants.writable(tenant.id);
          const result = await gateway.services.tenants
            .database(current)
            .deleteFrom('usage_records')
            .where('id', '=', `evt_bulk_${next}`)
            .executeTakeFirst();
          deleted += Number(result.numDeletedRows);
        } catch {
          // Held back by the pause and the switch, like the writes.
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const progress: string[] = [];
    const moved = await gateway.services.tenants
      .move(slug, 'eu-1', undefined, { onProgress: (line) => progress.push(line) })
      .finally(() => {
        writing = false;
      });
    await writer;
    await deleter;
    expect(deleted).toBeGreaterThan(0);

    expect(moved.rows).toBeGreaterThanOrEqual(ROWS);
    // The pause copied what the last round of catching up had not: a few moments of writes
    // and deletions, far from the hundred thousand rows of the table it used to copy again.
    expect(moved.deltaRows).toBeLessThan(ROWS / 20);
    // Nor did catching up copy the table again for its deletions, while the tenant served.
    const caughtUp = progress.flatMap((line) => {
      const match = /copied (\d+) changed rows again/.exec(line);
      return match ? [Number(match[1])] : [];
    });
    expect(caughtUp).toHaveLength(1);
    expect(caughtUp[0]).toBeLessThan(ROWS / 20);
    console.log(
      `moved ${moved.rows} rows; ${moved.deltaRows} copied in a pause of ${moved.pauseMs} ms`,
    );

    // On the new server: every row, each once.
    const target = new URL(second.url);
    target.pathname = `/${tenant.databaseName}`;
    const client = new pg.Client({ connectionString: target.toString() });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string; distinct: string }>(
        'select count(*)::text as n, count(distinct id)::text as distinct from usage_records',
      );
      expect(Number(rows[0]?.n)).toBe(ROWS + written - deleted);
      expect(rows[0]?.distinct).toBe(rows[0]?.n);
    } finally {
      await client.end();
    }
  }, 300_000);
});
